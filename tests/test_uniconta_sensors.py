"""Triggers for webCRM <-> Uniconta: Change URLs for master data, probes for what has no webhook."""

from __future__ import annotations

import yaml
from dagster import DagsterInstance, build_sensor_context

from ledgerbridge.serve import Receiver
from ledgerbridge.webhooks.register import register_hooks
from pipelines.jobs import entity_jobs
from pipelines.sensors import build_sensors, inbox_sensor, probe_sensor
from resources import HubStoreResource, SystemsResource
from sync_helpers import engine_for
from test_uniconta_sync import ENTITIES, PASSWORD, PASSWORD_ENV, config_for, uniconta  # noqa: F401
from test_uniconta_webhooks import inbox_rows

TOKEN = "uniconta-sensor-token-0123456789"


def hooked_config(webcrm, uniconta, store, monkeypatch):  # noqa: F811
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("LB_TEST_UNICONTA_HOOK_TOKEN", TOKEN)
    data = config_for(webcrm, uniconta, store).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["erp"]["secrets"]["webhook_token"] = "LB_TEST_UNICONTA_HOOK_TOKEN"
    return type(config_for(webcrm, uniconta, store)).model_validate(data), data


def test_hooked_master_data_and_probed_orders_and_sellers(webcrm, uniconta, sqlite_store, secrets_env, monkeypatch):  # noqa: F811
    config, _ = hooked_config(webcrm, uniconta, sqlite_store, monkeypatch)
    entities = list(ENTITIES)
    names = {s.name for s in build_sensors(config, entities, entity_jobs(entities))}
    uniconta_probes = {n for n in names if n.startswith("probe_uniconta_")}
    assert uniconta_probes == {"probe_uniconta_employees", "probe_uniconta_orders", "probe_uniconta_order_lines"}


def test_a_change_url_call_becomes_a_debtors_run_in_one_tick(webcrm, uniconta, sqlite_store, secrets_env,  # noqa: F811
                                                               monkeypatch, tmp_path):
    config, _ = hooked_config(webcrm, uniconta, sqlite_store, monkeypatch)
    receiver = Receiver(config, "127.0.0.1", 0, "").start()
    try:
        register_hooks(config, receiver.url)
        debtor = uniconta.insert_raw("DebtorClient", {"Name": "Tick ApS", "Group": "1"})
        [row] = [r for r in inbox_rows(receiver.store, 1) if r["system"] == "uniconta"]
        assert (row["entity"], row["remote_id"]) == ("debtors", debtor["Account"])
        hub = HubStoreResource(url=config.hub.url)
        sensor = inbox_sensor(["debtors"], entity_jobs(["debtors"]))
        with DagsterInstance.ephemeral() as instance:
            result = sensor.evaluate_tick(build_sensor_context(instance=instance, resources={"hub": hub}))
        [request] = result.run_requests
        assert request.job_name == "sync_debtors" and request.tags["ledgerbridge/systems"] == "uniconta"
        hub.store.dispose()
    finally:
        receiver.stop()


def test_the_employees_probe_launches_once_per_change(webcrm, uniconta, sqlite_store, secrets_env, monkeypatch,  # noqa: F811
                                                      tmp_path):
    config, data = hooked_config(webcrm, uniconta, sqlite_store, monkeypatch)
    uniconta.insert_raw("EmployeeClient", {"Number": "AB", "Name": "Anna Berg", "Email": "anna@firma.example"})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    hub = HubStoreResource(url=config.hub.url)
    systems = SystemsResource(config_path=str(path))
    sensor = probe_sensor("uniconta", "erp", "employees", entity_jobs(["employees"])[0])

    with DagsterInstance.ephemeral() as instance:
        def evaluate(cursor=None):
            return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor,
                                                             resources={"hub": hub, "systems": systems}))

        assert "No uniconta employees pull has run yet" in evaluate().skip_message
        engine_for(config, hub.store).pull("erp", "employees")
        before = len(uniconta.request_log)
        quiet = evaluate()
        assert not quiet.run_requests and len(uniconta.request_log) - before == 1  # one call
        uniconta.update_raw("EmployeeClient", "AB", {"Title": "Sales"})
        changed = evaluate()
        [request] = changed.run_requests
        assert request.run_key.startswith("probe-uniconta-employees-")
        assert not evaluate(changed.cursor).run_requests
    hub.store.dispose()
