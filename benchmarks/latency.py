"""Webhook latency: from a webCRM write to e-conomic holding the new value, through `ledgerbridge serve`.

    python benchmarks/latency.py [--changes 200] [--rate 2] [--no-worker] [--workdir DIR]

Starts `ledgerbridge serve --no-ui` as shipped (demo emulators with webhooks, receiver, Dagster
daemon, warm worker; no other flags) in a fresh working directory, links the demo's debtors with
one initial sync, then renames N linked organisations in webCRM one by one at a steady rate
(through the webCRM API, whose emulator calls our hook). A watcher polls e-conomic
(`filter=lastUpdated$gt:`) and records when each new name arrives. Printed: p50/p95/max latency
beside the figures before the warm worker, and per change a breakdown:

  with the warm worker (default), from the inbox row and the burst that applied it:
    webhook in    write -> the event is in the inbox (webCRM's delivery, the receiver)
    inbox wait    in the inbox -> the burst carrying it starts (poll + the burst before it)
    burst         burst started -> the value is in e-conomic (pull, reconcile, check, push)
  with --no-worker (the inbox sensor and one Dagster run per burst), from that run:
    sensor wait   write -> run created by the sensor (0 when a run already waiting covered it)
    queue+launch  run created (or write, if later) -> run started (dequeue + run worker start)
    run body      run started -> the value is in e-conomic

Timed figures are printed, never asserted (see ARCHITECTURE.md, benchmarks/).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledgerbridge.config import load_config  # noqa: E402
from ledgerbridge.webhooks.inbox import pending  # noqa: E402
from ledgerbridge.demo.run import DEMO_SECRETS  # noqa: E402
from ledgerbridge.store import T, HubStore  # noqa: E402
from ledgerbridge.sync.engine import SyncEngine  # noqa: E402
from ledgerbridge.systems import build_connector  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="CRM writes per second")
    parser.add_argument("--no-worker", action="store_true",
                        help="passed to serve: webhooks launch Dagster runs through the inbox sensor (the old path)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--hooks-port", type=int, default=18788)
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the last change")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lb-latency-"))
    os.environ.update({k: os.environ.get(k, v) for k, v in DEMO_SECRETS.items()})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "ledgerbridge.cli", "serve", "--workdir", str(workdir), "--no-ui",
               "--hooks-port", str(args.hooks_port), "--companies", str(max(300, args.changes + 50))]
    if args.no_worker:
        command.append("--no-worker")
    log_path = workdir / "serve.log"
    workdir.mkdir(parents=True, exist_ok=True)
    serve = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    try:
        return run(args, workdir, log_path)
    finally:
        serve.send_signal(2)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()


def run(args, workdir: Path, log_path: Path) -> int:
    hooks = f"http://127.0.0.1:{args.hooks_port}"
    wait_for(lambda: requests.get(f"{hooks}/healthz", timeout=1).ok, 60, "the webhook receiver")
    wait_for(lambda: "DAGSTER_HOME" in log_path.read_text(), 30, "the Dagster daemon")
    config = load_config(workdir / "config.yaml")
    store = HubStore(config.hub.resolved_url(""))
    store.create_all()
    crm, erp = build_connector(config.crm), build_connector(config.erp)

    # Link the demo's records once (what the first scheduled run would do); not measured.
    t = time.monotonic()
    SyncEngine(config, store, {"crm": crm, "erp": erp}).run(["debtors"])
    print(f"initial sync: {time.monotonic() - t:.1f} s")
    idm = T["id_map"]
    with store.connect() as conn:
        rows = conn.execute(idm.select().where(idm.c.entity == "debtors")).mappings().all()
    by_hub: dict[str, dict[str, str]] = {}
    for row in rows:
        by_hub.setdefault(row["hub_id"], {})[row["system"]] = row["remote_id"]
    pairs = [(ids["webcrm"], ids["economic"]) for ids in by_hub.values() if {"webcrm", "economic"} <= set(ids)]
    pairs.sort(key=lambda p: int(p[0]))
    if len(pairs) < args.changes:
        print(f"only {len(pairs)} linked debtors; measuring {len(pairs)} changes")
    pairs = pairs[: args.changes]
    settle(workdir, store)  # the initial sync's own webhook echoes are applied: let them finish

    tag = f"{int(time.time()) % 100000:05d}"
    expected: dict[str, str] = {}  # customerNumber -> new name
    written: dict[str, float] = {}
    arrived: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        since = None
        while not done.is_set():
            params = {"pagesize": 1000, "sort": "lastUpdated"}
            if since:
                params["filter"] = f"lastUpdated$gt:{since}"
            try:
                body = erp.client.request("GET", "/customers", what="watch", params=params).json()
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
                continue
            now = time.time()
            for c in body.get("collection", []):
                number = str(c["customerNumber"])
                if number in expected and c.get("name") == expected[number] and number not in arrived:
                    arrived[number] = now
                since = c.get("lastUpdated") or since
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.time()
    interval = 1.0 / args.rate
    for i, (crm_id, erp_id) in enumerate(pairs):
        due = started + i * interval
        time.sleep(max(0.0, due - time.time()))
        current = crm.get("debtors", crm_id)
        name = f"{(current.values.get('name') or 'Company')[:200]} LB{tag}-{i:03d}"
        expected[erp_id] = name
        written[erp_id] = time.time()
        crm.update("debtors", crm_id, {"name": name})
    print(f"{len(pairs)} CRM writes in {time.time() - started:.1f} s")
    deadline = time.time() + args.timeout
    while len(arrived) < len(pairs) and time.time() < deadline:
        time.sleep(0.2)
    done.set()
    report(args, workdir, store, pairs, written, arrived, started)
    crm.close()
    erp.close()
    return 0 if len(arrived) == len(pairs) else 1


def settle(workdir: Path, store: HubStore, timeout: float = 180) -> None:
    """Wait until the initial sync's echoes are applied: by the warm worker (nothing pending in the
    inbox; it warms up first), or by the runs the inbox sensor launched (--no-worker)."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    os.environ["DAGSTER_HOME"] = str((workdir / "dagster_home").resolve())
    instance = DagsterInstance.get()
    active = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    time.sleep(3)
    worker = "warm worker" in (workdir / "serve.log").read_text() or not instance.get_runs(limit=1)
    if worker:
        wait_for(lambda: not pending(store), timeout, "the warm worker to apply the echoes")
    wait_for(lambda: not instance.get_runs(filters=RunsFilter(statuses=active)), timeout, "the echo runs to finish")
    time.sleep(2)


