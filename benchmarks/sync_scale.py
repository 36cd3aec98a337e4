"""Work proportional to what changed (issue 19): initial sync, no-op sync and a 1%-changed sync of N
debtors between the webCRM and e-conomic emulators, on a SQLite (or --hub-url) hub.

    .venv/bin/python benchmarks/sync_scale.py --sizes 10000 100000 [--repeats 3] [--save out.json]

The emulators run in a child process and each sync in a fresh one (as `ledgerbridge sync` or a
Dagster run would), so the seconds and memory printed are the sync's own: its peak RSS (Linux's
VmHWM) including the imported libraries ("MiB at start": what the process held before the sync),
not the emulators' copy of the data. The quality checks are prepared before the clock starts, as
in a warm service (Great Expectations imported, its suites built: "prepares the checks in", a cost
a cold process pays once; see docs/serve.md). Each
figure is printed beside its baselines as a ratio (now / baseline; below 1 is better): the issue's
table and the previous commit's run (BASELINES below), or a file written with --save and given
with --baseline. The last table says how each figure grows with the size: the exponent k in
figure ~ size^k (1 linear, 0 flat).

The seed: n customers in e-conomic and n organisations in webCRM carrying the customer's number,
name, address and VAT group as e-conomic's zone shows it ("domestic"), as a CRM already kept in
step by hand would; the initial sync then measures matching, not writes. `--crm-without-vat-group`
seeds webCRM without it, as before: the initial sync then writes the zone to every organisation
(n real update calls; the 1% figure shows what one such write costs).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SECRETS = {"LB_BENCH_WEBCRM": "bench-key", "LB_BENCH_SECRET": "bench-secret", "LB_BENCH_GRANT": "bench-grant"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# Figures to compare with, per size. "issue 19": the table (before the plan queue; peak MiB
# of the whole process, emulators in it). "ce315ac": the commit before this round's changes, run with
# this benchmark on 2026-12-07 at a load of 7-11 on 2 cores (`--save`; the wall-clock seconds are
# mostly the load's: compare the CPU seconds).
BASELINES: dict[str, dict[int, dict[str, float]]] = {
    "issue 19": {
        10_000: {"initial s": 4.3, "no-op s": 0.63, "initial MiB": 169},
        100_000: {"initial s": 50.0, "no-op s": 6.8, "1% s": 40.0, "initial MiB": 732},
        300_000: {"initial s": 251.0, "no-op s": 23.7, "initial MiB": 1946},
    },
    "ce315ac": {
        10_000: {"initial s": 17.46, "initial cpu s": 4.45, "initial MiB": 348, "echo s": 0.24, "no-op s": 0.32,
                 "no-op cpu s": 0.11, "no-op MiB": 242, "1% s": 7.17, "1% s w/o push": 1.04, "1% cpu s": 1.58,
                 "1% writes/change": 1.00, "1% MiB": 247},
        100_000: {"initial s": 150.5, "initial cpu s": 48.41, "initial MiB": 1279, "echo s": 3.12, "no-op s": 2.70,
                  "no-op cpu s": 0.99, "no-op MiB": 242, "1% s": 70.51, "1% s w/o push": 10.60, "1% cpu s": 15.55,
                  "1% writes/change": 1.00, "1% MiB": 274},
    },
}
# "cpu s": CPU seconds of the sync process (its own work, HTTP client included; the emulators are
# another process), less at the mercy of the machine's load than the wall-clock seconds ("s").
MEASURES = ("initial s", "initial cpu s", "initial writes", "initial MiB", "echo s", "no-op s", "no-op cpu s",
            "no-op writes", "no-op MiB", "1% s", "1% s w/o push", "1% cpu s", "1% writes/change", "1% MiB")


# -- the emulators, in a child process ------------------------------------------------------------

def _emulators_main(pipe: Any) -> None:
    """Serve both emulators and answer the parent's commands until told to stop."""
    from ledgerbridge.systems.economic.emulator import EconomicEmulator
    from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator

    webcrm = WebcrmEmulator(api_keys=(SECRETS["LB_BENCH_WEBCRM"],))
    economic = EconomicEmulator(app_secret_token=SECRETS["LB_BENCH_SECRET"],
                                agreement_grant_token=SECRETS["LB_BENCH_GRANT"])
    webcrm.start()
    economic.start()
    pipe.send({"crm": webcrm.base_url, "erp": economic.base_url})
    rng = random.Random(1)
    try:
        while True:
            command, argument = pipe.recv()
            if command == "seed":
                started = time.perf_counter()
                _seed(webcrm, economic, *argument)
                pipe.send(time.perf_counter() - started)
            elif command == "change":
                pipe.send(_change(webcrm, economic, argument, rng))
            elif command == "writes":
                pipe.send(sum(1 for e in (webcrm, economic) for m, p in e.request_log
                              if m in WRITES and not p.startswith("/Auth")))
            elif command == "stop":
                return
    finally:
        webcrm.stop()
        economic.stop()


