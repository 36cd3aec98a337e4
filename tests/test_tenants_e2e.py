"""Three tenants on one deployment, end to end: a Dagster instance in PostgreSQL (dagster-postgres,
the instance file `ledgerbridge tenants instance` prints), a real dagster-daemon, hubs as one schema
per tenant on PostgreSQL, two different system pairs (webCRM/e-conomic twice, TribeCRM/PowerOffice
Go), the tenants' webhook receiver on loopback.

Checked (alpha added with `ledgerbridge tenants add`): every tenant's customers reach its own ERP
(first syncs launched by the registry sensor, concurrently across tenants); a webhook of one tenant
leads to a run of that tenant only; no tenant's data is in another's hub schema, runs or run logs;
the run queue's limits held (one run per tenant at a time, here, and never more than the global limit).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef

from ledgerbridge.cli import main
from ledgerbridge.loopback import ThreadedServer
from ledgerbridge.serve import PROJECT_ROOT, stop_processes
from ledgerbridge.tenants import TenantRegistry
from ledgerbridge.tenants.instance import instance_yaml
from ledgerbridge.tenants.receiver import create_tenants_app
from ledgerbridge.webhooks.register import register_hooks

from pg import fresh_database
from tenant_fixtures import DEBTORS, register, start_tenant

PAIRS = {"alpha": ("webcrm", "economic"), "beta": ("tribecrm", "poweroffice"), "gamma": ("webcrm", "economic")}
ERP_NAMES = {
    "economic": lambda emulator: {c["name"] for c in emulator.all_raw("customers")},
    "poweroffice": lambda emulator: {c["Name"] for c in emulator.all_raw("Customers")},
}
MAX_RUNS, PER_TENANT = 2, 1
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def wait_for(condition, what: str, daemon: subprocess.Popen, timeout: float = 900) -> None:
    """The timeout only bounds a hung test (a loaded 2-core machine needs minutes for the four first
    syncs); nothing is asserted about how long it took."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert daemon.poll() is None, "the daemon died"
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting: {what}")


def schema_text(hub_url: str, schema: str) -> str:
    """Every value in every table of one tenant's schema, as text."""
    engine = sa.create_engine(hub_url)
    chunks = []
    with engine.connect() as conn:
        tables = conn.execute(sa.text("select table_name from information_schema.tables where table_schema = :s "
                                      "and table_type = 'BASE TABLE'"), {"s": schema}).scalars().all()
        for table in tables:
            chunks += [str(tuple(row)) for row in conn.execute(sa.text(f'select * from "{schema}"."{table}"'))]
    engine.dispose()
    return "\n".join(chunks)


