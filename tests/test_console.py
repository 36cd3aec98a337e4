"""The review console's gate and its start-up: nothing without the token, the token never echoed."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from ledgerbridge.console import create_app
from ledgerbridge.console.auth import COOKIE, ConsoleTokenMissing, console_token

TOKEN = "console-unit-token-0123456789"
SYSTEMS = {"crm": "webcrm", "erp": "economic"}


@pytest.fixture
def client(sqlite_store):
    return TestClient(create_app(sqlite_store, SYSTEMS, TOKEN), follow_redirects=False)


def test_pages_and_decisions_need_the_token(client):
    assert client.get("/held-back").headers["location"] == "/login?next=/held-back"
    assert client.post("/matches/1/accept").status_code == 401
    assert client.get("/held-back", headers={"Authorization": "Bearer wrong"}).status_code == 303
    assert client.get("/held-back", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_login_sets_a_session_that_is_not_the_token_and_refuses_a_wrong_one(client):
    refused = client.post("/login", data={"token": "guess", "next": "/"})
    assert refused.status_code == 401 and "guess" not in refused.text

    accepted = client.post("/login", data={"token": TOKEN, "next": "/conflicts"})

    assert accepted.status_code == 303 and accepted.headers["location"] == "/conflicts"
    session = accepted.cookies[COOKIE]
    assert TOKEN not in session and "httponly" in accepted.headers["set-cookie"].lower()
    assert client.get("/conflicts", cookies={COOKIE: session}).status_code == 200
    assert client.get("/conflicts", cookies={COOKIE: session + "x"}).status_code == 303


def test_after_login_only_paths_on_the_console_are_followed(client):
    response = client.post("/login", data={"token": TOKEN, "next": "//elsewhere.example/phish"})
    assert response.headers["location"] == "/"


def test_deciding_what_no_longer_exists_says_so(client):
    response = client.post("/matches/999/reject", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.headers["location"] == "/matches?done=gone&id=999"
    assert client.post("/matches/1/merge", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_the_console_does_not_start_without_a_long_enough_token(monkeypatch):
    monkeypatch.setenv("LEDGERBRIDGE_CONSOLE_TOKEN", "short")
    with pytest.raises(ConsoleTokenMissing, match="LEDGERBRIDGE_CONSOLE_TOKEN") as error:
        console_token()
    assert "short" not in str(error.value)


def test_failed_writes_are_listed_with_their_reason_and_the_record_a_person_knows(client, sqlite_store):
    from ledgerbridge.store import T, hub, utcnow

    now = utcnow()
    with sqlite_store.begin() as conn:
        conn.execute(hub("debtors").insert().values(hub_id="h1", number=1007, name="Nordlys Consult ApS",
                                                    created_at=now, updated_at=now))
        conn.execute(T["outbox"].insert().values(
            entity="debtors", hub_id="h1", system="economic", operation="create", payload="{}", payload_hash="x",
            status="failed", attempts=8, last_error="economic: create refused: name is required",
            created_at=now, updated_at=now))

    page = client.get("/failed", headers={"Authorization": f"Bearer {TOKEN}"}).text

    assert "debtors: 1007 Nordlys Consult ApS" in page and "economic: create refused: name is required" in page
    assert 'id="count-failed">1<' in client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).text


def test_notifications_are_listed_newest_first_with_their_state_and_the_open_ones_in_a_banner(client, sqlite_store):
    from ledgerbridge.notify import Notification
    from ledgerbridge.notify.journal import open_or_repeat, resolve

    auth = {"Authorization": f"Bearer {TOKEN}"}
    gate = Notification("check_failure", "ledgerbridge: check plan/debtors_planned_to_economic:quality_gate failed. "
                        "Push to economic blocked: 91% of 140 planned debtors newly failed the checks (threshold 20%).",
                        about="check plan/debtors_planned_to_economic:quality_gate",
                        links={"Dagster run": "https://sync.example.com/dagster/runs/r1"})
    run = Notification("run_failure", "ledgerbridge: run r2 of sync_debtors failed. see the run's log",
                       about="job sync_debtors")
    open_or_repeat(sqlite_store, gate, event_key="check:1", severity="error", run_id="r1", channels=[])
    open_or_repeat(sqlite_store, run, event_key="run:r2", severity="error", run_id="r2", channels=[])
    open_or_repeat(sqlite_store, run, event_key="run:r3", severity="error", run_id="r3", channels=[])  # again: counted
    resolve(sqlite_store, "job sync_debtors", "ledgerbridge: sync_debtors succeeds again (run r4).", channels=[])

    page = client.get("/notifications", headers=auth).text

    assert page.index("Run failed: sync_debtors") < page.index("Check failed: plan/")  # newest first
    assert "Failed 1 more time since" in page and "Resolved" in page and "succeeds again (run r4)" in page
    assert 'href="https://sync.example.com/dagster/runs/r1"' in page
    overview = client.get("/", headers=auth).text
    assert 'id="count-notifications">1<' in overview
    assert "1 open\n    notification</a>: ledgerbridge: check plan/debtors_planned_to_economic:quality_gate" in overview
    assert "Push to economic" not in client.get("/login").text  # nothing before the token

    resolve(sqlite_store, "check plan/debtors_planned_to_economic:quality_gate", "passes again", channels=[])
    assert 'id="open-notifications"' not in client.get("/", headers=auth).text
