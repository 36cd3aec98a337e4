"""Dagster over TribeCRM and PowerOffice Go: a relation created in Tribe reaches Go on the inbox
sensor's next tick after its signed webhook; Go, which has no webhooks, is probed and scheduled."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance, build_sensor_context

from ledgerbridge.serve import Receiver
from ledgerbridge.store import T
from ledgerbridge.systems.tribecrm.emulator import CUSTOMER, ORGANIZATION
from ledgerbridge.systems.tribecrm.webhooks import TribeWebhooks
from pipelines.definitions import build_definitions

from norway_fixtures import (  # noqa: F401
    PO_ENV, TRIBE_ENV, norway_env, poweroffice, tribe_connector, tribecrm,
)

HOOK_SECRET = "tribe-hook-secret-for-the-dagster-test"


def wait_for_inbox(store, count: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.connect() as conn:
            found = conn.execute(sa.select(sa.func.count()).select_from(T["inbox"])).scalar_one()
        if found >= count:
            return found
        time.sleep(0.05)
    return found


@pytest.mark.slow
def test_a_tribe_relation_reaches_go_on_the_sensor_tick_after_its_webhook(
        tribecrm, poweroffice, norway_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LB_TEST_TRIBE_HOOK_SECRET", HOOK_SECRET)
    config = {
        "crm": {"system": "tribecrm", "base_url": tribecrm.base_url,
                "secrets": {**TRIBE_ENV, "webhook_secret": "LB_TEST_TRIBE_HOOK_SECRET"}},
        "erp": {"system": "poweroffice", "base_url": poweroffice.base_url, "secrets": dict(PO_ENV)},
        "hub": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "entities": {"debtors": {"schedule": "*/15 * * * *"}, "creditors": {"schedule": "*/15 * * * *"}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    defs = build_definitions(path)
    repo = defs.get_repository_def()
    sensors = {s.name: s for s in repo.sensor_defs}
    # Tribe's changes come by webhook; Go has none, so its debtors and creditors are probed, and pulled every 15 minutes
    assert {"inbox_sensor", "probe_poweroffice_debtors", "probe_poweroffice_creditors"} <= set(sensors)
    assert "*/15 * * * *" in {s.cron_schedule for s in repo.schedule_defs}

    from ledgerbridge.config import load_config

    receiver = Receiver(load_config(path), "127.0.0.1", 0, "").start()
    try:
        connector = tribe_connector(tribecrm)
        TribeWebhooks().register(connector, ["debtors", "creditors"], receiver.url, HOOK_SECRET)
        connector.close()
        created = tribecrm.insert(CUSTOMER, {"Organization": {"Name": "Kystvakt AS", "VisitingAddress": {
            "Street": "Havnegata", "HouseNumber": "4", "Postalcode": "9008", "City": "Tromsø", "Country": {"Code": "NO"}}}})
        assert wait_for_inbox(receiver.store, 2) >= 2  # the relationship and its organisation

        with DagsterInstance.ephemeral() as instance:
            resources = {"hub": defs.resources["hub"]}
            tick = sensors["inbox_sensor"].evaluate_tick(build_sensor_context(instance=instance, resources=resources))
            # the organisation's own event reaches both roles' paths: creditors has nothing to do
            assert sorted(r.job_name for r in tick.run_requests) == ["sync_creditors", "sync_debtors"]
            for request in tick.run_requests:
                job = defs.resolve_job_def(request.job_name)
                result = job.execute_in_process(instance=instance, run_config=request.run_config, tags=request.tags)
                assert result.success
    finally:
        receiver.stop()

    [go_customer] = poweroffice.all_raw("Customers")
    organization = tribecrm.get_raw(ORGANIZATION, created["Organization"]["ID"])
    assert go_customer["Name"] == "Kystvakt AS" and go_customer["ExternalImportReference"] == organization["ID"]
    assert organization["DebtorNumber"] == str(go_customer["Number"])  # Go's number replaced Tribe's
