"""Failures reach people: a mass corruption fails the gate and the run; the notifier sensors post
one-sentence messages to a webhook (a local receiver here), once per failing streak for checks."""

from __future__ import annotations

import json

import pytest
import yaml

from ledgerbridge.store import HubStore
from ledgerbridge.sync.gate import release_blocks
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context, build_sensor_context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from stdnum.dk import cvr

from conftest import make_config
from ledgerbridge.loopback import ThreadedServer
from pipelines.definitions import build_definitions
from test_dagster_checks import BROKEN, COMPANIES


@pytest.fixture
def receiver():
    received: list[dict] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    server = ThreadedServer(Starlette(routes=[Route("/hooks/{token}", hook, methods=["POST"])]), name="receiver").start()
    yield server.url, received
    server.stop()


def mass_corruption(webcrm):
    invalid = [n for n in range(13585600, 13585700) if not cvr.is_valid(str(n))][:25]
    return webcrm.seed("debtors", [{**BROKEN, "name": f"{word} A/S", "postcode": str(1000 + 100 * i), "vat_number": f"DK{n}"}
                                   for i, (word, n) in enumerate(zip(COMPANIES, invalid))])


def test_a_blocked_gate_notifies_its_reason_once_and_the_failed_run(tmp_path, monkeypatch, webcrm, economic,
                                                                    secrets_env, receiver):
    url, received = receiver
    monkeypatch.setenv("LB_TEST_NOTIFY_URL", f"{url}/hooks/secret-token-in-the-url")
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump(mode="json")
    data["notify"] = {"webhook_url_env": "LB_TEST_NOTIFY_URL"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    defs = build_definitions(path)
    instance = DagsterInstance.ephemeral()
    check_sensor = defs.get_sensor_def("notify_check_failure")
    mass_corruption(webcrm)

    failed = defs.resolve_job_def("sync_debtors").execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success

    tick = check_sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    [held, gate] = sorted(received, key=lambda m: m["details"]["check"])
    assert gate["kind"] == "check_failure" and gate["details"]["check"] == "plan/debtors_planned_to_economic:quality_gate"
    assert "Push to economic blocked: 100% of 25 planned debtors newly failed the checks" in gate["text"]
    assert held["details"]["check"] == "plan/debtors_planned_to_economic:held_back" and "25 debtors are held back" in held["text"]

    received.clear()  # the next run: the stop holds and the records are still held (not told again)
    again = defs.resolve_job_def("sync_debtors").execute_in_process(instance=instance, raise_on_error=False)
    assert not again.success
    tick = check_sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor, definitions=defs))
    assert received == []

    release_blocks(HubStore(data["hub"]["url"]), "debtors", "economic", "a person who checked")  # the rest may go
    defs.resolve_job_def("sync_debtors").execute_in_process(instance=instance, raise_on_error=False)
    check_sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor, definitions=defs))
    assert [(m["kind"], m["details"]["check"]) for m in received] == [("check_recovered", "plan/debtors_planned_to_economic:quality_gate")]
    received.clear()

    [failure] = instance.get_records_for_run(failed.run_id, of_type=DagsterEventType.RUN_FAILURE).records
    context = build_run_status_sensor_context(
        sensor_name="notify_run_failure", dagster_event=failure.event_log_entry.dagster_event,
        dagster_instance=instance, dagster_run=instance.get_run_by_id(failed.run_id)).for_run_failure()
    defs.get_sensor_def("notify_run_failure")(context)
    [run] = received
    assert run["kind"] == "run_failure" and run["text"].startswith(f"ledgerbridge: run {failed.run_id[:8]} of sync_debtors failed. Push to economic blocked")
    assert "Traceback" not in run["text"] and "secret-token" not in json.dumps(run)


def test_without_notify_configured_there_are_no_notifier_sensors(tmp_path, webcrm, economic, secrets_env):
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump(mode="json")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    assert not {s.name for s in build_definitions(path).sensors} & {"notify_run_failure", "notify_check_failure"}
