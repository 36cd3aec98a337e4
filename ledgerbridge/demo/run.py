"""`ledgerbridge demo [--crm webcrm] [--erp economic]`: two emulated systems, seeded once, synced, summarised.

The pair comes from the registry: any registered system with an emulator can play its role.
Everything lives in one working directory (emulator state, hub database, Dagster home, the
generated configuration), so a second run in the same place reuses it: the emulators come back
with the data the first run left, the sync finds nothing new, and nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from faker import Faker

from ledgerbridge.config import ConfigError, load_config
from ledgerbridge.demo.data import generate, invoices_for, person, products, suppliers
from ledgerbridge.emulators.base import Emulator
from ledgerbridge.store import HubStore
from ledgerbridge.report import COUNTING, Progress, attention, summary_table
from ledgerbridge.sync.engine import EntitySummary, SyncEngine, enabled_entities
from ledgerbridge.systems import build_connector, get
from ledgerbridge.systems.base import PAYMENT_SHARES, System
from ledgerbridge.systems.registry import UnknownSystem

DEFAULT_CRM, DEFAULT_ERP = "webcrm", "economic"


def demo_system(name: str, role: str) -> System:
    try:
        system = get(name)
    except UnknownSystem as exc:
        raise ConfigError(f"demo --{role} {name}: {exc}") from None
    if role not in system.roles:
        raise ConfigError(f"demo --{role} {name}: {system.label} cannot be the {role} (it is a {'/'.join(sorted(system.roles))})")
    if system.emulation is None:
        raise ConfigError(f"demo --{role} {name}: {system.label} has no emulator")
    return system


def demo_secrets(system: System) -> dict[str, str]:
    """Environment variable -> value of the system's demo credentials."""
    return dict(system.emulation.demo_secrets.values())


def system_section(system: System, base_url: str) -> dict[str, Any]:
    section: dict[str, Any] = {
        "system": system.name,
        "base_url": base_url,
        "secrets": {name: env for name, (env, _) in system.emulation.demo_secrets.items()},
    }
    if system.emulation.demo_options:
        section["options"] = dict(system.emulation.demo_options)
    return section


# The default pair's demo credentials (environment variable -> value), for `ledgerbridge serve`'s demo.
DEMO_SECRETS = {**dict(get(DEFAULT_CRM).emulation.demo_secrets.values()),
                **dict(get(DEFAULT_ERP).emulation.demo_secrets.values())}


def demo_config(workdir: Path, crm_url: str, erp_url: str, crm: str = DEFAULT_CRM, erp: str = DEFAULT_ERP) -> dict[str, Any]:
    config = {
        "crm": system_section(get(crm), crm_url),
        "erp": system_section(get(erp), erp_url),
        "hub": {"url": f"sqlite:///{(workdir / 'hub.db').resolve()}"},
        # Failed runs and failing checks are recorded for the review console (no webhook or mail here).
        "notify": {"console": True},
        "entities": {
            "debtors": {
                "direction": "both",
                "number_policy": _number_policy(get(crm), get(erp)),
                "create_in_erp": "crm_type == 'Customer'",
                "create_in_crm": "always",
                "erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"},
                "erp_defaults_by_country": {"CH": {"currency": "CHF"}, "NO": {"currency": "NOK"}},
                "schedule": "*/15 * * * *",
            },
            # Suppliers, where both systems keep them apart from customers (TribeCRM, PowerOffice Go).
            "creditors": {"direction": "both", "number_policy": _number_policy(get(crm), get(erp)),
                          "schedule": "*/15 * * * *"},
            "contacts": {"direction": "both"},
            "items": {"direction": "erp_to_crm", "schedule": "*/15 * * * *"},
            "invoices": {"direction": "erp_to_crm", "schedule": "*/15 * * * *"},
            "invoice_lines": {"direction": "erp_to_crm"},
            "payments": {"direction": "erp_to_crm", "schedule": "0 */4 * * *"},
        },
    }
    # Only what both systems hold (cobra keeps no payments, europa3000 no contacts).
    held = set(get(crm).entities) & set(get(erp).entities)
    config["entities"] = {name: section for name, section in config["entities"].items() if name in held}
    return config