# `serve` as shipped before the warm worker (inbox sensor -> queued run in a fresh process), 200 edits at 2/s, load ~1-2
BEFORE = {"p50": "6.9-8.6", "p95": "10.3-14.8", "max": "12-20"}


def report(args, workdir: Path, store: HubStore, pairs, written, arrived, started: float) -> None:
    from dagster import DagsterInstance, RunsFilter

    latencies = {k: arrived[k] - written[k] for k in arrived}
    missing = len(pairs) - len(latencies)
    values = list(latencies.values())
    print(f"\nchanges: {len(pairs)} at {args.rate:g}/s, arrived: {len(values)}, missing: {missing}")
    if values:
        now = {"p50": pct(values, 50), "p95": pct(values, 95), "max": max(values)}
        label = "serve --no-worker" if args.no_worker else "serve (warm worker)"
        print(f"{'latency':<10}{label:>22}{'before (run per burst)':>26}")
        for name, value in now.items():
            print(f"{name:<10}{value:>20.2f} s{BEFORE[name]:>24} s")
        print(f"{'mean':<10}{statistics.mean(values):>20.2f} s")
    os.environ["DAGSTER_HOME"] = str((workdir / "dagster_home").resolve())
    instance = DagsterInstance.get()
    if not args.no_worker:
        worker_breakdown(instance, store, pairs, written, arrived)
        print(f"workdir: {workdir}")
        return
    records = instance.get_run_records(filters=RunsFilter(tags={"ledgerbridge/trigger": "webhook"}))
    first = min((r for r in records if r.start_time and r.end_time), key=lambda r: r.start_time, default=None)
    if first is not None:  # an echo run of the initial sync: the daemon's first run (cold, unless warmed)
        steps = {}
        for e in instance.all_logs(first.dagster_run.run_id):
            if e.dagster_event and e.step_key and e.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                steps.setdefault(e.step_key, []).append(e.timestamp)
        plans = ", ".join(f"{k.split('__')[1]} {t[-1] - t[0]:.2f} s" for k, t in steps.items() if k.startswith("plan__"))
        print(f"first run after start-up ({first.dagster_run.job_name}): started->ended "
              f"{first.end_time - first.start_time:.2f} s; quality-gate steps (GE cold unless warmed): {plans}")
    records = [r for r in records if r.create_timestamp.timestamp() >= started - 1]
    jobs = {}
    for r in records:
        jobs[r.dagster_run.job_name] = jobs.get(r.dagster_run.job_name, 0) + 1
    runs = sorted(
        ((r.create_timestamp.timestamp(), r.start_time or 0.0, r.end_time or 0.0, r.dagster_run.status.value,
          int(r.dagster_run.tags.get("ledgerbridge/events", "0"))) for r in records),
    )
    print(f"runs launched by the inbox sensor: {len(runs)}  (statuses: "
          f"{', '.join(sorted({s for *_, s, _ in runs}))}; events per run: "
          f"{statistics.mean([e for *_, e in runs]) if runs else 0:.1f} on average; jobs: "
          f"{', '.join(f'{n} {j}' for j, n in sorted(jobs.items()))})")
    sensor, queue, body = [], [], []
    for key, w in written.items():
        if key not in arrived:
            continue
        # the run that carried the change: the last to start before the value arrived
        carrier = max((r for r in runs if r[1] and r[1] <= arrived[key]), key=lambda r: r[1], default=None)
        if carrier is None:
            continue
        created, start, _end, _status, _events = carrier
        sensor.append(max(0.0, created - w))
        queue.append(max(0.0, start - max(created, w)))
        body.append(arrived[key] - start)
    if sensor:
        for label, vals in (("sensor wait", sensor), ("queue+launch", queue), ("run body", body)):
            print(f"  {label:<13} p50 {pct(vals, 50):5.2f} s   p95 {pct(vals, 95):5.2f} s   max {max(vals):5.2f} s")
    durations = [end - start for _, start, end, *_ in runs if start and end]
    launches = [start - created for created, start, *_ in runs if start]
    if durations:
        print(f"  per run: created->started p50 {pct(launches, 50):.2f} s; started->ended p50 {pct(durations, 50):.2f} s")
    print(f"workdir: {workdir}")


