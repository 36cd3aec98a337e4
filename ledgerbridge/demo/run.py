"""`ledgerbridge demo`: emulated webCRM and e-conomic, seeded once, synced, summarised.

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
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from faker import Faker

from ledgerbridge.config import load_config
from ledgerbridge.demo.data import generate, invoices_for, person, products
from ledgerbridge.emulators.economic import EconomicEmulator
from ledgerbridge.emulators.webcrm import WebcrmEmulator
from ledgerbridge.store import HubStore
from ledgerbridge.sync.engine import EntitySummary, SyncEngine
from ledgerbridge.systems import build_connector

# The emulators' own credentials, exported for the demo only; real installations set these.
DEMO_SECRETS = {
    "WEBCRM_API_KEY": "demo-webcrm-api-key",
    "ECONOMIC_APP_SECRET_TOKEN": "demo-app-secret",
    "ECONOMIC_AGREEMENT_GRANT_TOKEN": "demo-agreement-grant",
}
WEBCRM_PORT = 18801
ECONOMIC_PORT = 18802


def demo_config(workdir: Path, webcrm_url: str, economic_url: str) -> dict[str, Any]:
    return {
        "crm": {"system": "webcrm", "base_url": webcrm_url, "secrets": {"api_key": "WEBCRM_API_KEY"}},
        "erp": {
            "system": "economic",
            "base_url": economic_url,
            "secrets": {
                "app_secret_token": "ECONOMIC_APP_SECRET_TOKEN",
                "agreement_grant_token": "ECONOMIC_AGREEMENT_GRANT_TOKEN",
            },
        },
        "hub": {"url": f"sqlite:///{(workdir / 'hub.db').resolve()}"},
        "entities": {
            "debtors": {
                "direction": "both",
                "number_policy": "erp",
                "create_in_erp": "crm_type == 'Customer'",
                "create_in_crm": "always",
                "erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"},
                "erp_defaults_by_country": {"CH": {"currency": "CHF"}, "NO": {"currency": "NOK"}},
                "schedule": "*/15 * * * *",
            },
            "contacts": {"direction": "both"},
            "items": {"direction": "erp_to_crm", "schedule": "*/15 * * * *"},
            "invoices": {"direction": "erp_to_crm", "schedule": "*/15 * * * *"},
            "invoice_lines": {"direction": "erp_to_crm"},
            "payments": {"direction": "erp_to_crm", "schedule": "0 */4 * * *"},
        },
    }


@contextlib.contextmanager
def emulators(workdir: Path, companies: int) -> Iterator[tuple[WebcrmEmulator, EconomicEmulator, bool]]:
    webcrm_state, economic_state = workdir / "webcrm.json", workdir / "economic.json"
    fresh = not (webcrm_state.exists() and economic_state.exists())
    webcrm = WebcrmEmulator(webcrm_state, api_keys=(DEMO_SECRETS["WEBCRM_API_KEY"],), port=_free(WEBCRM_PORT))
    economic = EconomicEmulator(
        economic_state,
        app_secret_token=DEMO_SECRETS["ECONOMIC_APP_SECRET_TOKEN"],
        agreement_grant_token=DEMO_SECRETS["ECONOMIC_AGREEMENT_GRANT_TOKEN"],
        port=_free(ECONOMIC_PORT),
    )
    if fresh:
        seed(webcrm, economic, companies)
    webcrm.start()
    economic.start()
    try:
        yield webcrm, economic, fresh
    finally:
        webcrm.stop()
        economic.stop()


def _free(preferred: int) -> int:
    """The preferred port when it is free (stable URLs for the UI), else any free port."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return 0


