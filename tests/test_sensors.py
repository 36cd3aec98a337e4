"""Sensors without a daemon (build_sensor_context), and the Definitions' wiring of triggers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context
from dagster._core.test_utils import create_run_for_test

from ledgerbridge.store import T
from pipelines.jobs import entity_jobs
from pipelines.sensors import build_sensors, inbox_sensor, probe_sensor
from resources import HubStoreResource, SystemsResource

from conftest import make_config
from sync_helpers import engine_for

ENTITIES = ["debtors", "contacts"]


@pytest.fixture
def hub(tmp_path):
    resource = HubStoreResource(url=f"sqlite:///{tmp_path / 'hub.db'}")
    yield resource
    resource.store.dispose()


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def add_events(hub, entities: list[str], system: str = "webcrm") -> list[int]:
    with hub.store.begin() as conn:
        ids = []
        for i, entity in enumerate(entities):
            r = conn.execute(sa.insert(T["inbox"]).values(
                system=system, entity=entity, event="Update", remote_id=str(i), payload="{}",
                received_at=datetime.now(timezone.utc)))
            ids.append(int(r.inserted_primary_key[0]))
    return ids


def tick(sensor, instance, hub, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"hub": hub})
    return sensor.evaluate_tick(context)


def test_a_burst_becomes_one_run_per_entity_with_run_keys_from_the_highest_id(instance, hub):
    sensor = inbox_sensor(ENTITIES, entity_jobs(ENTITIES)[:2])
    burst = ["debtors"] * 70 + ["contacts"] * 25 + ["payments"] * 5  # payments: not configured
    ids = add_events(hub, burst)
    result = tick(sensor, instance, hub)
    requests = {r.job_name: r for r in result.run_requests}
    assert set(requests) == {"sync_debtors", "sync_contacts"}
    assert requests["sync_debtors"].run_key == f"inbox-debtors-{ids[69]}"
    assert requests["sync_contacts"].run_key == f"inbox-contacts-{ids[94]}"
    assert requests["sync_debtors"].tags["ledgerbridge/events"] == "70"
    assert requests["sync_debtors"].tags["ledgerbridge/entity"] == "debtors"
    assert result.cursor == str(ids[-1])


def test_nothing_new_is_a_skip_with_a_sentence(instance, hub):
    sensor = inbox_sensor(ENTITIES, entity_jobs(ENTITIES)[:2])
    ids = add_events(hub, ["debtors"])
    result = tick(sensor, instance, hub, cursor=str(ids[-1]))
    assert not result.run_requests
    assert result.skip_message == f"No webhook events after inbox id {ids[-1]}."


def test_cursor_resumes_after_the_last_event_and_keys_never_repeat(instance, hub):
    sensor = inbox_sensor(ENTITIES, entity_jobs(ENTITIES)[:2])
    add_events(hub, ["debtors"] * 3)
    first = tick(sensor, instance, hub)
    more = add_events(hub, ["debtors"] * 2)
    second = tick(sensor, instance, hub, cursor=first.cursor)
    assert [r.run_key for r in second.run_requests] == [f"inbox-debtors-{more[-1]}"]
    assert first.run_requests[0].run_key != second.run_requests[0].run_key
    # evaluating the same tick again yields the same key: Dagster launches it only once
    again = tick(sensor, instance, hub, cursor=first.cursor)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in second.run_requests]


def test_events_covered_by_a_run_waiting_to_start_launch_nothing(instance, hub):
    sensor = inbox_sensor(ENTITIES, entity_jobs(ENTITIES)[:2])
    create_run_for_test(instance, job_name="sync_debtors", status=DagsterRunStatus.NOT_STARTED)
    ids = add_events(hub, ["debtors"] * 4 + ["contacts"])
    result = tick(sensor, instance, hub)
    assert [r.job_name for r in result.run_requests] == ["sync_contacts"]
    assert result.cursor == str(ids[-1])
    only_debtors = add_events(hub, ["debtors"])
    skipped = tick(sensor, instance, hub, cursor=result.cursor)
    assert not skipped.run_requests and "covered" in skipped.skip_message
    assert skipped.cursor == str(only_debtors[-1])


def test_probe_sensor_launches_once_per_change(instance, tmp_path, webcrm, economic, secrets_env):
    hub = HubStoreResource(url=f"sqlite:///{tmp_path / 'probe.db'}")
    config = make_config(webcrm.base_url, economic.base_url, hub.url)
    org = webcrm.insert_raw("Organisations", {"OrganisationName": "Probe A/S", "OrganisationType": "Customer"})
    job = entity_jobs(["debtors"])[0]
    sensor = probe_sensor("webcrm", "crm", "debtors", job)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    systems = SystemsResource(config_path=str(path))

    def evaluate(cursor=None):
        return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor,
                                                         resources={"hub": hub, "systems": systems}))

    assert "No webcrm debtors pull has run yet" in evaluate().skip_message
    engine = engine_for(config, hub.store)
    engine.pull("crm", "debtors")  # full: its cursor is a watermark a few seconds back
    engine.pull("crm", "debtors")  # incremental: the cursor is the newest stamp
    quiet = evaluate()
    assert not quiet.run_requests and quiet.skip_message.startswith("No webcrm debtors change after")
    webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationCity": "Odense"})
    changed = evaluate()
    [request] = changed.run_requests
    assert request.run_key.startswith("probe-webcrm-debtors-") and request.tags["ledgerbridge/trigger"] == "probe"
    assert not evaluate(changed.cursor).run_requests  # the same change never launches twice
    hub.store.dispose()


def test_definitions_wire_sensors_and_schedule_targets(tmp_path, monkeypatch, webcrm, economic, secrets_env):
    from pipelines.definitions import build_definitions

    config = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump()
    config["crm"]["secrets"]["webhook_token"] = "LB_TEST_WEBHOOK_TOKEN"
    config["entities"]["debtors"]["schedule"] = "*/15 * * * *"
    config["entities"]["items"] = {}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    defs = build_definitions(path)
    repo = defs.get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    for schedule in repo.schedule_defs:
        assert schedule.job_name in jobs, schedule.name
    sensors = {s.name: s for s in repo.sensor_defs}
    # webCRM is hooked (webhook_token named); e-conomic is not, so its debtors and items are probed
    assert set(sensors) == {"inbox_sensor", "probe_economic_debtors", "probe_economic_items"}
    for s in sensors.values():
        assert {t.job_name for t in s.targets} <= jobs
        assert s.minimum_interval_seconds <= 5


def test_build_sensors_probes_everything_without_hooks(webcrm, economic):
    config = make_config(webcrm.base_url, economic.base_url, "sqlite://")
    names = {s.name for s in build_sensors(config, ["debtors", "contacts"], entity_jobs(["debtors", "contacts"]))}
    # e-conomic contacts have no change stamp: no cheap probe, the schedules cover them
    assert names == {"inbox_sensor", "probe_webcrm_debtors", "probe_webcrm_contacts", "probe_economic_debtors"}
