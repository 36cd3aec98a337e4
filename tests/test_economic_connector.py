"""The e-conomic connector against a live emulator on a free port (no mocks of the HTTP layer)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledgerbridge.connectors.base import Connector, ConnectorError, RecordRejected
from ledgerbridge.systems.economic.connector import EconomicConnector
from ledgerbridge.systems.economic.emulator import EconomicEmulator

SECRET, GRANT = "s3cret-app-token", "s3cret-grant-token"
NEW_DEBTOR = {"name": "Nordlys A/S", "street": "Hauptstraße", "house_number": "12b", "postcode": "10115",
              "city": "Berlin", "country": "DE", "vat_number": "DE136695976", "email": "info@nordlys.example",
              "currency": "EUR", "payment_terms": "1", "customer_group": "1"}


@pytest.fixture
def emu():
    with EconomicEmulator(app_secret_token=SECRET, agreement_grant_token=GRANT) as emulator:
        yield emulator


@pytest.fixture
def erp(emu):
    connector = EconomicConnector(emu.base_url, SECRET, GRANT, backoff_base=0.01, timeout=10)
    yield connector
    connector.close()


def pull(connector, entity, cursor=None, chunk_size=500):
    chunks = list(connector.iter_changed(entity, cursor, chunk_size))
    return chunks, [r for c in chunks for r in c.records]


def test_is_a_connector(erp):
    assert isinstance(erp, Connector)
    assert (erp.system, erp.role) == ("economic", "erp")
    assert {"debtors", "items", "contacts", "invoices", "invoice_lines", "payments"} <= set(erp.entities())
    assert erp.limits("debtors").max_lengths["name"] == 255
    assert set(erp.limits("debtors").required) == {"name", "currency", "payment_terms", "customer_group"}


# -- pulls ------------------------------------------------------------------------------------

def test_full_pull_in_chunks_then_incremental(emu, erp):
    ids = emu.seed("debtors", [{"name": f"Customer {i}", "city": "Aarhus"} for i in range(25)])
    chunks, records = pull(erp, "debtors", chunk_size=10)
    assert len(chunks) >= 3 and all(len(c.records) <= 10 for c in chunks)
    assert sorted(r.remote_id for r in records) == sorted(ids)  # every record once
    assert records[0].values["city"] == "Aarhus" and records[0].updated_at.tzinfo is not None
    cursor = chunks[-1].cursor
    assert cursor == max(c["lastUpdated"] for c in emu.all_raw("customers"))

    assert pull(erp, "debtors", cursor)[1] == []  # nothing changed
    emu.update_raw("customers", ids[3], {"city": "Odense"})
    emu.update_raw("customers", ids[17], {"city": "Vejle"})
    emu.seed("debtors", [{"name": "Newcomer"}])
    changed = pull(erp, "debtors", cursor, chunk_size=2)[1]
    assert [r.remote_id for r in changed] == [ids[3], ids[17], "26"]  # oldest first
    assert changed[0].values["city"] == "Odense"


def test_cursor_of_any_chunk_resumes_without_loss(emu, erp):
    ids = emu.seed("debtors", [{"name": f"C{i}"} for i in range(12)])
    first = next(erp.iter_changed("debtors", None, 5))
    rest = pull(erp, "debtors", first.cursor, chunk_size=5)[1]
    assert {r.remote_id for r in first.records} | {r.remote_id for r in rest} == set(ids)


def test_records_sharing_one_stamp_across_pages_are_all_delivered(emu, erp):
    ids = emu.seed("debtors", [{"name": f"C{i}"} for i in range(9)])
    rows = emu.tables.rows["customers"]
    for key in ids[2:8]:  # six records on one stamp: e-conomic stamps can tie
        rows[key]["lastUpdated"] = rows[ids[2]]["lastUpdated"]
    records = pull(erp, "debtors", chunk_size=3)[1]
    assert sorted(r.remote_id for r in records) == sorted(ids)


def test_items_pull_and_number_with_special_characters(emu, erp):
    emu.seed("items", [{"number": "A-1", "name": "Anchor", "unit_price": Decimal("12.50")},
                       {"number": "Box 1/2", "name": "Box", "ean": "5701234567899"}])
    records = {r.remote_id: r for r in pull(erp, "items")[1]}
    assert records["A-1"].values["unit_price"] == Decimal("12.5")
    assert erp.find_by_number("items", "Box 1/2").values["ean"] == "5701234567899"
    assert erp.find_by_number("items", "nope") is None


# -- writes -----------------------------------------------------------------------------------

def test_create_without_number_gets_the_next_free_one(emu, erp):
    emu.seed("debtors", [{"name": "Existing", "number": "500"}])
    created = erp.create("debtors", NEW_DEBTOR)
    assert created.remote_id == "501" and created.values["number"] == "501"
    stored = emu.all_raw("customers")[-1]
    assert stored["address"] == "Hauptstraße 12b" and stored["country"] == "Germany"
    assert stored["corporateIdentificationNumber"] == "DE136695976" and stored["vatZone"] == {"vatZoneNumber": 2}  # EU, from a Danish company
    got = erp.get("debtors", "501")
    assert {k: got.values[k] for k in NEW_DEBTOR} == NEW_DEBTOR  # the mapping round-trips


def test_create_with_number_and_duplicate_is_rejected_on_number(erp):
    assert erp.create("debtors", {**NEW_DEBTOR, "number": "7000"}).remote_id == "7000"
    with pytest.raises(RecordRejected) as caught:
        erp.create("debtors", {**NEW_DEBTOR, "number": "7000"})
    assert caught.value.status == 400 and "number" in caught.value.field_errors


def test_update_writes_given_fields_and_keeps_the_rest(emu, erp):
    number = erp.create("debtors", NEW_DEBTOR).remote_id
    emu.update_raw("customers", number, {"vatZone": {"vatZoneNumber": 2}, "mobilePhone": "+49 30 1234"})
    updated = erp.update("debtors", number, {"city": "Hamburg", "house_number": "14"})
    assert updated.values["city"] == "Hamburg" and updated.values["street"] == "Hauptstraße"
    assert updated.values["house_number"] == "14" and updated.values["name"] == NEW_DEBTOR["name"]
    stored = emu.all_raw("customers")[0]
    assert stored["vatZone"] == {"vatZoneNumber": 2} and stored["mobilePhone"] == "+49 30 1234"
    assert erp.update("debtors", number, {"email": None}).values["email"] is None  # cleared by omission


def test_get_and_find_by_number(emu, erp):
    emu.seed("debtors", [{"name": "Alpha", "number": "42", "country": "XX-unknown"}])
    assert erp.get("debtors", "42").values["country"] == "XX-unknown"  # left for the quality gate
    assert erp.find_by_number("debtors", "42").remote_id == "42"
    assert erp.find_by_number("debtors", "43") is None
    assert erp.find_by_number("debtors", "ABC") is None
    assert erp.get("debtors", "999") is None


@pytest.mark.parametrize("values, field", [
    ({"name": "x" * 256}, "name"),
    ({"street": "y" * 600}, "street"),
    ({"customer_group": "99"}, "customer_group"),
    ({"currency": None}, "currency"),
    ({"postcode": "1" * 31}, "postcode"),
])
def test_rejections_name_the_model_field(erp, values, field):
    with pytest.raises(RecordRejected) as caught:
        erp.create("debtors", {**NEW_DEBTOR, **values})
    assert field in caught.value.field_errors
    assert field in str(caught.value)


def test_contacts_create_pull_update(emu, erp):
    emu.seed("debtors", [{"name": "A"}, {"name": "B"}])
    created = erp.create("contacts", {"debtor_id": "2", "name": "Jane Doe", "email": "jane@b.example"})
    assert created.remote_id.startswith("2/") and created.values["debtor_id"] == "2"
    updated = erp.update("contacts", created.remote_id, {"phone": "+45 1234 5678"})
    assert updated.values == {**created.values, "phone": "+45 1234 5678"}
    erp.create("contacts", {"debtor_id": "1", "name": "John"})
    chunks, records = pull(erp, "contacts")
    assert {r.values["name"] for r in records} == {"Jane Doe", "John"}
    assert all(c.cursor is None for c in chunks)  # no change stamp on contacts: always a full read
    assert erp.get("contacts", created.remote_id).values["phone"] == "+45 1234 5678"
    with pytest.raises(RecordRejected) as caught:
        erp.create("contacts", {"debtor_id": "1", "name": "n" * 300})
    assert "name" in caught.value.field_errors


def test_items_create_and_update(erp):
    created = erp.create("items", {"number": "W 10", "name": "Widget", "unit_price": Decimal("9.95"), "product_group": "1"})
    assert created.remote_id == "W 10"
    assert erp.update("items", "W 10", {"name": "Widget XL"}).values["unit_price"] == Decimal("9.95")
    with pytest.raises(RecordRejected) as caught:
        erp.create("items", {"number": "W 11", "name": "No group"})
    assert "product_group" in caught.value.field_errors


# -- invoices and payments --------------------------------------------------------------------

def test_booked_invoices_lines_and_payments(emu, erp):
    emu.seed("debtors", [{"name": "A"}])
    emu.seed("items", [{"number": "P1", "name": "Widget"}])
    line = {"line_number": 1, "item_id": "P1", "description": "Widget", "quantity": Decimal(2), "unit_price": Decimal(100)}
    first, second = emu.seed("invoices", [
        {"debtor_id": "1", "invoice_date": date(2024, 5, 1), "currency": "DKK", "lines": [line]},
        {"debtor_id": "1", "invoice_date": date(2024, 5, 2), "currency": "DKK", "lines": [line, {**line, "line_number": 2}]},
    ])
    chunks, invoices = pull(erp, "invoices", chunk_size=1)
    assert [i.remote_id for i in invoices] == [first, second] and chunks[-1].cursor == second
    assert invoices[0].values["gross_amount"] == Decimal(250) and invoices[0].values["status"] == "booked"
    lines = pull(erp, "invoice_lines")[1]
    assert [l.remote_id for l in lines] == [f"{first}/1", f"{second}/1", f"{second}/2"]
    assert lines[0].values["invoice_id"] == first and lines[0].values["item_id"] == "P1"
    assert erp.get("invoice_lines", f"{second}/2").values["net_amount"] == Decimal(200)
    third = emu.seed("invoices", [{"debtor_id": "1", "invoice_date": date(2024, 6, 1), "currency": "DKK", "lines": [line]}])[0]
    assert [i.remote_id for i in pull(erp, "invoices", chunks[-1].cursor)[1]] == [third]

    assert pull(erp, "payments")[1] == []
    emu.register_payment(int(first), Decimal("100.00"), "2024-05-20")
    payments = pull(erp, "payments")[1]
    assert [(p.remote_id, p.values["amount"]) for p in payments] == [(first, Decimal(100))]
    assert erp.get("invoices", first).values["remainder"] == Decimal(150)


def test_create_draft_invoice(emu, erp):
    emu.seed("debtors", [{"name": "A"}])
    draft = erp.create("invoices", {"debtor_id": "1", "invoice_date": date(2024, 5, 2), "currency": "DKK",
                                    "heading": "May", "lines": [{"line_number": 1, "description": "Hours",
                                                                "quantity": Decimal(3), "unit_price": Decimal(10)}]})
    assert draft.remote_id == "draft/1" and draft.values["status"] == "draft"
    assert draft.values["net_amount"] == Decimal(30) and draft.values["heading"] == "May"


# -- resilience and secrets -------------------------------------------------------------------

def test_retries_after_429_with_retry_after_and_503(emu, erp):
    emu.seed("debtors", [{"name": "A"}])
    emu.inject_fault(status=429, retry_after=0.2, path_prefix="/customers")
    emu.inject_fault(status=503, path_prefix="/customers")
    before = len(emu.request_log)
    assert erp.get("debtors", "1").values["name"] == "A"
    assert len(emu.request_log) - before == 3
    emu.inject_fault(status=429, retry_after=0.1, remaining=2, path_prefix="/customers")
    assert erp.create("debtors", NEW_DEBTOR).remote_id == "2"


def test_a_create_answered_with_503_is_not_sent_again(emu, erp):
    """The POST may have been carried out; sending it again could duplicate the customer."""
    emu.inject_fault(status=503, path_prefix="/customers")
    before = len(emu.request_log)
    with pytest.raises(ConnectorError) as caught:
        erp.create("debtors", NEW_DEBTOR)
    assert caught.value.status == 503
    assert [m for m, _ in emu.request_log[before:]].count("POST") == 1


def test_gives_up_after_max_attempts(emu):
    connector = EconomicConnector(emu.base_url, SECRET, GRANT, max_attempts=2, backoff_base=0.01)
    emu.inject_fault(status=503, remaining=5)
    with pytest.raises(ConnectorError) as caught:
        connector.get("debtors", "1")
    assert caught.value.status == 503


def test_wrong_tokens_are_refused_and_never_echoed(emu):
    connector = EconomicConnector(emu.base_url, "wrong-app-token", GRANT, backoff_base=0.01)
    with pytest.raises(RecordRejected) as caught:
        list(connector.iter_changed("debtors", None))
    assert caught.value.status == 401
    assert "wrong-app-token" not in str(caught.value) and GRANT not in str(caught.value)
    assert GRANT not in repr(connector)


def test_every_iso_country_round_trips_within_economics_50_characters():
    import pycountry

    from ledgerbridge.systems.vocabulary import country_from_remote, country_to_remote

    for country in pycountry.countries:
        name = country_to_remote(country.alpha_2)
        assert len(name) <= 50 and country_from_remote(name) == country.alpha_2
    assert country_from_remote("Danmark") == "DK"  # the one country translation: users' languages too
    assert country_from_remote("Atlantis") == "Atlantis"  # unknown names pass unchanged
