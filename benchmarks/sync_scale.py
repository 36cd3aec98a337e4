"""Work proportional to what changed (issue 19): initial sync, no-op sync and a 1%-changed sync of N
debtors between the webCRM and e-conomic emulators, on a SQLite (or --hub-url) hub. Prints seconds,
write calls, records/s and the process's peak RSS (the emulators run in this process too).

    .venv/bin/python benchmarks/sync_scale.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from ledgerbridge.config import parse_config
from ledgerbridge.store import HubStore
from ledgerbridge.sync.engine import SyncEngine
from ledgerbridge.systems import build_connector
from ledgerbridge.systems.economic.emulator import EconomicEmulator
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator

SECRETS = {"LB_BENCH_WEBCRM": "bench-key", "LB_BENCH_SECRET": "bench-secret", "LB_BENCH_GRANT": "bench-grant"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def seed(webcrm: WebcrmEmulator, economic: EconomicEmulator, n: int) -> None:
    """n matching customers on both sides, each side seeded as one bulk import: stamped at or before
    now, as a restored database would be, so the first incremental pull after the initial sync does
    not read them again."""
    rng = random.Random(n)
    places = [(str(1000 + rng.randrange(8000)), rng.choice(["Aarhus", "Odense", "Vejle", "Aalborg"])) for _ in range(n)]
    customers = economic.insert_many_raw("customers", [{
        "name": f"Firma {i:07d} ApS", "country": "Denmark", "zip": postcode, "city": city, "currency": "DKK",
        "customerGroup": {"customerGroupNumber": 1}, "paymentTerms": {"paymentTermsNumber": 1},
        "vatZone": {"vatZoneNumber": 1}} for i, (postcode, city) in enumerate(places)])
    webcrm.insert_many_raw("Organisations", [{
        "OrganisationName": customer["name"], "OrganisationType": "Customer", "OrganisationCountry": "Denmark",
        "OrganisationPostCode": customer["zip"], "OrganisationCity": customer["city"],
        "OrganisationExtraCustom1": str(customer["customerNumber"])} for customer in customers])


def writes(*emulators) -> int:
    return sum(1 for e in emulators for m, p in e.request_log if m in WRITES and not p.startswith("/Auth"))


def run_size(n: int, hub_url: str | None, workdir: Path) -> dict[str, str]:
    os.environ.update(SECRETS)
    webcrm = WebcrmEmulator(api_keys=(SECRETS["LB_BENCH_WEBCRM"],))
    economic = EconomicEmulator(app_secret_token=SECRETS["LB_BENCH_SECRET"], agreement_grant_token=SECRETS["LB_BENCH_GRANT"])
    webcrm.start()
    economic.start()
    try:
        seed(webcrm, economic, n)
        config = parse_config({
            "crm": {"system": "webcrm", "base_url": webcrm.base_url, "secrets": {"api_key": "LB_BENCH_WEBCRM"}},
            "erp": {"system": "economic", "base_url": economic.base_url,
                    "secrets": {"app_secret_token": "LB_BENCH_SECRET", "agreement_grant_token": "LB_BENCH_GRANT"}},
            "hub": {"url": hub_url or f"sqlite:///{workdir / f'hub-{n}.db'}"},
            "entities": {"debtors": {"erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}}},
        })
        store = HubStore(config.hub.url)
        store.drop_all()
        store.create_all()

        def sync() -> tuple[float, int]:
            connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
            before = writes(webcrm, economic)
            started = time.perf_counter()
            SyncEngine(config, store, connectors).run(["debtors"])
            elapsed = time.perf_counter() - started
            for connector in connectors.values():
                connector.close()
            return elapsed, writes(webcrm, economic) - before

        initial, initial_writes = sync()
        echoes, _ = sync()  # reads our own initial writes back once (a cursor cannot tell them apart)
        noop, noop_writes = sync()
        changed = max(1, n // 100)
        rng = random.Random(1)
        for number in rng.sample(sorted(economic.tables.rows["customers"]), changed):
            economic.update_raw("customers", number, {"city": f"Erp {number}"})
        for org_id in rng.sample(sorted(webcrm.tables.rows["Organisations"]), changed):
            webcrm.update_raw("Organisations", org_id, {"OrganisationTelephone": f"+45 70 1{int(org_id) % 10} 00 00"})
        one_percent, one_percent_writes = sync()
        store.dispose()
    finally:
        webcrm.stop()
        economic.stop()
    return {
        "records": f"{n:,}",
        "initial s": f"{initial:.1f}", "initial rec/s": f"{2 * n / initial:,.0f}", "initial writes": str(initial_writes),
        "echo sync s": f"{echoes:.2f}", "no-op s": f"{noop:.2f}", "no-op writes": str(noop_writes),
        "1% s": f"{one_percent:.2f}", "1% writes": f"{one_percent_writes} ({one_percent_writes / (2 * changed):.2f}/change)",
        "peak RSS MiB": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--hub-url", default=None, help="a PostgreSQL URL; default: a SQLite file per size")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="ledgerbridge-scale-") as workdir:
        rows = [run_size(n, args.hub_url, Path(workdir)) for n in args.sizes]
    columns = list(rows[0])
    print("  ".join(f"{c:>16}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]:>16}" for c in columns))


if __name__ == "__main__":
    main()
