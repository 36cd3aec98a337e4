"""The webhook receiver (signatures, limits, bad input), the emulators' hooks, and registration."""

from __future__ import annotations

import json
import time

import pytest
import requests
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerbridge.serve import Receiver
from ledgerbridge.store import T
from ledgerbridge.webhooks.receiver import ReceiverSettings, create_app
from ledgerbridge.webhooks.register import register_hooks
from ledgerbridge.systems.economic.signature import economic_signature, verify_economic
from ledgerbridge.systems.base import SignatureInvalid

from conftest import make_config

TOKEN = "t0ken-for-tests-0123456789abcdef"
SECRET = "economic-secret-0123456789abcdef"


@pytest.fixture
def client(sqlite_store):
    settings = ReceiverSettings(secrets={"webcrm": TOKEN, "economic": SECRET}, max_body_bytes=2048)
    with TestClient(create_app(sqlite_store, settings)) as c:
        yield c


def inbox(store) -> list[dict]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(T["inbox"]).order_by(T["inbox"].c.id)).mappings()]


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    return {"X-Economic-Signature": economic_signature(secret, body, int(time.time()) if at is None else at),
            "Content-Type": "application/json"}


WEBCRM_EVENT = {"HookId": 1, "EventType": "Update", "Entity": "Organisation", "Id": 42, "Data": {"OrganisationName": "A"}}


def test_webcrm_with_token_is_accepted_into_the_inbox(client, sqlite_store):
    r = client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json=WEBCRM_EVENT)
    assert r.status_code == 202 and r.json()["accepted"] is True
    [row] = inbox(sqlite_store)
    assert (row["system"], row["entity"], row["event"], row["remote_id"]) == ("webcrm", "debtors", "Update", "42")
    assert json.loads(row["payload"]) == WEBCRM_EVENT and row["received_at"] is not None


def test_webcrm_token_also_as_header(client):
    assert client.post("/hooks/webcrm/debtors", json=WEBCRM_EVENT, headers={"X-Ledgerbridge-Token": TOKEN}).status_code == 202


def test_unsigned_calls_are_refused_with_401(client, sqlite_store):
    r = client.post("/hooks/webcrm/debtors", json=WEBCRM_EVENT)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    r = client.post("/hooks/economic", content=b'{"eventType": "customer.updated"}')
    assert r.status_code == 401 and "X-Economic-Signature" in r.json()["detail"]
    assert inbox(sqlite_store) == []


def test_forged_and_stale_calls_are_refused_with_403(client, sqlite_store):
    assert client.post("/hooks/webcrm/debtors?token=guess", json=WEBCRM_EVENT).status_code == 403
    body = json.dumps({"eventType": "customer.updated", "data": {"customerNumber": 7}}).encode()
    forged = client.post("/hooks/economic", content=body, headers=signed(body, secret="not-the-secret-at-all!!"))
    assert forged.status_code == 403 and forged.json()["error"] == "forbidden"
    tampered = client.post("/hooks/economic", content=body.replace(b"7", b"8"), headers=signed(body))
    assert tampered.status_code == 403
    replay = client.post("/hooks/economic", content=body, headers=signed(body, at=int(time.time()) - 3600))
    assert replay.status_code == 403 and "replay" in replay.json()["detail"]
    assert inbox(sqlite_store) == []


def test_economic_signed_event_is_accepted(client, sqlite_store):
    body = json.dumps({"eventId": "e1", "eventType": "customer.updated", "data": {"customerNumber": 7}}).encode()
    r = client.post("/hooks/economic", content=body, headers=signed(body))
    assert r.status_code == 202
    [row] = inbox(sqlite_store)
    assert (row["system"], row["entity"], row["event"], row["remote_id"]) == ("economic", "debtors", "customer.updated", "7")


