"""HttpClient.get_json, the pull's read path: what request("GET", ..).json() gives, with the same
retries, rate limit and errors, against a live e-conomic emulator on loopback."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import ConnectorError, RecordRejected
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.systems.economic.emulator import EconomicEmulator

SECRET, GRANT = "s3cret-app-token", "s3cret-grant-token"


@pytest.fixture
def emu():
    with EconomicEmulator(app_secret_token=SECRET, agreement_grant_token=GRANT) as emulator:
        emulator.seed("debtors", [{"name": f"Kunde {n}", "email": f"k{n}@example.dk"} for n in range(1, 8)])
        yield emulator


def client(emu, **options) -> HttpClient:
    options = {"backoff_base": 0.01, "timeout": 5, **options}
    return HttpClient(emu.base_url, system="economic",
                      headers={"X-AppSecretToken": SECRET, "X-AgreementGrantToken": GRANT}, **options)


def test_answers_what_requests_answers_for_the_same_call(emu):
    http = client(emu)
    params = {"pagesize": 3, "skippages": 1, "sort": "lastUpdated", "filter": "name$like:Kunde*"}
    lean = http.get_json("/customers", what="list customers", params=params)
    assert lean == http.request("GET", "/customers", what="list customers", params=params).json()
    assert [c["customerNumber"] for c in lean["collection"]] == [4, 5, 6]
    assert http.get_json(lean["pagination"]["nextPage"], what="next page")["collection"][0]["customerNumber"] == 7


def test_retries_429_with_retry_after_503_and_a_dropped_connection(emu):
    http = client(emu)
    emu.inject_fault(status=429, retry_after=0.1, path_prefix="/customers/2")
    emu.inject_fault(status=503, path_prefix="/customers/2")
    emu.inject_fault(drop=True, path_prefix="/customers/2")
    before, calls = len(emu.request_log), http.calls
    assert http.get_json("/customers/2", what="get customer 2")["name"] == "Kunde 2"
    assert http.calls - calls == 4 and len(emu.request_log) - before >= 3  # a dropped call may go unlogged


def test_gives_up_after_max_attempts_naming_the_call(emu):
    http = client(emu, max_attempts=2)
    emu.inject_fault(status=503, remaining=5, path_prefix="/customers/3")
    with pytest.raises(ConnectorError) as caught:
        http.get_json("/customers/3", what="get customer 3")
    assert caught.value.status == 503
    assert "get customer 3" in str(caught.value) and "sent 2 times" in str(caught.value)


def test_a_slow_answer_is_a_timeout_and_a_missing_record_a_404(emu):
    http = client(emu, timeout=0.2, max_attempts=1)
    emu.inject_fault(delay=1.0, path_prefix="/customers/4")
    with pytest.raises(ConnectorError) as caught:
        http.get_json("/customers/4", what="get customer 4")
    assert "no answer within the timeout" in str(caught.value)
    with pytest.raises(RecordRejected) as missing:
        http.get_json("/customers/999", what="get customer 999")
    assert missing.value.status == 404 and "get customer 999" in str(missing.value)


def test_wrong_tokens_are_refused_and_never_echoed(emu):
    http = HttpClient(emu.base_url, system="economic", headers={"X-AppSecretToken": "wrong-token",
                                                                 "X-AgreementGrantToken": GRANT})
    with pytest.raises(RecordRejected) as caught:
        http.get_json("/customers", what="list customers")
    assert caught.value.status == 401
    assert "wrong-token" not in str(caught.value) and GRANT not in str(caught.value)


def test_session_auth_goes_through_requests(emu):
    """Basic auth (Uniconta's way) and the like are requests' job: the same answer either way."""
    http = client(emu)
    http.session.auth = ("user", "password")
    before = len(emu.request_log)
    assert http.get_json("/customers/1", what="get customer 1")["name"] == "Kunde 1"
    assert len(emu.request_log) - before == 1
