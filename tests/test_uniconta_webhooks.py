"""Uniconta's Change-URL webhooks into the live receiver: registration, the URL token, the read-back, the probe."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from ledgerbridge.config import parse_config
from ledgerbridge.serve import Receiver
from ledgerbridge.store import T
from ledgerbridge.systems import build_connector
from ledgerbridge.systems.base import SignatureInvalid, SignatureMissing, WebhookCall
from ledgerbridge.systems.uniconta.emulator import UnicontaEmulator
from ledgerbridge.systems.uniconta.webhooks import UnicontaWebhooks, read_back
from ledgerbridge.webhooks.probe import probe
from ledgerbridge.webhooks.register import register_hooks

TOKEN = "uniconta-hook-token-0123456789abcdef"
PASSWORD = "test-uniconta-secret"


@pytest.fixture
def uniconta():
    with UnicontaEmulator(users={"sync": PASSWORD}, slow_down_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def hooked(monkeypatch, secrets_env, webcrm, uniconta, tmp_path):
    monkeypatch.setenv("LB_TEST_UNICONTA_PASSWORD", PASSWORD)
    monkeypatch.setenv("LB_TEST_UNICONTA_HOOK_TOKEN", TOKEN)
    config = parse_config({
        "crm": {"system": "webcrm", "base_url": webcrm.base_url, "secrets": {"api_key": "LB_TEST_WEBCRM_KEY"}},
        "erp": {"system": "uniconta", "base_url": uniconta.base_url,
                "secrets": {"password": "LB_TEST_UNICONTA_PASSWORD", "webhook_token": "LB_TEST_UNICONTA_HOOK_TOKEN"},
                "options": {"company_id": uniconta.company_id, "user": "sync"}},
        "hub": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "entities": {"debtors": {}, "items": {"direction": "erp_to_crm"}, "employees": {}},
    }, "test")
    receiver = Receiver(config, "127.0.0.1", 0, "").start()
    yield config, receiver
    receiver.stop()


def inbox_rows(store, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        with store.connect() as conn:
            rows = [dict(r) for r in conn.execute(sa.select(T["inbox"]).order_by(T["inbox"].c.id)).mappings()]
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_change_urls_are_registered_once_and_reach_the_inbox(hooked, uniconta):
    config, receiver = hooked
    done = [r for r in register_hooks(config, receiver.url) if r.system == "uniconta"]
    assert {(r.entity, r.action) for r in done} == {("debtors", "registered"), ("items", "registered")}
    assert all(TOKEN not in r.url for r in done)
    assert {r.action for r in register_hooks(config, receiver.url) if r.system == "uniconta"} == {"unchanged"}
    registrations = uniconta.all_raw("TableChangeEventClient")
    assert sorted(r["TableId"] for r in registrations) == [23, 50] and all(r["Post"] for r in registrations)

    debtor = uniconta.insert_raw("DebtorClient", {"Name": "Hooked ApS", "Group": "1"})
    uniconta.update_raw("InvItemClient", uniconta.insert_raw("InvItemClient", {"Item": "P9", "Name": "Gear"})["Item"],
                        {"SalesPrice1": 5.0})
    uniconta.insert_raw("EmployeeClient", {"Number": "ZZ", "Name": "No hooks"})  # probed, not hooked
    rows = inbox_rows(receiver.store, 3)
    assert sorted((r["system"], r["entity"], r["event"], r["remote_id"]) for r in rows) == sorted([
        ("uniconta", "debtors", "Insert", debtor["Account"]),
        ("uniconta", "items", "Insert", "P9"), ("uniconta", "items", "Update", "P9")])


def test_a_rotated_token_updates_the_registration_in_place(hooked, uniconta, monkeypatch):
    config, receiver = hooked
    register_hooks(config, receiver.url)
    monkeypatch.setenv("LB_TEST_UNICONTA_HOOK_TOKEN", TOKEN + "-new")
    assert {r.action for r in register_hooks(config, receiver.url) if r.system == "uniconta"} == {"updated"}
    assert len(uniconta.all_raw("TableChangeEventClient")) == 2


def call(query, entity="debtors"):
    return WebhookCall(headers={}, query=query, body=b"{}", entity=entity)


def test_verify_needs_the_url_token():
    hooks = UnicontaWebhooks()
    hooks.verify(call({"token": TOKEN}), TOKEN, tolerance=300)
    with pytest.raises(SignatureMissing):
        hooks.verify(call({}), TOKEN, tolerance=300)
    with pytest.raises(SignatureInvalid):
        hooks.verify(call({"token": "guess"}), TOKEN, tolerance=300)


def test_parse_reads_table_key_rowid_operation():
    hooks = UnicontaWebhooks()
    event = hooks.parse(call({"CompanyId": "4415", "Table": "Debtor", "Key": "10001", "RowId": "7",
                              "Operation": "Update"}), {})
    assert (event.entity, event.event, event.remote_id) == ("debtors", "Update", "10001")
    contact = hooks.parse(call({"Table": "Contact", "Key": "", "RowId": "12", "Operation": "Insert"}, "contacts"), {})
    assert contact.remote_id == "12"
    contradicting = hooks.parse(call({"Table": "InvItem", "Key": "P1", "Operation": "Update"}), {})
    assert contradicting.entity is None  # a Table that is not the URL's entity names nothing


def test_read_back_confirms_only_records_that_exist(hooked, uniconta):
    config, _ = hooked
    account = uniconta.insert_raw("DebtorClient", {"Name": "Real ApS", "Group": "1"})["Account"]
    connector = build_connector(config.erp)
    hooks = UnicontaWebhooks()
    real = hooks.parse(call({"Table": "Debtor", "Key": account, "Operation": "Update"}), {})
    forged = hooks.parse(call({"Table": "Debtor", "Key": "99999", "Operation": "Update"}), {})
    assert read_back(connector, real).values["name"] == "Real ApS"
    assert read_back(connector, forged) is None
    connector.close()


def test_the_probe_is_one_call_and_sees_only_what_changed(hooked, uniconta):
    config, _ = hooked
    uniconta.insert_raw("EmployeeClient", {"Number": "AB", "Name": "Anna"})
    connector = build_connector(config.erp)
    cursor = list(connector.iter_changed("employees", None))[-1].cursor
    before = connector.calls
    assert probe(connector, "employees", cursor) is None
    uniconta.update_raw("EmployeeClient", "AB", {"Title": "Seller"})
    assert probe(connector, "employees", cursor) is not None
    assert connector.calls - before == 2  # one call per probe
    connector.close()
