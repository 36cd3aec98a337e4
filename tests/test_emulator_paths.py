"""The webCRM emulator serves the paths the connector uses and answers 404 for the spec's others,
as the real API answers a path it does not have (issue 15: LinkedData used to be read as an id)."""

from __future__ import annotations

import json

import pytest
import requests

from conftest import contract_file
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator

API_KEY = "test-api-key"
SPEC = contract_file("webcrm/swagger.json")


@pytest.fixture
def api():
    with WebcrmEmulator(api_keys=(API_KEY,)) as emu:
        token = requests.post(f"{emu.base_url}/Auth/ApiLogin", files={"authCode": (None, API_KEY)}).json()["AccessToken"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.base = emu.base_url
        yield session


@pytest.mark.parametrize("path", [
    "/Organisations/LinkedData", "/Organisations/LinkedData/5", "/Organisations/LinkedSetup",
    "/Deliveries/ByOrganisation/1", "/Opportunities/ByPipelineLevel/2", "/Organisations/1/Events",
    "/Budgets", "/FieldsMetadata", "/Activities", "/NoSuchThing",
])
def test_paths_the_connector_does_not_use_are_404(api, path):
    response = api.get(api.base + path)
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


def test_an_id_that_is_no_number_is_still_400(api):
    response = api.get(api.base + "/Organisations/abc")
    assert response.status_code == 400 and "abc" in json.dumps(response.json()["errors"])


def test_the_paths_the_connector_uses_are_served(api):
    org = api.post(api.base + "/Organisations", json={"OrganisationName": "Fjord ApS"})
    assert org.status_code == 200
    [stored] = api.get(api.base + "/Organisations").json()
    org_id = stored["OrganisationId"]
    for path in (f"/Organisations/{org_id}", f"/Organisations/{org_id}/Persons",
                 "/Organisations/FindByUpdateDates/2000-01-01T00:00:00Z/2100-01-01T00:00:00Z",
                 "/Persons", "/Products", "/Deliveries", "/QuotationLines", "/Organisations/Hooks"):
        assert api.get(api.base + path).status_code == 200, path


@pytest.mark.skipif(SPEC is None, reason="the contract files are not on this machine")
def test_every_spec_get_path_is_served_or_404_never_a_400(api):
    """No documented GET path is mistaken for another route (an id that is a word, a 400)."""
    paths = json.loads(SPEC.read_text())["paths"]
    for path, operations in paths.items():
        if "get" not in operations:
            continue
        concrete = path
        for name in ("id", "organisationId", "userId", "responsibleId", "meetingId", "status", "pipelineLevel",
                     "level", "entityTypes"):
            concrete = concrete.replace("{" + name + "}", "1")
        concrete = concrete.replace("{startDate}", "2000-01-01").replace("{endDate}", "2100-01-01")
        status = api.get(api.base + concrete).status_code
        assert status in (200, 404), (path, status)
