"""PowerOffice Go: the emulator against its OpenAPI spec and contract notes, and the connector against it."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from ledgerbridge.connectors.base import RecordGone, RecordRejected, StaleWrite
from ledgerbridge.systems.poweroffice.emulator import PowerOfficeEmulator

from norway_fixtures import PO_KEYS, po_connector, poweroffice  # noqa: F401

# The paths ledgerbridge uses and the schemas they reference, taken from the vendor's OpenAPI spec
# (contracts/poweroffice/openapi-v2.yaml), so the check runs on any machine.
SPEC_PATH = Path(__file__).resolve().parent / "data" / "poweroffice-openapi-subset.json"


@pytest.fixture(scope="module")
def spec():
    return json.loads(SPEC_PATH.read_text())


def assert_matches_spec(spec, template: str, method: str, response: requests.Response) -> None:
    """The answer's body validates against the spec's schema for this path, method and status."""
    from openapi_schema_validator import OAS30Validator

    declared = spec["paths"][template][method.lower()]["responses"]
    entry = declared.get(str(response.status_code)) or declared["default"]
    schema = entry["content"]["application/json"]["schema"]
    validator = OAS30Validator({**schema, "components": spec["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(response.json())]
    assert errors == [], f"{method} {template} -> {response.status_code} does not match the spec: {errors[:5]}"


class Go:
    """Raw calls to the emulator, as a client following the contract makes them."""

    def __init__(self, emulator: PowerOfficeEmulator, *, throttled: bool = False):
        if not throttled:
            emulator.rate_per_second = None  # these calls check answers; throttling has its own test
        self.url = emulator.base_url
        self.key = {"Ocp-Apim-Subscription-Key": PO_KEYS["subscription_key"]}
        basic = base64.b64encode(f"{PO_KEYS['application_key']}:{PO_KEYS['client_key']}".encode()).decode()
        token = requests.post(f"{self.url}/OAuth/Token", headers={**self.key, "Authorization": f"Basic {basic}"},
                              data={"grant_type": "client_credentials"})
        assert token.status_code == 200, token.text
        self.token_body = token.json()
        self.headers = {**self.key, "Authorization": f"Bearer {self.token_body['access_token']}"}

    def __call__(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}/v2{path}", headers={**self.headers, **kw.pop("headers", {})}, **kw)


CUSTOMER = {"Name": "Fjordkraft AS", "OrganizationNumber": "995525828", "EmailAddress": "post@fjordkraft.no",
            "MailAddress": {"AddressLine1": "Folke Bernadottes vei 38", "ZipCode": "5147", "City": "Fyllingsdalen",
                            "CountryCode": "NO"}}


def test_token_lasts_twenty_minutes_and_needs_both_keys(poweroffice):
    go = Go(poweroffice)
    assert go.token_body["expires_in"] == 20 * 60 and go.token_body["token_type"] == "Bearer"
    assert go("GET", "/Customers").status_code == 200
    assert requests.get(f"{go.url}/v2/Customers", headers={"Authorization": go.headers["Authorization"]}).status_code == 401
    assert requests.get(f"{go.url}/v2/Customers", headers=go.key).status_code == 401
    wrong = base64.b64encode(b"app:wrong").decode()
    refused = requests.post(f"{go.url}/OAuth/Token", headers={**go.key, "Authorization": f"Basic {wrong}"},
                            data={"grant_type": "client_credentials"})
    assert refused.status_code == 401
    poweroffice.expire_tokens()
    assert go("GET", "/Customers").status_code == 401


def test_answers_validate_against_the_openapi_spec(spec, poweroffice):
    go = Go(poweroffice)
    created = go("POST", "/Customers", json=CUSTOMER)
    assert created.status_code == 201
    assert_matches_spec(spec, "/Customers", "POST", created)
    customer_id = created.json()["Id"]
    assert_matches_spec(spec, "/Customers", "GET", go("GET", "/Customers"))
    assert_matches_spec(spec, "/Customers/{id}", "GET", go("GET", f"/Customers/{customer_id}"))
    patched = go("PATCH", f"/Customers/{customer_id}", json=[{"op": "replace", "path": "/PhoneNumber", "value": "+47 55 00 00 00"}],
                 headers={"Content-Type": "application/json-patch+json"})
    assert_matches_spec(spec, "/Customers/{id}", "PATCH", patched)
    supplier = go("POST", "/Suppliers", json={"Name": "Nordic Paper AS"})
    assert_matches_spec(spec, "/Suppliers", "POST", supplier)
    assert_matches_spec(spec, "/Suppliers", "GET", go("GET", "/Suppliers"))
    person = go("POST", f"/ContactPersons/{customer_id}", json={"FirstName": "Kari", "LastName": "Nordmann"})
    assert_matches_spec(spec, "/ContactPersons/{contactId}", "POST", person)
    assert_matches_spec(spec, "/ContactPersons", "GET", go("GET", "/ContactPersons"))
    product = go("POST", "/Products", json={"Name": "Strøm", "Code": "KWH", "UnitPrice": 1.25})
    assert_matches_spec(spec, "/Products", "POST", product)
    assert_matches_spec(spec, "/Products", "GET", go("GET", "/Products"))
    invoice = poweroffice.insert_invoice(customer_id, [{"ProductId": product.json()["Id"], "Quantity": 100, "ProductUnitPrice": 1.25}],
                                         voucher_date="2026-12-01")
    assert_matches_spec(spec, "/OutgoingInvoices", "GET", go("GET", "/OutgoingInvoices"))
    assert_matches_spec(spec, "/OutgoingInvoices/{id}/Lines", "GET", go("GET", f"/OutgoingInvoices/{invoice['Id']}/Lines"))
    invalid = go("POST", "/Customers", json={"MailAddress": {"City": "Oslo", "ZipCode": "0150"}})
    assert invalid.status_code == 400 and invalid.json()["Title"] == "Customer validation error(s)"
    assert_matches_spec(spec, "/Customers", "POST", invalid)


def test_numbers_references_and_validation_follow_the_contract(poweroffice):
    go = Go(poweroffice)
    first = go("POST", "/Customers", json={**CUSTOMER, "ExternalImportReference": "tribe-1"}).json()
    second = go("POST", "/Customers", json={"Name": "Bergen Bryggeri AS"}).json()
    assert (first["Number"], second["Number"]) == (10000, 10001)  # Go assigns the next free number
    assert go("POST", "/Suppliers", json={"Name": "Nordic Paper AS"}).json()["Number"] == 20000  # its own series
    again = go("POST", "/Customers", json={"Name": "Other AS", "ExternalImportReference": "tribe-1"})
    assert again.status_code == 400
    assert again.json()["Detail"] == f"ExternalImportReference is already in use. 'tribe-1' is used on (contact) Id = {first['Id']}."
    assert go("POST", "/Customers", json={"Name": "Out of range AS", "Number": 5}).status_code == 400
    assert go("POST", "/Customers", json={"Name": "X" , "ExternalImportReference": "r" * 51}).status_code == 400
    assert go("POST", "/Customers", json={"Name": "X", "MailAddress": {"City": "c" * 101, "ZipCode": "1"}}).status_code == 400
    # a contact that is customer and supplier keeps one id
    as_supplier = go("POST", "/Suppliers", json={"Name": "Fjordkraft AS", "OrganizationNumber": "995525828"}).json()
    assert as_supplier["Id"] == first["Id"]
    assert go("GET", "/Customers/999").json()["Status"] == 404


def test_filters_paging_and_projection(poweroffice):
    go = Go(poweroffice)
    ids = [go("POST", "/Customers", json={"Name": f"Kunde {i}"}).json()["Id"] for i in range(7)]
    everything = go("GET", "/Customers", params={"OrderBy": "LastChangedDateTimeOffset"}).json()
    middle = everything[3]["LastChangedDateTimeOffset"]
    after = go("GET", "/Customers", params={"lastChangedDateTimeOffsetGreaterThan": middle}).json()
    assert [c["Id"] for c in after] == ids[4:]  # not inclusive
    pages = [go("GET", "/Customers", params={"PageSize": 3, "PageNumber": n}).json() for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    assert go("GET", "/Customers", params={"customerNos": "10001-10002, 10005-"}).json().__len__() == 4
    projected = go("GET", "/Customers", params={"Fields": "Id,MailAddress", "PageSize": 1}).json()
    assert set(projected[0]) == {"Id", "MailAddress"}
    assert go("GET", "/Customers", params={"PageSize": 20001}).status_code == 400
    assert go("GET", "/Customers", params={"lastChangedDateTimeOffsetGreaterThan": "yesterday"}).status_code == 400


def test_address_and_contact_person_edits_do_not_move_the_customers_stamp(poweroffice):
    go = Go(poweroffice)
    customer = go("POST", "/Customers", json=CUSTOMER).json()
    patched = go("PATCH", f"/Customers/{customer['Id']}", json=[{"op": "replace", "path": "/MailAddress/City", "value": "Bergen"}],
                 headers={"Content-Type": "application/json-patch+json"}).json()
    assert patched["LastChangedDateTimeOffset"] == customer["LastChangedDateTimeOffset"]
    assert patched["MailAddress"]["LastChangedDateTimeOffset"] > customer["MailAddress"]["LastChangedDateTimeOffset"]
    go("POST", f"/ContactPersons/{customer['Id']}", json={"FirstName": "Kari", "LastName": "Nordmann"})
    assert go("GET", f"/Customers/{customer['Id']}").json()["LastChangedDateTimeOffset"] == customer["LastChangedDateTimeOffset"]
    refused = go("PATCH", f"/Customers/{customer['Id']}", json=[{"op": "replace", "path": "/Id", "value": 1}])
    assert refused.status_code == 400 and "cannot be changed" in refused.json()["Detail"]


def test_eleven_calls_within_a_second_meet_a_429():
    emulator = PowerOfficeEmulator(**PO_KEYS, rate_per_second=3)
    with emulator:
        go = Go(emulator, throttled=True)
        answers = [go("GET", "/Customers") for _ in range(10)]
        throttled = [a for a in answers if a.status_code == 429]
        assert throttled and throttled[0].headers["Retry-After"] == "1"
        assert emulator.throttled == len(throttled)


# -- the connector -----------------------------------------------------------------------------------

def test_connector_round_trip_paging_and_cursor(poweroffice):
    connector = po_connector(poweroffice, page_size=2)
    made = [connector.create("debtors", {"name": f"Firma {i} AS", "street": "Storgata", "house_number": str(i),
                                         "postcode": "0155", "city": "Oslo", "country": "NO", "crm_id": f"t-{i}"})
            for i in range(5)]
    assert [m.values["number"] for m in made] == ["10000", "10001", "10002", "10003", "10004"]
    chunks = list(connector.iter_changed("debtors", None))
    assert sorted(r.remote_id for c in chunks for r in c.records) == sorted(m.remote_id for m in made)
    cursor = chunks[-1].cursor
    assert list(connector.iter_changed("debtors", cursor)) == []
    updated = connector.update("debtors", made[1].remote_id, {"name": "Firma 1 ASA", "city": "Bergen"})
    assert (updated.values["name"], updated.values["city"], updated.values["street"]) == ("Firma 1 ASA", "Bergen", "Storgata")
    changed = [r.remote_id for c in connector.iter_changed("debtors", cursor) for r in c.records]
    assert changed == [made[1].remote_id]
    assert connector.find_by_number("debtors", "10003").remote_id == made[3].remote_id
    assert connector.find_by_number("debtors", "T-9") is None
    connector.close()


def test_connector_sees_an_address_only_change_through_the_address_stamp(poweroffice):
    connector = po_connector(poweroffice)
    record = connector.create("debtors", {"name": "Lofoten Fisk AS", "city": "Svolvaer", "postcode": "8300"})
    cursor = list(connector.iter_changed("debtors", None))[-1].cursor
    assert connector.probe("debtors", cursor) is None
    poweroffice.change_address("Customers", int(record.remote_id), City="Henningsvaer", ZipCode="8312")
    assert connector.probe("debtors", cursor) is not None
    calls = connector.calls
    [chunk] = list(connector.iter_changed("debtors", cursor))
    assert [(r.remote_id, r.values["city"]) for r in chunk.records] == [(record.remote_id, "Henningsvaer")]
    assert connector.calls - calls == 3  # changed list (empty), the projected address list, one GET
    assert list(connector.iter_changed("debtors", chunk.cursor)) == []
    connector.close()


def test_connector_renews_an_expired_token_and_waits_out_429s(poweroffice):
    connector = po_connector(poweroffice, rate_per_second=None)
    record = connector.create("debtors", {"name": "Tokens AS"})
    poweroffice.expire_tokens()
    assert connector.get("debtors", record.remote_id).values["name"] == "Tokens AS"
    assert connector.tokens_fetched == 2
    poweroffice.inject_fault(status=429, retry_after=1, path_prefix="/v2/Customers", remaining=2)
    assert connector.get("debtors", record.remote_id) is not None
    connector.close()


def test_connector_create_is_idempotent_by_external_import_reference(poweroffice):
    connector = po_connector(poweroffice)
    poweroffice.lose_create_replies = 1  # Go stores the customer, the answer is lost
    first = connector.create("debtors", {"name": "Once AS", "crm_id": "tribe-guid-1"})
    assert len(poweroffice.all_raw("Customers")) == 1 and first.values["crm_id"] == "tribe-guid-1"
    poweroffice.inject_fault(status=503, path_prefix="/v2/Customers", remaining=1)  # refused before Go stored it
    second = connector.create("debtors", {"name": "Twice AS", "crm_id": "tribe-guid-2"})
    assert sorted(c["Name"] for c in poweroffice.all_raw("Customers")) == ["Once AS", "Twice AS"]
    assert second.values["name"] == "Twice AS"
    connector.close()


def test_connector_errors_name_the_record_and_guards_stop_stale_writes(poweroffice):
    connector = po_connector(poweroffice)
    with pytest.raises(RecordRejected, match="create debtors.*Name is required"):
        connector.create("debtors", {"name": None, "city": "Oslo"})
    with pytest.raises(RecordGone):
        connector.update("debtors", "424242", {"name": "Gone AS"})
    record = connector.create("debtors", {"name": "Guarded AS"})

    def guard(current):
        raise StaleWrite("changed meanwhile", ("name",))

    with pytest.raises(StaleWrite):
        connector.update("debtors", record.remote_id, {"name": "Overwrite AS"}, guard=guard)
    assert poweroffice.all_raw("Customers")[0]["Name"] == "Guarded AS"
    assert "key" not in repr(connector)
    connector.close()


def test_contacts_and_items_round_trip(poweroffice):
    connector = po_connector(poweroffice)
    debtor = connector.create("debtors", {"name": "Fjordkraft AS"})
    person = connector.create("contacts", {"debtor_id": debtor.remote_id, "name": "Kari Nordmann", "email": "kari@fjordkraft.no"})
    assert person.remote_id.startswith(f"{debtor.remote_id}/") and person.values["name"] == "Kari Nordmann"
    assert connector.update("contacts", person.remote_id, {"name": "Kari Hansen"}).values["name"] == "Kari Hansen"
    item = connector.create("items", {"number": "KWH", "name": "Strøm", "unit_price": Decimal("1.25")})
    assert item.values["unit_price"] == Decimal("1.25") and connector.find_by_number("items", "KWH").remote_id == item.remote_id
    assert [r.remote_id for c in connector.iter_changed("contacts", None) for r in c.records] == [person.remote_id]
    connector.close()
