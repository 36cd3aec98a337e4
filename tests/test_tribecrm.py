"""TribeCRM: the emulator's OData subset and webhooks per the contract notes, the connector against it,
and the receiver's handling of Tribe's signed webhooks (forged and unsigned calls refused)."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerbridge.config import parse_config
from ledgerbridge.connectors.base import RecordGone
from ledgerbridge.store import T
from ledgerbridge.systems.tribecrm.emulator import CONTACT, CUSTOMER, ORGANIZATION, PRODUCT, SUPPLIER
from ledgerbridge.systems.tribecrm.webhooks import TribeWebhooks, tribe_signature
from ledgerbridge.webhooks.receiver import ReceiverSettings, create_app

from norway_fixtures import PO_ENV, TRIBE_ENV, TRIBE_KEYS, norway_env, tribe_connector, tribecrm  # noqa: F401

HOOK_SECRET = "tribe-webhook-secret-0123456789"


class Tribe:
    def __init__(self, emulator):
        self.url = emulator.base_url
        token = requests.post(f"{self.url}/oauth2/token", data={"grant_type": "client_credentials", **TRIBE_KEYS})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, entity_set: str, **params) -> requests.Response:
        return requests.get(f"{self.url}/v1/odata/{entity_set}", headers=self.headers, params=params)


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(r.get("Name") or r.get("_Name") for r in response.json()["value"])


@pytest.fixture
def filled(tribecrm):
    for name, city, price in (("Fjordkraft AS", "Bergen", 10), ("Nordlys AS", "Tromsø", 20), ("Havbruk ASA", "Ålesund", 30)):
        tribecrm.insert(CUSTOMER, {"Organization": {"Name": name, "VisitingAddress": {"City": city}}}, fire=False)
        tribecrm.insert(PRODUCT, {"Name": f"Vare {name}", "Code": name[:3], "SalesPrice": price}, fire=False)
    return tribecrm


def test_odata_operators_that_work_and_those_refused(filled):
    tribe = Tribe(filled)
    assert names(tribe.get(ORGANIZATION, **{"$filter": "Name eq 'nordlys as'"})) == ["Nordlys AS"]  # no case
    assert names(tribe.get(ORGANIZATION, **{"$filter": "contains(Name,'as') and not startswith(Name,'Fjord')"})) == [
        "Havbruk ASA", "Nordlys AS"]
    assert names(tribe.get(PRODUCT, **{"$filter": "SalesPrice ge 20 or endswith(Code,'JO')"})) == [
        "Vare Fjordkraft AS", "Vare Havbruk ASA", "Vare Nordlys AS"]
    assert names(tribe.get(CUSTOMER, **{"$filter": "Organization/VisitingAddress/City eq 'Bergen'"})) == ["Fjordkraft AS"]
    for refused in ("Name in ('Nordlys AS')", "Name has 'x'", "substringof('x',Name)"):
        answer = tribe.get(ORGANIZATION, **{"$filter": refused})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest"


def test_paging_count_select_and_expand(filled):
    tribe = Tribe(filled)
    page = tribe.get(PRODUCT, **{"$top": 2, "$skip": 1, "$orderby": "SalesPrice desc", "$count": "true",
                                 "$select": "Name,SalesPrice"}).json()
    assert page["@odata.count"] == 3
    assert [(r["Name"], r["SalesPrice"]) for r in page["value"]] == [("Vare Nordlys AS", 20), ("Vare Fjordkraft AS", 10)]
    assert set(page["value"][0]) == {"ID", "Name", "SalesPrice"}
    bare = tribe.get(CUSTOMER, **{"$top": 1}).json()["value"][0]
    assert "Organization" not in bare  # navigation properties only when expanded
    expanded = tribe.get(CUSTOMER, **{"$top": 1, "$expand": "Organization($select=Name;$expand=VisitingAddress)"}).json()
    organization = expanded["value"][0]["Organization"]
    assert set(organization) == {"ID", "Name", "VisitingAddress"}


def test_server_cuts_long_pages_and_links_the_rest(tribecrm):
    tribecrm.max_page_size = 2
    for i in range(5):
        tribecrm.insert(PRODUCT, {"Name": f"P{i}"}, fire=False)
    first = Tribe(tribecrm).get(PRODUCT, **{"$top": 4, "$orderby": "Name"}).json()
    assert len(first["value"]) == 2 and "@odata.nextLink" in first


def test_auth_numbering_and_deep_insert(tribecrm):
    assert requests.get(f"{tribecrm.base_url}/v1/odata/{ORGANIZATION}").status_code == 401
    wrong = requests.post(f"{tribecrm.base_url}/oauth2/token", data={"grant_type": "client_credentials",
                                                                     "client_id": "x", "client_secret": "y"})
    assert wrong.status_code == 401
    tribe = Tribe(tribecrm)
    created = requests.post(f"{tribe.url}/v1/odata/{SUPPLIER}", headers=tribe.headers,
                            json={"Organization": {"Name": "Nordic Paper AS"}})
    assert created.status_code == 201
    organization = tribecrm.get_raw(ORGANIZATION, created.json()["Organization"]["ID"])
    assert organization["CreditorNumber"] == "800001" and organization.get("DebtorNumber") is None
    missing = requests.post(f"{tribe.url}/v1/odata/{CUSTOMER}", headers=tribe.headers, json={"Organization": {"Name": ""}})
    assert missing.status_code == 400 and "Name is required" in missing.json()["error"]["message"]
    tribecrm.expire_tokens()
    assert tribe.get(ORGANIZATION).status_code == 401


# -- the connector -----------------------------------------------------------------------------------

def test_connector_streams_both_change_stamps(tribecrm):
    connector = tribe_connector(tribecrm, page_size=2)
    made = [connector.create("debtors", {"name": f"Firma {i} AS", "city": "Oslo", "country": "NO"}) for i in range(5)]
    assert [m.values["number"] for m in made] == ["900001", "900002", "900003", "900004", "900005"]
    chunks = list(connector.iter_changed("debtors", None))
    assert sorted(r.remote_id for c in chunks for r in c.records) == sorted(m.remote_id for m in made)
    cursor = chunks[-1].cursor
    assert list(connector.iter_changed("debtors", cursor)) == []
    tribecrm.update(ORGANIZATION, made[2].remote_id, {"PhoneNumber": "+47 22 00 00 00"})  # the party's stamp moves
    changed = [r for c in connector.iter_changed("debtors", cursor) for r in c.records]
    assert [(r.remote_id, r.values["phone"]) for r in changed] == [(made[2].remote_id, "+47 22 00 00 00")]
    connector.close()


def test_connector_writes_roles_contacts_and_items(tribecrm):
    connector = tribe_connector(tribecrm)
    customer = connector.create("debtors", {"name": "Nordlys AS", "street": "Storgata", "house_number": "3", "country": "NO"})
    supplier = connector.create("creditors", {"name": "Nordlys AS", "crm_id": customer.remote_id, "number": "20001"})
    assert supplier.remote_id == customer.remote_id  # one organisation, two roles
    assert len(tribecrm.raw(ORGANIZATION)) == 2  # the own organisation and Nordlys
    updated = connector.update("debtors", customer.remote_id, {"number": "10000", "erp_id": "5000001"})
    assert (updated.values["number"], updated.values["erp_id"], updated.values["street"]) == ("10000", "5000001", "Storgata")
    assert connector.find_by_number("creditors", "20001").remote_id == customer.remote_id
    person = connector.create("contacts", {"debtor_id": customer.remote_id, "name": "Kari Nordmann", "email": "kari@nordlys.no"})
    renamed = connector.update("contacts", person.remote_id, {"name": "Kari Hansen", "mobile": "+47 912 34 567"})
    assert (renamed.values["name"], renamed.values["mobile"], renamed.values["email"]) == ("Kari Hansen", "+47 912 34 567", "kari@nordlys.no")
    item = connector.create("items", {"number": "KWH", "name": "Strøm", "unit_price": 1})
    assert connector.find_by_number("items", "KWH").remote_id == item.remote_id
    with pytest.raises(RecordGone):
        connector.update("debtors", "00000000-0000-0000-0000-000000000000", {"name": "Gone"})
    tribecrm.expire_tokens()
    assert connector.get("items", item.remote_id) is not None  # a new token, the call repeated
    assert connector.tokens_fetched == 2 and TRIBE_KEYS["client_secret"] not in repr(connector)
    connector.close()


# -- webhooks ---------------------------------------------------------------------------------------------

@pytest.fixture
def receiver(sqlite_store):
    with TestClient(create_app(sqlite_store, ReceiverSettings(secrets={"tribecrm": HOOK_SECRET}))) as client:
        yield client


def inbox(store) -> list[dict]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(T["inbox"]).order_by(T["inbox"].c.id)).mappings()]


def delivery(entity_id: str) -> bytes:
    return json.dumps({"webhookId": "hook-1", "payload": {"type": "EntityUpdateMutation",
                       "entityType": "Relation.Organization", "entityId": entity_id}}).encode()


def test_signed_webhooks_are_accepted_into_the_inbox(receiver, sqlite_store):
    body = delivery("6f1c1a6e-0000-4000-8000-000000000001")
    answer = receiver.post("/hooks/tribecrm/debtors", content=body,
                           headers={"X-Tribe-Signature": tribe_signature(HOOK_SECRET, body), "Content-Type": "application/json"})
    assert answer.status_code == 202
    [row] = inbox(sqlite_store)
    assert (row["system"], row["entity"], row["event"], row["remote_id"]) == (
        "tribecrm", "debtors", "EntityUpdateMutation", "6f1c1a6e-0000-4000-8000-000000000001")


def test_forged_and_unsigned_webhooks_are_refused_and_logged_without_the_body(receiver, sqlite_store, caplog):
    secret_body = json.dumps({"webhookId": "x", "payload": {"type": "EntityCreationMutation", "entityId": "1",
                              "Name": "Kari Nordmann", "EmailAddress": "kari@example.no"}}).encode()
    caplog.set_level(logging.WARNING)
    unsigned = receiver.post("/hooks/tribecrm/debtors", content=secret_body)
    forged = receiver.post("/hooks/tribecrm/debtors", content=secret_body,
                           headers={"X-Tribe-Signature": tribe_signature("not-the-secret", secret_body)})
    tampered = receiver.post("/hooks/tribecrm/debtors", content=secret_body.replace(b"Kari", b"Ola"),
                             headers={"X-Tribe-Signature": tribe_signature(HOOK_SECRET, secret_body)})
    assert (unsigned.status_code, forged.status_code, tampered.status_code) == (401, 403, 403)
    assert inbox(sqlite_store) == []
    logged = caplog.text
    assert "refused" in logged and "tribecrm" in logged
    for personal in ("Kari", "Nordmann", "kari@example.no", "Ola"):
        assert personal not in logged


def test_the_emulator_fires_signed_hooks_that_a_live_receiver_accepts(tribecrm, norway_env, tmp_path, monkeypatch):
    from ledgerbridge.serve import Receiver

    monkeypatch.setenv("LB_TEST_TRIBE_WEBHOOK_SECRET", HOOK_SECRET)
    config = parse_config({
        "crm": {"system": "tribecrm", "base_url": tribecrm.base_url,
                "secrets": {**TRIBE_ENV, "webhook_secret": "LB_TEST_TRIBE_WEBHOOK_SECRET"}},
        "erp": {"system": "poweroffice", "base_url": "http://127.0.0.1:9", "secrets": dict(PO_ENV)},
        "hub": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
    })
    live = Receiver(config, "127.0.0.1", 0, "").start()
    try:
        connector = tribe_connector(tribecrm)
        hooks = TribeWebhooks()
        first = hooks.register(connector, ["debtors", "creditors"], live.url, HOOK_SECRET)
        assert {(r.entity, r.action) for r in first} == {("debtors", "registered"), ("creditors", "registered")}
        assert {r.action for r in hooks.register(connector, ["debtors", "creditors"], live.url, HOOK_SECRET)} == {"unchanged"}
        assert len(tribecrm.tables.rows["webhooks"]) == 4  # per entity path: its role and the organisations
        created = tribecrm.insert(CUSTOMER, {"Organization": {"Name": "Hooked AS"}})
        assert tribecrm.hooks.flush()
        deadline = time.monotonic() + 10
        rows = []
        while time.monotonic() < deadline and len(rows) < 2:
            rows = inbox(live.store)
            time.sleep(0.05)
        got = {(r["entity"], r["event"], r["remote_id"]) for r in rows}
        assert ("debtors", "RelationshipCreationMutation", created["ID"]) in got
        assert ("debtors", "EntityCreationMutation", created["Organization"]["ID"]) in got
        connector.close()
    finally:
        live.stop()
