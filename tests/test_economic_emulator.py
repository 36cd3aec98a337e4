"""Contract tests of the e-conomic emulator against the REST documentation (contracts/economic)."""

from __future__ import annotations


from datetime import datetime, timezone

import pytest
import requests

from ledgerbridge.systems.economic.mapping import parse_timestamp

from ledgerbridge.systems.economic.emulator import EconomicEmulator

HEADERS = {"X-AppSecretToken": "test-app-secret", "X-AgreementGrantToken": "test-grant"}
ERROR_KEYS = {"message", "errorCode", "developerHint", "httpStatusCode", "logId"}


def customer(**extra):
    body = {"name": "Acme ApS", "currency": "DKK", "customerGroup": {"customerGroupNumber": 1},
            "paymentTerms": {"paymentTermsNumber": 1}, "vatZone": {"vatZoneNumber": 1}}
    body.update(extra)
    return body


@pytest.fixture
def emu():
    with EconomicEmulator() as emulator:
        yield emulator


@pytest.fixture
def api(emu):
    session = requests.Session()
    session.headers.update(HEADERS)

    def call(method, path, **kw):
        url = path if path.startswith("http") else emu.base_url + path
        return session.request(method, url, timeout=10, **kw)

    yield call
    session.close()


# -- auth -------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"X-AppSecretToken": "test-app-secret"},
                                     {"X-AppSecretToken": "wrong", "X-AgreementGrantToken": "test-grant"}])
