"""Contacts and items on the road: contacts both ways (matched by e-mail within their company),
items from the ERP to the CRM."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from conftest import make_config
from ledgerbridge.store import hub
from sync_helpers import engine_for, writes

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}


@pytest.fixture
def setup(store, webcrm, economic, secrets_env):
    config = make_config(
        webcrm.base_url, economic.base_url, store.url,
        debtors={"erp_defaults": DEFAULTS},
        contacts={"direction": "both"},
        items={"direction": "erp_to_crm"},
    )
    return config, store, webcrm, economic


def test_contacts_match_by_email_within_their_company_and_flow_both_ways(setup):
    config, store, webcrm, economic = setup
    [number] = economic.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO"}])
    [org] = webcrm.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO", "number": number}])
    economic.seed("contacts", [{"debtor_id": number, "name": "Kari Nordmann", "email": "kari@fjord.example"},
                               {"debtor_id": number, "name": "Ola Hansen", "email": "ola@fjord.example"}])
    webcrm.seed("contacts", [{"debtor_id": org, "name": "Kari Nordmann", "email": "KARI@fjord.example"},
                             {"debtor_id": org, "name": "Per Olsen", "email": "per@fjord.example"}])

    summary = engine_for(config, store).run(["debtors", "contacts"])["contacts"]

    assert summary.matched == 1  # Kari, by e-mail in any case
    erp_names = sorted(c["name"] for c in economic.all_raw("contacts"))
    crm_names = sorted(p["PersonName"] or "" for p in webcrm.all_raw("Persons"))
    assert erp_names == ["Kari Nordmann", "Ola Hansen", "Per Olsen"]
    assert crm_names == ["Kari Nordmann", "Ola Hansen", "Per Olsen"]
    assert all(p["PersonOrganisationId"] == int(org) for p in webcrm.all_raw("Persons"))
    with store.connect() as conn:
        debtor_ids = set(conn.execute(sa.select(hub("contacts").c.debtor_id)).scalars())
        assert len(debtor_ids) == 1 and None not in debtor_ids

    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)
    engine_for(config, store).run(["debtors", "contacts"])
    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []


def test_items_flow_from_the_erp_to_the_crm_only(setup):
    config, store, webcrm, economic = setup
    economic.seed("items", [{"number": "P-100", "name": "Consulting hour", "unit_price": "950.00"},
                            {"number": "P-101", "name": "Licence pro", "unit_price": "8900.00"}])
    webcrm.seed("items", [{"number": "X-1", "name": "CRM-only product"}])

    engine_for(config, store).run(["items"])

    products = {p["ProductPlus1"]: p for p in webcrm.all_raw("Products")}
    assert set(products) == {"P-100", "P-101", "X-1"}
    assert float(products["P-100"]["ProductListPrice"]) == 950.0
    assert sorted(p["productNumber"] for p in economic.all_raw("products")) == ["P-100", "P-101"]

    economic.update_raw("products", "P-100", {"salesPrice": 990.0})
    engine_for(config, store).run(["items"])
    products = {p["ProductPlus1"]: p for p in webcrm.all_raw("Products")}
    assert float(products["P-100"]["ProductListPrice"]) == 990.0