def _seed(webcrm: Any, economic: Any, n: int, vat_group: bool) -> None:
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
        "OrganisationExtraCustom1": str(customer["customerNumber"]),
        **({"OrganisationVatGroup": "domestic"} if vat_group else {})} for customer in customers])


def _change(webcrm: Any, economic: Any, count: int, rng: random.Random) -> int:
    """`count` records edited on each side (a city in e-conomic, a phone in webCRM)."""
    stamp = time.time_ns()
    for number in rng.sample(sorted(economic.tables.rows["customers"]), count):
        economic.update_raw("customers", number, {"city": f"Erp {stamp % 100000} {number}"})
    for org_id in rng.sample(sorted(webcrm.tables.rows["Organisations"]), count):
        webcrm.update_raw("Organisations", org_id,
                          {"OrganisationTelephone": f"+45 70 {stamp % 90 + 10} {int(org_id) % 100:02d} 00"})
    return count


class Emulators:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_emulators_main, args=(child,), daemon=True)
        self.process.start()
        self.urls = self.pipe.recv()

    def ask(self, command: str, argument: Any = None) -> Any:
        self.pipe.send((command, argument))
        return self.pipe.recv()

    def stop(self) -> None:
        self.pipe.send(("stop", None))
        self.process.join(timeout=60)


# -- measuring ------------------------------------------------------------------------------------

