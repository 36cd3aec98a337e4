"""The warm worker `ledgerbridge serve` runs: a webhook's change applied in process, recorded in the
Dagster instance, each inbox event applied once, and one holder per entity (worker, worker or run)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml
from dagster import AssetCheckKey, AssetKey, instance_for_test

import resources.hub_store as hub_store_resource
from assets.factory import SIDE_TAG, STAGE_TAG
from conftest import make_config
from ledgerbridge.config import load_config
from ledgerbridge.leases import LeaseBusy, holder_of, held, try_take
from ledgerbridge.serve import Receiver
from ledgerbridge.store import T, HubStore
from ledgerbridge.webhooks.inbox import pending
from pipelines.definitions import build_definitions
from pipelines.warm_worker import BURST_TAG, Burst, WarmWorker
from sync_helpers import engine_for, writes

TOKEN = "worker-test-token-0123456789abcdef"


@pytest.fixture
def linked(tmp_path, monkeypatch, webcrm, economic, secrets_env):
    """A hub whose one organisation is linked to an e-conomic customer, a receiver taking webCRM's
    webhooks into its inbox, and a Dagster instance; yields (config path, store, receiver url, org id)."""
    monkeypatch.setenv("LB_TEST_WEBHOOK_TOKEN", TOKEN)
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump(mode="json")
    data["crm"]["secrets"]["webhook_token"] = "LB_TEST_WEBHOOK_TOKEN"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    store = HubStore(config.hub.url)
    store.create_all()
    org = webcrm.insert_raw("Organisations", {"OrganisationName": "Before ApS", "OrganisationType": "Customer"})
    engine_for(config, store).run(["debtors"])  # creates the customer in e-conomic
    engine_for(config, store).run(["debtors"])  # reads it back: the ERP side has a pull cursor now
    assert [c["name"] for c in economic.all_raw("customers")] == ["Before ApS"]
    receiver = Receiver(config, "127.0.0.1", 0, "").start()
    try:
        yield path, store, receiver.url, org["OrganisationId"]
    finally:
        receiver.stop()
        store.dispose()


def rename(webcrm, receiver_url: str, org_id, name: str) -> None:
    """A person renames the organisation in webCRM, which calls our hook."""
    webcrm.update_raw("Organisations", org_id, {"OrganisationName": name})
    answer = requests.post(f"{receiver_url}/hooks/webcrm/debtors", params={"token": TOKEN}, timeout=10,
                           json={"HookId": 1, "EventType": "Update", "Entity": "Organisation", "Id": org_id,
                                 "Data": {"OrganisationName": name}})
    assert answer.status_code == 202, answer.text


def inbox_marks(store: HubStore) -> list[tuple[int, str | None]]:
    inbox = T["inbox"]
    with store.connect() as conn:
        return [(r.id, r.applied_by) for r in conn.execute(sa.select(inbox.c.id, inbox.c.applied_by).order_by(inbox.c.id))]


def stage_key(path: Path, stage: str, side: str | None = None) -> AssetKey:
    """The debtors asset of a stage (and side), as the code location names it."""
    for asset in build_definitions(path).assets:
        spec = asset.specs_by_key[asset.key]
        if spec.group_name == "debtors" and spec.tags.get(STAGE_TAG) == stage and spec.tags.get(SIDE_TAG) == side:
            return asset.key
    raise AssertionError(f"no debtors asset of stage {stage} side {side}")


def test_a_webhook_is_applied_in_process_and_shown_in_dagster(linked, webcrm, economic):
    path, store, receiver_url, org_id = linked
    with instance_for_test() as instance:
        worker = WarmWorker.for_config_file(path, instance)
        rename(webcrm, receiver_url, org_id, "After ApS")

        [burst] = worker.pass_once()

        assert burst.completed and burst.blocked == [] and burst.skipped == []
        assert [c["name"] for c in economic.all_raw("customers")] == ["After ApS"]
        assert inbox_marks(store) == [(burst.events[0].id, burst.burst_id)]
        assert worker.pass_once() == []  # nothing pending any more
        # CRM events only, and the ERP was pulled before: no ERP pull, as sync_debtors_from_crm
        assert stage_key(path, "pull", "erp") not in burst.materialized
        worker.recorder.flush()  # the instance's events are written beside the next burst
        for key in (stage_key(path, "pull", "crm"), stage_key(path, "hub"), stage_key(path, "plan", "erp"),
                    stage_key(path, "push", "erp")):
            event = instance.get_latest_materialization_event(key)
            assert event is not None, key
            assert event.asset_materialization.tags[BURST_TAG] == burst.burst_id
        gate = AssetCheckKey(stage_key(path, "plan", "erp"), "quality_gate")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([gate])[gate]
        evaluation = record.event.dagster_event.event_specific_data
        assert evaluation.passed and evaluation.blocking
        # the writes carry the burst's id, as a run's carry the run's
        audit = T["audit_log"]
        with store.connect() as conn:
            assert conn.execute(sa.select(audit.c.run_id).where(audit.c.system == "economic")).scalars().all()[-1] \
                == burst.burst_id
        assert holder_of(store, "debtors") is None  # released


def test_a_worker_that_died_mid_burst_leaves_its_events_to_the_next_which_writes_nothing_twice(linked, webcrm, economic):
    path, store, receiver_url, org_id = linked
    with instance_for_test() as instance:
        rename(webcrm, receiver_url, org_id, "After ApS")
        dead = WarmWorker.for_config_file(path, instance, name="dead")
        survivor = WarmWorker.for_config_file(path, instance, name="survivor")
        # The first worker synced (the write reached e-conomic), then died before marking its events:
        # its lease stays taken until it expires, its events stay pending.
        burst = Burst("debtors", "dead-burst", pending(store))
        dead.sync(burst)
        assert try_take(store, "debtors", "warm worker dead burst 1", ttl=2.0)
        assert burst.completed and [c["name"] for c in economic.all_raw("customers")] == ["After ApS"]
        written = len(writes(economic))

        assert survivor.pass_once() == []  # the dead worker's lease has not expired yet
        assert [applied for _, applied in inbox_marks(store)] == [None]
        time.sleep(2.2)
        [again] = survivor.pass_once()

        assert again.completed
        assert len(writes(economic)) == written  # the change is there already: nothing is written twice
        assert [c["name"] for c in economic.all_raw("customers")] == ["After ApS"]
        assert [applied for _, applied in inbox_marks(store)] == [again.burst_id]


class CountingWorker(WarmWorker):
    """Counts the bursts of one entity in progress at once across every worker sharing `active`."""

    def __init__(self, *args, active: dict, lock: threading.Lock, **kw):
        super().__init__(*args, **kw)
        self.active, self.lock = active, lock

    def sync(self, burst):
        with self.lock:
            self.active["now"] += 1
            self.active["most"] = max(self.active["most"], self.active["now"])
        try:
            time.sleep(0.05)  # widen the window in which a second holder would overlap
            super().sync(burst)
        finally:
            with self.lock:
                self.active["now"] -= 1


def test_two_workers_never_sync_one_entity_at_once_and_apply_each_event_once(linked, webcrm, economic):
    path, store, receiver_url, org_id = linked
    active, lock = {"now": 0, "most": 0}, threading.Lock()
    with instance_for_test() as instance:
        workers = [CountingWorker(build_definitions(path), load_config(path), store, instance, name=f"w{i}",
                                  active=active, lock=lock, poll=0.01) for i in range(2)]
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for thread in threads:
            thread.start()
        try:
            for i in range(8):
                rename(webcrm, receiver_url, org_id, f"Name {i} ApS")
                time.sleep(0.05)
            deadline = time.monotonic() + 60
            while pending(store) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    assert active["most"] == 1
    marks = inbox_marks(store)
    assert len(marks) == 8 and all(applied and applied.startswith("burst-") for _, applied in marks)
    assert [c["name"] for c in economic.all_raw("customers")] == ["Name 7 ApS"]


@pytest.mark.slow  # the refused pull step is retried by its retry policy (5 s, then 10 s) before the run fails
def test_a_run_waits_for_the_entity_the_worker_syncs_and_the_worker_for_a_run(linked, webcrm, economic, monkeypatch):
    path, store, receiver_url, org_id = linked
    monkeypatch.setattr(hub_store_resource, "RUN_LEASE_WAIT", 0.5)
    job = build_definitions(path).resolve_job_def("sync_debtors")
    with instance_for_test() as instance:
        # The worker is mid-burst on debtors: a run of sync_debtors may not start syncing them.
        with held(store, ["debtors"], "warm worker test burst 1"):
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        assert "debtors is being synced by warm worker test burst 1" in str(result.all_events)

        # A run syncs debtors: the worker leaves the entity's events pending until the run ends.
        rename(webcrm, receiver_url, org_id, "After ApS")
        worker = WarmWorker.for_config_file(path, instance)
        with held(store, ["debtors"], "run 1234 pid 1"):
            assert worker.pass_once() == []
        assert [applied for _, applied in inbox_marks(store)] == [None]

        # A run that ends gives the entity back.
        assert job.execute_in_process(instance=instance).success
        assert holder_of(store, "debtors") is None
        [burst] = worker.pass_once()
        assert burst.completed


def test_a_lease_another_holder_keeps_is_not_taken(store):
    with held(store, ["debtors"], "first"):
        with held(store, ["debtors"], "first"):  # nested: takes nothing, gives nothing back
            pass
        assert holder_of(store, "debtors") == "first"
        with pytest.raises(LeaseBusy, match="debtors is being synced by first"):
            with held(store, ["contacts", "debtors"], "second", wait=0.3):
                pass
        assert holder_of(store, "contacts") is None  # what the second took is given back
    with held(store, ["debtors"], "second"):
        assert holder_of(store, "debtors") == "second"
    assert try_take(store, "debtors", "dead", ttl=0.2)
    time.sleep(0.3)
    assert holder_of(store, "debtors") is None and try_take(store, "debtors", "next")  # an expired lease is free


def test_a_burst_that_fails_keeps_its_events_pending_and_is_tried_again(linked, webcrm, economic):
    path, store, receiver_url, org_id = linked
    with instance_for_test() as instance:
        worker = WarmWorker.for_config_file(path, instance)
        rename(webcrm, receiver_url, org_id, "After ApS")
        webcrm.inject_fault(status=500, path_prefix="/Organisations", remaining=1000)  # webCRM is down

        [failed] = worker.pass_once()

        assert not failed.completed and failed.failed_at is not None
        assert [applied for _, applied in inbox_marks(store)] == [None]
        assert holder_of(store, "debtors") is None  # the lease is given back
        assert worker.pass_once() == []  # not before its pause
        webcrm.faults.clear()  # webCRM is back
        time.sleep(worker.retry_at["debtors"] - time.monotonic() + 0.1)
        [again] = worker.pass_once()

        assert again.completed
        assert [c["name"] for c in economic.all_raw("customers")] == ["After ApS"]
        assert [applied for _, applied in inbox_marks(store)] == [again.burst_id]


def notifications(store: HubStore) -> dict[str, tuple[str, str]]:
    """about -> (status, text) of the hub's notifications."""
    table = T["notifications"]
    with store.connect() as conn:
        return {r.about: (r.status, r.text) for r in conn.execute(sa.select(table).order_by(table.c.id))}


