"""Many tenants on one machine: how far one deployment goes. Prints its figures; run by hand:

    .venv/bin/python benchmarks/tenants.py --tenants 20 --records 500 --changed 0.2 --tick-sizes 10,50,200
    .venv/bin/python benchmarks/tenants.py --tenants 200 --records 1000 --changed 0.1 --daemon-runs 12  # long

What it does, on a throwaway PostgreSQL server (tests/pg.py; or --pg URL), each tenant's hub its own schema:
1. first sync: N tenants, each its own emulated webCRM (M customers) and e-conomic, synced one after
   the other by the engine (as `ledgerbridge sync` does): hub rows written per second;
2. changes on a fraction of the tenants (an edited customer each, its webhook event in the tenant's
   inbox), then one tick of the tenant_inbox sensor: its cost, and the run requests it makes;
3. those runs executed in process, one after another (as Dagster's in-memory launcher would):
   runs/minute and seconds per run;
4. with --daemon-runs R: R runs through a real dagster-daemon on a PostgreSQL instance with the
   default run launcher (a process per run), R/2 tenants x 2 entities: runs/minute this machine sustains;
5. sensor tick cost by number of tenants (--tick-sizes, registry-only tenants with empty inboxes plus
   one with events): registry, inbox and schedules sensors, ms per tick and per tenant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import sqlalchemy as sa  # noqa: E402
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context, instance_for_test  # noqa: E402
from dagster._core.instance.ref import InstanceRef  # noqa: E402

from ledgerbridge.store import T, utcnow  # noqa: E402
from ledgerbridge.sync.engine import SyncEngine  # noqa: E402
from ledgerbridge.systems import build_connector  # noqa: E402
from ledgerbridge.tenants import TenantRegistry  # noqa: E402
from ledgerbridge.tenants.instance import instance_yaml  # noqa: E402
from pg import TemporaryPostgres, fresh_database  # noqa: E402
from pipelines.tenants import TENANTS, build_tenant_definitions  # noqa: E402
from tenant_fixtures import DEBTORS, register, start_tenant  # noqa: E402

HUB_ENV = "LEDGERBRIDGE_HUB_URL"
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def hub_rows(store) -> int:
    counts = store.table_counts()
    return sum(counts[name] for name in ("crm_debtors", "erp_debtors", "hub_debtors", "id_map", "shadows"))


def first_sync(registry: TenantRegistry, names: list[str]) -> tuple[float, int]:
    started, rows = time.perf_counter(), 0
    for name in names:
        tenant = registry.get(name)
        store = tenant.open_store()
        connectors = {side: build_connector(tenant.config.side(side)) for side in ("crm", "erp")}
        try:
            SyncEngine(tenant.config, store, connectors).run(["debtors"])
            rows += hub_rows(store)
        finally:
            for connector in connectors.values():
                connector.close()
            store.dispose()
    return time.perf_counter() - started, rows


def add_event(registry: TenantRegistry, name: str, remote_id: str, key: str) -> None:
    store = registry.get(name).open_store()
    with store.begin() as conn:
        conn.execute(sa.insert(T["inbox"]).values(system="webcrm", entity="debtors", event="Update", remote_id=remote_id,
                                                  payload="{}", received_at=utcnow(), event_key=key))
    store.dispose()


def tick(defs, sensor_name: str, instance: DagsterInstance, cursor: str | None = None):
    sensor = defs.resolve_sensor_def(sensor_name)
    with build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                              definitions=defs) as context:
        started = time.perf_counter()
        result = sensor.evaluate_tick(context)
        return time.perf_counter() - started, result


def daemon_runs(registry: TenantRegistry, server_url: str, env: dict[str, str], runs: int) -> tuple[float, int, int]:
    """The first syncs of the tenants in `registry` (`runs` of them) through a real daemon."""
    home = Path(tempfile.mkdtemp(prefix="lb-bench-home-"))
    (home / "dagster.yaml").write_text(instance_yaml(max_runs=int(os.environ.get("BENCH_MAX_RUNS", "4")), per_tenant=2))
    dagster_url = fresh_database(server_url).replace("postgresql+psycopg://", "postgresql://")
    environment = {**os.environ, **env, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": dagster_url,
                   "LEDGERBRIDGE_TENANTS_DIR": str(registry.directory), "LEDGERBRIDGE_REGISTRY_SENSOR_SECONDS": "1"}
    os.environ["DAGSTER_PG_URL"] = dagster_url
    daemon = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fast_daemon.py"), "1", "run", "-w", "workspace.yaml"],
                              env=environment, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            records = instance.get_run_records()
            if len(records) >= runs and all(r.dagster_run.status in DONE for r in records):
                break
            if daemon.poll() is not None:
                raise SystemExit("the daemon died")
            time.sleep(1)
        records = instance.get_run_records()
        first = min(r.create_timestamp.timestamp() for r in records)
        last = max(r.end_time for r in records if r.end_time)
        ok = sum(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
        return last - first, len(records), ok
    finally:
        daemon.terminate()
        daemon.wait(30)
        instance.dispose()


def tick_scaling(server_url: str, sizes: list[int], workdir: Path) -> list[tuple[int, float, float, float]]:
    """Tenants registered (no emulators: the sensors read only the registry and the hubs)."""
    results = []
    for size in sizes:
        os.environ[HUB_ENV] = fresh_database(server_url)
        registry = TenantRegistry(workdir / f"ticks-{size}")
        for i in range(size):
            registry.add(f"t{i:04d}", {"crm": {"system": "webcrm", "base_url": "http://127.0.0.1:9"},
                                      "erp": {"system": "economic", "base_url": "http://127.0.0.1:9"},
                                      "entities": {"debtors": DEBTORS}}, hub_server_env=HUB_ENV)
        for i in range(0, size, 10):  # events on a tenth of them
            add_event(registry, f"t{i:04d}", "1", f"e{i}")
        defs = build_tenant_definitions(registry)
        with instance_for_test() as instance:
            instance.add_dynamic_partitions(TENANTS.name, registry.names())
            registry_cost = statistics.median(tick(defs, "tenant_registry", instance)[0] for _ in range(3))
            cold_schedules, _ = tick(defs, "tenant_schedules", instance)  # reads every tenant's file once
            schedules_cost = statistics.median(tick(defs, "tenant_schedules", instance)[0] for _ in range(3))
            inbox_cost, result = tick(defs, "tenant_inbox", instance)  # the events' tick, with run requests
            quiet_cost = statistics.median(tick(defs, "tenant_inbox", instance, result.cursor)[0] for _ in range(3))
        results.append((size, registry_cost, cold_schedules, schedules_cost, inbox_cost, quiet_cost))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--records", type=int, default=200, help="customers per tenant's CRM")
    parser.add_argument("--changed", type=float, default=0.2, help="share of tenants with a change")
    parser.add_argument("--tick-sizes", default="10,50,200", help="tenant counts for the tick cost table")
    parser.add_argument("--daemon-runs", type=int, default=0, help="runs through a real daemon (0: skip)")
    parser.add_argument("--pg", help="a PostgreSQL server URL (postgresql+psycopg://...); default: a throwaway one")
    args = parser.parse_args()

    # The figures scale with free cores: say how busy the machine was.
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    server = None if args.pg else TemporaryPostgres()
    server_url = args.pg or server.start()
    workdir = Path(tempfile.mkdtemp(prefix="lb-bench-tenants-"))
    env: dict[str, str] = {}
    systems = []
    try:
        os.environ[HUB_ENV] = fresh_database(server_url)
        env[HUB_ENV] = os.environ[HUB_ENV]
        registry = TenantRegistry(workdir / "tenants")
        started = time.perf_counter()
        for i in range(args.tenants):
            tenant = start_tenant(f"t{i:04d}", "webcrm", "economic", companies_count=args.records, seed=i, env=env)
            systems.append(tenant)
        os.environ.update(env)
        for tenant in systems:
            register(registry, tenant, "webcrm", "economic", hub_server_env=HUB_ENV)
        print(f"set-up: {args.tenants} tenants x {args.records} customers, emulators seeded in "
              f"{time.perf_counter() - started:.1f} s")

        seconds, rows = first_sync(registry, registry.names())
        print(f"first sync (engine, one tenant after the other): {seconds:.1f} s, {rows} hub rows, "
              f"{rows / seconds:.0f} hub rows/s, {args.tenants * args.records / seconds:.0f} records/s")

        changed = systems[: max(1, round(args.tenants * args.changed))]
        for tenant in changed:
            organisation = tenant.crm.all_raw("Organisations")[0]
            tenant.crm.update_raw("Organisations", organisation["OrganisationId"], {"OrganisationName": f"{tenant.name} Changed ApS"})
            add_event(registry, tenant.name, str(organisation["OrganisationId"]), f"bench-{tenant.name}")
        defs = build_tenant_definitions(registry)
        with instance_for_test() as instance:
            instance.add_dynamic_partitions(TENANTS.name, registry.names())
            cost, result = tick(defs, "tenant_inbox", instance)
            print(f"tenant_inbox tick over {args.tenants} tenants ({len(changed)} with an event): {cost * 1000:.0f} ms, "
                  f"{cost * 1000 / args.tenants:.1f} ms per tenant, {len(result.run_requests)} run request(s)")
            job = defs.resolve_job_def("sync_debtors")
            durations = []
            for request in result.run_requests:
                began = time.perf_counter()
                outcome = job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags)
                durations.append(time.perf_counter() - began)
                assert outcome.success, request.partition_key
            total = sum(durations)
            print(f"incremental runs in one process: {len(durations)} runs in {total:.1f} s, "
                  f"{60 * len(durations) / total:.1f} runs/min, median {statistics.median(durations):.1f} s per run "
                  f"(first {durations[0]:.1f} s: loads the quality suites)")

        if args.daemon_runs:
            fresh = TenantRegistry(workdir / "daemon-tenants")
            tenants = max(1, args.daemon_runs // 2)
            for tenant in systems[:tenants]:
                fresh.add(f"d{tenant.name}", {"crm": {"system": "webcrm", "base_url": tenant.crm.base_url},
                                              "erp": {"system": "economic", "base_url": tenant.erp.base_url},
                                              "entities": {"debtors": DEBTORS, "contacts": {}}}, hub_server_env=HUB_ENV)
                for key, value in tenant.secrets.items():
                    env[key.replace("LEDGERBRIDGE_T", "LEDGERBRIDGE_DT", 1)] = value
            os.environ.update(env)
            seconds, runs, ok = daemon_runs(fresh, server_url, env, tenants * 2)
            print(f"daemon, default run launcher (a process per run), {os.environ.get('BENCH_MAX_RUNS', '4')} at once: "
                  f"{runs} runs ({ok} succeeded) in {seconds:.0f} s, {60 * runs / seconds:.1f} runs/min")

        sizes = [int(s) for s in args.tick_sizes.split(",") if s]
        print("sensor tick cost by tenants, ms per tick (cold: the first, reading every tenant's file; inbox: events "
              "on a tenth of the tenants; quiet: no new event):")
        print(f"  {'tenants':>8} {'registry':>9} {'cold':>7} {'schedules':>10} {'inbox':>7} {'quiet':>7} "
              f"{'quiet/tenant':>13}")
        for size, registry_cost, cold, schedules_cost, inbox_cost, quiet in tick_scaling(server_url, sizes, workdir):
            print(f"  {size:>8} {registry_cost * 1000:>9.0f} {cold * 1000:>7.0f} {schedules_cost * 1000:>10.0f} "
                  f"{inbox_cost * 1000:>7.0f} {quiet * 1000:>7.0f} {quiet * 1000 / size:>13.2f}")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        for tenant in systems:
            tenant.stop()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