def _reset_peak_rss() -> None:
    """Start a new peak (VmHWM) for this process (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _status_mib(name: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {name} in /proc/self/status")


def _peak_rss_mib() -> float:
    return _status_mib("VmHWM")


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _sync_main(config_data: dict[str, Any], pipe: Any) -> None:
    """One sync in a fresh process, so its time and peak memory are its own."""
    from ledgerbridge.config import parse_config
    from ledgerbridge.quality import suites  # noqa: F401  Great Expectations warm, as in a running service
    from ledgerbridge.store import HubStore
    from ledgerbridge.sync.engine import SyncEngine
    from ledgerbridge.systems import build_connector

    import great_expectations  # noqa: F401

    os.environ.update(SECRETS)
    config = parse_config(config_data)
    store = HubStore(config.hub.url)
    connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
    engine = SyncEngine(config, store, connectors)
    pushing = [0.0]
    push = engine.push

    def timed_push(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return push(*args, **kwargs)
        finally:
            pushing[0] += time.perf_counter() - started

    engine.push = timed_push  # type: ignore[method-assign]
    # The quality checks prepared once per process (Great Expectations builds its suite, a few
    # seconds), as in a running service; timed apart, not in the sync's figure.
    from ledgerbridge.quality import check_records

    warming = time.perf_counter()
    for side, connector in connectors.items():
        check_records("debtors", [{"hub_id": "warm-up", "name": "Warm-up ApS", "country": "DK"}], key="hub_id",
                      target=connector.system, limits=connector.limits("debtors"))
    warm_up = time.perf_counter() - warming
    rss_before = _rss_mib()
    _reset_peak_rss()
    started, cpu_started = time.perf_counter(), time.process_time()
    engine.run(["debtors"])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    pipe.send({"s": elapsed, "cpu s": cpu, "push s": pushing[0], "MiB": _peak_rss_mib(), "MiB before": rss_before,
               "warm-up s": warm_up})
    for connector in connectors.values():
        connector.close()
    store.dispose()


def run_size(n: int, hub_url: str | None, workdir: Path, repeats: int, vat_group: bool) -> dict[str, Any]:
    from ledgerbridge.store import HubStore

    os.environ.update(SECRETS)
    emulators = Emulators()
    try:
        seeded = emulators.ask("seed", (n, vat_group))
        config = {
            "crm": {"system": "webcrm", "base_url": emulators.urls["crm"], "secrets": {"api_key": "LB_BENCH_WEBCRM"}},
            "erp": {"system": "economic", "base_url": emulators.urls["erp"],
                    "secrets": {"app_secret_token": "LB_BENCH_SECRET", "agreement_grant_token": "LB_BENCH_GRANT"}},
            "hub": {"url": hub_url or f"sqlite:///{workdir / f'hub-{n}.db'}"},
            "entities": {"debtors": {"erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}}},
        }
        store = HubStore(config["hub"]["url"])
        store.drop_all()
        store.create_all()
        store.dispose()

        def sync() -> dict[str, float]:
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            process = context.Process(target=_sync_main, args=(config, child))
            before = emulators.ask("writes")
            process.start()
            figures = parent.recv()
            process.join()
            return {**figures, "writes": emulators.ask("writes") - before}

        initial = sync()
        echo = sync()  # reads our own initial writes back once (a cursor cannot tell them apart)
        noops = [sync() for _ in range(repeats)]
        changed = max(1, n // 100)
        ones = []
        for _ in range(repeats):
            emulators.ask("change", changed)
            ones.append(sync())
    finally:
        emulators.stop()
    median = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    return {
        "size": n, "repeats": repeats, "seed s": seeded, "MiB at start": initial["MiB before"],
        "warm-up s": statistics.median(r["warm-up s"] for r in [initial, echo, *noops, *ones]),
        "initial s": initial["s"], "initial cpu s": initial["cpu s"], "initial writes": initial["writes"],
        "initial MiB": initial["MiB"],
        "echo s": echo["s"],
        "no-op s": median(noops, "s"), "no-op s all": [r["s"] for r in noops],
        "no-op cpu s": median(noops, "cpu s"),
        "no-op writes": max(r["writes"] for r in noops), "no-op MiB": max(r["MiB"] for r in noops),
        "1% s": median(ones, "s"), "1% s all": [r["s"] for r in ones],
        "1% s w/o push": statistics.median(r["s"] - r["push s"] for r in ones), "1% cpu s": median(ones, "cpu s"),
        "1% writes/change": sum(r["writes"] for r in ones) / (2 * changed * repeats),
        "1% MiB": max(r["MiB"] for r in ones),
    }


# -- printing -------------------------------------------------------------------------------------

def _figure(name: str, value: float) -> str:
    if name.endswith("writes"):
        return f"{value:,.0f}"
    if name.endswith("MiB"):
        return f"{value:,.0f}"
    if name.endswith("/change"):
        return f"{value:.2f}"
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def print_results(results: list[dict[str, Any]], baselines: dict[str, dict[int, dict[str, float]]]) -> None:
    names = [b for b in baselines if baselines[b]]
    header = f"{'size':>9}  {'measure':<18}{'now':>10}  {'runs':<24}" + "".join(f"{'vs ' + b:>18}" for b in names)
    print(header)
    for result in results:
        for measure in MEASURES:
            value = result[measure]
            runs = result.get(f"{measure} all")
            shown = " ".join(f"{r:.2f}" for r in runs) if runs else ""
            ratios = []
            for b in names:
                base = baselines[b].get(result["size"], {}).get(measure)
                ratios.append(f"{value / base:.2f}x ({_figure(measure, base)})" if base else "-")
            print(f"{result['size']:>9,}  {measure:<18}{_figure(measure, value):>10}  {shown:<24}"
                  + "".join(f"{r:>18}" for r in ratios))
    if len(results) > 1:
        print("\ngrowth with size: exponent k in figure ~ size^k (1 = linear, 0 = flat)")
        for measure in ("initial s", "initial cpu s", "initial MiB", "no-op s", "no-op cpu s", "no-op MiB", "1% s",
                        "1% s w/o push", "1% cpu s"):
            steps = []
            for small, large in zip(results, results[1:]):
                a, b = small[measure], large[measure]
                k = math.log(b / a) / math.log(large["size"] / small["size"]) if a > 0 and b > 0 else float("nan")
                steps.append(f"{small['size']:,}->{large['size']:,}: k={k:.2f}")
            print(f"  {measure:<16}" + "   ".join(steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeats", type=int, default=3, help="no-op and 1%% syncs per size (median printed)")
    parser.add_argument("--hub-url", default=None, help="a PostgreSQL URL; default: a SQLite file per size")
    parser.add_argument("--crm-without-vat-group", action="store_true",
                        help="seed webCRM without the VAT group: the initial sync writes it to every organisation")
    parser.add_argument("--save", type=Path, help="write the figures as JSON (a baseline for a later run)")
    parser.add_argument("--baseline", type=Path, help="figures saved by an earlier run (--save), compared too")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores at the start")
    results = []
    with tempfile.TemporaryDirectory(prefix="ledgerbridge-scale-") as workdir:
        for n in args.sizes:
            results.append(run_size(n, args.hub_url, Path(workdir), args.repeats, not args.crm_without_vat_group))
            print(f"  {n:,} done (seed {results[-1]['seed s']:.0f} s, not counted; a sync process holds "
                  f"{results[-1]['MiB at start']:.0f} MiB before it starts, and prepares the checks in "
                  f"{results[-1]['warm-up s']:.1f} s before the clock starts); load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    baselines = dict(BASELINES)
    if args.baseline:
        saved = json.loads(args.baseline.read_text())
        baselines[saved["label"]] = {r["size"]: r for r in saved["results"]}
    print_results(results, baselines)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.save:
        label = os.environ.get("LB_BENCH_LABEL") or args.save.stem
        args.save.write_text(json.dumps({"label": label, "results": results}, indent=1))


if __name__ == "__main__":
    main()