def test_oversized_bodies_are_refused_with_413(client, sqlite_store):
    big = {"Id": 1, "Data": "x" * 5000}
    r = client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json=big)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(10):
            yield b"x" * 1000

    assert client.post(f"/hooks/webcrm/debtors?token={TOKEN}", content=chunks()).status_code == 413
    assert inbox(sqlite_store) == []


def test_malformed_json_is_400_and_logged(client, sqlite_store, caplog):
    with caplog.at_level("WARNING", logger="ledgerbridge.webhooks"):
        r = client.post(f"/hooks/webcrm/debtors?token={TOKEN}", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    assert any("malformed JSON" in m for m in caplog.messages)
    assert TOKEN not in caplog.text
    assert client.post(f"/hooks/webcrm/debtors?token={TOKEN}", content=b"[1, 2]").status_code == 400
    body = b"\xff\xfe"
    assert client.post("/hooks/economic", content=body, headers=signed(body)).status_code == 400
    assert inbox(sqlite_store) == []


def test_unknown_entity_and_unconfigured_system_are_404(sqlite_store):
    with TestClient(create_app(sqlite_store, ReceiverSettings(secrets={"webcrm": TOKEN}))) as c:
        assert c.post(f"/hooks/webcrm/nonsense?token={TOKEN}", json={}).status_code == 404
        assert c.post("/hooks/economic", content=b"{}").json()["error"] == "not_configured"


def test_inbox_failure_answers_503_and_the_receiver_lives_on(client, sqlite_store):
    sqlite_store.drop_all()
    r = client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json=WEBCRM_EVENT)
    assert r.status_code == 503
    sqlite_store.create_all()
    assert client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json=WEBCRM_EVENT).status_code == 202


def test_settings_never_show_secrets():
    assert TOKEN not in repr(ReceiverSettings(secrets={"webcrm": TOKEN}))


def test_economic_signatures_verify_within_the_tolerance_only():
    body = b'{"a":1}'
    verify_economic(economic_signature(SECRET, body, 1700000000), body, SECRET, now=1700000010)
    with pytest.raises(SignatureInvalid):
        verify_economic(economic_signature(SECRET, body, 1700000000), body, SECRET, now=1700000400)
    with pytest.raises(SignatureInvalid):
        verify_economic(economic_signature(SECRET, body, 1700000000), body + b" ", SECRET, now=1700000010)


# -- emulators fire to a live receiver ---------------------------------------------------------