def test_missing_or_wrong_tokens_are_401_with_error_body(emu, headers):
    response = requests.get(emu.base_url + "/customers", headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert ERROR_KEYS <= body.keys() and body["httpStatusCode"] == 401


def test_reference_collections_are_seeded(api):
    assert {c["code"] for c in api("GET", "/currencies").json()["collection"]} >= {"DKK", "EUR", "CHF", "NOK"}
    assert api("GET", "/customer-groups/1").json()["name"] == "Domestic"
    assert api("GET", "/payment-terms/1").json()["name"] == "Net 14 days"
    zones = {z["vatZoneNumber"]: z["name"] for z in api("GET", "/vat-zones").json()["collection"]}
    assert zones == {1: "Domestic", 2: "EU", 3: "Abroad", 4: "Domestic exempt"}


# -- paging -----------------------------------------------------------------------------------

def test_pagination_object_and_next_page_links(emu, api):
    emu.seed("debtors", [{"name": f"Customer {i}"} for i in range(45)])
    first = api("GET", "/customers").json()
    assert len(first["collection"]) == 20  # default page size
    pagination = first["pagination"]
    assert pagination["maxPageSizeAllowed"] == 1000
    assert (pagination["skipPages"], pagination["pageSize"], pagination["results"]) == (0, 20, 45)
    assert pagination["resultsWithoutFilter"] == 45
    assert pagination["firstPage"].endswith("skippages=0&pagesize=20")
    assert pagination["lastPage"].endswith("skippages=2&pagesize=20")
    assert first["self"].startswith(emu.base_url + "/customers")
    seen, url, pages = [], emu.base_url + "/customers", 0
    while url:
        body = api("GET", url).json()
        seen += [c["customerNumber"] for c in body["collection"]]
        assert all(c["self"] == f"{emu.base_url}/customers/{c['customerNumber']}" for c in body["collection"])
        url = body["pagination"].get("nextPage")
        pages += 1
    assert pages == 3 and sorted(seen) == list(range(1, 46))
    assert "nextPage" not in api("GET", "/customers", params={"skippages": 2}).json()["pagination"]


def test_page_size_above_1000_is_400(api):
    response = api("GET", "/customers", params={"pagesize": 1001})
    assert response.status_code == 400 and ERROR_KEYS <= response.json().keys()
    assert api("GET", "/customers", params={"pagesize": 1000}).status_code == 200
    assert api("GET", "/customers", params={"pagesize": "many"}).status_code == 400


# -- filters and sorting ----------------------------------------------------------------------

def test_filter_last_updated_gt_eq_and_and(emu, api):
    emu.seed("debtors", [{"name": "Alpha", "city": "Aarhus"}, {"name": "Beta", "city": "Odense"}])
    mark = emu.all_raw("customers")[-1]["lastUpdated"]
    emu.seed("debtors", [{"name": "Gamma", "city": "Aarhus"}])
    later = api("GET", "/customers", params={"filter": f"lastUpdated$gt:{mark}"}).json()
    assert [c["name"] for c in later["collection"]] == ["Gamma"]
    assert later["pagination"]["results"] == 1 and later["pagination"]["resultsWithoutFilter"] == 3
    by_name = api("GET", "/customers", params={"filter": "name$eq:beta"}).json()  # case-insensitive
    assert [c["name"] for c in by_name["collection"]] == ["Beta"]
    both = api("GET", "/customers", params={"filter": "city$eq:Aarhus$and:name$like:gam"}).json()
    assert [c["name"] for c in both["collection"]] == ["Gamma"]
    either = api("GET", "/customers", params={"filter": "name$eq:Alpha$or:name$eq:Beta"}).json()
    assert len(either["collection"]) == 2
    listed = api("GET", "/customers", params={"filter": "customerNumber$in:[1,3]"}).json()
    assert [c["customerNumber"] for c in listed["collection"]] == [1, 3]
    page = api("GET", "/customers", params={"filter": "city$eq:Aarhus", "pagesize": 1}).json()
    assert "filter=city%24eq%3AAarhus" in page["pagination"]["nextPage"]  # links keep the filter


def test_filter_on_a_date_only_value_and_escapes(emu, api):
    emu.seed("debtors", [{"name": "Smith $ Sons"}])
    assert len(api("GET", "/customers", params={"filter": "lastUpdated$gt:2000-01-01"}).json()["collection"]) == 1
    assert len(api("GET", "/customers", params={"filter": "name$eq:Smith $$ Sons"}).json()["collection"]) == 1


@pytest.mark.parametrize("expression", ["mobilePhone$eq:123", "balance$gt:x", "name$eq:a$and:", "name$foo:a"])
def test_bad_or_non_filterable_filter_is_400(api, expression):
    response = api("GET", "/customers", params={"filter": expression})
    assert response.status_code == 400 and ERROR_KEYS <= response.json().keys()


def test_sorting(emu, api):
    emu.seed("debtors", [{"name": n} for n in ("b", "C", "a")])
    names = [c["name"] for c in api("GET", "/customers", params={"sort": "-name"}).json()["collection"]]
    assert names == ["C", "b", "a"]
    assert api("GET", "/customers", params={"sort": "mobilePhone"}).status_code == 400



def test_keyset_pages_on_the_sorted_order_follow_writes_and_hand_edits(emu, api):
    emu.seed("debtors", [{"name": f"C{i}"} for i in range(6)])
    stamps = [c["lastUpdated"] for c in emu.all_raw("customers")]

    def after(bound, size=2):
        params = {"sort": "lastUpdated", "pagesize": size, "filter": f"lastUpdated$gt:{bound}"}
        body = api("GET", "/customers", params=params).json()
        return [c["customerNumber"] for c in body["collection"]], body["pagination"]["results"]

    assert after(stamps[1]) == ([3, 4], 4)
    assert after(stamps[1], size=10) == ([3, 4, 5, 6], 4)
    api("PUT", "/customers/3", json=customer(name="C2 again"))  # moves to the end of the order
    assert after(stamps[1], size=10) == ([4, 5, 6, 3], 4)
    with emu.tables.lock:  # a hand edit between two reads, not through the API
        emu.tables.rows["customers"]["4"]["lastUpdated"] = stamps[0]
    assert after(stamps[1], size=10) == ([5, 6, 3], 3)
    assert after(stamps[0], size=10) == ([2, 5, 6, 3], 4)
    sorted_only = api("GET", "/customers", params={"sort": "lastUpdated", "pagesize": 3, "skippages": 1}).json()
    assert [c["customerNumber"] for c in sorted_only["collection"]] == [5, 6, 3]

# -- validation -------------------------------------------------------------------------------

def test_required_fields_on_create(api):
    response = api("POST", "/customers", json={})
    assert response.status_code == 400
    body = response.json()
    assert ERROR_KEYS <= body.keys() and body["message"] == "Validation error."
    assert set(body["errors"]) == {"currency", "customerGroup", "name", "paymentTerms", "vatZone"}
    assert all(e["errors"][0]["errorCode"] for e in body["errors"].values())


def test_max_lengths_references_and_nulls(api):
    response = api("POST", "/customers", json=customer(name="x" * 256, zip="1" * 31, currency="XYZ", city=None))
    errors = response.json()["errors"]
    assert response.status_code == 400 and set(errors) == {"name", "zip", "currency", "city"}
    assert errors["currency"]["errors"][0]["errorCode"] == "E06000"
    assert errors["name"]["errors"][0]["value"] == "x" * 256
    assert api("POST", "/customers", json=customer(name="x" * 255, address="y" * 510)).status_code == 201


def test_false_booleans_are_present_as_in_the_real_answers(api):
    created = api("POST", "/customers", json=customer()).json()  # barred not sent
    assert created["barred"] is False
    assert api("POST", "/customers", json=customer(barred=True)).json()["barred"] is True
    product = api("POST", "/products", json={"productNumber": "P1", "name": "Bolt",
                                             "productGroup": {"productGroupNumber": 1}}).json()
    assert product["barred"] is False


def test_what_the_server_computes_is_shown(api, emu):
    number = api("POST", "/customers", json=customer(name="Owing ApS")).json()["customerNumber"]
    product = api("POST", "/products", json={"productNumber": "P-7", "name": "Bolt", "costPrice": 2.5, "salesPrice": 10.0,
                                             "unit": {"unitNumber": 1}, "productGroup": {"productGroupNumber": 2}}).json()
    assert product["unit"] == {"unitNumber": 1, "name": "pcs.", "self": f"{emu.base_url}/units/1"}
    assert product["productGroup"]["name"] == "Services" and product["minimumStock"] == 0.0
    emu.book_invoice(number, [{"product": {"productNumber": "P-7"}, "quantity": 2, "unitNetPrice": 10.0}],
                     invoice_date="2020-01-01", due_date="2020-01-15")
    draft = api("POST", "/invoices/drafts", json={
        "date": "2099-01-01", "currency": "EUR", "customer": {"customerNumber": number},
        "paymentTerms": {"paymentTermsNumber": 1}, "layout": {"layoutNumber": 1},
        "recipient": {"name": "Owing ApS", "vatZone": {"vatZoneNumber": 2}},
        "lines": [{"description": "Advice", "quantity": 1, "unitNetPrice": 100.0}]}).json()
    booked = api("POST", "/invoices/booked", json={"draftInvoice": {"draftInvoiceNumber": draft["draftInvoiceNumber"]}}).json()

    invoice = api("GET", f"/invoices/booked/{booked['bookedInvoiceNumber']}").json()
    assert invoice["orderNumber"] == draft["draftInvoiceNumber"]
    assert invoice["exchangeRate"] == 746.0 and invoice["roundingAmount"] == 0.0
    assert invoice["pdf"]["download"] == f"{invoice['self']}/pdf" and invoice["sent"] == f"{invoice['self']}/sent"
    assert invoice["recipient"]["vatZone"] == {"vatZoneNumber": 2, "self": f"{emu.base_url}/vat-zones/2"}
    [line] = invoice["lines"]
    assert line["discountPercentage"] == 0.0 and line["unitCostPrice"] == 0.0  # no product: no cost price
    first = api("GET", "/invoices/booked/1").json()["lines"][0]
    assert first["product"] == {"productNumber": "P-7", "self": f"{emu.base_url}/products/P-7"}
    assert first["unit"] == {"unitNumber": 1, "name": "pcs.", "self": f"{emu.base_url}/units/1"}
    assert first["unitCostPrice"] == 2.5
    owing = api("GET", f"/customers/{number}").json()
    assert owing["balance"] == 25.0 + 100.0  # 20 + 25 % domestic VAT, and the EU invoice without VAT
    assert owing["dueAmount"] == 25.0  # only the first is past its due date


# -- numbering and lastUpdated ----------------------------------------------------------------

def test_customer_numbers_given_supplied_and_duplicate(api):
    assert api("POST", "/customers", json=customer(customerNumber=1000)).json()["customerNumber"] == 1000
    assert api("POST", "/customers", json=customer()).json()["customerNumber"] == 1001  # next free number
    duplicate = api("POST", "/customers", json=customer(customerNumber=1000))
    assert duplicate.status_code == 400 and "customerNumber" in duplicate.json()["errors"]
    assert api("POST", "/customers", json=customer(customerNumber=0)).status_code == 400
    created = api("POST", "/customers", json=customer())
    assert created.status_code == 201 and created.headers["Location"].endswith("/customers/1002")


def test_last_updated_strictly_increases_and_put_overwrites(emu, api):
    stamps = [emu.insert_raw("customers", customer())["lastUpdated"] for _ in range(20)]
    assert stamps == sorted(set(stamps))
    number = api("POST", "/customers", json=customer(city="Aarhus")).json()["customerNumber"]
    before = api("GET", f"/customers/{number}").json()
    put = api("PUT", f"/customers/{number}", json=customer(name="Renamed"))
    assert put.status_code == 200
    after = put.json()
    assert after["name"] == "Renamed" and "city" not in after  # PUT replaces the full object
    assert after["lastUpdated"] > before["lastUpdated"]
    assert api("PUT", "/customers/999", json=customer()).status_code == 404
    assert api("GET", "/customers/999").status_code == 404


def test_raw_helpers_assign_like_the_api(emu):
    first = emu.insert_raw("customers", customer())
    updated = emu.update_raw("customers", first["customerNumber"], {"city": "Vejle", "name": None})
    assert updated["city"] == "Vejle" and "name" not in updated
    assert updated["lastUpdated"] > first["lastUpdated"]
    with pytest.raises(ValueError):
        emu.insert_raw("customers", customer(customerNumber=first["customerNumber"]))
    assert [c["customerNumber"] for c in emu.all_raw("customers")] == [first["customerNumber"]]


# -- contacts, products, invoices -------------------------------------------------------------

def test_a_bulk_seed_ends_at_now_and_stamps_never_tie(emu, api):
    numbers = emu.seed("debtors", [{"name": f"C{i}"} for i in range(5000)])
    stamps = [c["lastUpdated"] for c in emu.all_raw("customers")]
    # 1 ms apart from now on, as writes are, they would end 5 s ahead
    assert max(parse_timestamp(s) for s in stamps) <= datetime.now(timezone.utc)
    assert len(set(stamps)) == 5000 and stamps == sorted(stamps)
    written = api("PUT", f"/customers/{numbers[0]}", json=customer(name="Changed")).json()["lastUpdated"]
    assert written > stamps[-1]  # API writes still stamp strictly after everything before them
    [later] = emu.seed("debtors", [{"name": "Later"}])
    assert emu.all_raw("customers")[-1]["lastUpdated"] > written and later == "5001"


def test_customer_contacts(emu, api):
    emu.seed("debtors", [{"name": "A"}, {"name": "B"}])
    created = api("POST", "/customers/2/contacts", json={"name": "Jane", "email": "jane@example.com"})
    assert created.status_code == 201
    contact = created.json()
    assert contact["customer"]["customerNumber"] == 2 and contact["customerContactNumber"] == 1
    assert api("POST", "/customers/2/contacts", json={"email": "x@y"}).status_code == 400  # name required
    assert api("POST", "/customers/9/contacts", json={"name": "x"}).status_code == 404
    assert api("GET", "/customers/2/contacts").json()["pagination"]["results"] == 1
    assert api("GET", "/customers/1/contacts").json()["collection"] == []
    assert api("PUT", "/customers/2/contacts/1", json={"name": "Jane D"}).status_code == 400  # number required
    put = api("PUT", "/customers/2/contacts/1", json={"customerContactNumber": 1, "name": "Jane D"})
    assert put.status_code == 200 and "email" not in put.json()


def test_products_keys_and_validation(api):
    body = {"productNumber": "Box 1/2", "name": "Box", "productGroup": {"productGroupNumber": 1}, "salesPrice": 9.5}
    created = api("POST", "/products", json=body)
    assert created.status_code == 201
    assert created.json()["self"].endswith("/products/Box_9_1_6_2")  # e-conomic's URL encoding
    assert api("GET", created.json()["self"]).json()["name"] == "Box"
    assert api("POST", "/products", json=body).status_code == 400  # duplicate productNumber
    errors = api("POST", "/products", json={"productNumber": "p" * 26}).json()["errors"]
    assert set(errors) == {"productNumber", "name", "productGroup"}
    assert api("GET", "/products", params={"filter": "productNumber$eq:box 1/2"}).json()["pagination"]["results"] == 1


def test_draft_invoice_booking_and_remainder(emu, api):
    emu.seed("debtors", [{"name": "A", "currency": "DKK"}])
    emu.seed("items", [{"number": "P1", "name": "Widget"}])
    draft = {"date": "2024-05-01", "currency": "DKK", "customer": {"customerNumber": 1}, "layout": {"layoutNumber": 1},
             "paymentTerms": {"paymentTermsNumber": 1}, "recipient": {"name": "A", "vatZone": {"vatZoneNumber": 1}},
             "lines": [{"product": {"productNumber": "P1"}, "quantity": 2, "unitNetPrice": 100, "description": "W"}]}
    bad = api("POST", "/invoices/drafts", json={**draft, "lines": [{"quantity": 1, "unitNetPrice": 1.234}]})
    assert bad.status_code == 400
    assert bad.json()["errors"]["lines"][0]["arrayIndex"] == 0
    assert bad.json()["errors"]["lines"][0]["unitNetPrice"]["errors"][0]["errorCode"] == "E04740"
    created = api("POST", "/invoices/drafts", json=draft).json()
    assert (created["netAmount"], created["vatAmount"], created["grossAmount"]) == (200.0, 50.0, 250.0)
    booked = api("POST", "/invoices/booked", json={"draftInvoice": {"draftInvoiceNumber": created["draftInvoiceNumber"]}})
    assert booked.status_code == 201
    number = booked.json()["bookedInvoiceNumber"]
    assert "lines" not in api("GET", "/invoices/booked").json()["collection"][0]  # the list has no lines
    assert len(api("GET", f"/invoices/booked/{number}").json()["lines"]) == 1
    emu.register_payment(number, 100, "2024-05-10")
    assert api("GET", f"/invoices/booked/{number}").json()["remainder"] == 150.0
    assert api("GET", "/invoices/drafts").json()["collection"] == []


# -- state and faults -------------------------------------------------------------------------

def test_state_file_save_and_load(tmp_path):
    state = tmp_path / "economic.json"
    with EconomicEmulator(state_file=state) as first:
        ids = first.seed("debtors", [{"name": "Kept"}])
        stamp = first.all_raw("customers")[0]["lastUpdated"]
    assert state.exists()
    with EconomicEmulator(state_file=state) as second:
        assert [c["name"] for c in second.all_raw("customers")] == ["Kept"]
        again = second.seed("debtors", [{"name": "Next"}])
        assert int(again[0]) == int(ids[0]) + 1
        assert second.all_raw("customers")[-1]["lastUpdated"] > stamp
        assert len(second.all_raw("currencies")) == 4  # seeded once, not twice


def test_fault_injection_429_with_retry_after(emu, api):
    emu.inject_fault(status=429, retry_after=2, path_prefix="/customers")
    throttled = api("GET", "/customers")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert api("GET", "/customers").status_code == 200
