"""Pull throughput: ledgerbridge's pull vs dlt's rest_api source, from the e-conomic emulator.

Run by hand (dlt comes with the bench extra: pip install -e '.[bench]'); prints figures, asserts nothing:

    python benchmarks/pull_throughput.py --scale 0.01          # quick (1k debtors, 10k lines)
    python benchmarks/pull_throughput.py                       # full: 100k debtors, 1M lines
    python benchmarks/pull_throughput.py --entities invoice_lines --repeats 3      # the issue-19 figure
    python benchmarks/pull_throughput.py --pg-url postgresql+psycopg://u@host/db
    python benchmarks/pull_throughput.py --entities invoice_lines --invoices 100000 --lines-per-invoice 100 \
        --line-templates 1000 --no-dlt --no-pg --repeats 1     # 10M lines: the puller's peak memory

Each tool runs --repeats times per database (taking turns, a fresh database each time); the table
shows per entity the run with the median rows/s, then every run's figure and the paired ratios. The
load average before each run and the busiest other processes at the start are printed: the machine
may be shared, and the figures depend on what else runs.

What happens:
1. The e-conomic emulator is seeded in bulk, in process (EconomicEmulator.seed/register_payment, no
   HTTP) with N debtors, items, booked invoices with lines and payments, and served on loopback. It
   runs in its own process, so the puller's CPU time and memory are the puller's alone.
2. For each database (SQLite file in a temp dir; PostgreSQL at --pg-url, or a temporary server started
   with tests/pg.py's TemporaryPostgres), and each tool (ours, then dlt), a fresh child process pulls
   every entity into a fresh database and reports per entity: rows, wall seconds, rows/s, the
   puller's CPU seconds and its peak RSS during that entity (VmHWM, reset between entities).
   - ours: ledgerbridge.sync.pull.pull(store, EconomicConnector, "erp", entity)
   - dlt:  dlt's rest_api source (skippages/pagesize paging, the X-AppSecretToken and
           X-AgreementGrantToken headers, write_disposition merge on the primary key) into dlt's
           sqlalchemy destination on the same kind of database.
3. The ratio ours/dlt of rows/s per entity.

The entities and what each side fetches:
    debtors       GET /customers pages                (ours: sort=lastUpdated keyset pages)
    items         GET /products pages                 (ours: the same)
    invoices      GET /invoices/booked pages
    invoice_lines GET /invoices/booked pages + GET /invoices/booked/:n per invoice (the collection has no lines)
    payments      GET /invoices/booked pages, paid ones kept (grossAmount - remainder)
    contacts      GET /customers pages + GET /customers/:n/contacts per customer (only with --contacts-per-debtor)

--profile writes a cProfile of our pull (SQLite) per entity and prints where the time goes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
import traceback
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # pg.py: TemporaryPostgres, fresh_database

SECRET, GRANT = "bench-app-secret", "bench-grant"
ENTITIES = ("debtors", "items", "invoices", "invoice_lines", "payments")
PAGE_SIZE = 1000  # e-conomic's maximum page size, for both tools


# -- the emulator, in its own process ----------------------------------------------------------

def seed_emulator(emulator, sizes: dict[str, int], seed: int = 42) -> dict[str, int]:
    """Bulk-seed through the emulator's own helpers (no HTTP). Returns what was stored."""
    rng = random.Random(seed)
    cities = [("1050", "København K"), ("8000", "Aarhus C"), ("5000", "Odense C"), ("9000", "Aalborg")]
    batch = 5000

    def chunks(n: int):
        for start in range(1, n + 1, batch):
            yield range(start, min(n, start + batch - 1) + 1)

    for numbers in chunks(sizes["debtors"]):
        emulator.seed("debtors", [
            {"number": str(i), "name": f"Kunde {i} ApS", "street": "Vestergade", "house_number": str(i % 200 + 1),
             "postcode": cities[i % 4][0], "city": cities[i % 4][1], "country": "DK",
             "vat_number": f"DK{10000000 + i}", "email": f"info@kunde{i}.dk", "phone": f"+45 33 {i % 100:02d} 12 34",
             "currency": "DKK", "payment_terms": str(1 + i % 2), "customer_group": "1"}
            for i in numbers])
    for numbers in chunks(sizes["items"]):
        emulator.seed("items", [
            {"number": f"P-{i:05d}", "name": f"Vare {i}", "description": f"Vare nummer {i}, standard",
             "unit": "1", "unit_price": f"{rng.randint(10, 5000)}.{rng.randint(0, 99):02d}",
             "cost_price": f"{rng.randint(5, 2000)}.00", "product_group": "1"}
            for i in numbers])
    start = date(2025, 1, 1)
    lines_per_invoice = sizes["lines_per_invoice"]
    templates = sizes.get("line_templates") or 0

    def line_count(i: int) -> int:  # invoices past the templates get theirs' lines after booking
        return lines_per_invoice if not templates or i <= templates else 1

    for numbers in chunks(sizes["invoices"]):
        emulator.seed("invoices", [
            {"number": str(100000 + i), "debtor_id": str(rng.randint(1, sizes["debtors"])),
             "invoice_date": start + timedelta(days=i % 600), "currency": "DKK", "heading": f"Faktura {i}",
             "lines": [{"line_number": n, "item_id": f"P-{rng.randint(1, sizes['items']):05d}",
                        "description": f"Linje {n}", "quantity": str(rng.randint(1, 20)),
                        "unit_price": f"{rng.randint(10, 2000)}.{rng.randint(0, 99):02d}",
                        "discount_percentage": "0"}
                       for n in range(1, line_count(i) + 1)]}
            for i in numbers])
    if templates and sizes["invoices"] > templates:
        # Invoice i > K shares the stored lines (and totals) of invoice 1 + (i - 1) % K: one list object,
        # so 10M lines fit in the emulator's memory. Every invoice is still read over HTTP and every
        # line is its own row (<invoice>/<line>) in the hub: the puller's work is the same.
        with emulator.tables.lock:
            booked = emulator.tables.rows["invoices/booked"]
            for i in range(templates + 1, sizes["invoices"] + 1):
                template = booked[str(100000 + 1 + (i - 1) % templates)]
                invoice = booked[str(100000 + i)]
                invoice["lines"] = template["lines"]
                for key in template:
                    if "mount" in key or key.startswith("remainder"):
                        invoice[key] = template[key]
    paid = 0
    with emulator.tables.lock:
        booked = list(emulator.tables.rows["invoices/booked"].values())
    for invoice in booked:
        if rng.random() < sizes["paid_share"]:
            share = rng.choice((1.0, 0.5))
            emulator.register_payment(invoice["bookedInvoiceNumber"], round(invoice["grossAmount"] * share, 2))
            paid += 1
    contacts = 0
    per_debtor = sizes["contacts_per_debtor"]
    if per_debtor:
        number = 0
        for customer in range(1, sizes["debtors"] + 1):
            records = []
            for n in range(per_debtor):
                number += 1
                records.append({"customerContactNumber": number, "customer": {"customerNumber": customer},
                                "name": f"Person {number}", "email": f"p{number}@kunde{customer}.dk"})
            for record in records:
                emulator.insert_raw("contacts", record)
            contacts += len(records)
    return {"debtors": sizes["debtors"], "items": sizes["items"], "invoices": sizes["invoices"],
            "invoice_lines": sizes["invoices"] * lines_per_invoice, "payments": paid, "contacts": contacts}


