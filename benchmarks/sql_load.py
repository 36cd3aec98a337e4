"""SQL systems: rows/s of a 100k-address initial load, and what a change probe costs per tick.

Run by hand (not part of the tests):

    .venv/bin/python benchmarks/sql_load.py [--rows 100000] [--sync-rows 100000]

Everything goes through pyodbc and unixODBC's PostgreSQL driver to a throwaway PostgreSQL server
(tests/pg.py), with product databases built from the shipped profiles:

1. read: the cobra connector reads every address (snapshot strategy: rows hashed, hashes saved),
   then europa3000's rowversion read of the same number of addresses;
2. initial load: (a) the connector alone creates --rows addresses in europa3000, one transaction
   per address with its debtor account; (b) `SyncEngine.run()` cobra -> europa3000 for --sync-rows
   customer addresses (pull both sides, reconcile, check, push with the hub's outbox bookkeeping per
   record), then a second run that writes nothing;
3. probe: the one-query probe per strategy on the full tables, mean of repeated ticks:
   rowversion MAX(), modified-at MAX(), the snapshot fingerprint (a sum of 64-bit row hashes on
   PostgreSQL; CHECKSUM_AGG(BINARY_CHECKSUM(*)) on SQL Server).

Figures depend on the machine; the script prints them with the row counts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import sqlalchemy as sa  # noqa: E402

from pg import TemporaryPostgres  # noqa: E402
from sql_systems import product_database  # noqa: E402

from ledgerbridge.config import parse_config  # noqa: E402
from ledgerbridge.store import HubStore  # noqa: E402
from ledgerbridge.sync.engine import SyncEngine  # noqa: E402
from ledgerbridge.systems import build_connector  # noqa: E402
from ledgerbridge.systems.sql.connector import SqlConnector  # noqa: E402

def addresses(count: int, start: int = 1):
    """Distinct companies (names, streets and postcodes from Faker's Swiss data, seeded)."""
    from faker import Faker

    fake = Faker("de_CH")
    fake.seed_instance(start)
    for n in range(start, start + count):
        yield {"COMPANY1": f"{fake.last_name()} {fake.company_suffix()} {fake.last_name()} {n}",
               "STREET0": f"{fake.street_name()} {fake.building_number()}", "ZIP0": fake.postcode(),
               "CITY0": fake.city(), "STATE0": "Schweiz", "PHONE0": fake.phone_number(),
               "EMAIL0": f"info{n}@{fake.domain_name()}", "CUSTOMERNO": str(100000 + n), "ADDRESSTYPE": "Kunde"}


def bulk_insert(emulator, table: str, rows, batch: int = 5000) -> None:
    target = emulator.metadata.tables[table]
    buffer = []
    with emulator.engine.begin() as conn:
        for row in rows:
            buffer.append(row)
            if len(buffer) == batch:
                conn.execute(target.insert(), buffer)
                buffer = []
        if buffer:
            conn.execute(target.insert(), buffer)


def timed(label: str, count: int, action) -> float:
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    print(f"  {label:<58} {count:>8} rows  {seconds:8.2f} s  {count / seconds:10.0f} rows/s")
    return result


def read_all(connector: SqlConnector, entity: str) -> int:
    return sum(len(chunk.records) for chunk in connector.iter_changed(entity, None, chunk_size=1000))


def probe_cost(connector: SqlConnector, entity: str, cursor: str, ticks: int) -> float:
    seconds = []
    for _ in range(ticks):
        started = time.perf_counter()
        connector.probe(entity, cursor)
        seconds.append(time.perf_counter() - started)
    return statistics.mean(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="addresses read and probed")
    parser.add_argument("--write-rows", type=int, default=None, help="addresses the connector creates (default: --rows)")
    parser.add_argument("--sync-rows", type=int, default=10_000,
                        help="addresses in the engine's initial load (its per-record hub bookkeeping dominates)")
    parser.add_argument("--ticks", type=int, default=20, help="probe ticks averaged")
    args = parser.parse_args()
    server = TemporaryPostgres()
    url = server.start()
    work = Path(tempfile.mkdtemp(prefix="lb-sql-bench-"))
    try:
        print(f"SQL systems over pyodbc + unixODBC PostgreSQL driver, PostgreSQL at {url.rsplit('@', 1)[1]}")
        cobra = product_database(url, "cobra")
        europa = product_database(url, "europa3000")
        channel = product_database(url, "channelcrm")
        bulk_insert(cobra, "ADDRESSES", addresses(args.rows))
        bulk_insert(europa, "ADRESSEN", ({"ADRESSNUMMER": str(n), "FIRMA": f"Firma {n}", "ORTSCHAFT": "Bern", "PLZ": "3011"}
                                         for n in range(1, args.rows + 1)))
        bulk_insert(channel, "COMPANY", ({"NAME": f"Firma {n} ApS", "CITY": "Aarhus"} for n in range(1, args.rows + 1)))

        print("\n1. reading every address through the connector")
        snapshots = f"sqlite:///{work / 'read-snapshots.db'}"
        reader = SqlConnector(cobra.profile, cobra.url, snapshot_store=snapshots)
        timed("cobra ADDRESSES, snapshot hashes (first read, hashes saved)", args.rows, lambda: read_all(reader, "debtors"))
        europa_reader = SqlConnector(europa.profile, europa.url)
        timed("europa3000 ADRESSEN + DEBITOREN, rowversion order", args.rows, lambda: read_all(europa_reader, "debtors"))
        channel_reader = SqlConnector(channel.profile, channel.url)
        timed("ChannelCRM COMPANY, modified-at keyset pages", args.rows, lambda: read_all(channel_reader, "debtors"))

        print("\n3. probe cost per tick (nothing changed), on the full tables")
        cursors = {}
        for name, connector in (("cobra", reader), ("europa3000", europa_reader), ("channelcrm", channel_reader)):
            chunks = list(connector.iter_changed("debtors", None, chunk_size=5000)) if name != "cobra" else None
            cursors[name] = chunks[-1].cursor if chunks else connector.probe("debtors", None)
        for name, connector, strategy in (("europa3000", europa_reader, "rowversion MAX()"),
                                          ("channelcrm", channel_reader, "modified-at MAX()"),
                                          ("cobra", reader, "snapshot fingerprint (sum of row hashes)")):
            cost = probe_cost(connector, "debtors", cursors[name], args.ticks)
            print(f"  {name:<11} {strategy:<40} {args.rows:>8} rows  {cost:8.1f} ms per tick")
        for connector in (reader, europa_reader, channel_reader):
            connector.close()

        write_rows = args.rows if args.write_rows is None else args.write_rows
        print(f"\n2a. initial load, connector writes only: {write_rows} addresses into europa3000")
        target = product_database(url, "europa3000")
        writer = SqlConnector(target.profile, target.url)
        records = [{"number": str(200000 + n), "name": row["COMPANY1"], "street": row["STREET0"],
                    "postcode": row["ZIP0"], "city": row["CITY0"], "country": "CH", "currency": "CHF"}
                   for n, row in enumerate(addresses(write_rows), 1)]
        timed("create() per address: one transaction, ADRESSEN + DEBITOREN", write_rows,
              lambda: [writer.create("debtors", r) for r in records])
        writer.close()

        print(f"\n2b. initial load through the engine: cobra -> europa3000, {args.sync_rows} customer addresses")
        cobra_load = product_database(url, "cobra")
        europa_load = product_database(url, "europa3000")
        bulk_insert(cobra_load, "ADDRESSES", addresses(args.sync_rows))
        config = parse_config({
            "crm": {"system": "cobra", "base_url": cobra_load.url,
                    "options": {"snapshot_store": f"sqlite:///{work / 'sync-snapshots.db'}"}},
            "erp": {"system": "europa3000", "base_url": europa_load.url},
            "hub": {"url": f"sqlite:///{work / 'hub.db'}"},
            "entities": {"debtors": {"direction": "crm_to_erp", "number_policy": "crm",
                                     "create_in_erp": "crm_type == 'Kunde'", "erp_defaults": {"currency": "CHF"}}},
        }, "benchmark")
        store = HubStore(config.hub.url)
        store.create_all()
        engine = SyncEngine(config, store, {"crm": build_connector(config.crm), "erp": build_connector(config.erp)})
        summary = timed("first sync (pull, reconcile, check, INSERT per address)", args.sync_rows,
                        lambda: engine.run())["debtors"]
        print(f"    created {summary.created}, held back {len(summary.held_back)}, failed {len(summary.failed)}, "
          f"not created: {summary.not_created or 0}, duplicates reported {summary.duplicates}")
        with europa_load.engine.connect() as conn:
            written = conn.execute(sa.text('SELECT count(*) FROM "ADRESSEN"')).scalar_one()
        print(f"    europa3000 ADRESSEN now holds {written} rows")
        again = timed("second sync (echo of our writes, nothing to write)", args.sync_rows, lambda: engine.run())["debtors"]
        print(f"    created {again.created}, updated {again.updated}")
        for connector in engine.connectors.values():
            connector.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
