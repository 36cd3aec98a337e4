"""The Uniconta connector against a live Uniconta emulator on loopback (no mocks of the HTTP layer)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge.connectors.base import Connector, ConnectorError, OutcomeUnknown, RecordGone, RecordRejected, StaleWrite
from ledgerbridge.systems.uniconta.connector import CallBudget, UnicontaConnector
from ledgerbridge.systems.uniconta.emulator import UnicontaEmulator
from ledgerbridge.systems.uniconta.mapping import UnicontaMapping

PASSWORD = "s3cret-uniconta"
NEW_DEBTOR = {"name": "Nordlys A/S", "street": "Vestergade", "house_number": "12", "postcode": "8000",
              "city": "Aarhus", "country": "DK", "vat_number": "13585628", "email": "faktura@nordlys.example",
              "phone": "+4570202020", "currency": "DKK", "vat_group": "S25", "customer_group": "1"}


def seed_debtors(emu, count):
    return [emu.insert_raw("DebtorClient", {"Name": f"Customer {i}", "Group": "1", "City": "Aarhus"})["Account"]
            for i in range(count)]


@pytest.fixture
def emu():
    with UnicontaEmulator(users={"sync": PASSWORD}, slow_down_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def erp(emu):
    connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, backoff_base=0.01, timeout=5)
    yield connector
    connector.close()


def pull(connector, entity, cursor=None, chunk_size=500):
    chunks = list(connector.iter_changed(entity, cursor, chunk_size))
    return chunks, [r for c in chunks for r in c.records]


def test_is_a_connector_and_never_shows_the_password(erp):
    assert isinstance(erp, Connector) and (erp.system, erp.role) == ("uniconta", "erp")
    assert {"debtors", "contacts", "items", "employees", "orders", "order_lines"} == set(erp.entities())
    assert erp.limits("debtors").max_lengths["name"] == 100
    assert PASSWORD not in repr(erp)


# -- reads ----------------------------------------------------------------------------------------

def test_keyset_pages_then_only_what_changed(emu, erp):
    accounts = seed_debtors(emu, 25)
    chunks, records = pull(erp, "debtors", chunk_size=10)
    assert [len(c.records) for c in chunks] == [10, 10, 5]
    assert sorted(r.remote_id for r in records) == sorted(accounts)
    assert erp.calls == 3  # one call per page of 10
    cursor = chunks[-1].cursor

    before = erp.calls
    assert pull(erp, "debtors", cursor)[1] == []
    assert erp.calls - before == 1  # nothing changed: one call, no record read again
    emu.update_raw("DebtorClient", accounts[3], {"City": "Odense"})
    emu.insert_raw("DebtorClient", {"Name": "Newcomer", "Group": "1"})
    _, changed = pull(erp, "debtors", cursor)
    assert [r.values["city"] for r in changed] == ["Odense", None]


def test_records_sharing_a_stamp_across_a_page_boundary_are_neither_lost_nor_repeated(emu, erp):
    accounts = seed_debtors(emu, 6)
    with emu.tables.lock:  # the same stamp on every row, as a bulk import might leave them
        for row in emu.tables.rows["DebtorClient"].values():
            row["UpdatedAt"] = "2026-01-01T00:00:00.000Z"
    _, records = pull(erp, "debtors", chunk_size=4)
    assert sorted(r.remote_id for r in records) == sorted(accounts)


def test_server_pages_smaller_than_top_are_followed(erp):
    with UnicontaEmulator(users={"sync": PASSWORD}, slow_down_seconds=0, server_page_size=3) as small:
        accounts = seed_debtors(small, 7)
        connector = UnicontaConnector(small.base_url, small.company_id, "sync", PASSWORD, timeout=5)
        _, records = pull(connector, "debtors", chunk_size=5)
        connector.close()
    assert sorted(r.remote_id for r in records) == sorted(accounts)


def test_unstamped_tables_are_read_whole(erp):
    with UnicontaEmulator(users={"sync": PASSWORD}, slow_down_seconds=0, stamped_tables=set()) as plain:
        plain.insert_raw("EmployeeClient", {"Number": "AB", "Name": "Anna Berg", "Email": "ab@x.example"})
        connector = UnicontaConnector(plain.base_url, plain.company_id, "sync", PASSWORD, timeout=5)
        chunks, records = pull(connector, "employees")
        again = pull(connector, "employees", chunks[-1].cursor)[1]
        connector.close()
    assert [r.values["email"] for r in records] == ["ab@x.example"] and chunks[-1].cursor is None
    assert [r.remote_id for r in again] == ["AB"]


def test_contacts_of_creditors_are_not_debtor_contacts(emu, erp):
    account = seed_debtors(emu, 1)[0]
    emu.insert_raw("ContactClient", {"Name": "Ida", "Email": "ida@x.example", "DCType": "Debtor", "DCAccount": account})
    emu.insert_raw("ContactClient", {"Name": "Sven", "DCType": "Creditor", "DCAccount": "K1"})
    _, contacts = pull(erp, "contacts")
    assert [(c.values["name"], c.values["debtor_id"]) for c in contacts] == [("Ida", account)]


# -- writes ---------------------------------------------------------------------------------------

def test_create_debtor_gets_uniconta_number_and_reads_back(emu, erp):
    created = erp.create("debtors", NEW_DEBTOR)
    assert created.remote_id == created.values["number"] == "10001"
    assert erp.calls == 1  # a create is one call: the answer is the stored record
    stored = emu.all_raw("DebtorClient")[0]
    assert stored["Address1"] == "Vestergade 12" and stored["Country"] == "Denmark" and stored["Vat"] == "S25"
    assert erp.get("debtors", "10001").values == created.values


def test_update_is_one_call_after_a_pull_and_keeps_unmapped_properties(emu, erp):
    account = emu.insert_raw("DebtorClient", {"Name": "Acme", "Group": "1", "VatZone": "EU", "ContactPerson": "Bo"})["Account"]
    pull(erp, "debtors")
    before = erp.calls
    updated = erp.update("debtors", account, {"city": "Vejle"})
    assert erp.calls - before == 1
    stored = emu.all_raw("DebtorClient")[0]
    assert (stored["City"], stored["VatZone"], stored["ContactPerson"]) == ("Vejle", "EU", "Bo")
    assert updated.values["city"] == "Vejle"


def test_update_without_a_recent_read_reads_first_and_guards(emu, erp):
    account = seed_debtors(emu, 1)[0]
    fresh = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=5, reuse_read_seconds=0)
    seen = []
    fresh.update("debtors", account, {"name": "Renamed"}, guard=lambda current: seen.append(current.values["name"]))
    assert fresh.calls == 2 and seen == ["Customer 0"]

    def stale(current):
        raise StaleWrite("changed meanwhile", ("name",))

    with pytest.raises(StaleWrite):
        fresh.update("debtors", account, {"name": "Again"}, guard=stale)
    assert emu.all_raw("DebtorClient")[0]["Name"] == "Renamed"
    with pytest.raises(RecordGone):
        fresh.update("debtors", "nope", {"name": "x"})
    fresh.close()


def test_refused_writes_name_the_model_field(erp):
    with pytest.raises(RecordRejected) as refused:
        erp.create("debtors", {**NEW_DEBTOR, "name": "x" * 120, "currency": "XYZ", "customer_group": "NOPE"})
    assert set(refused.value.field_errors) == {"name", "currency", "customer_group"}
    assert "longer than 100" in refused.value.field_errors["name"]
    assert "uniconta: create debtors" in str(refused.value)


def test_orders_with_lines_and_seller(emu, erp):
    account = seed_debtors(emu, 1)[0]
    emu.insert_raw("InvItemClient", {"Item": "P1", "Name": "Widget", "SalesPrice1": 10.5, "CostPrice": 4.25})
    seller = erp.create("employees", {"number": "AB", "name": "Anna Berg", "email": "ab@x.example"})
    order = erp.create("orders", {"debtor_id": account, "seller_id": seller.remote_id, "currency": "DKK",
                                  "reference": "PO-77"})
    line = erp.create("order_lines", {"order_id": order.remote_id, "line_number": 1, "item_id": "P1",
                                      "quantity": Decimal("2"), "unit_price": Decimal("10.50")})
    assert order.values["number"] == order.remote_id and order.values["seller_id"] == "AB"
    assert line.remote_id == f"{order.remote_id}/1" and line.values["quantity"] == Decimal("2")
    assert erp.find_by_number("orders", order.remote_id).values["reference"] == "PO-77"
    assert erp.find_by_number("orders", "not-a-number") is None
    items = pull(erp, "items")[1]
    assert (items[0].values["unit_price"], items[0].values["cost_price"]) == (Decimal("10.5"), Decimal("4.25"))


def test_user_fields_by_configuration(emu):
    emu.user_fields = {"Debtor": ("WebcrmSeller",)}
    mapping = UnicontaMapping({"user_field:debtors.seller_id": "WebcrmSeller"})
    connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, mapping=mapping, timeout=5)
    created = connector.create("debtors", {"name": "Acme", "customer_group": "1", "seller_id": "U7"})
    assert emu.all_raw("DebtorClientUser")[0]["WebcrmSeller"] == "U7"
    assert connector.get("debtors", created.remote_id).values["seller_id"] == "U7"
    connector.close()


# -- faults and the budget ------------------------------------------------------------------------

def test_429_and_5xx_on_reads_are_retried(emu, erp):
    seed_debtors(emu, 2)
    emu.inject_fault(status=429, retry_after=0, path_prefix="/odata")
    emu.inject_fault(status=503, path_prefix="/odata")
    _, records = pull(erp, "debtors")
    assert len(records) == 2 and erp.calls == 3


def test_a_slow_insert_is_an_unknown_outcome_not_a_duplicate(emu):
    connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=0.3, backoff_base=0.01)
    emu.inject_fault(delay=1.0, path_prefix="/api/Entities/Insert")
    with pytest.raises(OutcomeUnknown):
        connector.create("debtors", NEW_DEBTOR)
    assert connector.calls == 1  # a POST whose answer was lost is not sent again
    connector.close()


def test_reads_give_up_after_repeated_5xx(emu):
    connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=5, max_attempts=2,
                                  backoff_base=0.01)
    emu.inject_fault(status=500, path_prefix="/odata", remaining=5)
    with pytest.raises(ConnectorError, match="HTTP 500"):
        pull(connector, "debtors")
    connector.close()


def test_calls_add_up_per_day_across_runs(emu, tmp_path):
    budget_file = tmp_path / "uniconta-calls.json"
    for _ in range(2):
        connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=5,
                                      budget=CallBudget(budget_file))
        pull(connector, "debtors")
        connector.close()
    assert CallBudget(budget_file).today() == 2 == emu.calls_used("sync")


def test_wrong_password_is_refused_by_name(emu):
    connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", "wrong", timeout=5)
    with pytest.raises(RecordRejected) as refused:
        pull(connector, "debtors")
    assert refused.value.status == 401 and "wrong" not in str(refused.value)
    connector.close()


def test_the_next_run_updates_in_one_call_from_the_read_cache(emu, tmp_path):
    accounts = seed_debtors(emu, 3)
    cache = tmp_path / "uniconta-reads.sqlite"
    first = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=5, read_cache=cache)
    cursor = pull(first, "debtors")[0][-1].cursor
    first.close()
    emu.update_raw("DebtorClient", accounts[1], {"ContactPerson": "Changed in Uniconta"})

    second = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=5, read_cache=cache)
    assert [r.remote_id for r in pull(second, "debtors", cursor)[1]] == [accounts[1]]  # the change is read
    before = second.calls
    for account in accounts:
        second.update("debtors", account, {"city": "Vejle"})
    assert second.calls - before == 3  # one call per update: the last reads are current
    stored = {d["Account"]: d for d in emu.all_raw("DebtorClient")}
    assert stored[accounts[1]]["ContactPerson"] == "Changed in Uniconta"  # not overwritten by an old read
    assert {d["City"] for d in stored.values()} == {"Vejle"}
    second.close()


def test_delete_and_the_debtor_with_activity_that_cannot_be_deleted(emu, erp):
    account, other = seed_debtors(emu, 2)
    emu.insert_raw("DebtorOrderClient", {"Account": account})
    with pytest.raises(RecordRejected) as refused:
        erp.delete("debtors", account)
    assert "CouldNotDeleteRecordThatIsReferred" in str(refused.value)
    erp.delete("debtors", other)
    assert [d["Account"] for d in emu.all_raw("DebtorClient")] == [account]
    with pytest.raises(RecordGone):
        erp.delete("debtors", other)


def test_closing_reports_the_calls_of_the_run_and_the_day(emu, tmp_path, caplog):
    budget = CallBudget(tmp_path / "calls.json", per_day=4)
    connector = UnicontaConnector(emu.base_url, emu.company_id, "sync", PASSWORD, timeout=5, budget=budget)
    for _ in range(4):
        pull(connector, "debtors")
    with caplog.at_level("INFO", logger="ledgerbridge.uniconta"):
        connector.close()
    [record] = [r for r in caplog.records if r.name == "ledgerbridge.uniconta"]
    assert record.levelname == "WARNING" and "4 calls in this run, 4 today" in record.getMessage()
    assert PASSWORD not in record.getMessage()


def test_the_vat_zone_is_uniconta_s_and_derived_from_the_country_when_missing(emu, erp):
    german = erp.create("debtors", {**NEW_DEBTOR, "country": "DE", "vat_zone": None})
    swiss = erp.create("debtors", {**NEW_DEBTOR, "country": "CH", "vat_zone": "domestic"})
    stored = {d["Account"]: d["VatZone"] for d in emu.all_raw("DebtorClient")}
    assert (stored[german.remote_id], stored[swiss.remote_id]) == ("EU", "Domestic")
    assert (german.values["vat_zone"], swiss.values["vat_zone"]) == ("eu", "domestic")