def test_a_burst_tells_its_failures_and_failing_checks_as_runs_do(linked, webcrm, economic):
    """Bursts run outside Dagster runs, where the notifier sensors do not look: the worker tells them."""
    path, store, receiver_url, org_id = linked
    data = yaml.safe_load(path.read_text())
    data["notify"] = {"console": True}
    path.write_text(yaml.safe_dump(data))
    with instance_for_test() as instance:
        worker = WarmWorker.for_config_file(path, instance)
        rename(webcrm, receiver_url, org_id, "Nissen Tech A/S")
        webcrm.inject_fault(status=500, path_prefix="/Organisations", remaining=1000)  # webCRM is down

        [failed] = worker.pass_once()

        assert not failed.completed
        status, text = notifications(store)["webhooks debtors"]
        assert status == "open" and "applying webhooks of debtors failed at" in text
        assert "Nissen" not in text  # the error's type, never its text (it may name the record)

        webcrm.faults.clear()
        webcrm.update_raw("Organisations", org_id, {"OrganisationVatNumber": "DK11815902"})  # a wrong check digit
        time.sleep(worker.retry_at["debtors"] - time.monotonic() + 0.1)
        [held] = worker.pass_once()

        assert held.completed
        told = notifications(store)
        assert told["webhooks debtors"][0] == "resolved"
        held_check = f"check {stage_key(path, 'plan', 'erp').to_user_string()}:held_back"
        assert told[held_check][0] == "open" and "Nissen" not in told[held_check][1]

        webcrm.update_raw("Organisations", org_id, {"OrganisationVatNumber": "DK13585628"})  # fixed at the source
        rename(webcrm, receiver_url, org_id, "Nissen Technik A/S")
        [fixed] = worker.pass_once()

        assert fixed.completed
        assert notifications(store)[held_check][0] == "resolved"
