"""The `ledgerbridge` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import ConfigError, SyncConfig, load_config
from ledgerbridge.store import T, HubStore, to_json

DEFAULT_WORKDIR = Path("ledgerbridge-demo")
DEFAULT_CONFIG = os.environ.get("LEDGERBRIDGE_CONFIG", str(DEFAULT_WORKDIR / "config.yaml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ledgerbridge", description="Keeps a CRM and an accounting system (ERP) in sync, both ways.",
        epilog="example: ledgerbridge demo   (then: ledgerbridge sync --config ledgerbridge-demo/config.yaml)",
    )
    parser.add_argument("--version", action="version", version=f"ledgerbridge {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="sync emulated webCRM and e-conomic and print a summary",
        description="Start emulated systems seeded with generated companies, sync them and print what happened.",
        epilog="example: ledgerbridge demo --companies 100 --workdir /tmp/lb-demo",
    )
    demo.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the demo keeps its state")
    demo.add_argument("--companies", type=int, default=300, help="companies generated on the first run")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--ui", action="store_true", help="then open the Dagster UI on the same data")
    demo.add_argument("--crm", default="webcrm", help="the CRM to emulate (a registered system)")
    demo.add_argument("--erp", default="economic", help="the ERP to emulate (a registered system)")
    from ledgerbridge.systems import commands as system_commands

    system_commands.add_arguments(commands)
    from ledgerbridge.systems.sql import cli as profile_commands

    profile_commands.add_arguments(commands)
    from ledgerbridge.tenants import cli as tenant_commands

    tenant_commands.add_arguments(commands)
    from ledgerbridge import privacy_cli

    privacy_cli.add_arguments(commands, DEFAULT_CONFIG)
    from ledgerbridge import gate_cli

    gate_cli.add_arguments(commands, DEFAULT_CONFIG)
    from ledgerbridge import dictionary

    dictionary.add_arguments(commands)

    sync = commands.add_parser(
        "sync", help="run one sync of the configured entities", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pull both systems, reconcile, check and push, entity by entity; prints a table (or JSON) and "
                    "shows progress per entity on stderr.",
        epilog="example: ledgerbridge sync --config config.yaml --entity debtors --dry-run\n\n"
               "exit codes: 0 all synced; 1 records held back by the checks; 2 configuration error;\n"
               "3 writes failed or a blocking check stopped a push; 4 a system could not be reached or refused us",
    )
    sync.add_argument("--config", default=DEFAULT_CONFIG, help="the sync configuration (YAML)")
    sync.add_argument("--entity", action="append", help="only this entity (repeatable)")
    sync.add_argument("--dry-run", action="store_true", help="plan and check, write nothing remote")
    sync.add_argument("--full", action="store_true", help="pull everything, ignoring cursors")
    sync.add_argument("--json", action="store_true", help="print the outcome as JSON instead of a table")

    quarantine = commands.add_parser(
        "quarantine", help="records held back by the quality gate",
        description="List the records the checks hold back from a system, with the field and the reason. "
                    "Fix them in the source system: the next sync checks them again and releases them.",
        epilog="example: ledgerbridge quarantine list --config config.yaml",
    )
    quarantine.add_argument("action", choices=["list"])
    quarantine.add_argument("--config", default=DEFAULT_CONFIG)
    quarantine.add_argument("--all", action="store_true", help="include resolved findings")
    quarantine.add_argument("--json", action="store_true")

    matches = commands.add_parser(
        "matches", help="review match suggestions (accept/reject) and duplicate reports (dismiss once merged or distinct)",
        description="List suggested matches (both records side by side, with score and why) and likely duplicates "
                    "within one system (with their ids); accept or reject a suggestion, dismiss a duplicate report.",
        epilog="example: ledgerbridge matches list --config config.yaml; ledgerbridge matches accept 12 --config config.yaml",
    )
    matches.add_argument("action", choices=["list", "accept", "reject", "dismiss"])
    matches.add_argument("ids", nargs="*", type=int, help="ids from `matches list` (for accept, reject, dismiss)")
    matches.add_argument("--config", default=DEFAULT_CONFIG)
    matches.add_argument("--json", action="store_true")

    serve = commands.add_parser(
        "serve", help="Dagster UI + daemon + webhook receiver + review console (near-real-time sync)",
        description="Run everything on one machine until Ctrl-C or SIGTERM: the webhook receiver, the review console "
                    "(when LEDGERBRIDGE_CONSOLE_TOKEN is set), the Dagster daemon and the Dagster UI.",
        epilog="example: ledgerbridge serve --config config.yaml   (without --config: the demo's emulated systems)",
    )
    webhooks = commands.add_parser(
        "webhooks", help="run the webhook receiver only",
        description="Receive the systems' webhooks, check their signatures and queue the events for the next sync.",
        epilog="example: ledgerbridge webhooks --config config.yaml --hooks-port 8788",
    )
    console = commands.add_parser(
        "console", help="serve the review console alone (matches, duplicates, held-back records, conflicts)",
        description="Serve the review console in the browser, over the configured hub. It needs a token in "
                    "LEDGERBRIDGE_CONSOLE_TOKEN (at least 16 characters).",
        epilog="example: ledgerbridge console --config config.yaml --console-port 8790   "
               "(with LEDGERBRIDGE_CONSOLE_TOKEN set)",
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

            return run_demo(args.workdir, companies=args.companies, as_json=args.json, ui=args.ui,
                            crm=args.crm, erp=args.erp)
        if args.command == "systems":
            return system_commands.run_systems(args)
        if args.command == "emulate":
            return system_commands.run_emulate(args)
        if args.command == "profile":
            return profile_commands.run(args)
        if args.command == "tenants":
            return tenant_commands.run(args)
        if args.command in ("erase", "prune"):
            return privacy_cli.run(args)
        if args.command == "gate":
            return gate_cli.run(args)
        if args.command == "dictionary":
            return dictionary.run(args)
        config = load_config(args.config)
        if args.command == "sync":
            return run_sync(config, args)
        store = open_hub(config, args.config)
        systems = {"crm": config.crm.system, "erp": config.erp.system}
        if args.command == "quarantine":
            return list_quarantine(store, include_resolved=args.all, as_json=args.json, systems=systems)
        return review_matches(store, args.action, args.ids, systems=systems, as_json=args.json)
    except ConfigError as exc:
        print(f"ledgerbridge: configuration error: {exc}", file=sys.stderr)
        return 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ledgerbridge")
    except PackageNotFoundError:
        return "(not installed)"


def default_hub_url(config_path: str) -> str:
    return f"sqlite:///{(Path(config_path).parent / 'hub.db').resolve()}"


def open_hub(config: SyncConfig, config_path: str) -> HubStore:
    """The configured hub (by default hub.db beside the configuration), its tables created or upgraded."""
    store = HubStore(config.hub.resolved_url(default_hub_url(config_path)))
    store.create_all()
    return store


def run_sync(config: SyncConfig, args: argparse.Namespace) -> int:
    from ledgerbridge import report
    from ledgerbridge.connectors.base import ConnectorError
    from ledgerbridge.sync.engine import SyncEngine, enabled_entities
    from ledgerbridge.sync.review import still_held
    from ledgerbridge.systems import build_connector

    store = open_hub(config, args.config)
    connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
    engine, run_id = SyncEngine(config, store, connectors), uuid.uuid4().hex
    try:
        summaries = report.Progress().run(
            args.entity or enabled_entities(config),
            lambda entity: engine.run([entity], dry_run=args.dry_run, full=args.full, run_id=run_id)[entity],
        )
        held = {}
        if not args.dry_run:  # a dry run records nothing in the quarantine
            with store.connect() as conn:
                held = {entity: len(still_held(conn, entity)) for entity in summaries}
    except ConnectorError as exc:
        urls = {config.crm.system: config.crm.base_url, config.erp.system: config.erp.base_url}
        print(f"ledgerbridge sync: {report.system_error_line(str(exc), urls)}", file=sys.stderr)
        return report.EXIT_UNREACHABLE
    finally:
        for connector in connectors.values():
            connector.close()
        store.dispose()
    if args.json:
        entities = {name: {**s.to_dict(), **({"held_back_in_all": held[name]} if name in held else {})}
                    for name, s in summaries.items()}
        print(json.dumps({"dry_run": args.dry_run, "entities": entities}, indent=2, default=str))
    else:
        print(("dry run: nothing was written\n" if args.dry_run else "") + report.summary_table(summaries))
        print(f"\n{report.COUNTING}")
        notes = report.planned_lines(summaries) + report.attention(summaries) + report.still_held_lines(summaries, held)
        print("\n".join(notes))
    return report.exit_code(summaries, held)


def _print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    for row in rows:
        print("  ".join(f"{c}={row[c]}" for c in columns if row.get(c) is not None))


def list_quarantine(store: HubStore, *, include_resolved: bool, as_json: bool, systems: dict[str, str]) -> int:
    table = T["quarantine"]
    query = sa.select(table).order_by(table.c.entity, table.c.record_label, table.c.field)
    if not include_resolved:
        query = query.where(table.c.resolved_at.is_(None))
    with store.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    if as_json or include_resolved:
        if not as_json:
            print(f"{len(rows)} finding(s) in all")
        _print_rows(rows, ["entity", "record_label", "target", "field", "severity", "reason", "first_seen", "resolved_at"],
                    as_json)
        return 0
    from ledgerbridge.report import table as text_table
    from ledgerbridge.sync.review import held_back

    with store.connect() as conn:
        groups = held_back(conn, systems)
    print(f"{len(rows)} finding(s) holding records back")
    for g in groups:
        warning = " [warning: sent without it]" if g.severity == "warn" else ""
        print(f"\n{g.entity} -> {g.target}: {g.field} ({g.check}){warning}, {len(g.records)} record(s). {g.next_step}")
        held = [[r.label, r.value or "", r.reason, f"{r.first_seen:%Y-%m-%d %H:%M}"] for r in g.records]
        print("\n".join(f"  {line}" for line in text_table(held, ["record", "value", "reason", "held since"],
                                                           numbers=False).splitlines()))
    return 0


def review_matches(store: HubStore, action: str, ids: list[int], *, systems: dict[str, str], as_json: bool) -> int:
    from ledgerbridge.sync.review import decide, dismiss_duplicates, open_duplicates, open_suggestions

    with store.begin() as conn:
        if action == "list":
            suggestions, twins = open_suggestions(conn, systems), open_duplicates(conn, systems)
            if as_json:
                print(json.dumps([p.to_dict() for p in suggestions + twins], indent=2, default=str))
                return 0
            print(f"{len(suggestions)} suggested match(es) across the systems (accept or reject them by id):")
            print("\n".join(_side_by_side(p) for p in suggestions))
            print(f"\n{len(twins)} likely duplicate(s) within one system (merge them there, then dismiss by id):")
            print("\n".join(_side_by_side(p) for p in twins))
            return 0
        if not ids:
            print("ledgerbridge: give the ids of the suggestions (see: ledgerbridge matches list)", file=sys.stderr)
            return 2
        if action == "dismiss":
            decided = dismiss_duplicates(conn, ids)
        else:
            decided = decide(conn, ids, accept=action == "accept", systems=systems)
        print(to_json({"decided": decided}) if as_json else f"{action}ed {len(decided)} suggestion(s)")
    return 0


def _side_by_side(pair: Any) -> str:
    from ledgerbridge.report import table

    rows = [[f.name, "" if f.left is None else f.left, "" if f.right is None else f.right,
             "differs" if f.state == "differs" else ""] for f in pair.fields]
    headings = ["field", f"{pair.left_system} id {pair.left_id}", f"{pair.right_system} id {pair.right_id}", ""]
    fields = table(rows, headings, numbers=False)
    why = "; ".join(pair.reasons) or "no evidence recorded"
    return f"\n{pair.kind} {pair.id}: {pair.entity}, score {pair.score:.0f} ({why})\n" + "\n".join(
        f"  {line}" for line in fields.splitlines())


if __name__ == "__main__":
    sys.exit(main())