def serve_emulator(sizes: dict[str, int], pipe) -> None:
    from ledgerbridge.systems.economic.emulator import EconomicEmulator

    try:
        emulator = EconomicEmulator(app_secret_token=SECRET, agreement_grant_token=GRANT)
        began = time.perf_counter()
        stored = seed_emulator(emulator, sizes)
        seeded = time.perf_counter() - began
        base_url = emulator.start()
        pipe.send({"base_url": base_url, "stored": stored, "seed_seconds": seeded,
                   "rss_mib": peak_rss_mib()})
        pipe.recv()  # any message: stop
        emulator._server.should_exit = True
    except Exception:
        pipe.send({"error": traceback.format_exc()})


# -- memory ------------------------------------------------------------------------------------

def reset_peak_rss() -> bool:
    """Reset the process's high-water mark (Linux: /proc/self/clear_refs, value 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """VmHWM (peak RSS since the last reset) in MiB; ru_maxrss (peak since start) where /proc lacks it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the pullers, each in a fresh child process ------------------------------------------------

def measure(entity: str, rows_of, run, use_tracemalloc: bool) -> dict[str, Any]:
    import gc
    import tracemalloc

    gc.collect()
    reset_peak_rss()
    if use_tracemalloc:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    traced = None
    if use_tracemalloc:
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    rows = rows_of()
    return {"entity": entity, "rows": rows, "seconds": wall, "cpu": cpu, "rows_s": rows / wall if wall else 0.0,
            "peak_rss_mib": peak_rss_mib(), "traced_mib": traced}


