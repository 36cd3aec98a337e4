"""What the golden tables' foreign keys and reference indexes cost a bulk upsert: N debtors, 5N
invoices and 20N invoice lines written with HubStore.upsert (the reconcile's write) into a hub with
them and into one without (the same tables, made without constraints or indexes, as hubs were).

    .venv/bin/python benchmarks/hub_references.py --debtors 2000 [--hub-url postgresql+psycopg://...]

Each variant runs twice: an insert of every row, then an update of every row (ON CONFLICT DO UPDATE
with the same references, as a changed record is written). CPU seconds are this process's; on
PostgreSQL the server's work shows in the wall seconds. State the load (`uptime`) beside the figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from ledgerbridge.analytics import drop_views
from ledgerbridge.store import METADATA, HubStore, hub

BATCH = 1000


def rows(debtors: int) -> dict[str, list[dict]]:
    now = datetime.now(timezone.utc)
    made = {"debtors": [], "invoices": [], "invoice_lines": []}
    for d in range(debtors):
        debtor = f"d{d:08d}"
        made["debtors"].append({"hub_id": debtor, "number": str(d), "name": f"Debtor {d}", "created_at": now,
                                "updated_at": now})
        for i in range(5):
            invoice = f"i{d:08d}{i}"
            made["invoices"].append({"hub_id": invoice, "number": f"{d}{i}", "debtor_id": debtor, "currency": "DKK",
                                     "net_amount": Decimal("100.00"), "created_at": now, "updated_at": now})
            for n in range(4):
                made["invoice_lines"].append({"hub_id": f"l{d:08d}{i}{n}", "invoice_id": invoice, "line_number": n + 1,
                                              "quantity": Decimal(1), "created_at": now, "updated_at": now})
    return made


def without_references(url: str) -> None:
    """The hub's tables as they were made before foreign keys: same columns, no constraints or indexes."""
    old = sa.MetaData()
    for table in METADATA.sorted_tables:
        sa.Table(table.name, old, *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                    for c in table.columns))
    engine = sa.create_engine(url)
    old.create_all(engine)
    engine.dispose()


def write_all(store: HubStore, data: dict[str, list[dict]]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for entity in ("debtors", "invoices", "invoice_lines"):
        for start in range(0, len(data[entity]), BATCH):
            with store.begin() as conn:
                store.upsert(conn, hub(entity), data[entity][start:start + BATCH], ["hub_id"])
    return time.process_time() - cpu, time.perf_counter() - wall


def fresh_url(base: str | None, folder: str, name: str) -> str:
    if base is None:
        return f"sqlite:///{folder}/{name}.db"
    database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    return base.rsplit("/", 1)[0] + f"/{database}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=2000)
    parser.add_argument("--hub-url", default=os.environ.get("LEDGERBRIDGE_BENCH_PG_URL"),
                        help="a PostgreSQL server URL (a database is made per variant); default: SQLite files")
    args = parser.parse_args()
    data = rows(args.debtors)
    total = sum(len(v) for v in data.values())
    print(f"{args.debtors} debtors, {total} rows in all, {BATCH} per statement, "
          f"on {'PostgreSQL' if args.hub_url else 'SQLite'}; load: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        for variant in ("without", "with"):
            url = fresh_url(args.hub_url, folder, variant)
            if variant == "without":
                without_references(url)
            store = HubStore(url)
            if variant == "with":
                store.create_all()
                drop_views(store)
            for step in ("insert", "update"):
                cpu, wall = write_all(store, data)
                print(f"{variant:>7} foreign keys + indexes, {step}: {cpu:6.2f} CPU s, {wall:6.2f} s wall, "
                      f"{total / wall:8.0f} rows/s")
            store.dispose()


if __name__ == "__main__":
    main()