@pytest.mark.slow
def test_three_tenants_sync_concurrently_in_isolation_within_the_run_limits(tmp_path, pg_server_url, monkeypatch):
    dagster_url = fresh_database(pg_server_url).replace("postgresql+psycopg://", "postgresql://")
    hub_url = fresh_database(pg_server_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(max_runs=MAX_RUNS, per_tenant=PER_TENANT))
    registry = TenantRegistry(tmp_path / "tenants")
    env = {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": dagster_url, "LEDGERBRIDGE_HUB_URL": hub_url,
           "LEDGERBRIDGE_TENANTS_DIR": str(registry.directory), "LEDGERBRIDGE_REGISTRY_SENSOR_SECONDS": "1"}
    systems = {name: start_tenant(name, crm, erp, companies_count=5, seed=seed, env=env)
               for seed, (name, (crm, erp)) in enumerate(PAIRS.items(), start=11)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    entities = {"alpha": {"debtors": DEBTORS, "contacts": {}}}  # alpha: two runs queued at once
    for name, (crm, erp) in PAIRS.items():
        if name == "alpha":  # as an operator does it
            source = tmp_path / "alpha-source.yaml"
            source.write_text(yaml.safe_dump({"crm": {"system": crm, "base_url": systems[name].crm.base_url},
                                              "erp": {"system": erp, "base_url": systems[name].erp.base_url},
                                              "entities": entities["alpha"]}))
            assert main(["tenants", "--dir", str(registry.directory), "add", "alpha", "--from", str(source)]) == 0
            continue
        register(registry, systems[name], crm, erp, entities=entities.get(name), hub_server_env="LEDGERBRIDGE_HUB_URL")

    app, receivers = create_tenants_app(registry)
    receiver = ThreadedServer(app, name="tenants receiver").start()
    log = (tmp_path / "daemon.log").open("w")  # read it when this test fails
    daemon = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "tests" / "fast_daemon.py"), "1", "run", "-w", "workspace.yaml"],
                              env={**os.environ, **env}, cwd=PROJECT_ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        def first_syncs_done() -> bool:
            runs = instance.get_runs(filters=RunsFilter(tags={"ledgerbridge/trigger": "tenant_added"}))
            return len(runs) == 4 and all(r.status in DONE for r in runs)

        wait_for(first_syncs_done, "the first sync of every tenant", daemon)
        first = instance.get_runs(filters=RunsFilter(tags={"ledgerbridge/trigger": "tenant_added"}))
        assert {r.status for r in first} == {DagsterRunStatus.SUCCESS}
        assert sorted((r.tags["dagster/partition"], r.tags["ledgerbridge/tenant_entity"]) for r in first) == [
            ("alpha", "alpha:contacts"), ("alpha", "alpha:debtors"), ("beta", "beta:debtors"), ("gamma", "gamma:debtors")]
        for name, (_, erp) in PAIRS.items():
            assert ERP_NAMES[erp](systems[name].erp) == set(systems[name].company_names), name

        # A webhook of alpha's webCRM leads to a run of alpha only.
        alpha = registry.get("alpha")
        actions = [r.action for r in register_hooks(alpha.config, f"{receiver.url}/tenants/alpha")]
        assert actions and set(actions) == {"registered"}
        organisation = next(o for o in systems["alpha"].crm.all_raw("Organisations")
                            if o["OrganisationName"] == systems["alpha"].company_names[0])
        systems["alpha"].crm.update_raw("Organisations", organisation["OrganisationId"],
                                        {"OrganisationName": "Alpha Renamed ApS"})
        wait_for(lambda: "Alpha Renamed ApS" in ERP_NAMES["economic"](systems["alpha"].erp),
                 "alpha's rename in alpha's e-conomic", daemon)
        hooked = instance.get_runs(filters=RunsFilter(tags={"ledgerbridge/trigger": "webhook"}))
        assert hooked and {r.tags["dagster/partition"] for r in hooked} == {"alpha"}
        wait_for(lambda: all(r.status in DONE for r in instance.get_runs()), "every run to end", daemon)
        assert "Alpha Renamed ApS" not in ERP_NAMES["economic"](systems["gamma"].erp)

        # Isolation: hub schemas, runs, logs.
        names = {name: set(s.company_names) | ({"Alpha Renamed ApS"} if name == "alpha" else set())
                 for name, s in systems.items()}
        for name in PAIRS:
            text = schema_text(hub_url, f"tenant_{name}")
            assert any(company in text for company in names[name])
            for other in set(PAIRS) - {name}:
                assert not any(company in text for company in names[other]), f"{other}'s data in {name}'s hub"
        records = instance.get_run_records()
        for record in records:
            tenant = record.dagster_run.tags["dagster/partition"]
            logs = "\n".join(e.message or "" for e in instance.all_logs(record.dagster_run.run_id))
            for other in set(PAIRS) - {tenant}:
                assert not any(company in logs for company in names[other]), f"{other}'s data in a run of {tenant}"

        # The queue's limits held: runs of one tenant never overlapped, never more than MAX_RUNS at once.
        spans = [(r.dagster_run.tags["dagster/partition"], r.start_time, r.end_time) for r in records]
        assert all(start is not None and end is not None for _, start, end in spans)
        for (t1, s1, e1), (t2, s2, e2) in itertools.combinations(spans, 2):
            if t1 == t2:
                assert e1 <= s2 or e2 <= s1, f"two runs of {t1} overlapped"
        for _, start, _ in spans:
            assert sum(s <= start < e for _, s, e in spans) <= MAX_RUNS
    finally:
        stop_processes([daemon])
        log.close()
        receiver.stop()
        receivers.close()
        instance.dispose()
        for tenant in systems.values():
            tenant.stop()
