"""End to end: a webCRM change -> webhook -> receiver -> inbox -> the warm worker in its own process,
started as `ledgerbridge serve` starts it -> e-conomic has the new value, and the Dagster instance
shows the burst's materialisations."""

from __future__ import annotations

import os
import subprocess
import time

import yaml

from ledgerbridge.config import load_config
from dagster import DagsterInstance

from ledgerbridge.serve import PROJECT_ROOT, Receiver, prepare_dagster_home, stop_processes, worker_command
from ledgerbridge.store import HubStore
from ledgerbridge.webhooks.register import register_hooks

from conftest import make_config
from sync_helpers import engine_for

TOKEN = "e2e-token-0123456789abcdefghij"


def test_webhook_leads_to_an_erp_change_through_the_warm_worker(tmp_path, monkeypatch, webcrm, economic, secrets_env):
    monkeypatch.setenv("LB_TEST_WEBHOOK_TOKEN", TOKEN)
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump()
    data["crm"]["secrets"]["webhook_token"] = "LB_TEST_WEBHOOK_TOKEN"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    org = webcrm.insert_raw("Organisations", {"OrganisationName": "Before ApS", "OrganisationType": "Customer"})
    engine = engine_for(config, HubStore(config.hub.url))
    engine.store.create_all()
    engine.run(["debtors"])  # links the organisation to a new e-conomic customer
    [customer] = economic.all_raw("customers")
    assert customer["name"] == "Before ApS"

    receiver = Receiver(config, "127.0.0.1", 0, "").start()
    home = prepare_dagster_home(tmp_path / "dagster_home")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LEDGERBRIDGE_CONFIG": str(path)}
    worker = subprocess.Popen(worker_command(), env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert [r.action for r in register_hooks(config, receiver.url)] == ["registered"]
        webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationName": "After ApS"})
        deadline = time.monotonic() + 80  # the test's timeout: the worker's start-up (warming) + one burst
        while time.monotonic() < deadline:
            if economic.all_raw("customers")[0]["name"] == "After ApS":
                break
            assert worker.poll() is None, "the worker died"
            time.sleep(0.5)
        assert economic.all_raw("customers")[0]["name"] == "After ApS"
        instance = DagsterInstance.from_config(str(home))

        def reported_pushes() -> list:  # written beside the sync, a moment after the value arrives
            return [key for key in instance.get_asset_keys() if key.path[0] == "push"]

        while not reported_pushes() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert reported_pushes()
    finally:
        stop_processes([worker])
        receiver.stop()
