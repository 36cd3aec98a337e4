"""`ledgerbridge erase` and `ledgerbridge prune`: privacy on request and on schedule."""

from __future__ import annotations

import argparse
import getpass
import json

from ledgerbridge.config import load_config


def add_arguments(commands: argparse._SubParsersAction, default_config: str) -> None:
    erase = commands.add_parser(
        "erase", help="erase a person everywhere (GDPR Art. 17): delete or anonymise in every system, purge the hub",
        description="Erase a contact or a private customer: each system deletes the record or, where its API "
                    "cannot, has the personal fields overwritten; the hub removes every copy of the data and "
                    "keeps only a line in `erasures` (when, which hub id, which systems, why, by whom).",
        epilog="example: ledgerbridge erase --entity contacts --email kari@example.com --reason 'Art. 17 request 118'",
    )
    erase.add_argument("--config", default=default_config)
    erase.add_argument("--entity", required=True, help="contacts, debtors, ...")
    which = erase.add_mutually_exclusive_group(required=True)
    which.add_argument("--hub-id", help="the record's hub id (from the console or the hub tables)")
    which.add_argument("--email", help="every record of the entity with this e-mail (any case)")
    erase.add_argument("--reason", required=True, help="why, e.g. the request's reference (logged; no personal data)")
    erase.add_argument("--by", default=None, help="who asked for it (default: the current user)")
    erase.add_argument("--json", action="store_true")

    prune = commands.add_parser(
        "prune", help="remove what the hub keeps only for a while (audit log, payloads, webhook bodies)",
        description="Prune the audit log, finished outbox payloads, webhook bodies, resolved quarantine values "
                    "and old conflict values older than the configured `retention:` periods. Every sync does this "
                    "too; run it alone after shortening a period.",
        epilog="example: ledgerbridge prune --config config.yaml",
    )
    prune.add_argument("--config", default=default_config)


def run(args: argparse.Namespace) -> int:
    from ledgerbridge.model import ENTITIES
    from ledgerbridge.sync.erasure import erase, find
    from ledgerbridge.sync.retention import prune

    from ledgerbridge.cli import open_hub

    config = load_config(args.config)
    store = open_hub(config, args.config)
    try:
        if args.command == "prune":
            result = prune(store, config.retention)
            print("pruned: " + ", ".join(f"{what} {count}" for what, count in result.pruned.items()))
            return 0
        if args.entity not in ENTITIES or not ENTITIES[args.entity].personal_fields:
            personal = sorted(name for name, e in ENTITIES.items() if e.personal_fields)
            print(f"erase: {args.entity!r} holds no personal data; entities that do: {', '.join(personal)}")
            return 2
        hub_ids = find(store, args.entity, email=args.email, hub_id=args.hub_id)
        if not hub_ids:
            print(f"erase: no {args.entity} record matches; nothing was erased")
            return 1
        from ledgerbridge.systems import build_connector

        connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
        try:
            results = [erase(store, connectors, args.entity, hub_id, reason=args.reason,
                             requested_by=args.by or getpass.getuser()) for hub_id in hub_ids]
        finally:
            for connector in connectors.values():
                connector.close()
        if args.json:
            print(json.dumps([{"hub_id": r.hub_id, "systems": r.systems, "hub_rows_removed": r.purged_rows}
                              for r in results]))
        else:
            for r in results:
                done = ", ".join(f"{system} {how}" for system, how in r.systems.items()) or "in no system"
                print(f"erased {args.entity} {r.hub_id}: {done}; {r.purged_rows} hub rows removed")
        return 0
    finally:
        store.dispose()
