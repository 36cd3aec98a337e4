"""`ledgerbridge systems` and `ledgerbridge emulate <system>`: what the registry holds, and any
system's emulator on its own (so an integrator can try a configuration without accounts)."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from ledgerbridge.systems.registry import UnknownSystem, get, systems


def add_arguments(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser(
        "systems", help="the systems ledgerbridge can speak to, and what each can do",
        description="Lists every registered system (built in, or installed through the ledgerbridge.systems "
                    "entry point group): roles, entities with directions, webhooks, change probes, number assignment.",
        epilog="example: ledgerbridge systems --json",
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")

    emulate = commands.add_parser(
        "emulate", help="run one system's emulator on its own",
        description="Serve a system's emulator on loopback until interrupted, seeded with the demo's generated "
                    "records of its role; the credentials are the demo's (printed, with the configuration section).",
        epilog="example: ledgerbridge emulate economic --port 18802 --seed 7",
    )
    emulate.add_argument("system", help="a registered system's name (see: ledgerbridge systems)")
    emulate.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: any free port)")
    emulate.add_argument("--seed", type=int, default=None, help="fill it with generated records from this seed")
    emulate.add_argument("--companies", type=int, default=100, help="companies generated when seeding")
    emulate.add_argument("--state", type=Path, default=None, help="keep the emulator's data in this JSON file")


def describe_all() -> list[dict]:
    return [system.describe() for system in systems().values()]


def format_systems(described: list[dict]) -> str:
    lines = []
    for s in described:
        lines.append(f"{s['name']} ({s['label']}): {'/'.join(s['roles'])}"
                     + (f", webhooks (secret {s['webhook_secret']})" if s["webhook_secret"] else ", no webhooks")
                     + (", emulator" if s["emulator"] else ""))
        for entity, can in s["entities"].items():
            how = ["webhook"] if can["webhook"] else []
            how += ["probe"] if can["probe"] else []
            lines.append(f"  {entity:<14}{'+'.join(can['directions']):<12}{', '.join(how) or 'schedule':<16}"
                         + ("assigns numbers" if can["assigns_number"] else ""))
    return "\n".join(lines)


def run_systems(args: argparse.Namespace) -> int:
    described = describe_all()
    print(json.dumps(described, indent=2) if args.json else format_systems(described))
    return 0


def run_emulate(args: argparse.Namespace) -> int:
    from ledgerbridge.config import ConfigError
    from ledgerbridge.demo.run import SeedTarget, demo_secrets, seed, start_emulator, system_section

    try:
        system = get(args.system)
    except UnknownSystem as exc:
        raise ConfigError(f"emulate {args.system}: {exc}") from None
    if system.emulation is None:
        raise ConfigError(f"{system.label} has no emulator")
    emulator = start_emulator(system, args.state, args.port)
    if args.seed is not None and not (args.state and args.state.exists() and args.state.stat().st_size):
        own = SeedTarget(system, emulator)
        other = SeedTarget()  # the other side is not running: its ids are made up
        crm, erp = (own, other) if "crm" in system.roles else (other, own)
        seed(crm, erp, args.companies, args.seed)
    url = emulator.start()
    role = "crm" if "crm" in system.roles else "erp"
    print(f"{system.label} emulator on {url} (Ctrl-C stops it)")
    print("configuration section:\n" + json.dumps({role: system_section(system, url)}, indent=2))
    print("credentials (export them):")
    for env, value in demo_secrets(system).items():
        print(f"  export {env}={value}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
