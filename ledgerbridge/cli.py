"""The `ledgerbridge` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import ConfigError, SyncConfig, load_config
from ledgerbridge.store import T, HubStore, to_json

DEFAULT_WORKDIR = Path("ledgerbridge-demo")
DEFAULT_CONFIG = os.environ.get("LEDGERBRIDGE_CONFIG", str(DEFAULT_WORKDIR / "config.yaml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledgerbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="sync emulated webCRM and e-conomic and print a summary")
    demo.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the demo keeps its state")
    demo.add_argument("--companies", type=int, default=300, help="companies generated on the first run")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--ui", action="store_true", help="then open the Dagster UI on the same data")

    sync = commands.add_parser("sync", help="run one sync of the configured entities")
    sync.add_argument("--config", default=DEFAULT_CONFIG)
    sync.add_argument("--entity", action="append", help="only this entity (repeatable)")
    sync.add_argument("--dry-run", action="store_true", help="plan and check, write nothing remote")
    sync.add_argument("--full", action="store_true", help="pull everything, ignoring cursors")
    sync.add_argument("--json", action="store_true")

    quarantine = commands.add_parser("quarantine", help="records held back by the quality gate")
    quarantine.add_argument("action", choices=["list"])
    quarantine.add_argument("--config", default=DEFAULT_CONFIG)
    quarantine.add_argument("--all", action="store_true", help="include resolved findings")
    quarantine.add_argument("--json", action="store_true")

    matches = commands.add_parser(
        "matches", help="review match suggestions (accept/reject) and duplicate reports (dismiss once merged or distinct)"
    )
    matches.add_argument("action", choices=["list", "accept", "reject", "dismiss"])
    matches.add_argument("ids", nargs="*", type=int)
    matches.add_argument("--config", default=DEFAULT_CONFIG)
    matches.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", help="Dagster UI + daemon + webhook receiver (near-real-time sync)")
    webhooks = commands.add_parser("webhooks", help="run the webhook receiver only")
    console = commands.add_parser(
        "console", help="serve the review console alone (matches, duplicates, held-back records, conflicts)",
        description="Serve the review console in the browser, over the configured hub. It needs a token in "
                    "LEDGERBRIDGE_CONSOLE_TOKEN (at least 16 characters).",
        epilog="example: LEDGERBRIDGE_CONSOLE_TOKEN=... ledgerbridge console --config config.yaml --console-port 8790",
    )
    console.add_argument("--config", default=DEFAULT_CONFIG)
    from ledgerbridge import serve as serving

    serving.add_arguments(serve, webhooks, DEFAULT_WORKDIR)
    serving.add_console_arguments(console)

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serving.run_serve(args)
        if args.command == "webhooks":
            return serving.run_webhooks(args)
        if args.command == "console":
            return serving.run_console(args)
        if args.command == "demo":
            from ledgerbridge.demo.run import run_demo

            return run_demo(args.workdir, companies=args.companies, as_json=args.json, ui=args.ui)
        config = load_config(args.config)
        if args.command == "sync":
            return run_sync(config, args)
        store = HubStore(config.hub.resolved_url(_default_hub(args.config)))
        store.create_all()
        if args.command == "quarantine":
            return list_quarantine(store, include_resolved=args.all, as_json=args.json)
        systems = {"crm": config.crm.system, "erp": config.erp.system}
        return review_matches(store, args.action, args.ids, systems=systems, as_json=args.json)
    except ConfigError as exc:
        print(f"ledgerbridge: configuration error: {exc}", file=sys.stderr)
        return 2


def _default_hub(config_path: str) -> str:
    return f"sqlite:///{(Path(config_path).parent / 'hub.db').resolve()}"


def run_sync(config: SyncConfig, args: argparse.Namespace) -> int:
    from ledgerbridge.sync.engine import SyncEngine
    from ledgerbridge.systems import build_connector

    store = HubStore(config.hub.resolved_url(_default_hub(args.config)))
    store.create_all()
    connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
    try:
        summaries = SyncEngine(config, store, connectors).run(args.entity, dry_run=args.dry_run, full=args.full)
    finally:
        for connector in connectors.values():
            connector.close()
    report = {name: s.to_dict() for name, s in summaries.items()}
    print(json.dumps({"dry_run": args.dry_run, "entities": report}, indent=2, default=str))
    return 0


def _print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    for row in rows:
        print("  ".join(f"{c}={row[c]}" for c in columns if row.get(c) is not None))


def list_quarantine(store: HubStore, *, include_resolved: bool, as_json: bool) -> int:
    table = T["quarantine"]
    query = sa.select(table).order_by(table.c.entity, table.c.record_label, table.c.field)
    if not include_resolved:
        query = query.where(table.c.resolved_at.is_(None))
    with store.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    if not as_json:
        print(f"{len(rows)} finding(s) {'in all' if include_resolved else 'holding records back'}")
    _print_rows(rows, ["entity", "record_label", "target", "field", "reason", "first_seen", "resolved_at"], as_json)
    return 0


def review_matches(store: HubStore, action: str, ids: list[int], *, systems: dict[str, str], as_json: bool) -> int:
    table = T["match_candidates"]
    with store.begin() as conn:
        if action == "list":
            rows = [
                dict(r)
                for r in conn.execute(
                    sa.select(table).where(table.c.status == "suggested").order_by(table.c.score.desc())
                ).mappings()
            ]
            duplicates = T["duplicate_candidates"]
            twins = [
                {"kind": "duplicate", **dict(r)}
                for r in conn.execute(
                    sa.select(duplicates).where(duplicates.c.status == "open").order_by(duplicates.c.score.desc())
                ).mappings()
            ]
            if as_json:
                _print_rows([{"kind": "match", **r} for r in rows] + twins, [], as_json=True)
                return 0
            print(f"{len(rows)} suggested match(es) across the systems (accept or reject them):")
            _print_rows(rows, ["id", "entity", "crm_remote_id", "erp_remote_id", "score", "evidence"], False)
            print(f"\n{len(twins)} likely duplicate(s) within one system (merge them there, then dismiss):")
            _print_rows(twins, ["entity", "system", "remote_id_a", "remote_id_b", "score", "evidence"], False)
            return 0
        if not ids:
            print("ledgerbridge: give the ids of the suggestions (see: ledgerbridge matches list)", file=sys.stderr)
            return 2
        from ledgerbridge.sync.review import decide, dismiss_duplicates

        if action == "dismiss":
            decided = dismiss_duplicates(conn, ids)
        else:
            decided = decide(conn, ids, accept=action == "accept", systems=systems)
        print(to_json({"decided": decided}) if as_json else f"{action}ed {len(decided)} suggestion(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
