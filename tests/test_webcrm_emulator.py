"""Contract tests of the webCRM emulator against webCRM's Swagger 2.0 spec.

Every JSON answer is validated with jsonschema against the response schema the spec declares for
that path (refs resolved from the spec's definitions; Swagger 2.0 schemas are draft-4-like), and
must not carry properties the DTO does not define.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import jsonschema
import pytest
import requests

from conftest import contract_file
from ledgerbridge.emulators.base import iso
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator
from ledgerbridge.systems.webcrm.contract import DTO_FIELDS, FIND_BY_DATES, POST_RETURNS_ID, RESOURCES, WRITE_DTO_FIELDS

SPEC_PATH = contract_file("webcrm/swagger.json")
SPEC = json.loads(SPEC_PATH.read_text()) if SPEC_PATH else None
pytestmark = pytest.mark.skipif(SPEC is None, reason="webCRM swagger.json not found")

API_KEY = "test-api-key"


def schema_for(path: str, method: str = "get", status: str = "200") -> dict:
    schema = SPEC["paths"][path][method]["responses"][status]["schema"]
    return {**schema, "definitions": SPEC["definitions"]}


def check(instance, path: str, method: str = "get") -> None:
    """Validate against the path's declared response schema, and reject undeclared properties."""
    schema = schema_for(path, method)
    jsonschema.Draft4Validator(schema).validate(instance)
    items = instance if isinstance(instance, list) else [instance]
    ref = schema.get("items", schema).get("$ref")
    if ref and all(isinstance(i, dict) for i in items):
        declared = set(SPEC["definitions"][ref.rsplit("/", 1)[-1]]["properties"])
        for item in items:
            assert set(item) <= declared, set(item) - declared


@pytest.fixture
def emu():
    with WebcrmEmulator() as emulator:
        yield emulator


def login(emu: WebcrmEmulator) -> requests.Session:
    response = requests.post(f"{emu.base_url}/Auth/ApiLogin", files={"authCode": (None, API_KEY)})
    assert response.status_code == 200
    check(response.json(), "/Auth/ApiLogin", "post")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['AccessToken']}"
    return session


@pytest.fixture
def api(emu):
    session = login(emu)
    base = emu.base_url

    class Api:
        def __getattr__(self, method):
            return lambda path, **kw: session.request(method.upper(), base + path, **kw)

    return Api()


def test_dto_tables_match_the_spec():
    for resource, prefix in RESOURCES.items():
        spec = SPEC["definitions"][f"{prefix}Dto"]["properties"]
        ours = DTO_FIELDS[resource]
        assert set(ours) == set(spec)
        for name, prop in spec.items():
            f = ours[name]
            expected = "date-time" if prop.get("format") == "date-time" else prop["type"]
            assert f.type == expected, name
            assert f.max_length == prop.get("maxLength"), name
            assert f.enum == (tuple(prop["enum"]) if "enum" in prop else None), name
    # quotation lines are written as QuotationLineUpdateDto
    update_dto = SPEC["definitions"]["QuotationLineUpdateDto"]["properties"]
    assert set(WRITE_DTO_FIELDS["QuotationLines"]) == set(update_dto)
    assert WRITE_DTO_FIELDS["QuotationLines"]["QuotationLineLinkedDataId"].type == "integer"


def test_every_route_is_in_the_spec(emu):
    """The emulator serves no path or method the spec lacks, and every date window and POST-with-id
    the spec gives a resource it serves."""
    served = set()
    for route in emu.routes():
        if route.path == "/{path:path}":
            continue  # the 404 for every path not served
        for method in route.methods - {"HEAD"}:
            served.add((route.path, method.lower()))
    for path, method in sorted(served):
        assert path in SPEC["paths"] and method in SPEC["paths"][path], (method, path)
    for resource in RESOURCES:
        for kind in ("Update", "Create"):
            path = f"/{resource}/FindBy{kind}Dates/{{startDate}}/{{endDate}}"
            assert (path in SPEC["paths"]) == (kind in FIND_BY_DATES[resource]), path
            assert ((path, "get") in served) == (path in SPEC["paths"]), path
        post = SPEC["paths"][f"/{resource}"]["post"]["responses"]["200"]
        assert ("schema" in post) == (resource in POST_RETURNS_ID), resource
    for path in ("/Deliveries/{id}/QuotationLines", "/QuotationLines/{id}", "/Deliveries/{id}"):
        assert any(p == path for p, _ in served), path


