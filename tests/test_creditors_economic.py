"""Suppliers (creditors) with e-conomic as the ERP: /suppliers in the emulator and the connector, and
TribeCRM's suppliers synced to it (e-conomic's supplier number written back, a second sync writes nothing)."""

from __future__ import annotations

import requests

from ledgerbridge.config import parse_config
from ledgerbridge.systems.economic.connector import EconomicConnector
from ledgerbridge.systems.tribecrm.emulator import ORGANIZATION, SUPPLIER

from conftest import TEST_SECRETS
from norway_fixtures import TRIBE_ENV, norway_env, tribecrm, writes  # noqa: F401
from sync_helpers import engine_for

HEADERS = {"X-AppSecretToken": TEST_SECRETS["LB_TEST_ECONOMIC_SECRET"],
           "X-AgreementGrantToken": TEST_SECRETS["LB_TEST_ECONOMIC_GRANT"]}


def test_suppliers_resource_follows_the_docs(economic):
    refused = requests.post(f"{economic.base_url}/suppliers", json={"name": "Papir A/S"}, headers=HEADERS)
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"currency", "paymentTerms", "supplierGroup", "vatZone"}
    too_long = requests.post(f"{economic.base_url}/suppliers", headers=HEADERS, json={
        "name": "Papir A/S", "currency": "DKK", "paymentTerms": {"paymentTermsNumber": 1},
        "supplierGroup": {"supplierGroupNumber": 1}, "vatZone": {"vatZoneNumber": 1}, "phone": "1" * 21})
    assert too_long.status_code == 400 and "phone" in too_long.json()["errors"]


def test_connector_reads_and_writes_suppliers(economic):
    connector = EconomicConnector(economic.base_url, TEST_SECRETS["LB_TEST_ECONOMIC_SECRET"], TEST_SECRETS["LB_TEST_ECONOMIC_GRANT"])
    created = connector.create("creditors", {"name": "Papir A/S", "street": "Havnevej", "house_number": "4",
                                             "postcode": "8000", "city": "Aarhus", "country": "DK", "currency": "DKK",
                                             "payment_terms": "1", "supplier_group": "1"})
    assert created.remote_id == created.values["number"] == "1"
    updated = connector.update("creditors", created.remote_id, {"city": "Aalborg", "phone": "+45 98 00 00 00"})
    assert (updated.values["city"], updated.values["street"], updated.values["phone"]) == ("Aalborg", "Havnevej", "+45 98 00 00 00")
    assert connector.find_by_number("creditors", "1").values["name"] == "Papir A/S"
    [chunk] = list(connector.iter_changed("creditors", None))
    assert [r.remote_id for r in chunk.records] == ["1"] and chunk.cursor is None  # no stamp: read in full
    assert connector.limits("creditors").max_lengths["phone"] == 20
    connector.close()


def test_tribe_suppliers_sync_with_economic(norway_env, secrets_env, tribecrm, economic, sqlite_store):
    supplier = tribecrm.insert(SUPPLIER, {"Organization": {"Name": "Nordic Paper AS", "VisitingAddress": {
        "Street": "Papirveien", "HouseNumber": "1", "Postalcode": "0150", "City": "Oslo", "Country": {"Code": "NO"}}}})
    economic.seed("creditors", [{"name": "Trykkeriet A/S", "city": "Odense", "postcode": "5000", "country": "DK"}])
    config = parse_config({
        "crm": {"system": "tribecrm", "base_url": tribecrm.base_url, "secrets": dict(TRIBE_ENV)},
        "erp": {"system": "economic", "base_url": economic.base_url,
                "secrets": {"app_secret_token": "LB_TEST_ECONOMIC_SECRET", "agreement_grant_token": "LB_TEST_ECONOMIC_GRANT"}},
        "entities": {"creditors": {"erp_defaults": {"currency": "NOK", "payment_terms": "1", "supplier_group": "1"}}},
    })
    engine = engine_for(config, sqlite_store)
    summary = engine.run()["creditors"]
    assert summary.failed == [] and summary.created == 2  # one each way
    suppliers = {s["name"]: s for s in economic.all_raw("suppliers")}
    assert set(suppliers) == {"Trykkeriet A/S", "Nordic Paper AS"}
    tribe_org = tribecrm.get_raw(ORGANIZATION, supplier["Organization"]["ID"])
    assert tribe_org["CreditorNumber"] == str(suppliers["Nordic Paper AS"]["supplierNumber"])  # e-conomic's number
    assert {o["Name"] for o in tribecrm.raw(ORGANIZATION) if o.get("CreditorNumber")} == {"Nordic Paper AS", "Trykkeriet A/S"}

    tribe_mark, economic_mark = len(tribecrm.request_log), len(economic.request_log)
    again = engine.run()["creditors"]
    assert (again.created, again.updated) == (0, 0)
    assert writes(tribecrm, tribe_mark) == [] and writes(economic, economic_mark) == []
    for connector in engine.connectors.values():
        connector.close()
