"""webCRM <-> Uniconta over both emulators: the integration of the product sheet (seeds/003), end to end.

Both systems are seeded in their own shape (webCRM DTOs, Uniconta records), never through the
mappings under test; the sync runs the engine with the Uniconta package's organisation-type rule.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledgerbridge.config import parse_config
from ledgerbridge.store import T
from ledgerbridge.systems import build_connector
from ledgerbridge.systems.uniconta.emulator import UnicontaEmulator
from ledgerbridge.sync.engine import SyncEngine
from sync_helpers import writes

PASSWORD_ENV, PASSWORD = "LB_TEST_UNICONTA_PASSWORD", "test-uniconta-secret"
ENTITIES = {
    "employees": {"direction": "both", "number_policy": "crm"},
    "debtors": {"create_in_erp": "crm_type == 'Customer'", "keep_trigger_while_linked": True, "create_in_crm": "always",
                "erp_defaults": {"currency": "DKK", "customer_group": "1", "vat_group": "S25"}},
    "contacts": {"direction": "both"},
    "items": {"direction": "erp_to_crm"},
    # Entered in webCRM, created in Uniconta; both ways so the order number comes back.
    "orders": {"direction": "both", "create_in_erp": "status == 'ready'", "create_in_crm": "never"},
    "order_lines": {"direction": "both", "create_in_crm": "never"},
}


@pytest.fixture
def uniconta():
    with UnicontaEmulator(users={"sync": PASSWORD}, slow_down_seconds=0) as emulator:
        yield emulator


def config_for(webcrm, uniconta, store, **entities):
    return parse_config({
        "crm": {"system": "webcrm", "base_url": webcrm.base_url, "secrets": {"api_key": "LB_TEST_WEBCRM_KEY"},
                "options": {"sellers": True}},
        "erp": {"system": "uniconta", "base_url": uniconta.base_url, "secrets": {"password": PASSWORD_ENV},
                "options": {"company_id": uniconta.company_id, "user": "sync"}},
        "hub": {"url": store.url},
        "entities": entities or ENTITIES,
    }, "test")


@pytest.fixture
def setup(store, webcrm, uniconta, secrets_env, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return config_for(webcrm, uniconta, store), store, webcrm, uniconta


def sync(config, store):
    connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
    engine = SyncEngine(config, store, connectors)
    try:
        return engine.run()
    finally:
        for connector in connectors.values():
            connector.close()


def organisation(**extra):
    return {"OrganisationName": "Nordlys A/S", "OrganisationAddress": "Vestergade 12", "OrganisationPostCode": "8000",
            "OrganisationCity": "Aarhus", "OrganisationCountry": "Denmark", "OrganisationVatNumber": "13585628",
            "OrganisationTelephone": "+45 70 20 20 20", "OrganisationType": "Prospect", **extra}


def test_the_integration_end_to_end(setup):
    config, store, webcrm, uniconta = setup
    user = webcrm.insert_raw("Users", {"UserName": "Anna Berg", "UserEmail": "anna@firma.example", "UserInitials": "AB"})
    uniconta.insert_raw("EmployeeClient", {"Number": "CD", "Name": "Carl Dahl", "Email": "carl@firma.example"})
    org = webcrm.insert_raw("Organisations", organisation(OrganisationOwner=user["UserId"]))
    uniconta.insert_raw("InvItemClient", {"Item": "P1", "Name": "Widget", "SalesPrice1": 10.5, "CostPrice": 4.25})

    # 1. Sellers both ways by e-mail, items to webCRM; a prospect is no debtor yet.
    summary = sync(config, store)
    assert {e["Number"]: e["Email"] for e in uniconta.all_raw("EmployeeClient")} == {
        "AB": "anna@firma.example", "CD": "carl@firma.example"}
    assert {u["UserEmail"]: u["UserInitials"] for u in webcrm.all_raw("Users")} == {
        "anna@firma.example": "AB", "carl@firma.example": "CD"}
    assert uniconta.all_raw("DebtorClient") == []
    assert any("creation trigger" in reason for reason in summary["debtors"].not_created)
    product = {p["ProductPlus1"]: p for p in webcrm.all_raw("Products")}["P1"]
    assert (product["ProductListPrice"], product["ProductCostPrice"]) == (10.5, 4.25)

    # 2. Type Customer: created as a debtor with its seller, the number written back.
    webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationType": "Customer"})
    summary = sync(config, store)
    [debtor] = uniconta.all_raw("DebtorClient")
    assert (debtor["Name"], debtor["Employee"], debtor["Address1"], debtor["Country"]) == (
        "Nordlys A/S", "AB", "Vestergade 12", "Denmark")
    assert (debtor["Currency"], debtor["Group"], debtor["Vat"]) == ("DKK", "1", "S25")
    assert webcrm.get_raw("Organisations", org["OrganisationId"])["OrganisationExtraCustom1"] == debtor["Account"]
    assert (summary["debtors"].created, summary["debtors"].updated) == (1, 1)  # in Uniconta; the number to webCRM

    # 3. Back to Prospect while the debtor exists: set back to Customer.
    webcrm.update_raw("Organisations", org["OrganisationId"], {"OrganisationType": "Prospect"})
    sync(config, store)
    assert webcrm.get_raw("Organisations", org["OrganisationId"])["OrganisationType"] == "Customer"
    assert len(uniconta.all_raw("DebtorClient")) == 1

    # 4. Persons and contacts by e-mail, both ways.
    account = debtor["Account"]
    webcrm.insert_raw("Persons", {"PersonOrganisationId": org["OrganisationId"], "PersonFirstName": "Ida",
                                  "PersonLastName": "Holm", "PersonEmail": "ida@nordlys.example"})
    contact = uniconta.insert_raw("ContactClient", {"Name": "Ida Holm", "Email": "IDA@nordlys.example",
                                                    "DCType": "Debtor", "DCAccount": account, "Mobil": "+4520202020"})
    uniconta.insert_raw("ContactClient", {"Name": "Bo Lund", "Email": "bo@nordlys.example", "DCType": "Debtor",
                                          "DCAccount": account})
    sync(config, store)
    assert sorted(c["Name"] for c in uniconta.all_raw("ContactClient")) == ["Bo Lund", "Ida Holm"]
    persons = {p["PersonEmail"].lower(): p for p in webcrm.all_raw("Persons")}
    assert set(persons) == {"ida@nordlys.example", "bo@nordlys.example"}
    assert persons["ida@nordlys.example"]["PersonMobilePhone"] == "+4520202020"
    uniconta.update_raw("ContactClient", contact["RowId"], {"Title": "CFO"})
    sync(config, store)
    assert {p["PersonEmail"].lower(): p["PersonTitle"] for p in webcrm.all_raw("Persons")}["ida@nordlys.example"] == "CFO"
    webcrm.update_raw("Persons", persons["bo@nordlys.example"]["PersonId"], {"PersonTitle": "Buyer"})
    sync(config, store)
    assert {c["Name"]: c.get("Title") for c in uniconta.all_raw("ContactClient")}["Bo Lund"] == "Buyer"

    # 5. An item changed in Uniconta reaches webCRM.
    uniconta.update_raw("InvItemClient", "P1", {"SalesPrice1": 12.0})
    sync(config, store)
    assert {p["ProductPlus1"]: p for p in webcrm.all_raw("Products")}["P1"]["ProductListPrice"] == 12.0

    # 6. An order with lines entered in webCRM: created once in Uniconta, with its seller.
    opportunity = webcrm.insert_raw("Opportunities", {
        "OpportunityOrganisationId": org["OrganisationId"], "OpportunityAssignedTo": user["UserId"],
        "OpportunityDescription": "Spring order", "OpportunityCurrencyName": "DKK",
        "OpportunityErpStatus": "ReadyForSynchronization", "OpportunityCustom1": "PO-77"})
    webcrm.insert_raw("QuotationLines", {"QuotationLineOpportunityId": opportunity["OpportunityId"],
                                         "QuotationLineSortOrder": 1, "QuotationLineQuantity": 2.0,
                                         "QuotationLinePrice": 12.0, "QuotationLineComment": "Widget",
                                         "QuotationLineData9": str(product["ProductId"])})
    webcrm.insert_raw("QuotationLines", {"QuotationLineOpportunityId": opportunity["OpportunityId"],
                                         "QuotationLineSortOrder": 2, "QuotationLineQuantity": 1.0,
                                         "QuotationLinePrice": 95.0, "QuotationLineComment": "Freight"})
    sync(config, store)
    [order] = uniconta.all_raw("DebtorOrderClient")
    assert (order["Account"], order["Employee"], order["Requisition"], order["Remark"]) == (
        account, "AB", "PO-77", "Spring order")
    lines = sorted(uniconta.all_raw("DebtorOrderLineClient"), key=lambda line: line["LineNumber"])
    assert [(line.get("Item"), line["Qty"], line["Price"], line["Text"]) for line in lines] == [
        ("P1", 2.0, 12.0, "Widget"), (None, 1.0, 95.0, "Freight")]
    assert all(line["OrderNumber"] == order["OrderNumber"] for line in lines)
    assert webcrm.get_raw("Opportunities", opportunity["OpportunityId"])["OpportunityErpId"] == str(order["OrderNumber"])

    # 7. Nothing changed: a second sync writes nothing anywhere.
    crm_mark, erp_mark = len(webcrm.request_log), len(uniconta.request_log)
    sync(config, store)
    assert writes(webcrm, crm_mark) == [] and writes(uniconta, erp_mark) == []
    assert len(uniconta.all_raw("DebtorOrderClient")) == 1


def test_bad_input_is_held_back_with_a_reason_naming_record_and_field(sqlite_store, webcrm, uniconta, secrets_env,
                                                                      monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    store = sqlite_store
    config = config_for(webcrm, uniconta, store)
    webcrm.insert_raw("Organisations", organisation(OrganisationName="Good Company ApS", OrganisationType="Customer"))
    webcrm.insert_raw("Organisations", organisation(OrganisationName="No Address ApS", OrganisationType="Customer",
                                                    OrganisationPostCode="", OrganisationCity="",
                                                    OrganisationVatNumber="30000005"))
    webcrm.insert_raw("Organisations", organisation(OrganisationName="L" * 120, OrganisationType="Customer",
                                                    OrganisationVatNumber="25313763"))

    summary = sync(config, store)["debtors"]

    assert [d["Name"] for d in uniconta.all_raw("DebtorClient")] == ["Good Company ApS"]
    reasons = {h["record"]: " | ".join(h["reasons"]) for h in summary.held_back}
    assert "postcode" in reasons["No Address ApS"] and "city" in reasons["No Address ApS"]
    too_long = next(reason for record, reason in reasons.items() if record.startswith("LLL"))
    assert "name" in too_long and "100" in too_long
    with store.connect() as conn:
        fields = set(conn.execute(sa.select(T["quarantine"].c.field).where(T["quarantine"].c.target == "uniconta")).scalars())
    assert {"postcode", "city", "name"} <= fields


def test_an_order_in_an_unknown_currency_is_held_back_and_nothing_else_stops(sqlite_store, webcrm, uniconta,
                                                                            secrets_env, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    store = sqlite_store
    config = config_for(webcrm, uniconta, store)
    org = webcrm.insert_raw("Organisations", organisation(OrganisationType="Customer"))
    for currency, text in (("XYZ", "Bad currency"), ("EUR", "Good order")):
        webcrm.insert_raw("Opportunities", {"OpportunityOrganisationId": org["OrganisationId"],
                                            "OpportunityCurrencyName": currency, "OpportunityDescription": text,
                                            "OpportunityErpStatus": "ReadyForSynchronization"})

    summary = sync(config, store)["orders"]

    assert [o["Remark"] for o in uniconta.all_raw("DebtorOrderClient")] == ["Good order"]
    [held] = summary.held_back
    assert "currency" in " ".join(held["reasons"]) and "XYZ" in " ".join(held["reasons"])
