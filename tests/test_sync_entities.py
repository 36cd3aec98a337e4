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


def test_invoices_with_lines_and_payments_reach_the_crm(store, webcrm, economic, secrets_env):
    erp_to_crm = {"direction": "erp_to_crm"}
    config = make_config(
        webcrm.base_url, economic.base_url, store.url,
        debtors={"erp_defaults": DEFAULTS}, items=erp_to_crm, invoices=erp_to_crm,
        invoice_lines=erp_to_crm, payments=erp_to_crm,
    )
    [customer] = economic.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO"}])
    economic.seed("items", [{"number": "P-100", "name": "Consulting hour", "unit_price": "950.00"}])
    [invoice] = economic.seed("invoices", [{
        "debtor_id": customer, "invoice_date": "2026-03-02", "due_date": "2026-03-16", "currency": "DKK",
        "lines": [{"line_number": 1, "item_id": "P-100", "description": "Consulting", "quantity": "6", "unit_price": "950.00"},
                  {"line_number": 2, "description": "Travel", "quantity": "1", "unit_price": "450.00"}],
    }])
    economic.register_payment(int(invoice), "1000.00")

    summaries = engine_for(config, store).run()

    assert {name: s.held_back for name, s in summaries.items() if s.held_back} == {}
    [delivery] = webcrm.all_raw("Deliveries")
    [organisation] = webcrm.all_raw("Organisations")
    [product] = webcrm.all_raw("Products")
    assert delivery["DeliveryErpId"] == invoice
    assert delivery["DeliveryOrganisationId"] == organisation["OrganisationId"]
    assert float(delivery["DeliveryOrderValue"]) == 6150.0
    lines = sorted(webcrm.all_raw("QuotationLines"), key=lambda line: line["QuotationLineSortOrder"])
    assert [line["QuotationLineComment"] for line in lines] == ["Consulting", "Travel"]
    assert lines[0]["QuotationLineData9"] == str(product["ProductId"])  # the line points at the CRM's product
    assert float(delivery["DeliveryCustom5"]) == 1000.0  # paid so far

    crm_mark = len(webcrm.request_log)
    engine_for(config, store).run()
    assert writes(webcrm, crm_mark) == []

    economic.register_payment(int(invoice), "500.00")
    engine_for(config, store).run()
    [delivery] = webcrm.all_raw("Deliveries")
    assert float(delivery["DeliveryCustom5"]) == 1500.0
