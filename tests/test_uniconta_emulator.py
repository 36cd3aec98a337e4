"""The Uniconta emulator against its contract (contracts/uniconta/NOTES.md) and the choices it names."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ledgerbridge.loopback import ThreadedServer
from ledgerbridge.systems.uniconta.emulator import DEFAULT_PASSWORD, UnicontaEmulator

AUTH = ("004415/ledgerbridge", DEFAULT_PASSWORD)


@pytest.fixture
def emu():
    with UnicontaEmulator(slow_down_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def api(emu):
    session = requests.Session()
    session.auth = AUTH

    def call(method, path, **kw):
        url = path if path.startswith("http") else emu.base_url + path
        return session.request(method, url, timeout=10, **kw)

    yield call
    session.close()


def debtor(**extra):
    return {"Name": "Acme ApS", "Group": "1", "Currency": "DKK", "Country": "Denmark", **extra}


# -- auth -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth, status", [
    (None, 401), (("4415/ledgerbridge", DEFAULT_PASSWORD), 401), (("004415/ledgerbridge", "wrong"), 401),
    (("004416/ledgerbridge", DEFAULT_PASSWORD), 403),
])
def test_basic_auth_needs_00_company_slash_user(emu, auth, status):
    response = requests.get(emu.base_url + "/api/Entities/DebtorClient", auth=auth, timeout=10)
    assert response.status_code == status
    assert response.json()["ErrorCode"] == "NoRights"


def test_odata_of_another_company_is_refused(api):
    assert api("GET", "/odata/4416/DebtorClient").status_code == 403
    sets = {s["name"] for s in api("GET", "/odata/4415").json()["value"]}
    assert {"DebtorClient", "ContactClient", "InvItemClient", "EmployeeClient", "DebtorOrderClient",
            "DebtorOrderLineClient"} <= sets


# -- writes ---------------------------------------------------------------------------------------

def test_insert_numbers_the_debtor_stamps_it_and_omits_nulls(api):
    stored = api("POST", "/api/Entities/Insert/DebtorClient", json=debtor(Phone=None)).json()
    assert stored["Account"] == "10001" and stored["RowId"] >= 1
    assert "Phone" not in stored and stored["UpdatedAt"].endswith("Z") and "Created" in stored
    again = api("POST", "/api/Entities/DebtorClient", json=debtor(Name="Beta")).json()
    assert again["Account"] == "10002"


def test_insert_refuses_with_uniconta_error_codes_naming_the_field(api):
    response = api("POST", "/api/Entities/Insert/DebtorClient",
                   json={"Name": "x" * 101, "Group": "NOPE", "Currency": "XXX", "Country": "Atlantis"})
    assert response.status_code == 400
    errors = {(e["Field"], e["ErrorCode"]) for e in response.json()["Errors"]}
    assert ("Name", "CouldNotSave") in errors and ("Group", "CouldNotFind") in errors
    assert ("Currency", "NoSucces") in errors and ("Country", "NoSucces") in errors
    assert api("GET", "/api/Entities/DebtorClient").json() == []


def test_duplicate_key_is_key_exists(api):
    api("POST", "/api/Entities/Insert/DebtorClient", json=debtor(Account="500"))
    response = api("POST", "/api/Entities/Insert/DebtorClient", json=debtor(Account="500"))
    assert response.status_code == 400 and response.json()["ErrorCode"] == "KeyExists"


def test_max_lengths_are_configurable(emu):
    with UnicontaEmulator(slow_down_seconds=0, max_lengths={"DebtorClient": {"Name": 5}}) as short:
        response = requests.post(short.base_url + "/api/Entities/Insert/DebtorClient", json=debtor(Name="Too long"),
                                 auth=AUTH, timeout=10)
    assert response.status_code == 400 and "longer than 5" in response.json()["Message"]


def test_update_needs_the_full_record_and_cannot_change_the_key(api):
    stored = api("POST", "/api/Entities/Insert/DebtorClient", json=debtor(Phone="12345678")).json()
    partial = {"RowId": stored["RowId"], "Name": "Renamed", "Group": "1"}
    updated = api("PUT", "/api/Entities/Update/DebtorClient", json=partial).json()
    assert updated["Name"] == "Renamed" and "Phone" not in updated and "Currency" not in updated  # PUT replaces
    assert updated["UpdatedAt"] > stored["UpdatedAt"] and updated["Created"] == stored["Created"]
    moved = api("PUT", "/api/Entities/Update/DebtorClient", json={**updated, "Account": "999"})
    assert moved.status_code == 400 and moved.json()["Errors"][0]["Field"] == "Account"
    missing = api("PUT", "/api/Entities/Update/DebtorClient", json=debtor(Account="nope"))
    assert missing.status_code == 404 and missing.json()["ErrorCode"] == "CouldNotFind"


def test_read_by_name_and_value(api):
    api("POST", "/api/Entities/Insert/DebtorClient", json=[debtor(Account="1"), debtor(Account="2", Name="Two")])
    found = api("GET", "/api/Entities/Read/DebtorClient", params={"Name": "Account", "Value": "2"}).json()
    assert [d["Name"] for d in found] == ["Two"]
    assert api("GET", "/api/Entities/DebtorClient", params={"Name": "Nope", "Value": "2"}).status_code == 400


def test_orders_and_lines_reference_debtor_item_and_seller(api):
    api("POST", "/api/Entities/Insert/DebtorClient", json=debtor(Account="100"))
    api("POST", "/api/Entities/Insert/EmployeeClient", json={"Number": "AB", "Name": "Anna Berg", "Email": "ab@x.dk"})
    api("POST", "/api/Entities/Insert/InvItemClient", json={"Item": "P1", "Name": "Widget", "SalesPrice1": 10.5})
    bad = api("POST", "/api/Entities/Insert/DebtorOrderClient", json={"Account": "404", "Employee": "ZZ"})
    assert {e["Field"] for e in bad.json()["Errors"]} == {"Account", "Employee"}
    order = api("POST", "/api/Entities/Insert/DebtorOrderClient", json={"Account": "100", "Employee": "AB"}).json()
    lines = api("POST", "/api/Entities/Insert/DebtorOrderLineClient", json=[
        {"OrderNumber": order["OrderNumber"], "Item": "P1", "Qty": 2, "Price": 10.5},
        {"OrderNumber": order["OrderNumber"], "Text": "Freight", "Qty": 1, "Price": 50},
    ]).json()
    assert [line["LineNumber"] for line in lines] == [1, 2]
    refused = api("DELETE", "/api/Entities/Delete/DebtorClient", json={"Account": "100"})
    assert refused.status_code == 400 and refused.json()["ErrorCode"] == "CouldNotDeleteRecordThatIsReferred"
    api("DELETE", "/api/Entities/Delete/DebtorOrderClient", json={"OrderNumber": order["OrderNumber"]})
    assert api("GET", "/api/Entities/DebtorOrderLineClient").json() == []
    assert api("DELETE", "/api/Entities/Delete/DebtorClient", json={"Account": "100"}).status_code == 200


def test_user_fields_only_on_the_client_user_form(emu, api):
    emu.user_fields = {"Debtor": ("WebcrmId",)}
    plain = api("POST", "/api/Entities/Insert/DebtorClient", json=debtor(WebcrmId="7"))
    assert plain.status_code == 400 and plain.json()["Errors"][0]["Field"] == "WebcrmId"
    stored = api("POST", "/api/Entities/Insert/DebtorClientUser", json=debtor(WebcrmId="7")).json()
    assert stored["WebcrmId"] == "7"
    assert "WebcrmId" not in api("GET", "/api/Entities/DebtorClient").json()[0]
    filtered = api("GET", "/odata/4415/DebtorClientUser", params={"$filter": "WebcrmId eq '7'"}).json()["value"]
    assert [d["Account"] for d in filtered] == [stored["Account"]]


# -- OData ----------------------------------------------------------------------------------------

def test_odata_filter_orderby_top_skip(emu, api):
    for i, name in enumerate(["Cedar", "Alder", "Birch", "Dogwood"], start=1):
        emu.insert_raw("DebtorClient", debtor(Account=str(i), Name=name, City="Aarhus" if i % 2 else "Odense"))
    query = {"$filter": "City eq 'Aarhus' or startswith(Name,'D')", "$orderby": "Name desc", "$top": "2", "$skip": "1"}
    names = [d["Name"] for d in api("GET", "/odata/4415/DebtorClient", params=query).json()["value"]]
    assert names == ["Cedar", "Birch"]
    quoted = api("GET", "/odata/4415/DebtorClient", params={"$filter": "Name eq 'O''Brien'"}).json()["value"]
    assert quoted == []
    newest = api("GET", "/odata/4415/DebtorClient", params={"$orderby": "UpdatedAt desc", "$top": "1"}).json()["value"]
    assert newest[0]["Name"] == "Dogwood"
    stamp = newest[0]["UpdatedAt"]
    after = api("GET", "/odata/4415/DebtorClient", params={"$filter": f"UpdatedAt gt {stamp}"}).json()["value"]
    assert after == []


@pytest.mark.parametrize("params", [{"$filter": "Name eq"}, {"$filter": "Nope eq 1"}, {"$orderby": "Name up"},
                                    {"$top": "-1"}, {"$filter": "Name eq 'x' and"}])
def test_odata_errors_are_400_in_odata_shape(api, params):
    response = api("GET", "/odata/4415/DebtorClient", params=params)
    assert response.status_code == 400 and response.json()["error"]["message"]


def test_server_paging_with_next_link(api):
    with UnicontaEmulator(slow_down_seconds=0, server_page_size=2) as small:
        for i in range(5):
            small.insert_raw("InvItemClient", {"Item": f"I{i}", "Name": f"Item {i}"})
        url, seen = small.base_url + "/odata/4415/InvItemClient", []
        while url:
            body = requests.get(url, auth=AUTH, timeout=10).json()
            seen += [r["Item"] for r in body["value"]]
            url = body.get("@odata.nextLink")
    assert seen == [f"I{i}" for i in range(5)]


def test_unstamped_tables_refuse_updated_at_filters(api):
    with UnicontaEmulator(slow_down_seconds=0, stamped_tables={"DebtorOrderClient"}) as observed:
        observed.insert_raw("EmployeeClient", {"Number": "A", "Name": "A"})
        assert "UpdatedAt" not in observed.all_raw("EmployeeClient")[0]
        response = requests.get(observed.base_url + "/odata/4415/EmployeeClient",
                                params={"$filter": "UpdatedAt gt 2020-01-01T00:00:00Z"}, auth=AUTH, timeout=10)
    assert response.status_code == 400


# -- budget and faults ----------------------------------------------------------------------------

def test_the_daily_budget_is_counted_per_user_and_slows_calls_down(emu, api):
    emu.calls_per_day = 3
    emu.slow_down_seconds = 0.01
    for _ in range(4):
        assert api("GET", "/api/Entities/DebtorClient").status_code == 200  # slowed, never refused
    assert emu.calls_used() == 4
    assert emu._spend("ledgerbridge") == pytest.approx(0.01)
    emu._budget_day = emu._budget_day.replace(year=2000)  # midnight passed: the count starts again ...
    assert emu._spend("ledgerbridge") == pytest.approx(0.01)  # ... but the slow-down lasts its 24 hours
    assert emu.calls_used() == 1


def test_fault_knobs(emu, api):
    emu.inject_fault(status=429, retry_after=1, path_prefix="/odata")
    assert api("GET", "/odata/4415/DebtorClient").status_code == 429
    assert api("GET", "/odata/4415/DebtorClient").status_code == 200


# -- Change-URL webhooks --------------------------------------------------------------------------

class Receiver:
    def __init__(self):
        self.calls: list[tuple[str, dict, dict | None]] = []
        self.event = threading.Event()

        async def hook(request: Request):
            raw = await request.body()
            self.calls.append((request.method, dict(request.query_params), json.loads(raw) if raw else None))
            self.event.set()
            return JSONResponse({})

        self.server = ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["GET", "POST"])]))


@pytest.fixture
def receiver():
    r = Receiver()
    r.server.start()
    yield r
    r.server.stop()


def test_change_url_calls_for_master_data_with_query_and_body(emu, api, receiver):
    api("POST", "/api/Entities/Insert/TableChangeEvent",
        json={"TableId": 50, "Url": receiver.server.url + "/hook?token=s3cret", "Post": True, "Arguments": "src=lb"})
    api("POST", "/api/Entities/Insert/TableChangeEventClient", json={"TableId": 23, "Url": receiver.server.url + "/hook", "Post": False})
    stored = api("POST", "/api/Entities/Insert/DebtorClient", json=debtor()).json()
    api("POST", "/api/Entities/Insert/InvItemClient", json={"Item": "P1", "Name": "Widget"})
    api("POST", "/api/Entities/Insert/DebtorOrderClient", json={"Account": stored["Account"]})  # a transaction: no call
    assert emu.change_urls.flush()
    by_table = {q["Table"]: (method, q, body) for method, q, body in receiver.calls}
    assert set(by_table) == {"Debtor", "InvItem"}
    method, query, body = by_table["Debtor"]
    assert method == "POST" and body["Account"] == stored["Account"]
    assert query == {"token": "s3cret", "CompanyId": "4415", "Table": "Debtor", "Key": stored["Account"],
                     "RowId": str(stored["RowId"]), "Operation": "Insert", "src": "lb"}
    method, query, body = by_table["InvItem"]
    assert method == "GET" and body is None and query["Key"] == "P1"


def test_a_receiver_that_is_down_never_fails_a_write(emu, api):
    api("POST", "/api/Entities/Insert/TableChangeEvent", json={"TableId": 0, "Url": "http://127.0.0.1:9/hook"})
    assert api("POST", "/api/Entities/Insert/DebtorClient", json=debtor()).status_code == 200
    assert emu.change_urls.flush()
    assert emu.change_urls.calls[-1][2] is None
