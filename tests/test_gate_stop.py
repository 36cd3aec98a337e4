"""A stopped push stays stopped until the data is fixed or a person releases it (issue 18)."""

from __future__ import annotations

import sqlalchemy as sa
import pytest
import yaml

from conftest import make_config
from ledgerbridge.cli import main
from ledgerbridge.store import T
from sync_helpers import engine_for

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}


@pytest.fixture
def setup(tmp_path, sqlite_store, webcrm, economic, secrets_env):
    config = make_config(webcrm.base_url, economic.base_url, sqlite_store.url, debtors={"erp_defaults": DEFAULTS})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return config, sqlite_store, webcrm, economic, str(path)


def organisation(i: int, vat: str) -> dict:
    return {"OrganisationName": f"Selskab {chr(65 + i)}{chr(70 + i % 7)}{chr(75 + i % 5)} ApS", "OrganisationType": "Customer",
            "OrganisationCountry": "Denmark", "OrganisationPostCode": str(1000 + 97 * i), "OrganisationCity": f"By {i}",
            "OrganisationVatNumber": vat}


def test_a_mass_corruption_stays_stopped_until_the_source_is_fixed(setup):
    config, store, webcrm, economic, _ = setup
    ids = [webcrm.insert_raw("Organisations", organisation(i, f"DK1{i:03d}"))["OrganisationId"] for i in range(22)]
    for i in range(22, 25):
        webcrm.insert_raw("Organisations", organisation(i, ""))

    first = engine_for(config, store).run(["debtors"])["debtors"]
    second = engine_for(config, store).run(["debtors"])["debtors"]  # nothing changed: the stop holds

    assert first.blocked and second.blocked and "stopped since" in second.blocked[0] and "22 of" in second.blocked[0]
    assert economic.all_raw("customers") == []
    for org_id in ids:  # fixed in the source
        webcrm.update_raw("Organisations", org_id, {"OrganisationVatNumber": ""})
    fixed = engine_for(config, store).run(["debtors"])["debtors"]
    assert not fixed.blocked and len(economic.all_raw("customers")) == 25
    with store.connect() as conn:
        [block] = conn.execute(sa.select(T["gate_blocks"])).mappings().all()
    assert block["released_by"] == "data fixed"


def test_a_released_mass_delete_is_followed_once(setup, capsys):
    config, store, webcrm, economic, path = setup
    for i in range(25):
        economic.insert_raw("customers", {
            "name": f"Kunde {chr(65 + i)}{chr(75 + i % 10)} A/S", "country": "Denmark", "zip": f"{1000 + 37 * i}",
            "city": f"By {i}", "currency": "DKK", "customerGroup": {"customerGroupNumber": 1},
            "paymentTerms": {"paymentTermsNumber": 1}, "vatZone": {"vatZoneNumber": 1}})
    engine_for(config, store).run(["debtors"])
    with economic.tables.lock:
        for number in list(economic.tables.rows["customers"])[:22]:
            del economic.tables.rows["customers"][number]

    assert engine_for(config, store).run(["debtors"], full=True)["debtors"].blocked
    assert engine_for(config, store).run(["debtors"], full=True)["debtors"].blocked  # still
    assert main(["gate", "list", "--config", path]) == 0
    assert "mass delete" in capsys.readouterr().out
    assert main(["gate", "release", "--entity", "debtors", "--system", "webcrm", "--config", path, "--by", "Mette"]) == 0

    released = engine_for(config, store).run(["debtors"], full=True)["debtors"]

    assert not released.blocked and len(released.deletes_followed) == 22
    with store.connect() as conn:
        unlinked = conn.execute(sa.select(sa.func.count()).select_from(T["id_map"]).where(
            T["id_map"].c.system == "webcrm", T["id_map"].c.gone_how == "unlinked")).scalar_one()
    assert unlinked == 22
