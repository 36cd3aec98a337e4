"""The webCRM connector against a live emulator on loopback (no mocks of the HTTP layer)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from ledgerbridge.connectors.base import Connector, ConnectorError, RecordRejected
from ledgerbridge.connectors.webcrm import WebcrmConnector
from ledgerbridge.emulators.webcrm import WebcrmEmulator
from ledgerbridge.mapping import webcrm as mapping

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
    assert crm.entities() == ("debtors", "contacts", "items")
    assert crm.limits("debtors").max_lengths["name"] == 200
    assert crm.limits("debtors").required == ("name",)
    assert crm.limits("contacts").required == ("debtor_id",)


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
        "website": "https://acme.dk", "crm_type": "Customer",
    }
    created = crm.create("debtors", values)
    assert created.values == values
    assert emu.get_raw("Organisations", created.remote_id)["OrganisationAddress"] == "Søndergade 12B"
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
    assert mapping.country_from_remote(text) == code


def test_country_to_remote_round_trips_every_code():
    import pycountry

    for country in pycountry.countries:
        name = mapping.country_to_remote(country.alpha_2)
        assert len(name) <= 50
        assert mapping.country_from_remote(name) == country.alpha_2
    assert mapping.country_to_remote("XX") == "XX"


def test_person_name_and_timestamps():
    assert mapping.split_person_name("Anna Maria Jensen") == ("Anna Maria", "Jensen")
    assert mapping.split_person_name("Cher") == ("", "Cher")
    record = mapping.from_remote("contacts", {"PersonId": 5, "PersonFirstName": "A", "PersonLastName": "B",
                                              "PersonUpdatedAt": "2024-05-01T10:00:00"})
    assert record.values["name"] == "A B" and record.remote_id == "5"
    assert record.updated_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert set(mapping.mapped_fields("debtors")) >= {"number", "name", "street", "house_number", "country", "crm_type"}
