"""What a channel did not take stays due: recorded in the hub with the reason (no URL, no login),
sent again by the next tick, given up after journal.MAX_ATTEMPTS; and one failing streak is told
once. Real receivers on loopback: a webhook that answers 503 for a while, a mail server that is
not there yet."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgerbridge.config import EmailConfig
from ledgerbridge.loopback import ThreadedServer
from ledgerbridge.notify import Dispatcher, Notification, NotifyError
from ledgerbridge.notify.journal import MAX_ATTEMPTS, entries
from ledgerbridge.notify.mail import MailNotifier
from ledgerbridge.notify.webhook import WebhookNotifier
from mail_receiver import free_port, start_receiver

GATE = Notification("check_failure", "ledgerbridge: check plan/debtors_planned_to_economic:quality_gate failed. "
                    "Push to economic blocked: 100% of 25 planned debtors newly failed the checks (threshold 20%).",
                    about="check plan/debtors_planned_to_economic:quality_gate")


@pytest.fixture
def flaky_hook():
    state = {"down": False, "received": []}

    async def hook(request: Request) -> Response:
        if state["down"]:
            return Response(status_code=503)
        state["received"].append(await request.json())
        return Response(status_code=204)

    server = ThreadedServer(Starlette(routes=[Route("/hook/{token}", hook, methods=["POST"])]), name="hook").start()
    yield f"{server.url}/hook/token-not-to-show", state
    server.stop()


def only_entry(store):
    with store.connect() as conn:
        [entry] = entries(conn)
    return entry


def test_a_message_a_channel_did_not_take_is_sent_by_the_next_tick_and_the_streak_is_told_once(
        tmp_path, sqlite_store, flaky_hook):
    url, hook = flaky_hook
    port = free_port()  # nothing listens there yet
    mail = EmailConfig(host="127.0.0.1", port=port, security="none", sender="sync@example.com",
                       recipients=["ops@example.com"])
    teller = Dispatcher(sqlite_store, [WebhookNotifier(url), MailNotifier(mail)])

    with pytest.raises(NotifyError) as error:
        teller.tell(GATE, event_key="check:1", severity="error", run_id="r1")

    refused = f"the mail server 127.0.0.1:{port} did not take the check_failure message (ConnectionRefusedError)"
    assert str(error.value) == refused
    assert [m["kind"] for m in hook["received"]] == ["check_failure"]  # the webhook took it all the same
    assert only_entry(sqlite_store).delivery == {"opened": {"webhook": "sent", "email": f"failed 1x: {refused}"}}

    server, controller = start_receiver(tmp_path, port=port)  # the mail server is back
    try:
        teller.deliver()
        assert teller.tell(GATE, event_key="check:2", severity="error", run_id="r2") is False  # still failing

        [received] = server.received
        assert received.message["Subject"].strip() == "ledgerbridge: check plan/debtors_planned_to_economic:quality_gate failed"
        entry = only_entry(sqlite_store)
        assert entry.delivery == {"opened": {"webhook": "sent", "email": "sent"}} and entry.repeats == 1
        assert len(hook["received"]) == 1

        hook["down"] = True  # resolved while the webhook answers 503: due until it takes it
        with pytest.raises(NotifyError, match=r"webhook did not accept the check_recovered message \(HTTPError, HTTP 503\)"):
            teller.resolve(GATE.about, "ledgerbridge: check plan/debtors_planned_to_economic:quality_gate passes again.")
        hook["down"] = False
        teller.deliver()
    finally:
        controller.stop()

    assert [m["kind"] for m in hook["received"]] == ["check_failure", "check_recovered"]
    assert [m.message["Subject"].strip() for m in server.received][1:] == [
        "ledgerbridge: check plan/debtors_planned_to_economic:quality_gate is fine again"]
    assert only_entry(sqlite_store).delivery["resolved"] == {"webhook": "sent", "email": "sent"}
    assert "token-not-to-show" not in str(only_entry(sqlite_store))


def test_a_channel_that_keeps_failing_is_given_up_on_and_stops_failing_the_ticks(sqlite_store):
    mail = EmailConfig(host="127.0.0.1", port=free_port(), security="none", sender="sync@example.com",
                       recipients=["ops@example.com"])
    teller = Dispatcher(sqlite_store, [MailNotifier(mail)])
    with pytest.raises(NotifyError):
        teller.tell(GATE, event_key="check:1", severity="error")
    for _ in range(MAX_ATTEMPTS - 2):
        with pytest.raises(NotifyError):
            teller.deliver()

    teller.deliver()  # the last attempt: given up, recorded, the tick goes on

    state = only_entry(sqlite_store).delivery["opened"]["email"]
    assert state.startswith(f"gave up after {MAX_ATTEMPTS}x: the mail server 127.0.0.1:")
    teller.deliver()
    assert only_entry(sqlite_store).delivery["opened"]["email"] == state