def _number_policy(crm: System, erp: System) -> str:
    """The debtor number comes from the ERP, unless only the CRM gives numbers (cobra's address
    number, which europa3000 and Sage 50 take over)."""
    def assigns(system: System) -> bool:
        support = system.entities.get("debtors")
        return bool(support and support.assigns_number)

    return "crm" if assigns(crm) and not assigns(erp) else "erp"


def start_emulator(system: System, state_file: Path | None, port: int) -> Emulator:
    secrets = {name: value for name, (_, value) in system.emulation.demo_secrets.items()}
    return system.emulation.start(secrets, state_file, port)


@contextlib.contextmanager
def emulators(workdir: Path, companies: int, crm: str = DEFAULT_CRM,
              erp: str = DEFAULT_ERP) -> Iterator[tuple[Emulator, Emulator, bool]]:
    crm_system, erp_system = demo_system(crm, "crm"), demo_system(erp, "erp")
    crm_state, erp_state = workdir / f"{crm}.json", workdir / f"{erp}.json"
    fresh = not (crm_state.exists() and erp_state.exists())
    crm_emulator = start_emulator(crm_system, crm_state, _free(crm_system.emulation.demo_port))
    erp_emulator = start_emulator(erp_system, erp_state, _free(erp_system.emulation.demo_port))
    if fresh:
        seed(SeedTarget(crm_system, crm_emulator), SeedTarget(erp_system, erp_emulator), companies)
    crm_emulator.start()
    erp_emulator.start()
    try:
        yield crm_emulator, erp_emulator, fresh
    finally:
        crm_emulator.stop()
        erp_emulator.stop()


def _free(preferred: int) -> int:
    """The preferred port when it is free (stable URLs for the UI), else any free port."""
    if not preferred:
        return 0
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return 0


class SeedTarget:
    """One side of the demo's seed: a system's emulator, or nothing (ids are made up), for
    `ledgerbridge emulate`, which fills one system alone."""

    def __init__(self, system: System | None = None, emulator: Emulator | None = None):
        self.system, self.emulator = system, emulator
        self._made_up = 0

    def seed(self, entity: str, records: list[dict[str, Any]]) -> list[str]:
        if self.system is None:
            self._made_up += len(records)
            return [str(self._made_up - len(records) + i + 1) for i in range(len(records))]
        supported = self.system.entities.get(entity)
        if supported is None:
            return ["" for _ in records]
        return self.system.emulation.seed(self.emulator, entity, records)