def worker_breakdown(instance, store: HubStore, pairs, written, arrived) -> None:
    """Per change: its inbox event (the last for the organisation) and the burst that applied it."""
    from dagster import AssetKey

    inbox = T["inbox"]
    with store.connect() as conn:
        rows = conn.execute(inbox.select().where(inbox.c.system == "webcrm", inbox.c.entity == "debtors")
                            .order_by(inbox.c.id)).mappings().all()
    last_event = {row["remote_id"]: row for row in rows}
    burst_started: dict[str, float] = {}
    for key in instance.get_asset_keys():
        if key.path[0] != "hub":
            continue
        for record in instance.fetch_materializations(AssetKey(key.path), limit=10_000).records:
            tags = record.asset_materialization.tags or {}
            if "ledgerbridge/burst" in tags:
                burst_started[tags["ledgerbridge/burst"]] = float(tags["ledgerbridge/burst_started"])
    bursts = {row["applied_by"] for row in rows if row["applied_by"]}
    delivery, waiting, body = [], [], []
    for crm_id, erp_id in pairs:
        row = last_event.get(str(crm_id))
        if erp_id not in arrived or row is None or not row["applied_by"]:
            continue
        received = _epoch(row["received_at"])
        start = burst_started.get(row["applied_by"])
        if start is None:
            continue
        delivery.append(received - written[erp_id])
        waiting.append(max(0.0, start - received))
        body.append(arrived[erp_id] - start)
    print(f"bursts: {len(bursts)} for {len(rows)} webCRM debtor events")
    for label, vals in (("webhook in", delivery), ("inbox wait", waiting), ("burst", body)):
        if vals:
            print(f"  {label:<13} p50 {pct(vals, 50):5.2f} s   p95 {pct(vals, 95):5.2f} s   max {max(vals):5.2f} s")


def _epoch(value) -> float:
    from datetime import timezone

    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


if __name__ == "__main__":
    sys.exit(main())