def wait_rows(store, n: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = inbox(store)
        if len(rows) >= n:
            return rows
        time.sleep(0.05)
    return inbox(store)


@pytest.fixture
def hook_env(monkeypatch, secrets_env, webcrm, economic, tmp_path):
    monkeypatch.setenv("LB_TEST_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("LB_TEST_WEBHOOK_SECRET", SECRET)
    config = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}")
    data = config.model_dump()
    data["crm"]["secrets"]["webhook_token"] = "LB_TEST_WEBHOOK_TOKEN"
    data["erp"]["secrets"]["webhook_secret"] = "LB_TEST_WEBHOOK_SECRET"
    config = type(config).model_validate(data)
    receiver = Receiver(config, "127.0.0.1", 0, "").start()
    yield config, receiver
    receiver.stop()


def test_emulators_fire_hooks_to_a_live_receiver(hook_env, webcrm, economic):
    config, receiver = hook_env
    done = register_hooks(config, receiver.url)
    assert {(r.system, r.entity, r.action) for r in done} == {
        ("webcrm", "debtors", "registered"), ("economic", "debtors", "registered")}
    assert all(TOKEN not in r.url for r in done)
    # idempotent: a second start registers nothing
    assert {r.action for r in register_hooks(config, receiver.url)} == {"unchanged"}
    assert len(webcrm.tables.rows["Organisations/Hooks"]) == 1

    org = webcrm.insert_raw("Organisations", {"OrganisationName": "Hooked A/S"})
    webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationCity": "Aarhus"})
    number = economic.seed("debtors", [{"name": "Hooked ERP", "currency": "DKK"}])[0]
    rows = wait_rows(receiver.store, 3)
    got = sorted((r["system"], r["entity"], r["event"], r["remote_id"]) for r in rows)
    assert got == sorted([
        ("webcrm", "debtors", "Create", str(org["OrganisationId"])),
        ("webcrm", "debtors", "Update", str(org["OrganisationId"])),
        ("economic", "debtors", "customer.created", number),
    ])
    created = next(r for r in rows if r["event"] == "Create")
    assert json.loads(created["payload"])["Data"]["OrganisationName"] == "Hooked A/S"


def test_webcrm_hook_api_per_swagger(webcrm, secrets_env):
    from ledgerbridge.systems.webcrm.connector import WebcrmConnector

    c = WebcrmConnector(webcrm.base_url, "test-webcrm-key")
    hook = {"Id": 0, "Filter": ["All"], "IsEnabled": True, "TargetUrl": "http://127.0.0.1:9/x", "EventType": "Update"}
    hook_id = c._call("POST", "/Persons/Hooks", what="add", json=hook).json()
    assert isinstance(hook_id, int)
    listed = c._call("GET", "/Persons/Hooks", what="list").json()
    assert [h["Id"] for h in listed] == [hook_id] and listed[0]["CreatedBy"] == "API"
    c._call("PUT", f"/Persons/Hooks/{hook_id}", what="put", json={**hook, "IsEnabled": False})
    assert c._call("GET", f"/Persons/Hooks/{hook_id}", what="get").json()["IsEnabled"] is False
    c._call("DELETE", f"/Persons/Hooks/{hook_id}", what="delete")
    assert c._call("GET", "/Persons/Hooks", what="list").json() == []
    with pytest.raises(Exception):
        c._call("POST", "/Persons/Hooks", what="bad", json={"Filter": ["All"]})  # no TargetUrl -> 400
    c.close()


def test_a_receiver_that_is_down_never_breaks_the_emulator(webcrm):
    webcrm.tables.rows["Organisations/Hooks"]["1"] = {
        "Id": 1, "Filter": ["All"], "IsEnabled": True, "TargetUrl": "http://127.0.0.1:9/nothing-listens"}
    started = time.monotonic()
    for i in range(20):
        webcrm.insert_raw("Organisations", {"OrganisationName": f"Org {i}"})
    assert time.monotonic() - started < 1.0  # writes do not wait for deliveries
    assert webcrm.hooks.dispatcher.flush(timeout=30)
    assert webcrm.hooks.dispatcher.failed == 20 and webcrm.hooks.dispatcher.delivered == 0
    assert len(webcrm.all_raw("Organisations")) == 20
    r = requests.get(f"{webcrm.base_url}/Organisations/Hooks")  # the API still answers (401: no token)
    assert r.status_code == 401


def test_a_replayed_event_is_dropped_and_answered_as_a_duplicate(client, sqlite_store):
    body = json.dumps({"eventId": "ev-1", "eventType": "customer.updated", "data": {"customerNumber": 7}}).encode()
    first = client.post("/hooks/economic", content=body, headers=signed(body))
    assert first.status_code == 202
    # The same delivery again (a replay, or the sender retrying after a lost answer), freshly signed:
    again = client.post("/hooks/economic", content=body, headers=signed(body))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["inbox_id"] == first.json()["inbox_id"]
    # webCRM sends no event id: the exact body is the key; another body is another event.
    assert client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json=WEBCRM_EVENT).status_code == 202
    assert client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json=WEBCRM_EVENT).json()["duplicate"] is True
    assert client.post(f"/hooks/webcrm/debtors?token={TOKEN}", json={**WEBCRM_EVENT, "Id": 43}).status_code == 202
    assert [(r["system"], r["remote_id"]) for r in inbox(sqlite_store)] == [("economic", "7"), ("webcrm", "42"),
                                                                          ("webcrm", "43")]
