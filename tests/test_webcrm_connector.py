"""The webCRM connector against a live emulator on loopback (no mocks of the HTTP layer)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from ledgerbridge.connectors.base import Connector, ConnectorError, FieldLimits, RecordRejected
from ledgerbridge.systems.webcrm.connector import WebcrmConnector
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator
from ledgerbridge.systems.webcrm import mapping
from ledgerbridge.systems.webcrm.contract import RESOURCES
from ledgerbridge.systems.vocabulary import country_from_remote, country_to_remote

API_KEY = "test-api-key"
EPOCH_CURSOR = "1970-01-01T00:00:00.000Z"


@pytest.fixture
def emu():
    with WebcrmEmulator(api_keys=(API_KEY,)) as emulator:
        yield emulator


@pytest.fixture
def crm(emu):
    connector = WebcrmConnector(emu.base_url, API_KEY, backoff_base=0.01, max_attempts=4)
    yield connector
    connector.close()


def pull(crm, entity, cursor, chunk_size=500):
    chunks = list(crm.iter_changed(entity, cursor, chunk_size))
    return chunks, [r for c in chunks for r in c.records]


def test_is_a_connector(crm):
    assert isinstance(crm, Connector)
    assert (crm.system, crm.role) == ("webcrm", "crm")
    assert set(crm.entities()) == {"debtors", "contacts", "items", "invoices", "invoice_lines", "payments",
                                   "employees", "orders", "order_lines"}
    assert crm.limits("debtors").max_lengths["name"] == 200
    assert crm.limits("debtors").required == ("name",)
    assert crm.limits("contacts").required == ("debtor_id",)
    assert crm.limits("invoices") == FieldLimits(max_lengths={}, required=("debtor_id",))  # no maxLength in the spec
    assert crm.limits("invoice_lines").required == ("invoice_id",)
    assert crm.limits("payments").required == ("invoice_id",)


# -- pulls --------------------------------------------------------------------------------------
def test_full_pull_in_chunks(crm, emu):
    ids = emu.seed("debtors", [{"name": f"Org {i}", "number": str(1000 + i), "country": "DK"} for i in range(25)])
    chunks, records = pull(crm, "debtors", None, chunk_size=10)
    assert [len(c.records) for c in chunks] == [10, 10, 5]
    assert [c.cursor is None for c in chunks] == [True, True, False]  # resumable only at the end
    assert [r.remote_id for r in records] == ids
    assert records[3].values["number"] == "1003" and records[3].values["country"] == "DK"
    assert all(r.updated_at and r.updated_at.tzinfo for r in records)
    # the watermark lies before every record written during the pull
    assert datetime.fromisoformat(chunks[-1].cursor.replace("Z", "+00:00")) <= min(r.updated_at for r in records)


def test_full_pull_of_an_empty_system_still_gives_a_cursor(crm):
    chunks, records = pull(crm, "debtors", None)
    assert records == [] and len(chunks) == 1 and chunks[0].cursor


def test_incremental_pull_sees_only_changed_records(crm, emu):
    ids = emu.seed("debtors", [{"name": f"Org {i}"} for i in range(10)])
    chunks, records = pull(crm, "debtors", EPOCH_CURSOR, chunk_size=4)
    assert sorted(r.remote_id for r in records) == sorted(ids)
    cursor = chunks[-1].cursor
    assert cursor == emu.get_raw("Organisations", ids[-1])["OrganisationUpdatedAt"]  # the newest seen

    emu.update_raw("Organisations", ids[2], {"OrganisationName": "Changed 2"})
    emu.update_raw("Organisations", ids[5], {"OrganisationCity": "Oslo"})
    new = emu.seed("debtors", [{"name": "New"}])
    _, changed = pull(crm, "debtors", cursor, chunk_size=2)
    got = [r.remote_id for r in changed]
    # inclusive start: the record stamped exactly at the cursor comes again, nothing else unchanged
    assert got == [ids[-1], ids[2], ids[5], new[0]]
    assert changed[1].values["name"] == "Changed 2"

    _, again = pull(crm, "debtors", pull(crm, "debtors", cursor)[0][-1].cursor)
    assert [r.remote_id for r in again] == new  # only the boundary record once more


def test_incremental_after_full_pull_catches_later_writes(crm, emu):
    emu.seed("debtors", [{"name": "A"}, {"name": "B"}])
    chunks, _ = pull(crm, "debtors", None)
    later = emu.seed("debtors", [{"name": "C"}])
    _, records = pull(crm, "debtors", chunks[-1].cursor)
    assert later[0] in {r.remote_id for r in records}


def test_records_updated_during_a_pull_are_not_skipped(crm, emu):
    ids = emu.seed("debtors", [{"name": f"Org {i}"} for i in range(30)])
    seen: dict[str, str] = {}
    for n, chunk in enumerate(crm.iter_changed("debtors", EPOCH_CURSOR, chunk_size=10)):
        seen.update({r.remote_id: r.values["name"] for r in chunk.records})
        if n == 0:  # writes while the pull runs: one already seen, one not yet
            emu.update_raw("Organisations", ids[4], {"OrganisationName": "moved 4"})
            emu.update_raw("Organisations", ids[15], {"OrganisationName": "moved 15"})
    assert set(seen) == set(ids)
    assert seen[ids[4]] == "moved 4" and seen[ids[15]] == "moved 15"


def test_contacts_and_items_pull(crm, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    emu.seed("contacts", [{"debtor_id": org, "name": f"Person {i}"} for i in range(3)])
    emu.seed("items", [{"number": f"I-{i}", "name": f"Item {i}", "unit_price": Decimal("9.5")} for i in range(3)])
    _, persons = pull(crm, "contacts", None, chunk_size=2)
    assert [p.values["name"] for p in persons] == ["Person 0", "Person 1", "Person 2"]
    assert {p.values["debtor_id"] for p in persons} == {org}
    _, items = pull(crm, "items", EPOCH_CURSOR)
    assert [i.values["number"] for i in items] == ["I-0", "I-1", "I-2"]
    assert items[0].values["unit_price"] == Decimal("9.5")


# -- round trips --------------------------------------------------------------------------------
def test_debtor_round_trip(crm, emu):
    values = {
        "number": "10001", "name": "Acme A/S", "street": "Søndergade", "house_number": "12B", "postcode": "8000",
        "city": "Aarhus", "country": "DK", "vat_number": "DK12345678", "phone": "+45 12345678",
        "website": "https://acme.dk", "crm_type": "Customer", "vat_zone": "domestic",
    }
    created = crm.create("debtors", values)
    assert created.values == values
    assert emu.get_raw("Organisations", created.remote_id)["OrganisationAddress"] == "Søndergade 12B"
    assert emu.get_raw("Organisations", created.remote_id)["OrganisationVatGroup"] == "domestic"  # the ERP's zone, shown
    assert crm.get("debtors", created.remote_id) == created

    # unmapped fields and untouched free text survive an update of other fields
    emu.update_raw("Organisations", created.remote_id, {"OrganisationPlus1": "keep me", "OrganisationCountry": "Danmark"})
    updated = crm.update("debtors", created.remote_id, {"city": "Aalborg", "house_number": "14"})
    assert updated.values == {**values, "city": "Aalborg", "house_number": "14"}
    assert updated.updated_at > created.updated_at
    raw = emu.get_raw("Organisations", created.remote_id)
    assert (raw["OrganisationPlus1"], raw["OrganisationCountry"], raw["OrganisationAddress"]) == ("keep me", "Danmark", "Søndergade 14")

    assert crm.find_by_number("debtors", "10001").remote_id == created.remote_id
    assert crm.find_by_number("debtors", "99999") is None
    assert crm.get("debtors", "424242") is None


def test_find_by_number_pages_through(crm, emu):
    emu.seed("debtors", [{"name": f"Org {i}", "number": str(i)} for i in range(1005)])
    calls = len(emu.request_log)
    found = crm.find_by_number("debtors", "1003")
    assert found.values["name"] == "Org 1003"
    assert [p for _, p in emu.request_log[calls:] if p == "/Organisations"] == ["/Organisations"] * 2


def test_custom_number_field(emu):
    connector = WebcrmConnector(emu.base_url, API_KEY, number_field="OrganisationXText3")
    created = connector.create("debtors", {"name": "Acme", "number": "D-7"})
    assert emu.get_raw("Organisations", created.remote_id)["OrganisationXText3"] == "D-7"
    assert connector.find_by_number("debtors", "D-7").remote_id == created.remote_id
    connector.close()


def test_contact_round_trip(crm):
    debtor = crm.create("debtors", {"name": "Acme"})
    values = {"debtor_id": debtor.remote_id, "name": "Anna Maria Jensen", "email": "anna@acme.dk",
              "phone": "+45 11111111", "mobile": "+45 22222222", "title": "CFO"}
    created = crm.create("contacts", values)
    assert created.values == values
    updated = crm.update("contacts", created.remote_id, {"title": "CEO"})
    assert updated.values == {**values, "title": "CEO"}
    assert crm.get("contacts", created.remote_id) == updated
    assert crm.find_by_number("contacts", "x") is None  # persons carry no number
    with pytest.raises(RecordRejected) as exc:
        crm.create("contacts", {"debtor_id": "999999", "name": "Nobody"})
    assert "debtor_id" in exc.value.field_errors


def test_item_round_trip(crm):
    values = {"number": "W-1", "name": "Widget", "unit": "pcs", "ean": "5701234567899", "product_group": "10",
              "description": "A fine widget", "unit_price": Decimal("12.5"), "cost_price": Decimal("7.25")}
    created = crm.create("items", values)
    assert created.values == values
    updated = crm.update("items", created.remote_id, {"unit_price": Decimal("13.75")})
    assert updated.values["unit_price"] == Decimal("13.75") and updated.values["name"] == "Widget"
    assert crm.find_by_number("items", "W-1").remote_id == created.remote_id


def test_update_of_a_missing_record_is_rejected(crm):
    with pytest.raises(RecordRejected) as exc:
        crm.update("debtors", "4242", {"name": "x"})
    assert exc.value.status == 404


# -- errors, retries, auth ---------------------------------------------------------------------------
def test_over_long_name_is_rejected_with_the_model_field(crm, emu):
    with pytest.raises(RecordRejected) as exc:
        crm.create("debtors", {"name": "x" * 201, "city": "c" * 51})
    assert set(exc.value.field_errors) == {"name", "city"}
    assert exc.value.status == 400 and "200" in exc.value.field_errors["name"]
    assert emu.all_raw("Organisations") == []

    debtor = crm.create("debtors", {"name": "Acme"})
    with pytest.raises(RecordRejected) as exc:
        crm.update("debtors", debtor.remote_id, {"street": "s" * 249, "house_number": "12"})
    assert set(exc.value.field_errors) == {"street", "house_number"}  # the joined address line
    with pytest.raises(RecordRejected) as exc:
        crm.create("debtors", {"city": "Oslo"})
    assert set(exc.value.field_errors) == {"name"}


def test_retries_after_429_and_503(crm, emu):
    debtor = crm.create("debtors", {"name": "Acme"})
    emu.inject_fault(status=429, retry_after=0.3, path_prefix="/Organisations")
    emu.inject_fault(status=503, path_prefix="/Organisations")
    start = len(emu.request_log)
    assert crm.get("debtors", debtor.remote_id).values["name"] == "Acme"
    assert len(emu.request_log) - start == 3

    emu.inject_fault(status=503, path_prefix="/Organisations", remaining=10)
    with pytest.raises(ConnectorError) as exc:
        crm.get("debtors", debtor.remote_id)
    assert exc.value.status == 503 and not isinstance(exc.value, RecordRejected)


def test_token_refresh_after_expiry(crm, emu):
    crm.create("debtors", {"name": "Acme"})
    logins = emu.request_log.count(("POST", "/Auth/ApiLogin"))
    assert logins == 1  # lazy, once
    emu.expire_tokens()
    _, records = pull(crm, "debtors", None)
    assert len(records) == 1
    assert emu.request_log.count(("POST", "/Auth/ApiLogin")) == 2


def test_short_lived_tokens_are_renewed_before_use(emu):
    emu.token_ttl = 1
    connector = WebcrmConnector(emu.base_url, API_KEY)
    connector.create("debtors", {"name": "Acme"})
    connector._token_valid_until = 0.0  # as if the announced lifetime had passed
    connector.get("debtors", "1")
    assert ("GET", "/Organisations/1") in emu.request_log
    assert emu.request_log.count(("POST", "/Auth/ApiLogin")) == 2
    connector.close()


def test_bad_api_key_never_leaks(emu):
    secret = "wrong-secret-key-123"
    connector = WebcrmConnector(emu.base_url, secret)
    with pytest.raises(ConnectorError) as exc:
        connector.get("debtors", "1")
    assert secret not in str(exc.value) and exc.value.status == 401
    assert secret not in repr(connector)
    connector.close()


def test_errors_carry_no_token(crm, emu):
    crm.create("debtors", {"name": "Acme"})
    token = crm.http.session.headers["Authorization"].split()[-1]
    with pytest.raises(RecordRejected) as exc:
        crm.create("debtors", {"name": "x" * 300})
    assert token not in str(exc.value) and API_KEY not in str(exc.value)


# -- mapping -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,code", [("Denmark", "DK"), ("Danmark", "DK"), ("Deutschland", "DE"),
                                        ("sweden", "SE"), ("Norge", "NO"), ("DEU", "DE"), ("Narnia", "Narnia")])
def test_country_from_free_text(text, code):
    assert country_from_remote(text) == code


def test_country_to_remote_round_trips_every_code():
    import pycountry

    for country in pycountry.countries:
        name = country_to_remote(country.alpha_2)
        assert len(name) <= 50
        assert country_from_remote(name) == country.alpha_2
    assert country_to_remote("XX") == "XX"


def test_person_name_and_timestamps():
    assert mapping.split_person_name("Anna Maria Jensen") == ("Anna Maria", "Jensen")
    assert mapping.split_person_name("Cher") == ("", "Cher")
    record = mapping.from_remote("contacts", {"PersonId": 5, "PersonFirstName": "A", "PersonLastName": "B",
                                              "PersonUpdatedAt": "2024-05-01T10:00:00"})
    assert record.values["name"] == "A B" and record.remote_id == "5"
    assert record.updated_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert set(mapping.mapped_fields("debtors")) >= {"number", "name", "street", "house_number", "country", "crm_type"}


# -- invoices, invoice lines, payments ------------------------------------------------------------------
INVOICE = {
    "number": "20001", "invoice_date": date(2024, 5, 1), "due_date": date(2024, 5, 31), "currency": "DKK",
    "net_amount": Decimal("1000.5"), "vat_amount": Decimal("250.13"), "gross_amount": Decimal("1250.63"),
    "remainder": Decimal("1250.63"), "heading": "May delivery", "status": "booked",
}


def stamp(emu, resource, id):
    return emu.get_raw(resource, id)[RESOURCES[resource] + "UpdatedAt"]


def test_invoice_round_trip(crm, emu):
    debtor = crm.create("debtors", {"name": "Acme", "number": "10001"})
    values = {**INVOICE, "debtor_id": debtor.remote_id}
    created = crm.create("invoices", values)
    assert created.values == values
    raw = emu.get_raw("Deliveries", created.remote_id)
    assert (raw["DeliveryErpId"], raw["DeliveryNumber"], raw["DeliveryOrderValue"]) == ("20001", "20001", 1000.5)
    assert (raw["DeliveryCustom1"], raw["DeliveryCustom4"], raw["DeliveryErpStatus"]) == ("2024-05-31", "1250.63", "Synchronized")
    assert crm.get("invoices", created.remote_id) == created

    # what the sales staff set on the delivery, and the payment, survive an invoice update
    emu.update_raw("Deliveries", created.remote_id, {"DeliveryStatus": "Completed", "DeliveryResponsible": 7})
    crm.create("payments", {"invoice_id": created.remote_id, "amount": Decimal("500")})
    updated = crm.update("invoices", created.remote_id, {"remainder": Decimal("750.63"), "heading": None})
    assert updated.values == {**values, "remainder": Decimal("750.63"), "heading": None}
    assert updated.updated_at > created.updated_at
    raw = emu.get_raw("Deliveries", created.remote_id)
    assert (raw["DeliveryStatus"], raw["DeliveryResponsible"], raw["DeliveryCustom5"]) == ("Completed", 7, "500")

    assert crm.find_by_number("invoices", "20001").remote_id == created.remote_id  # by DeliveryErpId
    assert crm.find_by_number("invoices", "20002") is None
    assert crm.get("invoices", "799999") is None
    with pytest.raises(RecordRejected) as exc:
        crm.create("invoices", {**INVOICE, "debtor_id": "4242"})
    assert "debtor_id" in exc.value.field_errors
    with pytest.raises(RecordRejected) as exc:
        crm.create("invoices", {**INVOICE, "debtor_id": debtor.remote_id, "status": "paid"})
    assert "status" in exc.value.field_errors  # not a DeliveryErpStatus


def test_invoice_status_and_odd_custom_text(crm, emu):
    debtor = crm.create("debtors", {"name": "Acme"})
    draft = crm.create("invoices", {"debtor_id": debtor.remote_id, "invoice_date": date(2024, 1, 2), "currency": "EUR", "status": "draft"})
    assert emu.get_raw("Deliveries", draft.remote_id)["DeliveryErpStatus"] == "ReadyForSynchronization"
    assert draft.values["status"] == "draft" and draft.values["number"] is None and draft.values["due_date"] is None
    emu.update_raw("Deliveries", draft.remote_id, {"DeliveryErpStatus": "NotReadyForSynchronization", "DeliveryCustom2": "1.234,50",
                                                   "DeliveryCustom1": "next week"})
    odd = crm.get("invoices", draft.remote_id).values
    # user text that is no number/date comes back as text, for the quality gate to name
    assert (odd["status"], odd["vat_amount"], odd["due_date"]) == (None, "1.234,50", "next week")


def test_invoice_lines_round_trip(crm, emu):
    debtor = crm.create("debtors", {"name": "Acme"})
    item = crm.create("items", {"number": "W-1", "name": "Widget"})
    invoice = crm.create("invoices", {**INVOICE, "debtor_id": debtor.remote_id})
    values = {"invoice_id": invoice.remote_id, "line_number": 1, "item_id": item.remote_id, "description": "Widgets, blue",
              "quantity": Decimal("3"), "unit_price": Decimal("12.5"), "discount_percentage": Decimal("10"),
              "net_amount": Decimal("33.75")}
    first = crm.create("invoice_lines", values)
    assert first.values == values
    raw = emu.get_raw("QuotationLines", first.remote_id)
    assert (raw["QuotationLineOpportunityId"], raw["QuotationLineSortOrder"], raw["QuotationLineData9"]) == (
        int(invoice.remote_id), 1, item.remote_id)
    second = crm.create("invoice_lines", {"invoice_id": invoice.remote_id, "line_number": 2, "description": "Freight",
                                          "quantity": Decimal("1"), "unit_price": Decimal("50"), "net_amount": Decimal("50")})
    assert second.values["item_id"] is None and second.values["discount_percentage"] == Decimal("0")  # no empty double
    emu.update_raw("QuotationLines", first.remote_id, {"QuotationLineData1": "keep me"})
    updated = crm.update("invoice_lines", first.remote_id, {"quantity": Decimal("4"), "net_amount": Decimal("45")})
    assert updated.values == {**values, "quantity": Decimal("4"), "net_amount": Decimal("45")}
    assert emu.get_raw("QuotationLines", first.remote_id)["QuotationLineData1"] == "keep me"
    assert crm.get("invoice_lines", first.remote_id) == updated
    assert crm.find_by_number("invoice_lines", "1") is None  # lines carry no number
    with pytest.raises(RecordRejected) as exc:
        crm.create("invoice_lines", {"invoice_id": "799999", "line_number": 1})
    assert "invoice_id" in exc.value.field_errors


def test_payment_lives_on_the_invoice_delivery(crm, emu):
    debtor = crm.create("debtors", {"name": "Acme"})
    invoice = crm.create("invoices", {**INVOICE, "debtor_id": debtor.remote_id})
    assert crm.get("payments", invoice.remote_id) is None  # no paid amount written yet
    created = crm.create("payments", {"invoice_id": invoice.remote_id, "debtor_id": debtor.remote_id,
                                      "payment_date": None, "amount": Decimal("0"), "currency": "DKK"})
    assert created.remote_id == invoice.remote_id
    assert created.values == {"invoice_id": invoice.remote_id, "debtor_id": debtor.remote_id, "currency": "DKK",
                              "amount": Decimal("0"), "payment_date": None}
    assert crm.get("payments", invoice.remote_id) == created

    # paying updates the delivery's paid fields, and nothing of the invoice; a debtor or currency
    # sent with a payment is the invoice's business and is not written
    paid = crm.update("payments", created.remote_id, {"amount": Decimal("1250.63"), "payment_date": date(2024, 6, 3),
                                                     "currency": "EUR"})
    assert (paid.values["amount"], paid.values["payment_date"], paid.values["currency"]) == (Decimal("1250.63"), date(2024, 6, 3), "DKK")
    raw = emu.get_raw("Deliveries", invoice.remote_id)
    assert (raw["DeliveryCustom5"], raw["DeliveryCustom6"]) == ("1250.63", "2024-06-03")
    assert crm.get("invoices", invoice.remote_id).values == invoice.values
    again = crm.create("payments", {"invoice_id": invoice.remote_id, "amount": Decimal("1250.63"), "payment_date": date(2024, 6, 3)})
    assert again.values == paid.values  # a create repeated is the same write

    with pytest.raises(RecordRejected) as exc:
        crm.create("payments", {"invoice_id": "799999", "amount": Decimal("1")})
    assert set(exc.value.field_errors) == {"invoice_id"} and exc.value.status == 404
    with pytest.raises(RecordRejected) as exc:
        crm.create("payments", {"amount": Decimal("1")})
    assert set(exc.value.field_errors) == {"invoice_id"}


def test_invoice_pulls_scan_deliveries(crm, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    ids = emu.seed("invoices", [{**INVOICE, "debtor_id": org, "number": str(20000 + i)} for i in range(7)])
    start = len(emu.request_log)
    chunks, records = pull(crm, "invoices", None, chunk_size=3)
    assert [len(c.records) for c in chunks] == [3, 3, 1]
    assert [c.cursor is None for c in chunks] == [True, True, False]
    assert [r.remote_id for r in records] == ids and records[4].values["number"] == "20004"
    assert {p for _, p in emu.request_log[start:]} - {"/Auth/ApiLogin"} == {"/Deliveries"}  # no update window in the spec
    watermark = datetime.fromisoformat(chunks[-1].cursor.replace("Z", "+00:00"))
    assert watermark <= min(r.updated_at for r in records)  # the scan's start, less the margin

    # from a cursor: what was updated at or after it, in id order
    cursor = stamp(emu, "Deliveries", ids[4])
    emu.update_raw("Deliveries", ids[1], {"DeliveryCustom4": "0.00"})
    _, changed = pull(crm, "invoices", cursor, chunk_size=2)
    assert [r.remote_id for r in changed] == [ids[1], ids[4], ids[5], ids[6]]
    assert changed[0].values["remainder"] == Decimal("0.00")
    later = pull(crm, "invoices", pull(crm, "invoices", cursor)[0][-1].cursor)[1]
    assert {r.remote_id for r in later} <= set(ids)  # only writes of the last few seconds come again


def test_payment_pull_only_shows_paid_deliveries(crm, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    ids = emu.seed("invoices", [{**INVOICE, "debtor_id": org, "number": str(20000 + i)} for i in range(4)])
    emu.seed("payments", [{"invoice_id": ids[1], "amount": Decimal("10")}, {"invoice_id": ids[3], "amount": Decimal("0")}])
    _, records = pull(crm, "payments", None, chunk_size=2)
    assert [(r.remote_id, r.values["amount"]) for r in records] == [(ids[1], Decimal("10")), (ids[3], Decimal("0"))]
    assert all(r.values["invoice_id"] == r.remote_id and r.values["debtor_id"] == org for r in records)
    cursor = stamp(emu, "Deliveries", ids[3])
    emu.update_raw("Deliveries", ids[1], {"DeliveryCustom5": "20"})
    emu.update_raw("Deliveries", ids[2], {"DeliveryCustom4": "0"})  # an invoice change, no payment
    _, changed = pull(crm, "payments", cursor)
    assert [(r.remote_id, r.values["amount"]) for r in changed] == [(ids[1], Decimal("20")), (ids[3], Decimal("0"))]


def test_invoice_line_pull_skips_lines_of_other_parents(crm, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    invoices = emu.seed("invoices", [{**INVOICE, "debtor_id": org, "number": str(n)} for n in (1, 2)])
    lines = emu.seed("invoice_lines", [{"invoice_id": inv, "line_number": n, "quantity": Decimal(n)}
                                       for inv in invoices for n in (1, 2)])
    # a line of an opportunity (not a delivery): listed by GET /QuotationLines, no invoice line
    emu.insert_raw("QuotationLines", {"QuotationLineOpportunityId": 4242, "QuotationLineSortOrder": 1})
    chunks, records = pull(crm, "invoice_lines", None, chunk_size=2)
    assert [r.remote_id for r in records] == lines
    assert [(r.values["invoice_id"], r.values["line_number"]) for r in records] == [
        (invoices[0], 1), (invoices[0], 2), (invoices[1], 1), (invoices[1], 2)]
    assert chunks[-1].cursor and all(c.cursor is None for c in chunks[:-1])
    cursor = stamp(emu, "QuotationLines", lines[3])
    emu.update_raw("QuotationLines", lines[0], {"QuotationLineQuantity": 5.0})
    _, changed = pull(crm, "invoice_lines", cursor)
    assert [(r.remote_id, r.values["quantity"]) for r in changed] == [(lines[0], Decimal("5.0")), (lines[3], Decimal("2"))]


def test_contacts_and_items_are_scanned_too(crm, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    people = emu.seed("contacts", [{"debtor_id": org, "name": f"Person {i}"} for i in range(4)])
    cursor = stamp(emu, "Persons", people[2])
    emu.update_raw("Persons", people[0], {"PersonTitle": "CFO"})
    start = len(emu.request_log)
    _, changed = pull(crm, "contacts", cursor)
    assert [r.remote_id for r in changed] == [people[0], people[2], people[3]]
    assert all("FindBy" not in p for _, p in emu.request_log[start:])


def test_layouts_are_configurable_and_checked(emu):
    connector = WebcrmConnector(emu.base_url, API_KEY, invoice_fields={"remainder": "DeliveryRevenue1"},
                                payment_fields={"amount": "DeliveryPlus1", "payment_date": "DeliveryNextFollowUp"},
                                line_fields={"item_id": "QuotationLineData1"})
    org = connector.create("debtors", {"name": "Acme"})
    invoice = connector.create("invoices", {"debtor_id": org.remote_id, "invoice_date": date(2024, 1, 1), "currency": "DKK",
                                            "remainder": Decimal("12.5")})
    connector.create("payments", {"invoice_id": invoice.remote_id, "amount": Decimal("3"), "payment_date": date(2024, 2, 1)})
    raw = emu.get_raw("Deliveries", invoice.remote_id)
    assert (raw["DeliveryRevenue1"], raw["DeliveryPlus1"], raw["DeliveryNextFollowUp"]) == (12.5, "3", "2024-02-01T00:00:00")
    assert connector.get("payments", invoice.remote_id).values["payment_date"] == date(2024, 2, 1)
    connector.close()
    with pytest.raises(ValueError, match="twice"):
        mapping.WebcrmMapping(payment_fields={"amount": "DeliveryCustom4", "payment_date": "DeliveryCustom6"})
    with pytest.raises(ValueError):
        mapping.WebcrmMapping(line_fields={"item_id": "QuotationLineNope"})
    with pytest.raises(ValueError):
        mapping.WebcrmMapping(invoice_fields={"due_date": "DeliveryOrderValue"})  # a date in a double


def test_a_scan_pages_by_1000_whatever_the_chunk_size(crm, emu):
    ids = emu.seed("items", [{"number": f"I-{i}", "name": f"Item {i}"} for i in range(1005)])
    cursor = stamp(emu, "Products", ids[-3])
    emu.update_raw("Products", ids[0], {"ProductPlus2": "renamed"})
    start = len(emu.request_log)
    chunks, records = pull(crm, "items", cursor, chunk_size=10)
    assert [r.remote_id for r in records] == [ids[0], *ids[-3:]]
    assert [p for _, p in emu.request_log[start:] if p != "/Auth/ApiLogin"] == ["/Products"] * 2
    chunks, records = pull(crm, "items", None, chunk_size=10)
    assert len(records) == 1005 and len(chunks) == 101 and [len(c.records) for c in chunks[-2:]] == [10, 5]
    assert all(c.cursor is None for c in chunks[:-1]) and chunks[-1].cursor