def run_ours(db_url: str, base_url: str, entities: list[str], options: dict, out) -> None:
    try:
        import sqlalchemy as sa

        from ledgerbridge.systems.economic.connector import EconomicConnector
        from ledgerbridge.store import HubStore, staging
        from ledgerbridge.sync.pull import pull

        store = HubStore(db_url)
        store.create_all()
        connector = EconomicConnector(base_url, SECRET, GRANT, timeout=120)
        results = []
        for entity in entities:
            def count(entity=entity) -> int:
                with store.connect() as conn:
                    return conn.execute(sa.select(sa.func.count()).select_from(staging("erp", entity))).scalar_one()

            def run(entity=entity) -> None:
                if options.get("profile"):
                    import cProfile
                    import pstats

                    profiler = cProfile.Profile()
                    profiler.enable()
                    pull(store, connector, "erp", entity, full=True)
                    profiler.disable()
                    path = Path(options["profile"]) / f"ours-{entity}.prof"
                    profiler.dump_stats(path)
                    print(f"\n--- cProfile of our pull, {entity} ({path}) ---", flush=True)
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
                else:
                    pull(store, connector, "erp", entity, full=True)

            calls = connector.client.calls
            result = measure(entity, count, run, options.get("tracemalloc", False))
            result["calls"] = connector.client.calls - calls
            results.append(result)
        connector.close()
        store.dispose()
        out.send({"results": results, "process_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    except Exception:
        out.send({"error": traceback.format_exc()})


def dlt_source(base_url: str, page_size: int):
    """e-conomic through dlt's declarative rest_api source."""
    from dlt.sources.rest_api import rest_api_source

    def paid(record: dict) -> bool:
        return (record.get("grossAmount") or 0) != (record.get("remainder") or 0)

    skippages = {"type": "page_number", "page_param": "skippages", "base_page": 0, "total_path": None}
    return rest_api_source({
        "client": {
            "base_url": base_url,
            "headers": {"X-AppSecretToken": SECRET, "X-AgreementGrantToken": GRANT, "Accept": "application/json"},
            "paginator": skippages,
        },
        "resource_defaults": {
            "write_disposition": "merge",
            "endpoint": {"params": {"pagesize": page_size}, "data_selector": "collection"},
        },
        "resources": [
            {"name": "debtors", "primary_key": "customerNumber", "endpoint": {"path": "customers"}},
            {"name": "items", "primary_key": "productNumber", "endpoint": {"path": "products"}},
            {"name": "invoices", "primary_key": "bookedInvoiceNumber", "endpoint": {"path": "invoices/booked"}},
            {
                "name": "invoice_lines",
                "primary_key": ["_invoices_booked_invoice_number", "lineNumber"],
                "include_from_parent": ["bookedInvoiceNumber"],
                "endpoint": {
                    "path": "invoices/booked/{resources.invoices.bookedInvoiceNumber}",
                    "params": {},
                    "data_selector": "lines",
                    "paginator": "single_page",
                },
            },
            {"name": "payments", "primary_key": "bookedInvoiceNumber", "endpoint": {"path": "invoices/booked"},
             "processing_steps": [{"filter": paid}]},
            {
                "name": "contacts",
                "primary_key": ["_debtors_customer_number", "customerContactNumber"],
                "include_from_parent": ["customerNumber"],
                "endpoint": {"path": "customers/{resources.debtors.customerNumber}/contacts"},
            },
        ],
    })


def run_dlt(db_url: str, base_url: str, entities: list[str], options: dict, out) -> None:
    try:
        import warnings

        import dlt
        import sqlalchemy as sa

        warnings.filterwarnings("ignore", category=sa.exc.SAWarning)  # dlt's merge job, not ours

        workdir = Path(options["workdir"])
        os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
        destination = dlt.destinations.sqlalchemy(credentials=db_url)
        pipeline = dlt.pipeline(pipeline_name=f"economic_{os.getpid()}", destination=destination,
                                dataset_name="economic", pipelines_dir=str(workdir / f"dlt-{os.getpid()}"))
        if db_url.startswith("sqlite:///"):
            # dlt's sqlalchemy destination keeps a dataset in an attached file: <db>__<dataset>.db
            path = Path(db_url.removeprefix("sqlite:///"))
            engine, schema = sa.create_engine(f"sqlite:///{path.with_name(path.stem + '__economic.db')}"), None
        else:
            engine, schema = sa.create_engine(db_url), "economic"
        results = []
        for entity in entities:
            def count(entity=entity) -> int:
                with engine.connect() as conn:
                    table = sa.Table(entity, sa.MetaData(), schema=schema, autoload_with=conn)
                    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

            def run(entity=entity) -> None:
                source = dlt_source(base_url, options["page_size"]).with_resources(entity)
                pipeline.run(source)

            results.append(measure(entity, count, run, options.get("tracemalloc", False)))
        engine.dispose()
        out.send({"results": results, "process_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    except Exception:
        out.send({"error": traceback.format_exc()})


def in_child(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(*args, child))
    process.start()
    answer = parent.recv()
    process.join()
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer


# -- the run -----------------------------------------------------------------------------------

def fmt_table(db: str, ours: dict, theirs: dict | None) -> str:
    head = (f"{'entity':<14}{'rows':>9}  {'ours rows/s':>11} {'s':>7} {'cpu s':>7} {'peak MiB':>9} {'calls':>7}")
    if theirs:
        head += f"  {'dlt rows/s':>10} {'s':>7} {'cpu s':>7} {'peak MiB':>9} {'dlt rows':>9}  {'ours/dlt':>8}"
    lines = [f"== {db} ==", head]
    by_entity = {r["entity"]: r for r in theirs["results"]} if theirs else {}
    for r in ours["results"]:
        line = (f"{r['entity']:<14}{r['rows']:>9}  {r['rows_s']:>11,.0f} {r['seconds']:>7.1f} {r['cpu']:>7.1f} "
                f"{r['peak_rss_mib']:>9.0f} {r.get('calls', 0):>7}")
        if r.get("traced_mib") is not None:
            line += f" (traced {r['traced_mib']:.0f} MiB)"
        t = by_entity.get(r["entity"])
        if t:
            ratio = r["rows_s"] / t["rows_s"] if t["rows_s"] else float("inf")
            line += (f"  {t['rows_s']:>10,.0f} {t['seconds']:>7.1f} {t['cpu']:>7.1f} {t['peak_rss_mib']:>9.0f} "
                     f"{t['rows']:>9}  {ratio:>7.2f}x")
        lines.append(line)
    total_rows = sum(r["rows"] for r in ours["results"])
    total_s = sum(r["seconds"] for r in ours["results"])
    summary = f"{'all':<14}{total_rows:>9}  {total_rows / total_s:>11,.0f} {total_s:>7.1f}"
    summary += f" {sum(r['cpu'] for r in ours['results']):>7.1f} {ours['process_peak_mib']:>9.0f}"
    if theirs:
        t_rows = sum(r["rows"] for r in theirs["results"])
        t_s = sum(r["seconds"] for r in theirs["results"])
        summary += (f" {'':>7}  {t_rows / t_s:>10,.0f} {t_s:>7.1f} {sum(r['cpu'] for r in theirs['results']):>7.1f}"
                    f" {theirs['process_peak_mib']:>9.0f} {t_rows:>9}  {(total_rows / total_s) / (t_rows / t_s):>7.2f}x")
    lines.append(summary)
    return "\n".join(lines)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def others_running(limit: int = 6) -> str:
    """The busiest other processes right now (the machine is shared: figures depend on them)."""
    import subprocess

    mine = {os.getpid(), os.getppid()}
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    except OSError:
        return "  (ps not available)"
    lines = []
    for line in out.splitlines()[1:]:
        pid, pcpu, etime, args = (line.split(None, 3) + ["", "", "", ""])[:4]
        if pid.isdigit() and int(pid) not in mine and float(pcpu or 0) >= 5:
            lines.append(f"  {pcpu:>5}% cpu  {etime:>9}  {args[:110]}")
    return "\n".join(lines[:limit]) or "  (nothing above 5% cpu)"


def median_run(runs: list[dict]) -> dict:
    """Per entity, the run with the median rows/s (its other columns with it)."""
    picked = []
    for index, first in enumerate(runs[0]["results"]):
        candidates = sorted((run["results"][index] for run in runs), key=lambda r: r["rows_s"])
        picked.append(candidates[len(candidates) // 2])
    return {"results": picked, "process_peak_mib": max(run["process_peak_mib"] for run in runs)}


def spread_lines(ours_runs: list[dict], dlt_runs: list[dict]) -> list[str]:
    lines = []
    for index, first in enumerate(ours_runs[0]["results"]):
        ours = [run["results"][index]["rows_s"] for run in ours_runs]
        text = f"  {first['entity']:<14} ours rows/s per run: " + ", ".join(f"{v:,.0f}" for v in ours)
        if dlt_runs:
            theirs = [run["results"][index]["rows_s"] for run in dlt_runs]
            ratios = [o / t for o, t in zip(ours, theirs) if t]
            text += "; dlt: " + ", ".join(f"{v:,.0f}" for v in theirs)
            if ratios:
                text += f"; paired ratios {min(ratios):.2f}x - {max(ratios):.2f}x"
        lines.append(text)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count (0.01 = a quick run)")
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--lines-per-invoice", type=int, default=10)
    parser.add_argument("--paid-share", type=float, default=0.3, help="share of invoices with a payment")
    parser.add_argument("--contacts-per-debtor", type=int, default=0,
                        help="contacts are read one customer at a time (one call each); off by default")
    parser.add_argument("--entities", default=None, help="comma-separated; default: all seeded")
    parser.add_argument("--pg-url", default=None, help="a PostgreSQL server URL (postgresql+psycopg://...)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="dlt's pagesize")
    parser.add_argument("--tracemalloc", action="store_true", help="also report Python heap peaks (slower)")
    parser.add_argument("--profile", action="store_true", help="cProfile our pull on SQLite, print the top")
    parser.add_argument("--repeats", type=int, default=3, help="runs per tool and database; medians are printed")
    parser.add_argument("--line-templates", type=int, default=0,
                        help="invoices past the first N share their lines' storage in the emulator (for 10M lines)")
    args = parser.parse_args(argv)

    sizes = {
        "debtors": max(1, round(args.debtors * args.scale)),
        "items": max(1, round(args.items * args.scale)),
        "invoices": max(1, round(args.invoices * args.scale)),
        "lines_per_invoice": args.lines_per_invoice,
        "paid_share": args.paid_share,
        "contacts_per_debtor": args.contacts_per_debtor,
        "line_templates": args.line_templates,
    }
    entities = args.entities.split(",") if args.entities else [
        *ENTITIES, *(["contacts"] if args.contacts_per_debtor else [])]
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-"))
    options = {"workdir": str(workdir), "page_size": args.page_size, "tracemalloc": args.tracemalloc}

    print(f"ledgerbridge pull throughput  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs, workdir {workdir})")
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {load_average()}; other processes now:\n{others_running()}")
    ctx = mp.get_context("spawn")
    emulator_pipe, child = ctx.Pipe()
    emulator = ctx.Process(target=serve_emulator, args=(sizes, child), daemon=True)
    emulator.start()
    started = emulator_pipe.recv()
    if "error" in started:
        raise SystemExit(started["error"])
    stored = started["stored"]
    print(f"emulator {started['base_url']}: seeded in {started['seed_seconds']:.1f} s, RSS {started['rss_mib']:.0f} MiB: "
          + ", ".join(f"{k} {v}" for k, v in stored.items()))

    databases: list[tuple[str, Any]] = []
    if not args.no_sqlite:
        databases.append(("sqlite", lambda tool: f"sqlite:///{workdir / f'{tool}.db'}"))  # tool: name-run
    pg_server = None
    if not args.no_pg:
        from pg import TemporaryPostgres, fresh_database

        server_url = args.pg_url
        if server_url is None:
            pg_server = TemporaryPostgres()
            server_url = pg_server.start()
        databases.append(("postgresql", lambda tool: fresh_database(server_url)))

    try:
        for db, url_for in databases:
            ours_runs, dlt_runs = [], []
            for run in range(1, max(1, args.repeats) + 1):
                profile = workdir if args.profile and db == "sqlite" and run == 1 else None
                # ours and dlt take turns, so a change in the machine's load falls on both
                before = load_average()
                ours_runs.append(in_child(run_ours, url_for(f"ours-{run}"), started["base_url"], entities,
                                          {**options, "profile": profile}))
                mid = load_average()
                if not args.no_dlt:
                    dlt_runs.append(in_child(run_dlt, url_for(f"dlt-{run}"), started["base_url"], entities, options))
                print(f"  {db} run {run}: before ours {before}; before dlt {mid}; after {load_average()}", flush=True)
                for path in workdir.glob("*.db"):
                    path.unlink()  # a fresh database per run; 1M lines take ~200 MB each
            ours = median_run(ours_runs)
            theirs = median_run(dlt_runs) if dlt_runs else None
            print()
            print(fmt_table(f"{db} (median of {len(ours_runs)})", ours, theirs), flush=True)
            print("\n".join(spread_lines(ours_runs, dlt_runs)), flush=True)
            expected = {e: stored.get(e) for e in entities}
            short = [f"{r['entity']} {r['rows']}/{expected[r['entity']]}" for r in ours["results"]
                     if expected.get(r["entity"]) is not None and r["rows"] != expected[r["entity"]]]
            if short:
                print("  ours: row counts differ from what was seeded: " + ", ".join(short))
    finally:
        emulator_pipe.send("stop")
        emulator.join(timeout=10)
        if pg_server is not None:
            pg_server.stop()
    print("\nrows/s: rows pulled per wall-clock second (HTTP from the emulator + mapping + writes); cpu s: the"
          "\npuller process's own CPU time (the emulator runs in another process); peak MiB: the puller's peak RSS"
          "\nduring that entity (VmHWM, reset per entity); 'all' peak: the puller process's peak over the whole run.")


if __name__ == "__main__":
    main()
