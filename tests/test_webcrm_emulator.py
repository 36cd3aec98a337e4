"""Contract tests of the webCRM emulator against webCRM's Swagger 2.0 spec.

Every JSON answer is validated with jsonschema against the response schema the spec declares for
that path (refs resolved from the spec's definitions; Swagger 2.0 schemas are draft-4-like), and
must not carry properties the DTO does not define.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import requests

from ledgerbridge.emulators.webcrm import WebcrmEmulator
from ledgerbridge.mapping.webcrm import DTO_FIELDS, RESOURCES

SPEC_PATH = Path("/work/shared/contracts/webcrm/swagger.json")
if not SPEC_PATH.exists():  # the contract lives outside the repo; also look next to the checkout
    SPEC_PATH = Path(__file__).resolve().parents[2] / "shared/contracts/webcrm/swagger.json"
SPEC = json.loads(SPEC_PATH.read_text()) if SPEC_PATH.exists() else None
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


def test_timestamps_increase_strictly_across_resources(emu):
    org = emu.insert_raw("Organisations", {"OrganisationName": "A"})
    stamps = [org["OrganisationUpdatedAt"]]
    for i in range(200):
        resource = ("Organisations", "Persons", "Products")[i % 3]
        record = emu.insert_raw(resource, {"PersonOrganisationId": org["OrganisationId"]} if resource == "Persons" else {})
        stamps.append(record[resource[:-1] + "UpdatedAt"])
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
