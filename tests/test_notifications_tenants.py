"""Many tenants, one code location: a mass corruption at one tenant is told to that tenant's own
webhook and recorded in its own hub (what its console shows), naming the tenant; the other tenant's
successful run neither hears of it nor resolves it."""

from __future__ import annotations

import json

import pytest
from dagster import instance_for_test
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgerbridge.loopback import ThreadedServer
from ledgerbridge.notify import journal
from ledgerbridge.tenants import TenantRegistry
from pipelines.tenants import TENANTS, build_tenant_definitions
from tenant_fixtures import DEBTORS, start_tenant
from test_notifications import Ticks, mass_corruption


@pytest.fixture
def hook():
    received: list[dict] = []

    async def receive(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    server = ThreadedServer(Starlette(routes=[Route("/acme-hook", receive, methods=["POST"])]), name="hook").start()
    yield f"{server.url}/acme-hook", received
    server.stop()


@pytest.mark.slow
def test_a_tenant_s_failure_is_told_to_that_tenant_only(tmp_path, monkeypatch, hook):
    url, received = hook
    registry, env = TenantRegistry(tmp_path / "tenants"), {}
    systems = {name: start_tenant(name, "webcrm", "economic", companies_count=4, seed=seed, env=env)
               for name, seed in (("acme", 1), ("bolt", 2))}
    for name, value in {**env, "ACME_NOTIFY_URL": url}.items():
        monkeypatch.setenv(name, value)
    try:
        notify = {"acme": {"webhook_url_env": "ACME_NOTIFY_URL", "console": True}, "bolt": {"console": True}}
        for name, tenant in systems.items():
            registry.add(name, {"crm": {"system": "webcrm", "base_url": tenant.crm.base_url},
                                "erp": {"system": "economic", "base_url": tenant.erp.base_url},
                                "entities": {"debtors": DEBTORS}, "notify": notify[name]})
        broken = mass_corruption(systems["acme"].crm)
        defs = build_tenant_definitions(registry)
        sync = defs.resolve_job_def("sync_debtors")
        (tmp_path / "dagster").mkdir()
        with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            instance.add_dynamic_partitions(TENANTS.name, ["acme", "bolt"])
            ticks = Ticks(defs, instance, with_resources=False)
            ticks.all()
            assert not sync.execute_in_process(partition_key="acme", instance=instance, raise_on_error=False).success
            assert sync.execute_in_process(partition_key="bolt", instance=instance).success
            ticks.all()
    finally:
        for tenant in systems.values():
            tenant.stop()

    assert sorted(m["kind"] for m in received) == ["check_failure", "check_failure", "run_failure"]
    assert all(m["text"].startswith("ledgerbridge (acme): ") and m["details"]["tenant"] == "acme" for m in received)
    assert any("Push to economic blocked: 86% of 29 planned debtors newly failed the checks (threshold 20%)" in m["text"]
               for m in received)  # 25 broken of 25 + 4 good
    stores = {name: registry.get(name).open_store() for name in systems}
    try:
        with stores["acme"].connect() as conn:
            acme = journal.entries(conn)
        with stores["bolt"].connect() as conn:
            bolt = journal.entries(conn)
    finally:
        for store in stores.values():
            store.dispose()
    assert sorted((e.kind, e.status) for e in acme) == [("check_failure", "open"), ("check_failure", "open"),
                                                        ("run_failure", "open")]  # bolt's success closes nothing here
    assert bolt == []
    told = json.dumps(received) + json.dumps([e.text for e in acme])
    assert not any(name in told for name in broken + systems["acme"].company_names + systems["bolt"].company_names)
