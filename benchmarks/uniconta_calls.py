"""Uniconta calls per changed record, and the calls of a sync that has nothing to do.

Uniconta allows 5,000 calls per user per day before it slows every call down, so what a sync costs
in calls is the figure that matters. Run by hand; prints figures, asserts nothing:

    .venv/bin/python benchmarks/uniconta_calls.py                  # 200 organisations, 50 changed
    .venv/bin/python benchmarks/uniconta_calls.py --companies 1000 --changed 200

Both emulators run on loopback (webCRM and Uniconta); the hub is a SQLite file in a temporary
folder. The sync is the engine with the type rule on (keep_trigger_while_linked), with
employees, debtors, contacts, items, orders and order lines enabled, as the product sheet's set-up.
Calls are counted where Uniconta would count them: the Uniconta emulator's request log (every HTTP
call it answered, reads and writes).

Phases:
1. first sync: N customers (with a seller) created in Uniconta, M items to webCRM;
2. no-op sync: nothing changed anywhere (goal: one call per enabled entity);
3. update: K organisations edited in webCRM (city) -> K debtor updates (goal: 1.0 call each);
4. create: K new customers in webCRM -> K debtors created (goal: at most 2 calls each);
5. orders: K orders with 2 lines each entered in webCRM -> created in Uniconta.
Each phase is run twice: with the read cache (the `read_cache` option: last reads kept between
runs) and without it (updates read the record first, since Uniconta's PUT replaces the record).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faker import Faker  # noqa: E402

from ledgerbridge.config import parse_config  # noqa: E402
from ledgerbridge.store import HubStore  # noqa: E402
from ledgerbridge.systems import build_connector  # noqa: E402
from ledgerbridge.systems.uniconta.emulator import UnicontaEmulator  # noqa: E402
from ledgerbridge.sync.engine import SyncEngine  # noqa: E402
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator  # noqa: E402

ENTITIES = {
    "employees": {"direction": "both", "number_policy": "crm"},
    "debtors": {"create_in_erp": "crm_type == 'Customer'", "keep_trigger_while_linked": True,
                "erp_defaults": {"currency": "DKK", "customer_group": "1", "vat_group": "S25"}},
    "contacts": {"direction": "both"},
    "items": {"direction": "erp_to_crm"},
    "orders": {"direction": "both", "create_in_erp": "status == 'ready'", "create_in_crm": "never"},
    "order_lines": {"direction": "both", "create_in_crm": "never"},
}


def cvr(i: int) -> str:
    """The i-th valid Danish CVR number from 20000000 (weights 2765432 1, sum divisible by 11)."""
    found = -1
    for candidate in range(20000000, 99999999):
        digits = [int(d) for d in str(candidate)]
        if sum(d * w for d, w in zip(digits, (2, 7, 6, 5, 4, 3, 2, 1))) % 11 == 0:
            found += 1
            if found == i:
                return str(candidate)
    raise ValueError(i)


FAKE = Faker("da_DK")
FAKE.seed_instance(3)


def organisation(i: int, owner: int, kind: str = "Customer") -> dict:
    """A distinct Danish company (distinct names and addresses: no look-alikes held for review)."""
    return {"OrganisationName": f"{FAKE.last_name()}s {FAKE.word().title()}{FAKE.word()} {FAKE.company_suffix()}",
            "OrganisationAddress": f"{FAKE.street_name()} {i + 1}", "OrganisationPostCode": FAKE.postcode(),
            "OrganisationCity": FAKE.city()[:30], "OrganisationCountry": "Denmark",
            "OrganisationVatNumber": cvr(i), "OrganisationTelephone": "+45 70 20 20 20",
            "OrganisationType": kind, "OrganisationOwner": owner}


def run(companies: int, changed: int, items: int, with_cache: bool) -> list[tuple[str, int, int]]:
    os.environ.update({"BENCH_WEBCRM_KEY": "bench-webcrm-key", "BENCH_UNICONTA_PASSWORD": "bench-password"})
    with tempfile.TemporaryDirectory() as tmp, \
            WebcrmEmulator(api_keys=("bench-webcrm-key",)) as webcrm, \
            UnicontaEmulator(users={"sync": "bench-password"}, slow_down_seconds=0) as uniconta:
        options = {"company_id": uniconta.company_id, "user": "sync"}
        if with_cache:
            options["read_cache"] = str(Path(tmp) / "uniconta-reads.sqlite")
        config = parse_config({
            "crm": {"system": "webcrm", "base_url": webcrm.base_url, "secrets": {"api_key": "BENCH_WEBCRM_KEY"},
                    "options": {"sellers": True}},
            "erp": {"system": "uniconta", "base_url": uniconta.base_url,
                    "secrets": {"password": "BENCH_UNICONTA_PASSWORD"}, "options": options},
            "hub": {"url": f"sqlite:///{Path(tmp) / 'hub.db'}"},
            "entities": ENTITIES,
        }, "benchmark")
        store = HubStore(config.hub.url)
        store.create_all()

        def sync() -> tuple[int, Counter]:
            mark = len(uniconta.request_log)
            connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
            try:
                summaries = SyncEngine(config, store, connectors).run()
                if os.environ.get("BENCH_VERBOSE"):
                    for name, summary in summaries.items():
                        print("   ", name, {k: v for k, v in summary.to_dict().items() if v and k != "held_back_records"})
            finally:
                for connector in connectors.values():
                    connector.close()
            calls = uniconta.request_log[mark:]
            return len(calls), Counter("read" if method == "GET" else "write" for method, _ in calls)

        user = webcrm.insert_raw("Users", {"UserName": "Anna Berg", "UserEmail": "anna@firma.example",
                                           "UserInitials": "AB"})
        orgs = [webcrm.insert_raw("Organisations", organisation(i, user["UserId"])) for i in range(companies)]
        for i in range(items):
            uniconta.insert_raw("InvItemClient", {"Item": f"P{i}", "Name": f"Vare {i}", "SalesPrice1": 10.0 + i})
        results = []
        calls, _ = sync()
        results.append(("first sync: debtors + seller created", calls, companies + 1))  # items go to webCRM
        calls, _ = sync()
        results.append(("no-op sync", calls, 0))
        for org in orgs[:changed]:
            webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationCity": "Odense"})
        calls, _ = sync()
        results.append(("update: debtors edited in webCRM", calls, changed))
        for i in range(companies, companies + changed):
            webcrm.insert_raw("Organisations", organisation(i, user["UserId"]))
        calls, _ = sync()
        results.append(("create: new customers", calls, changed))
        for org in orgs[:changed]:
            opportunity = webcrm.insert_raw("Opportunities", {
                "OpportunityOrganisationId": org["OrganisationId"], "OpportunityAssignedTo": user["UserId"],
                "OpportunityCurrencyName": "DKK", "OpportunityErpStatus": "ReadyForSynchronization"})
            for line in (1, 2):
                webcrm.insert_raw("QuotationLines", {"QuotationLineOpportunityId": opportunity["OpportunityId"],
                                                     "QuotationLineSortOrder": line, "QuotationLineQuantity": 1.0,
                                                     "QuotationLinePrice": 100.0})
        calls, _ = sync()
        results.append(("orders: each with 2 lines", calls, changed * 3))
        store.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args()
    enabled = len(ENTITIES)
    print(f"Uniconta calls; {args.companies} organisations, {args.changed} changed, {args.items} items; "
          f"{enabled} entities enabled\n")
    for with_cache in (True, False):
        print(f"read cache {'on (read_cache file)' if with_cache else 'off (in-memory only)'}")
        print(f"  {'phase':<36}{'calls':>7}{'records':>9}{'calls/record':>14}{'beyond 1/entity':>17}")
        for phase, calls, records in run(args.companies, args.changed, args.items, with_cache):
            per = f"{calls / records:.2f}" if records else "-"
            beyond = f"{(calls - enabled) / records:.2f}" if records else f"{calls - enabled:+d}"
            print(f"  {phase:<36}{calls:>7}{records:>9}{per:>14}{beyond:>17}")
        print()
    print("calls/record counts every call of the sync (the pull's reads of every entity included);")
    print("'beyond 1/entity' subtracts the one read per enabled entity every sync makes anyway.")


if __name__ == "__main__":
    main()
