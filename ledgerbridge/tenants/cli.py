"""`ledgerbridge tenants add|list|remove|hooks|instance`: the tenants of one deployment."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

import yaml

from ledgerbridge.config import ConfigError
from ledgerbridge.tenants.hub import schema_of
from ledgerbridge.tenants.instance import LAUNCHERS, instance_yaml
from ledgerbridge.tenants.registry import HUB_SERVER_VARIABLE, TENANTS_DIR_VARIABLE, TenantRegistry


def add_arguments(commands: argparse._SubParsersAction) -> None:
    tenants = commands.add_parser(
        "tenants", help="the companies (tenants) one deployment syncs, each a CRM+ERP pair",
        description=f"Add, list and remove tenants in the registry directory (--dir, or ${TENANTS_DIR_VARIABLE}); "
                    "serve their webhooks; print the production Dagster instance.",
        epilog="example: ledgerbridge tenants add acme --crm webcrm --crm-url https://api.webcrm.com "
               "--erp economic --erp-url https://restapi.e-conomic.com --entity debtors --entity contacts",
    )
    tenants.add_argument("--dir", type=Path, default=None, help=f"the registry directory (default ${TENANTS_DIR_VARIABLE})")
    actions = tenants.add_subparsers(dest="tenants_command", required=True)

    add = actions.add_parser(
        "add", help="register a tenant (its hub is created; its partition appears on the next sensor tick)",
        description="Register a tenant from --crm/--erp or a configuration file (--from). Its secrets are named "
                    "LEDGERBRIDGE_<TENANT>_<SIDE>_<SECRET> (printed; set them where the code location runs). Its hub "
                    f"is schema tenant_<name> on the PostgreSQL database in ${HUB_SERVER_VARIABLE} when that is set, "
                    "else a SQLite file in the registry directory.",
        epilog="example: ledgerbridge tenants add nordic --crm tribecrm --crm-url https://api.tribecrm.nl "
               "--erp poweroffice --erp-url https://goapi.poweroffice.net",
    )
    add.add_argument("name", help="lower-case letters and digits, like acme or mandant01")
    add.add_argument("--from", dest="source", type=Path, help="a sync configuration to take crm, erp and entities from")
    add.add_argument("--crm", help="the CRM system (see: ledgerbridge systems)")
    add.add_argument("--crm-url", help="the CRM's base URL")
    add.add_argument("--erp", help="the ERP system")
    add.add_argument("--erp-url", help="the ERP's base URL")
    add.add_argument("--entity", action="append", help="an entity to sync with default settings (repeatable; "
                                                      "default: debtors)")

    listing = actions.add_parser("list", help="the registered tenants", description="The registered tenants: "
                                 "systems, entities and hub (schema or file; never a URL or secret).",
                                 epilog="example: ledgerbridge tenants list --json")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")

    remove = actions.add_parser("remove", help="unregister a tenant", description="Remove a tenant's configuration; "
                                "its partition goes on the next sensor tick. Its hub stays unless --drop-hub.",
                                epilog="example: ledgerbridge tenants remove acme --drop-hub")
    remove.add_argument("name")
    remove.add_argument("--drop-hub", action="store_true", help="delete the tenant's hub schema or file too")

    hooks = actions.add_parser("hooks", help="serve every tenant's webhooks on one address",
                               description="The webhook receiver for all tenants: POST /tenants/<tenant>/hooks/<system>...",
                               epilog="example: ledgerbridge tenants hooks --host 0.0.0.0 --port 8788")
    hooks.add_argument("--host", default="127.0.0.1")
    hooks.add_argument("--port", type=int, default=8788)

    instance = actions.add_parser("instance", help="print the production dagster.yaml",
                                  description="dagster.yaml for PostgreSQL storage ($DAGSTER_PG_URL), the queued run "
                                              "coordinator with global, per-tenant and per-tenant+entity limits, and "
                                              "the chosen run launcher.",
                                  epilog="example: ledgerbridge tenants instance --launcher docker --max-runs 20 > "
                                         "$DAGSTER_HOME/dagster.yaml")
    instance.add_argument("--launcher", choices=LAUNCHERS, default="default",
                          help="default: processes on this machine; docker: a container per run; k8s: a Job per run")
    instance.add_argument("--max-runs", type=int, default=10, help="runs at once, all tenants together")
    instance.add_argument("--per-tenant", type=int, default=2, help="runs at once of one tenant")


def registry_for(args: argparse.Namespace) -> TenantRegistry:
    return TenantRegistry(args.dir) if args.dir else TenantRegistry.from_environment()


def source_config(args: argparse.Namespace) -> dict:
    if args.source:
        data = yaml.safe_load(args.source.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{args.source}: the top level must be a mapping")
    else:
        missing = [flag for flag, value in (("--crm", args.crm), ("--crm-url", args.crm_url), ("--erp", args.erp),
                                            ("--erp-url", args.erp_url)) if not value]
        if missing:
            raise ConfigError(f"tenants add: give --from FILE, or {', '.join(missing)}")
        data = {"crm": {"system": args.crm, "base_url": args.crm_url}, "erp": {"system": args.erp, "base_url": args.erp_url}}
    if args.entity:
        data["entities"] = {name: (data.get("entities") or {}).get(name, {}) for name in args.entity}
    return data


def describe(registry: TenantRegistry, name: str) -> dict:
    tenant = registry.get(name)
    config = tenant.config
    hub = config.hub
    return {
        "name": name,
        "crm": config.crm.system,
        "erp": config.erp.system,
        "entities": [e for e, c in config.entities.items() if c.enabled],
        "hub": f"postgresql schema {hub.schema_name} (${hub.url_env})" if hub.url_env else hub.url.removeprefix("sqlite:///"),
    }


def run(args: argparse.Namespace) -> int:
    command = args.tenants_command
    if command == "instance":
        print(instance_yaml(launcher=args.launcher, max_runs=args.max_runs, per_tenant=args.per_tenant), end="")
        return 0
    registry = registry_for(args)
    if command == "add":
        hub_env = HUB_SERVER_VARIABLE if os.environ.get(HUB_SERVER_VARIABLE) else None
        tenant = registry.add(args.name, source_config(args), hub_server_env=hub_env)
        where = f"schema {schema_of(tenant.hub_url())}" if hub_env else tenant.config.hub.url.removeprefix("sqlite:///")
        print(f"tenant {tenant.name}: {tenant.path} (hub: {where})")
        print("set these environment variables where the code location and the receiver run:")
        for env in registry.secrets_to_set(tenant.name):
            print(f"  {env}{'' if os.environ.get(env) else '   (not set here)'}")
        print(f"webhooks: <receiver>/tenants/{tenant.name}/hooks/<system>")
        return 0
    if command == "list":
        described = [describe(registry, name) for name in registry.names()]
        if args.json:
            print(json.dumps(described, indent=2))
        elif not described:
            print(f"no tenants in {registry.directory}")
        for d in described if not args.json else []:
            print(f"{d['name']:<16}{d['crm']} <-> {d['erp']:<14}{','.join(d['entities']):<32}{d['hub']}")
        return 0
    if command == "remove":
        tenant = registry.remove(args.name, drop_hub=args.drop_hub)
        print(f"tenant {tenant.name} removed{' with its hub' if args.drop_hub else ' (its hub is kept)'}")
        return 0
    if command == "hooks":
        return serve_hooks(registry, args.host, args.port)
    raise ConfigError(f"unknown tenants command {command!r}")


def serve_hooks(registry: TenantRegistry, host: str, port: int) -> int:
    from ledgerbridge.loopback import ThreadedServer
    from ledgerbridge.tenants.receiver import create_tenants_app

    app, receivers = create_tenants_app(registry)
    server = ThreadedServer(app, host=host, port=port, name="the tenants' webhook receiver").start()
    print(f"webhooks: {server.url}/tenants/<tenant>/hooks/<system>", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    receivers.close()
    return 0