# -- auth ---------------------------------------------------------------------------------------
def test_login_gives_a_bearer_token(emu):
    response = requests.post(f"{emu.base_url}/Auth/ApiLogin", files={"authCode": (None, API_KEY)})
    body = response.json()
    check(body, "/Auth/ApiLogin", "post")
    assert body["TokenType"] == "Bearer" and body["AccessToken"] and body["RefreshToken"] and body["ExpiresIn"] > 0
    # a urlencoded form is accepted too
    assert requests.post(f"{emu.base_url}/Auth/ApiLogin", data={"authCode": API_KEY}).status_code == 200


@pytest.mark.parametrize("form", [{"authCode": (None, "wrong")}, {"other": (None, API_KEY)}])
def test_bad_auth_code_is_401_with_is_error(emu, form):
    response = requests.post(f"{emu.base_url}/Auth/ApiLogin", files=form)
    assert response.status_code == 401
    check(response.json(), "/Auth/ApiLogin", "post")
    assert response.json()["IsError"] is True
    assert "AccessToken" not in response.json()


def test_calls_need_a_valid_bearer_token(emu):
    url = f"{emu.base_url}/Organisations"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert requests.post(url, json={"OrganisationName": "x"}).status_code == 401
    assert requests.get(f"{emu.base_url}/Organisations/1/Persons").status_code == 401
    session = login(emu)
    assert session.get(url).status_code == 200
    emu.expire_tokens()
    assert session.get(url).status_code == 401
    assert emu.all_raw("Organisations") == []