def seed(webcrm: WebcrmEmulator, economic: EconomicEmulator, companies: int, seed_value: int = 7) -> None:
    rng = random.Random(seed_value)
    fake = Faker("da_DK")
    fake.seed_instance(seed_value)
    data = generate(companies, seed_value)
    erp_only = economic.seed("debtors", data.erp_only)
    paired = economic.seed("debtors", [erp for _, erp, _ in data.pairs])
    crm_pairs = []
    for (crm, _, how), number in zip(data.pairs, paired):
        crm_pairs.append({**crm, "number": number} if how == "number" else crm)
    crm_companies = crm_pairs + data.crm_only + [values for values, _ in data.broken]
    organisation_ids = webcrm.seed("debtors", crm_companies)

    # Contact persons: the CRM knows most, the ERP a few, some of them the same person (same e-mail).
    people_by_organisation: dict[str, list[dict[str, Any]]] = {}
    for organisation_id, values in zip(organisation_ids, crm_companies):
        people_by_organisation[organisation_id] = [person(fake, values["name"], rng) for _ in range(rng.randint(0, 2))]
    erp_people = []
    for number, organisation_id, (crm, _, _) in zip(paired, organisation_ids, data.pairs):
        known = people_by_organisation[organisation_id]
        erp_people.append({"debtor_id": number, **(known[0] if known else person(fake, crm["name"], rng))})
    webcrm.seed("contacts", [{"debtor_id": o, **p} for o, people in people_by_organisation.items() for p in people])
    economic.seed("contacts", [{k: v for k, v in p.items() if k != "title"} for p in erp_people])

    # Products, booked invoices with lines, and payments (some in full, some in part).
    economic.seed("items", products())
    invoice_numbers = economic.seed("invoices", invoices_for(erp_only + paired, rng))
    booked = {str(i["bookedInvoiceNumber"]): i for i in economic.all_raw("invoices/booked")}
    for number in invoice_numbers:
        gross = Decimal(str(booked[number]["grossAmount"]))
        roll = rng.random()
        if roll < 0.5:
            economic.register_payment(int(number), gross)
        elif roll < 0.7:
            economic.register_payment(int(number), (gross / 2).quantize(Decimal("0.01")))


def run_demo(workdir: Path, *, companies: int = 300, as_json: bool = False, ui: bool = False) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: os.environ.get(k, v) for k, v in DEMO_SECRETS.items()})
    with emulators(workdir, companies) as (webcrm, economic, fresh):
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(demo_config(workdir, webcrm.base_url, economic.base_url), sort_keys=False))
        config = load_config(config_path)
        store = HubStore(config.hub.resolved_url(""))
        store.create_all()
        connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
        try:
            summaries = SyncEngine(config, store, connectors).run()
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
    lines = [
        f"ledgerbridge demo in {report['workdir']}"
        + (" (emulators seeded)" if report["seeded"] else " (reusing the emulators' data)"),
        f"hub database: {report['hub']}",
        "",
        f"{'entity':<14}{'pulled':>8}{'matched':>9}{'created':>9}{'updated':>9}{'unchanged':>11}{'held back':>11}"
        f"{'waiting':>9}",
    ]
    for name, s in summaries.items():
        lines.append(
            f"{name:<14}{s.pulled:>8}{s.matched:>9}{s.created:>9}{s.updated:>9}{s.unchanged:>11}{len(s.held_back):>11}"
            f"{s.waiting:>9}"
        )
    lines.append("(waiting: the record's company or invoice is not on the other side yet, e.g. held back or under review)")
    for name, s in summaries.items():
        if s.held_back:
            lines += ["", f"held back ({name}): fix these in the source system; the next sync releases them"]
            for held in s.held_back:
                lines.append(f"  - {held['record'] or held['hub_id']} -> {held['target']}: {'; '.join(held['reasons'])}")
        for failure in s.failed:
            lines.append(f"  ! {failure['record']}: {failure['error']}")
        for blocked in s.blocked:
            lines.append(f"  ! blocked: {blocked}")
        for reason, count in s.not_created.items():
            lines.append(f"  {count} {name} not created in {reason}")
        if s.suggestions or s.duplicates:
            lines.append(
                f"\n{s.suggestions} possible {name} matches await review, {s.duplicates} likely duplicates "
                "within one system were found: ledgerbridge matches list"
            )
    return "\n".join(lines)


def open_ui(workdir: Path, config_path: Path) -> int:
    """Serve the Dagster UI over the demo's data until interrupted (the emulators keep running)."""
    dagster_home = (workdir / "dagster_home").resolve()
    dagster_home.mkdir(exist_ok=True)
    (dagster_home / "dagster.yaml").touch()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "LEDGERBRIDGE_CONFIG": str(config_path.resolve())}
    project_root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(project_root / "workspace.yaml")]
    print("\nDagster UI: http://127.0.0.1:3000  (Ctrl-C stops it and the emulators)")
    process = subprocess.Popen(command, env=env, cwd=project_root)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()