def seed(crm: SeedTarget, erp: SeedTarget, companies: int, seed_value: int = 7) -> None:
    """Fill both sides with the demo's companies, people, products, invoices and payments, in
    each system's own shape (the system's seed hook). Drawn in one fixed order, so a seed value
    always gives the same data."""
    rng = random.Random(seed_value)
    fake = Faker("da_DK")
    fake.seed_instance(seed_value)
    data = generate(companies, seed_value)
    erp_only = erp.seed("debtors", data.erp_only)
    paired = erp.seed("debtors", [erp_values for _, erp_values, _ in data.pairs])
    crm_pairs = []
    for (crm_values, _, how), number in zip(data.pairs, paired):
        crm_pairs.append({**crm_values, "number": number} if how == "number" else crm_values)
    crm_companies = crm_pairs + data.crm_only + [values for values, _ in data.broken]
    organisation_ids = crm.seed("debtors", crm_companies)

    # Contact persons: the CRM knows most, the ERP a few, some of them the same person (same e-mail).
    people_by_organisation: dict[str, list[dict[str, Any]]] = {}
    for organisation_id, values in zip(organisation_ids, crm_companies):
        people_by_organisation[organisation_id] = [person(fake, values["name"], rng) for _ in range(rng.randint(0, 2))]
    erp_people = []
    for number, organisation_id, (crm_values, _, _) in zip(paired, organisation_ids, data.pairs):
        known = people_by_organisation[organisation_id]
        erp_people.append({"debtor_id": number, **(known[0] if known else person(fake, crm_values["name"], rng))})
    crm.seed("contacts", [{"debtor_id": o, **p} for o, people in people_by_organisation.items() for p in people])
    erp.seed("contacts", [{k: v for k, v in p.items() if k != "title"} for p in erp_people])

    # Suppliers: some only in the ERP, some only in the CRM, some in both (the CRM keeping the ERP's id).
    supplier_data = suppliers(max(3, companies // 10), seed_value)
    erp_ids = erp.seed("creditors", supplier_data.erp_only + [erp_values for _, erp_values, _ in supplier_data.pairs])
    paired_ids = erp_ids[len(supplier_data.erp_only):]
    crm.seed("creditors", supplier_data.crm_only + [{**crm_values, "erp_id": erp_id or None}
                                                    for (crm_values, _, _), erp_id in zip(supplier_data.pairs, paired_ids)])

    # Products, booked invoices with lines, and payments (some in full, some in part).
    erp.seed("items", products())
    invoice_numbers = erp.seed("invoices", invoices_for(erp_only + paired, rng))
    payments = []
    for number in invoice_numbers:
        roll = rng.random()
        if roll < 0.5:
            payments.append({"invoice_id": number, "share": PAYMENT_SHARES[0]})
        elif roll < 0.7:
            payments.append({"invoice_id": number, "share": PAYMENT_SHARES[1]})
    erp.seed("payments", payments)


def run_demo(workdir: Path, *, companies: int = 300, as_json: bool = False, ui: bool = False,
             crm: str = DEFAULT_CRM, erp: str = DEFAULT_ERP) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    for system in (demo_system(crm, "crm"), demo_system(erp, "erp")):
        os.environ.update({k: os.environ.get(k, v) for k, v in demo_secrets(system).items()})
    with emulators(workdir, companies, crm, erp) as (crm_emulator, erp_emulator, fresh):
        config_path = workdir / "config.yaml"
        config = demo_config(workdir, crm_emulator.base_url, erp_emulator.base_url, crm, erp)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        config = load_config(config_path)
        store = HubStore(config.hub.resolved_url(""))
        store.create_all()
        connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
        engine = SyncEngine(config, store, connectors)
        try:  # progress per entity on stderr, as `ledgerbridge sync`
            summaries = Progress().run(enabled_entities(config), lambda entity: engine.run([entity])[entity])
        finally:
            for connector in connectors.values():
                connector.close()
        report = {
            "workdir": str(workdir.resolve()),
            "seeded": fresh,
            "hub": config.hub.resolved_url(""),
            "entities": {name: s.to_dict() for name, s in summaries.items()},
        }
        print(json.dumps(report, indent=2, default=str) if as_json else format_summary(report, summaries))
        if ui:
            return open_ui(workdir, config_path)
    return 0


def format_summary(report: dict[str, Any], summaries: dict[str, EntitySummary]) -> str:
    """The demo's header, then the same table and notes as `ledgerbridge sync` (ledgerbridge.report)."""
    lines = [
        f"ledgerbridge demo in {report['workdir']}"
        + (" (emulators seeded)" if report["seeded"] else " (reusing the emulators' data)"),
        f"hub database: {report['hub']}",
        "",
        summary_table(summaries),
        "",
        COUNTING,
        "",
        *attention(summaries),
    ]
    return "\n".join(lines)


def open_ui(workdir: Path, config_path: Path) -> int:
    """Serve the Dagster UI over the demo's data until interrupted (the emulators keep running)."""
    from ledgerbridge.serve import execute_job, prepare_dagster_home

    dagster_home = prepare_dagster_home(workdir / "dagster_home")  # the same instance settings as serve
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "LEDGERBRIDGE_CONFIG": str(config_path.resolve())}
    project_root = Path(__file__).resolve().parents[2]
    print("\nrecording a sync_all run in Dagster (runs, materialisations and checks for the UI) ...", flush=True)
    if not execute_job(env, "sync_all"):
        print("  ! the sync_all run failed; the UI shows why")
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(project_root / "workspace.yaml")]
    print("\nDagster UI: http://127.0.0.1:3000  (Ctrl-C stops it and the emulators)")
    process = subprocess.Popen(command, env=env, cwd=project_root)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()
