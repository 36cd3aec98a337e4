"""`ledgerbridge profile check`: the command line of check.py."""

from __future__ import annotations

import argparse
import json
import sys

import sqlalchemy as sa


def add_arguments(commands) -> None:
    profile = commands.add_parser(
        "profile", help="hold a SQL system's profile against its live database (what is missing or different)",
        description="Connect to a SQL system's database (cobra, europa3000, sage50, channelcrm), inspect it and print, "
                    "per entity, what the profile expects and what is missing or of another type. Give either a "
                    "configuration and the side, or a system and a database URL. Exit code 1 when something is missing.",
        epilog="example: ledgerbridge profile check --config config.yaml --side crm\n"
               "         ledgerbridge profile check --system cobra --url 'mssql+pyodbc://lb@sql01/cobra?driver=ODBC+Driver+18+for+SQL+Server' "
               "--password-env COBRA_DB_PASSWORD --profile cobra-site.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile.add_argument("action", choices=["check"])
    profile.add_argument("--config", help="a sync configuration; with --side, its crm or erp section is checked")
    profile.add_argument("--side", choices=["crm", "erp"], help="which side of --config")
    profile.add_argument("--system", help="the SQL system (without --config)")
    profile.add_argument("--url", help="the database's SQLAlchemy URL, without a password (without --config)")
    profile.add_argument("--password-env", help="environment variable holding the database password (without --config)")
    profile.add_argument("--profile", help="an override file laid over the shipped profile")
    profile.add_argument("--entity", action="append", help="only this entity (repeatable)")
    profile.add_argument("--all", action="store_true", help="list matching columns too, not only differences")
    profile.add_argument("--json", action="store_true", help="print the findings as JSON")


def run(args: argparse.Namespace) -> int:
    from ledgerbridge.config import ConfigError, SystemConfig, load_config
    from ledgerbridge.systems.sql import database_url
    from ledgerbridge.systems.sql.check import check_profile, format_reports, reports_as_dicts
    from ledgerbridge.systems.sql.profile import ProfileError, load_profile, shipped_profiles

    if args.config:
        if not args.side:
            raise ConfigError("profile check --config needs --side crm or --side erp")
        section: SystemConfig = getattr(load_config(args.config), args.side)
        system, override = section.system, args.profile or section.options.get("profile")
    else:
        if not (args.system and args.url):
            raise ConfigError("profile check needs --config and --side, or --system and --url")
        secrets = {"password": args.password_env} if args.password_env else {}
        section = SystemConfig(system=args.system, base_url=args.url, secrets=secrets)
        system, override = args.system, args.profile
    if system not in shipped_profiles():
        raise ConfigError(f"{system} is not a SQL system (those with a profile: {', '.join(shipped_profiles())})")
    try:
        profile = load_profile(system, override)
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None
    engine = sa.create_engine(database_url(section))
    try:
        reports = check_profile(profile, engine, args.entity)
    except sa.exc.DBAPIError as exc:
        print(f"ledgerbridge: {profile.label}: cannot inspect the database: {str(exc.orig).splitlines()[0]}", file=sys.stderr)
        return 4
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"system": system, "entities": reports_as_dicts(reports)}, indent=2))
    else:
        print(format_reports(profile, reports, all_columns=args.all))
    return 1 if any(r.problems for r in reports) else 0
