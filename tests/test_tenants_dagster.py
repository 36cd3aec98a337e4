"""The multi-tenant code location in process: partitions from the registry, sensors per tenant, runs
that see only their tenant."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, build_sensor_context, instance_for_test

from ledgerbridge.store import T, utcnow
from ledgerbridge.tenants import TenantRegistry
from pipelines.tenants import TENANT_ENTITY_TAG, TENANTS, build_tenant_definitions

from tenant_fixtures import DEBTORS, register, start_tenant


@pytest.fixture
def two_tenants(tmp_path, monkeypatch):
    """acme and bolt: each its own webCRM and e-conomic emulators, 4 customers each in the CRM."""
    registry = TenantRegistry(tmp_path / "tenants")
    env: dict[str, str] = {}
    systems = [start_tenant(name, "webcrm", "economic", companies_count=4, seed=seed, env=env)
               for name, seed in (("acme", 1), ("bolt", 2))]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for tenant in systems:
        register(registry, tenant, "webcrm", "economic")
    yield registry, {s.name: s for s in systems}
    for tenant in systems:
        tenant.stop()


def evaluate(defs, name: str, instance: DagsterInstance, cursor: str | None = None):
    sensor = defs.resolve_sensor_def(name)
    with build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs) as context:
        return sensor.evaluate_tick(context)


def test_the_registry_becomes_partitions_and_a_new_tenant_gets_its_first_sync(two_tenants):
    registry, _ = two_tenants
    defs = build_tenant_definitions(registry)
    assert defs.resolve_job_def("sync_debtors").partitions_def == TENANTS
    with instance_for_test() as instance:
        result = evaluate(defs, "tenant_registry", instance)
        [added] = result.dynamic_partitions_requests
        assert added.partition_keys == ["acme", "bolt"]
        assert sorted((r.partition_key, r.job_name) for r in result.run_requests) == [
            ("acme", "sync_debtors"), ("bolt", "sync_debtors")]
        instance.add_dynamic_partitions(TENANTS.name, added.partition_keys)
        assert evaluate(defs, "tenant_registry", instance).skip_message == "2 tenant(s), as registered."
        registry.remove("bolt")
        [removed] = evaluate(defs, "tenant_registry", instance).dynamic_partitions_requests
        assert removed.partition_keys == ["bolt"]


def test_the_inbox_sensor_launches_a_run_of_the_tenant_whose_event_arrived_only(two_tenants):
    registry, _ = two_tenants
    defs = build_tenant_definitions(registry)
    acme_store = registry.get("acme").open_store()
    with acme_store.begin() as conn:
        conn.execute(sa.insert(T["inbox"]).values(system="webcrm", entity="debtors", event="Update", remote_id="7",
                                                  payload="{}", received_at=utcnow(), event_key="e1"))
    acme_store.dispose()
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(TENANTS.name, ["acme", "bolt"])
        result = evaluate(defs, "tenant_inbox", instance)
        [request] = result.run_requests
        assert (request.partition_key, request.job_name, request.tags["ledgerbridge/trigger"]) == ("acme", "sync_debtors", "webhook")
        assert json.loads(result.cursor) == {"acme": 1}
        again = evaluate(defs, "tenant_inbox", instance, cursor=result.cursor)
        assert again.run_requests == [] and again.skip_message


def test_runs_of_two_tenants_write_each_into_its_own_hub_and_systems(two_tenants):
    registry, systems = two_tenants
    defs = build_tenant_definitions(registry)
    job = defs.resolve_job_def("sync_debtors")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(TENANTS.name, ["acme", "bolt"])
        for name in ("acme", "bolt"):
            result = job.execute_in_process(partition_key=name, instance=instance)
            assert result.success
            assert result.dagster_run.tags[TENANT_ENTITY_TAG] == f"{name}:debtors"
        for name, other in (("acme", "bolt"), ("bolt", "acme")):
            store = registry.get(name).open_store()
            with store.connect() as conn:
                hub_names = set(conn.execute(sa.select(T["hub_debtors"].c.name)).scalars())
            store.dispose()
            assert hub_names == set(systems[name].company_names)
            erp_names = {c["name"] for c in systems[name].erp.all_raw("customers")}
            assert erp_names == set(systems[name].company_names)  # every customer created in its own ERP
            assert not erp_names & set(systems[other].company_names)
        for run in instance.get_runs():
            tenant = run.tags["dagster/partition"]
            other = "bolt" if tenant == "acme" else "acme"
            logs = " ".join(e.message or "" for e in instance.all_logs(run.run_id))
            assert not any(company in logs for company in systems[other].company_names)


def test_a_run_without_a_tenant_fails_with_a_sentence(two_tenants):
    registry, _ = two_tenants
    defs = build_tenant_definitions(registry)
    with instance_for_test() as instance:
        with pytest.raises(Exception) as failure:  # Dagster wraps the resource's error
            defs.resolve_job_def("sync_debtors").execute_in_process(instance=instance)
    assert "this run has no tenant: launch it for one partition of 'tenants'" in str(failure.value.__cause__)


def test_entities_of_the_code_location_are_every_tenants(tmp_path, monkeypatch):
    registry = TenantRegistry(tmp_path)
    env: dict[str, str] = {}
    tenant = start_tenant("coda", "webcrm", "economic", companies_count=1, seed=3, env=env)
    try:
        register(registry, tenant, "webcrm", "economic", entities={"debtors": DEBTORS, "contacts": {}})
        defs = build_tenant_definitions(registry)
        assert {j.name for j in defs.jobs} == {"sync_debtors", "sync_contacts"}
    finally:
        tenant.stop()


def test_tenant_crons_and_the_nightly_reconcile_become_runs_of_each_tenant(two_tenants, tmp_path):
    from datetime import datetime, timedelta, timezone

    registry, systems = two_tenants
    registry.remove("bolt")
    register(registry, systems["bolt"], "webcrm", "economic", entities={"debtors": {**DEBTORS, "schedule": "*/15 * * * *"}})
    defs = build_tenant_definitions(registry)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(TENANTS.name, ["acme", "bolt"])
        since = (datetime.now(timezone.utc) - timedelta(minutes=16)).isoformat()
        result = evaluate(defs, "tenant_schedules", instance, cursor=since)
        # (the nightly reconcile is left out here: its 02:00 may fall within the last 16 minutes)
        assert [(r.partition_key, r.tags["ledgerbridge/trigger"]) for r in result.run_requests
                if r.tags["ledgerbridge/trigger"] != "nightly"] == [("bolt", "schedule")]
        assert evaluate(defs, "tenant_schedules", instance, cursor=result.cursor).run_requests == []
        a_day = (datetime.now(timezone.utc) - timedelta(hours=25)).isoformat()
        nightly = [r for r in evaluate(defs, "tenant_schedules", instance, cursor=a_day).run_requests
                   if r.tags["ledgerbridge/trigger"] == "nightly"]
        assert sorted(r.partition_key for r in nightly) == ["acme", "bolt"]
        assert nightly[0].run_config == {"ops": {f"pull__debtors_pulled_from_{side}": {"config": {"full": True}} for side in ("crm", "erp")}}


def test_the_probe_sensor_asks_each_tenants_system_without_webhooks_and_runs_that_tenant(tmp_path, monkeypatch):
    registry = TenantRegistry(tmp_path / "tenants")
    env: dict[str, str] = {}
    nord = start_tenant("nord", "tribecrm", "poweroffice", companies_count=2, seed=5, env=env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        register(registry, nord, "tribecrm", "poweroffice")
        defs = build_tenant_definitions(registry)
        with instance_for_test() as instance:
            instance.add_dynamic_partitions(TENANTS.name, ["nord"])
            first = evaluate(defs, "tenant_probes", instance)
            assert first.run_requests == [] and "No change found in 0 probe(s)" in first.skip_message  # no cursor yet
            # The first pull sets Go's change cursor (an empty Go leaves none: the probe has nothing to ask from).
            nord.erp.insert_contact("Customers", {"Name": "Fjell Gammel AS", "MailAddress": {"CountryCode": "NO"}})
            assert defs.resolve_job_def("sync_debtors").execute_in_process(partition_key="nord", instance=instance).success
            quiet = evaluate(defs, "tenant_probes", instance)
            nord.erp.insert_contact("Customers", {"Name": "Fjord Nytt AS", "MailAddress": {"CountryCode": "NO"}})
            changed = evaluate(defs, "tenant_probes", instance, cursor=quiet.cursor)
            [request] = changed.run_requests
            assert (request.partition_key, request.job_name, request.tags["ledgerbridge/trigger"]) == (
                "nord", "sync_debtors", "probe")
            assert evaluate(defs, "tenant_probes", instance, cursor=changed.cursor).run_requests == []
    finally:
        nord.stop()
