"""`ledgerbridge gate list|release`: pushes the quality gate stopped, and letting one go on."""

from __future__ import annotations

import argparse
import getpass

import sqlalchemy as sa

from ledgerbridge.config import load_config
from ledgerbridge.store import T


def add_arguments(commands: argparse._SubParsersAction, default_config: str) -> None:
    gate = commands.add_parser(
        "gate", help="pushes the quality gate stopped (a mass corruption or mass delete upstream)",
        description="A stopped push stays stopped, run after run, until the records that caused it are fixed in "
                    "the source or a person releases it after checking. `list` shows the stops; `release` lets "
                    "the push go on (the bad records stay held back; released mass deletes are followed once).",
        epilog="example: ledgerbridge gate list --config config.yaml; "
               "ledgerbridge gate release --entity debtors --system economic --config config.yaml",
    )
    gate.add_argument("action", choices=["list", "release"])
    gate.add_argument("--config", default=default_config)
    gate.add_argument("--entity", help="for release: the entity")
    gate.add_argument("--system", help="for release: the system the push goes to")
    gate.add_argument("--by", default=None, help="who releases it (default: the current user)")


def run(args: argparse.Namespace) -> int:
    from ledgerbridge.cli import open_hub
    from ledgerbridge.sync.gate import release_blocks

    config = load_config(args.config)
    store = open_hub(config, args.config)
    try:
        if args.action == "release":
            if not args.entity or not args.system:
                print("gate release: name the stopped push with --entity and --system (see: ledgerbridge gate list)")
                return 2
            released = release_blocks(store, args.entity, args.system, args.by or getpass.getuser())
            print(f"released {released} stop(s) of {args.entity} -> {args.system}" if released else
                  f"no open stop of {args.entity} -> {args.system}")
            return 0 if released else 1
        blocks = T["gate_blocks"]
        with store.connect() as conn:
            rows = conn.execute(sa.select(blocks).where(blocks.c.released_at.is_(None)).order_by(blocks.c.id)).mappings().all()
        if not rows:
            print("no push is stopped")
        for row in rows:
            print(f"{row['entity']} -> {row['system']}: stopped {row['blocked_at']:%Y-%m-%d %H:%M} UTC: {row['reason']}")
        return 0
    finally:
        store.dispose()
