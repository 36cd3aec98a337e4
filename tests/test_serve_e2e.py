"""End to end: a webCRM change -> webhook -> receiver -> inbox -> the inbox sensor in a real
dagster-daemon -> sync_debtors run -> e-conomic has the new value."""

from __future__ import annotations

import os
import subprocess
import time

import yaml

from ledgerbridge.config import load_config
from ledgerbridge.serve import PROJECT_ROOT, Receiver, daemon_command, prepare_dagster_home, stop_processes
from ledgerbridge.store import HubStore
from ledgerbridge.webhooks.register import register_hooks

from conftest import make_config
from sync_helpers import engine_for

TOKEN = "e2e-token-0123456789abcdefghij"


def test_webhook_leads_to_an_erp_change_through_the_daemon(tmp_path, monkeypatch, webcrm, economic, secrets_env):
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
    daemon = subprocess.Popen(daemon_command(1), env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert [r.action for r in register_hooks(config, receiver.url)] == ["registered"]
        webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationName": "After ApS"})
        deadline = time.monotonic() + 80  # the test's timeout: daemon start + one sensor tick + one run
        while time.monotonic() < deadline:
            if economic.all_raw("customers")[0]["name"] == "After ApS":
                break
            assert daemon.poll() is None, "the daemon died"
            time.sleep(0.5)
        assert economic.all_raw("customers")[0]["name"] == "After ApS"
    finally:
        stop_processes([daemon])
        receiver.stop()