def test_refresh_token_gives_a_new_access_token(emu):
    body = requests.post(f"{emu.base_url}/Auth/ApiLogin", files={"authCode": (None, API_KEY)}).json()
    emu.expire_tokens()
    refreshed = requests.post(f"{emu.base_url}/Auth/ApiRefresh", headers={"refreshToken": body["RefreshToken"]})
    check(refreshed.json(), "/Auth/ApiRefresh", "post")
    token = refreshed.json()["AccessToken"]
    assert requests.get(f"{emu.base_url}/Organisations", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # a refresh token is used once
    again = requests.post(f"{emu.base_url}/Auth/ApiRefresh", headers={"refreshToken": body["RefreshToken"]})
    assert again.status_code == 401 and again.json()["IsError"] is True


# -- writes, reads, ids ---------------------------------------------------------------------------
def test_post_patch_get_organisations(api, emu):
    response = api.post("/Organisations", json={"OrganisationName": "Acme A/S", "OrganisationCity": "Aarhus"})
    assert response.status_code == 200 and response.content == b""  # the spec: no body
    ids = api.patch("/Organisations", json=[{"OrganisationName": "Beta"}, {"OrganisationName": "Gamma"}]).json()
    check(ids, "/Organisations", "patch")
    assert ids == ["2", "3"]
    listing = api.get("/Organisations").json()
    check(listing, "/Organisations")
    assert [o["OrganisationId"] for o in listing] == [1, 2, 3]
    one = api.get("/Organisations/1").json()
    check(one, "/Organisations/{id}")
    assert one["OrganisationName"] == "Acme A/S" and one["OrganisationCity"] == "Aarhus"
    assert one["OrganisationCreatedAt"] == one["OrganisationUpdatedAt"]
    assert one["OrganisationAddress"] == ""  # webCRM answers empty text as ""


def test_ids_are_server_assigned_and_client_ids_ignored(api):
    api.post("/Organisations", json={"OrganisationId": 999, "OrganisationName": "A", "OrganisationUpdatedAt": "2000-01-01T00:00:00Z"})
    stored = api.get("/Organisations").json()[0]
    assert stored["OrganisationId"] == 1
    assert stored["OrganisationUpdatedAt"] > "2020"


def test_persons_and_products(api):
    org = api.patch("/Organisations", json=[{"OrganisationName": "Acme"}]).json()[0]
    pid = api.patch("/Persons", json=[{"PersonOrganisationId": int(org), "PersonFirstName": "Anna", "PersonLastName": "Jensen"}]).json()[0]
    person = api.get(f"/Persons/{pid}").json()
    check(person, "/Persons/{id}")
    assert person["PersonName"] == "Anna Jensen"  # computed by the server
    assert int(pid) != int(org)  # distinct id ranges
    persons = api.get(f"/Organisations/{org}/Persons").json()
    check(persons, "/Organisations/{id}/Persons")
    assert [p["PersonId"] for p in persons] == [int(pid)]
    check(api.get("/Persons").json(), "/Persons")

    assert api.post("/Products", json={"ProductPlus1": "A-1", "ProductListPrice": 12.5}).status_code == 200
    products = api.get("/Products").json()
    check(products, "/Products")
    product_id = products[0]["ProductId"]
    check(api.get(f"/Products/{product_id}").json(), "/Products/{id}")
    assert api.delete(f"/Products/{product_id}").status_code == 200
    assert api.get(f"/Products/{product_id}").status_code == 404


def test_put_replaces_patch_merges(api):
    api.post("/Organisations", json={"OrganisationName": "A", "OrganisationCity": "Oslo", "OrganisationPlus1": "x"})
    created = api.get("/Organisations/1").json()
    assert api.put("/Organisations/1", json={"OrganisationName": "B"}).status_code == 200
    replaced = api.get("/Organisations/1").json()
    assert (replaced["OrganisationName"], replaced["OrganisationCity"], replaced["OrganisationPlus1"]) == ("B", "", "")
    assert replaced["OrganisationCreatedAt"] == created["OrganisationCreatedAt"]
    assert replaced["OrganisationUpdatedAt"] > created["OrganisationUpdatedAt"]
    assert api.patch("/Organisations", json=[{"OrganisationId": 1, "OrganisationCity": "Bergen"}]).json() == ["1"]
    merged = api.get("/Organisations/1").json()
    assert (merged["OrganisationName"], merged["OrganisationCity"]) == ("B", "Bergen")
    assert api.patch("/Organisations", json=[{"OrganisationId": 42, "OrganisationCity": "x"}]).json()[0].endswith("not found")


def test_unknown_and_malformed_ids(api):
    assert api.get("/Organisations/77").status_code == 404
    assert api.put("/Organisations/77", json={"OrganisationName": "x"}).status_code == 404
    assert api.get("/Organisations/77/Persons").status_code == 404
    bad = api.get("/Organisations/abc")
    assert bad.status_code == 400 and "id" in bad.json()["errors"]


# -- validation ----------------------------------------------------------------------------------
def assert_problem(response, *fields):
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["title"]
    assert set(body["errors"]) == set(fields), body["errors"]
    return body


def test_max_length_is_enforced_with_the_field_named(api, emu):
    body = assert_problem(api.post("/Organisations", json={"OrganisationName": "x" * 201}), "OrganisationName")
    assert "200" in body["errors"]["OrganisationName"][0]
    assert_problem(api.post("/Organisations", json={"OrganisationName": "ok", "OrganisationCity": "c" * 51}), "OrganisationCity")
    assert api.post("/Organisations", json={"OrganisationName": "x" * 200}).status_code == 200
    assert_problem(api.put("/Organisations/1", json={"OrganisationName": "y" * 201}), "OrganisationName")
    assert api.get("/Organisations/1").json()["OrganisationName"] == "x" * 200


def test_required_fields(api, emu):
    assert_problem(api.post("/Organisations", json={"OrganisationCity": "Oslo"}), "OrganisationName")
    assert_problem(api.post("/Organisations", json={"OrganisationName": ""}), "OrganisationName")
    assert_problem(api.post("/Persons", json={"PersonFirstName": "A"}), "PersonOrganisationId")
    assert_problem(api.post("/Persons", json={"PersonOrganisationId": 5, "PersonFirstName": "A"}), "PersonOrganisationId")
    assert emu.all_raw("Organisations") == [] and emu.all_raw("Persons") == []


def test_patch_is_validated_whole_before_writing(api, emu):
    response = api.patch("/Organisations", json=[{"OrganisationName": "ok"}, {"OrganisationName": "x" * 300}, {}])
    assert_problem(response, "[1].OrganisationName", "[2].OrganisationName")
    assert emu.all_raw("Organisations") == []


def test_type_errors_and_bodies(api):
    assert_problem(api.post("/Organisations", json={"OrganisationName": "a", "OrganisationOwner": "abc"}), "OrganisationOwner")
    assert_problem(api.post("/Organisations", json={"OrganisationName": 5}), "OrganisationName")
    assert_problem(api.post("/Persons", json={"PersonOrganisationId": 1, "PersonStatus": "Retired"}), "PersonStatus")
    assert_problem(api.post("/Organisations", data=b"{not json", headers={"Content-Type": "application/json"}), "$")
    assert api.patch("/Organisations", json={"OrganisationName": "not an array"}).status_code == 400


# -- paging and windows ----------------------------------------------------------------------------
def test_paging(api, emu):
    emu.seed("debtors", [{"name": f"Org {i}"} for i in range(25)])
    pages = [api.get("/Organisations", params={"Page": p, "Size": 10}).json() for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    ids = [o["OrganisationId"] for page in pages for o in page]
    assert ids == sorted(ids) and len(set(ids)) == 25
    assert len(api.get("/Organisations").json()) == 25  # default size 100
    for params, field in [
        ({"Page": 0}, "Page"), ({"Page": 1_000_001}, "Page"), ({"Size": 0}, "Size"),
        ({"Size": 1001}, "Size"), ({"Size": "ten"}, "Size"), ({"Page": -1}, "Page"),
    ]:
        assert_problem(api.get("/Organisations", params=params), field)
    assert len(api.get("/Organisations", params={"Page": 1_000_000, "Size": 1000}).json()) == 0


def test_find_by_update_dates_window(api, emu):
    ids = emu.seed("debtors", [{"name": f"Org {i}"} for i in range(6)])
    stamps = [o["OrganisationUpdatedAt"] for o in emu.all_raw("Organisations")]
    assert stamps == sorted(stamps) and len(set(stamps)) == 6  # strictly increasing
    path = "/Organisations/FindByUpdateDates/{startDate}/{endDate}"
    window = api.get(f"/Organisations/FindByUpdateDates/{stamps[1]}/{stamps[4]}").json()
    check(window, path)
    assert [str(o["OrganisationId"]) for o in window] == ids[1:4]  # start inclusive, end exclusive
    # an update moves the record to the end of the update-time order
    emu.update_raw("Organisations", ids[0], {"OrganisationCity": "Oslo"})
    since = api.get(f"/Organisations/FindByUpdateDates/{stamps[3]}/3000-01-01T00:00:00Z").json()
    assert [str(o["OrganisationId"]) for o in since] == [*ids[3:], ids[0]]
    paged = api.get(f"/Organisations/FindByUpdateDates/{stamps[0]}/3000-01-01", params={"Page": 2, "Size": 4}).json()
    assert [str(o["OrganisationId"]) for o in paged] == [ids[5], ids[0]]
    # a naive date is UTC; the window can be empty; bad dates and paging are 400
    assert api.get("/Organisations/FindByUpdateDates/2000-01-01T00:00:00/2000-01-02T00:00:00").json() == []
    assert_problem(api.get("/Organisations/FindByUpdateDates/yesterday/3000-01-01"), "startDate")
    assert_problem(api.get(f"/Organisations/FindByUpdateDates/{stamps[0]}/3000-01-01", params={"Size": 5000}), "Size")
    created = api.get(f"/Organisations/FindByCreateDates/{stamps[0]}/{stamps[1]}").json()
    assert [str(o["OrganisationId"]) for o in created] == ids[:1]


def test_a_cached_window_follows_hand_edits_and_deletes(api, emu):
    ids = emu.seed("debtors", [{"name": f"Org {i}"} for i in range(5)])
    stamps = [o["OrganisationUpdatedAt"] for o in emu.all_raw("Organisations")]

    def window(start, **params):
        found = api.get(f"/Organisations/FindByUpdateDates/{start}/3000-01-01", params=params).json()
        return [str(o["OrganisationId"]) for o in found]

    assert window(stamps[2]) == ids[2:]
    with emu.tables.lock:  # edited by hand between two reads, not through the API
        emu.tables.rows["Organisations"][ids[3]]["OrganisationUpdatedAt"] = stamps[0]
    assert window(stamps[2]) == [ids[2], ids[4]]
    assert window(stamps[0], Page=1, Size=2) == [ids[0], ids[3]]
    with emu.tables.lock:
        del emu.tables.rows["Organisations"][ids[4]]
    assert window(stamps[2]) == [ids[2]]
    assert [str(o["OrganisationId"]) for o in api.get("/Organisations").json()] == ids[:4]


def test_a_bulk_seed_ends_at_now_and_stamps_never_tie(emu):
    ids = emu.seed("debtors", [{"name": f"Org {i}"} for i in range(5000)])
    stamps = [o["OrganisationUpdatedAt"] for o in emu.all_raw("Organisations")]
    assert max(stamps) <= iso(datetime.now(timezone.utc))  # 1 ms apart from now on, they would end 5 s ahead
    assert len(set(stamps)) == 5000 and stamps == sorted(stamps)
    written = emu.update_raw("Organisations", ids[0], {"OrganisationCity": "Oslo"})["OrganisationUpdatedAt"]
    assert written > stamps[-1]
    [later] = emu.seed("debtors", [{"name": "Later"}])
    assert emu.get_raw("Organisations", later)["OrganisationUpdatedAt"] > written


def test_timestamps_increase_strictly_across_resources(emu):
    org = emu.insert_raw("Organisations", {"OrganisationName": "A"})
    stamps = [org["OrganisationUpdatedAt"]]
    for i in range(200):
        resource = ("Organisations", "Persons", "Products", "Deliveries", "QuotationLines")[i % 5]
        record = emu.insert_raw(resource, {"PersonOrganisationId": org["OrganisationId"]} if resource == "Persons" else {})
        stamps.append(record[RESOURCES[resource] + "UpdatedAt"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(s.endswith("Z") and len(s) == len("2024-01-01T00:00:00.000Z") for s in stamps)


# -- in-process helpers, state, faults --------------------------------------------------------------
def test_helpers_stamp_like_the_api(emu):
    ids = emu.seed("debtors", [{"name": "Acme", "street": "Main Street", "house_number": "5", "country": "DK"}])
    raw = emu.get_raw("Organisations", ids[0])
    check(raw, "/Organisations/{id}")
    assert raw["OrganisationAddress"] == "Main Street 5" and raw["OrganisationCountry"] == "Denmark"
    changed = emu.update_raw("Organisations", ids[0], {"OrganisationCity": "Aarhus"})
    assert changed["OrganisationUpdatedAt"] > raw["OrganisationUpdatedAt"]
    assert changed["OrganisationCreatedAt"] == raw["OrganisationCreatedAt"]
    emu.insert_raw("Products", {"ProductPlus1": "A-1"})
    for resource in RESOURCES:
        check(emu.all_raw(resource), f"/{resource}")
    # raw inserts skip validation, to plant data the API would refuse
    odd = emu.insert_raw("Organisations", {"OrganisationName": "x" * 300})
    assert len(odd["OrganisationName"]) == 300
    with pytest.raises(KeyError):
        emu.update_raw("Organisations", 12345, {})


def test_state_file_round_trip(tmp_path):
    state = tmp_path / "webcrm.json"
    with WebcrmEmulator(state_file=state) as first:
        first.seed("debtors", [{"name": "Acme"}, {"name": "Beta"}])
        before = first.all_raw("Organisations")
    assert state.exists()
    with WebcrmEmulator(state_file=state) as second:
        assert second.all_raw("Organisations") == before
        session = login(second)  # tokens are not persisted: a new login
        third = session.patch(f"{second.base_url}/Organisations", json=[{"OrganisationName": "Gamma"}]).json()
        assert third == ["3"]
        assert second.get_raw("Organisations", 3)["OrganisationUpdatedAt"] > before[-1]["OrganisationUpdatedAt"]


def test_fault_injection_429_with_retry_after(emu):
    session = login(emu)
    emu.inject_fault(status=429, retry_after=2, path_prefix="/Organisations")
    throttled = session.get(f"{emu.base_url}/Organisations")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert session.get(f"{emu.base_url}/Organisations").status_code == 200
    emu.inject_fault(status=503, path_prefix="/Persons", remaining=2)
    assert session.get(f"{emu.base_url}/Organisations").status_code == 200  # other paths unaffected
    assert [session.get(f"{emu.base_url}/Persons").status_code for _ in range(3)] == [503, 503, 200]


# -- deliveries and quotation lines (invoices, invoice lines, payments) -------------------------------
def test_post_answers_the_id_where_the_spec_says_so(api):
    org = api.post("/Organisations", json={"OrganisationName": "Acme"})
    assert org.content == b""  # OrganisationDto POST: no body
    person = api.post("/Persons", json={"PersonOrganisationId": 1, "PersonFirstName": "A"})
    check(person.json(), "/Persons", "post")
    product = api.post("/Products", json={"ProductPlus1": "P"})
    check(product.json(), "/Products", "post")
    assert api.get(f"/Persons/{person.json()}").json()["PersonFirstName"] == "A"
    assert api.get(f"/Products/{product.json()}").status_code == 200


def test_deliveries(api, emu):
    org = api.patch("/Organisations", json=[{"OrganisationName": "Acme"}]).json()[0]
    body = {"DeliveryOrganisationId": int(org), "DeliveryErpId": "20001", "DeliveryNumber": "20001",
            "DeliveryOrderDate": "2024-05-01T00:00:00", "DeliveryCurrencyName": "DKK", "DeliveryOrderValue": 1000.5,
            "DeliveryErpStatus": "Synchronized", "DeliveryCustom4": "250.00"}
    response = api.post("/Deliveries", json=body)
    check(response.json(), "/Deliveries", "post")
    delivery_id = response.json()
    assert delivery_id >= 700_001  # its own id range
    one = api.get(f"/Deliveries/{delivery_id}").json()
    check(one, "/Deliveries/{id}")
    assert {k: one[k] for k in body} == body
    assert one["DeliveryStatus"] == "New" and one["DeliveryRisk"] == "NoRisk"  # enums default to the first
    assert "DeliveryWonDate" not in one  # unset date-times are left out
    ids = api.patch("/Deliveries", json=[{"DeliveryOrganisationId": int(org), "DeliveryErpId": "20002"},
                                        {"DeliveryId": delivery_id, "DeliveryCustom5": "100.00"}]).json()
    check(ids, "/Deliveries", "patch")
    assert ids[1] == str(delivery_id)
    merged = api.get(f"/Deliveries/{delivery_id}").json()
    assert (merged["DeliveryCustom5"], merged["DeliveryErpId"]) == ("100.00", "20001")  # PATCH merges
    assert api.put(f"/Deliveries/{delivery_id}", json={**merged, "DeliveryCustom5": "150.00"}).status_code == 200
    replaced = api.get(f"/Deliveries/{delivery_id}").json()
    assert replaced["DeliveryCustom5"] == "150.00" and replaced["DeliveryUpdatedAt"] > merged["DeliveryUpdatedAt"]
    assert replaced["DeliveryCreatedAt"] == one["DeliveryCreatedAt"]
    listing = api.get("/Deliveries", params={"Size": 1, "Page": 2}).json()
    check(listing, "/Deliveries")
    assert [d["DeliveryId"] for d in listing] == [int(ids[0])]
    # no DELETE in the spec; a long text is fine (no maxLength declared)
    assert api.delete(f"/Deliveries/{delivery_id}").status_code == 405
    assert api.patch("/Deliveries", json=[{"DeliveryId": delivery_id, "DeliveryComment": "x" * 5000}]).status_code == 200
    assert api.get("/Deliveries/777").status_code == 404


def test_delivery_validation(api, emu):
    assert_problem(api.post("/Deliveries", json={"DeliveryErpId": "1"}), "DeliveryOrganisationId")
    assert_problem(api.post("/Deliveries", json={"DeliveryOrganisationId": 42}), "DeliveryOrganisationId")
    api.post("/Organisations", json={"OrganisationName": "Acme"})
    assert_problem(api.post("/Deliveries", json={"DeliveryOrganisationId": 1, "DeliveryErpStatus": "Booked"}), "DeliveryErpStatus")
    assert_problem(api.post("/Deliveries", json={"DeliveryOrganisationId": 1, "DeliveryOrderValue": "1000"}), "DeliveryOrderValue")
    assert_problem(api.post("/Deliveries", json={"DeliveryOrganisationId": 1, "DeliveryOrderDate": "1 May"}), "DeliveryOrderDate")
    assert_problem(api.patch("/Deliveries", json=[{"DeliveryOrganisationId": 1}, {"DeliveryOrganisationId": 9}]),
                   "[1].DeliveryOrganisationId")
    assert emu.all_raw("Deliveries") == []


def test_deliveries_find_by_create_dates_only(api, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    ids = emu.seed("invoices", [{"debtor_id": org, "number": str(n)} for n in range(4)])
    created = [d["DeliveryCreatedAt"] for d in emu.all_raw("Deliveries")]
    emu.update_raw("Deliveries", ids[0], {"DeliveryCustom5": "1"})  # an update does not move it in a create window
    window = api.get(f"/Deliveries/FindByCreateDates/{created[0]}/{created[2]}").json()
    check(window, "/Deliveries/FindByCreateDates/{startDate}/{endDate}")
    assert [str(d["DeliveryId"]) for d in window] == ids[:2]
    # not in the spec: no update window for deliveries, persons, products, quotation lines
    for resource in ("Deliveries", "Persons", "Products", "QuotationLines"):
        assert api.get(f"/{resource}/FindByUpdateDates/{created[0]}/3000-01-01").status_code in (400, 404, 405)


def test_quotation_lines(api, emu):
    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    delivery = emu.seed("invoices", [{"debtor_id": org, "number": "20001"}])[0]
    other = emu.seed("invoices", [{"debtor_id": org, "number": "20002"}])[0]
    line = {"QuotationLineOpportunityId": int(delivery), "QuotationLineSortOrder": 2, "QuotationLineComment": "Second",
            "QuotationLineQuantity": 2.0, "QuotationLinePrice": 10.0, "QuotationLineLinkedDataId": 5}
    first_id = api.post("/QuotationLines", json=line).json()
    check(first_id, "/QuotationLines", "post")
    assert first_id >= 900_001
    ids = api.patch("/QuotationLines", json=[{**line, "QuotationLineSortOrder": 1, "QuotationLineComment": "First"},
                                             {**line, "QuotationLineOpportunityId": int(other)}]).json()
    check(ids, "/QuotationLines", "patch")
    stored = api.get(f"/QuotationLines/{first_id}").json()
    check(stored, "/QuotationLines/{id}")
    assert "QuotationLineLinkedDataId" not in stored  # write-only (QuotationLineUpdateDto)
    assert stored["QuotationLineQuantity"] == 2.0 and stored["QuotationLineCreatedBy"] == "API"
    lines = api.get(f"/Deliveries/{delivery}/QuotationLines").json()
    check(lines, "/Deliveries/{id}/QuotationLines")
    assert [ln["QuotationLineComment"] for ln in lines] == ["First", "Second"]  # by SortOrder
    assert [ln["QuotationLineId"] for ln in api.get(f"/Deliveries/{other}/QuotationLines").json()] == [int(ids[1])]
    assert api.get(f"/Deliveries/{delivery}/QuotationLines", params={"Size": 1, "Page": 2}).json()[0]["QuotationLineId"] == first_id
    check(api.get("/QuotationLines").json(), "/QuotationLines")
    update = {"QuotationLineOpportunityId": int(delivery), "QuotationLineSortOrder": 3, "QuotationLineLinkedDataId": 7}
    assert api.put(f"/QuotationLines/{first_id}", json=update).status_code == 200
    assert api.get(f"/QuotationLines/{first_id}").json()["QuotationLineComment"] == ""  # PUT replaces
    assert api.delete(f"/QuotationLines/{first_id}").status_code == 200
    assert api.get(f"/QuotationLines/{first_id}").status_code == 404
    assert api.get("/Deliveries/777/QuotationLines").status_code == 404
    assert_problem(api.get("/Deliveries/x/QuotationLines"), "id")
    # the parent must exist; types are checked, the write-only field too
    assert_problem(api.post("/QuotationLines", json={"QuotationLineComment": "orphan"}), "QuotationLineOpportunityId")
    assert_problem(api.post("/QuotationLines", json={"QuotationLineOpportunityId": 4242}), "QuotationLineOpportunityId")
    assert_problem(api.post("/QuotationLines", json={**line, "QuotationLineLinkedDataId": "x"}), "QuotationLineLinkedDataId")
    assert_problem(api.post("/QuotationLines", json={**line, "QuotationLineQuantity": "2"}), "QuotationLineQuantity")


def test_seed_invoices_lines_and_payments(emu):
    from datetime import date
    from decimal import Decimal

    org = emu.seed("debtors", [{"name": "Acme"}])[0]
    invoice = emu.seed("invoices", [{"debtor_id": org, "number": "20001", "invoice_date": date(2024, 5, 1),
                                     "currency": "DKK", "net_amount": Decimal("100"), "status": "booked"}])[0]
    raw = emu.get_raw("Deliveries", invoice)
    check(raw, "/Deliveries/{id}")
    assert (raw["DeliveryErpId"], raw["DeliveryOrderDate"], raw["DeliveryErpStatus"]) == ("20001", "2024-05-01T00:00:00", "Synchronized")
    line = emu.seed("invoice_lines", [{"invoice_id": invoice, "line_number": 1, "quantity": Decimal("2")}])[0]
    check(emu.get_raw("QuotationLines", line), "/QuotationLines/{id}")
    before = emu.get_raw("Deliveries", invoice)
    assert emu.seed("payments", [{"invoice_id": invoice, "amount": Decimal("40.50")}]) == [invoice]
    paid = emu.get_raw("Deliveries", invoice)
    assert paid["DeliveryCustom5"] == "40.50" and paid["DeliveryUpdatedAt"] > before["DeliveryUpdatedAt"]
    assert paid["DeliveryErpId"] == "20001"  # the invoice's fields stay
