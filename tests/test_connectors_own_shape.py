"""Connectors against emulators seeded in the systems' own shapes (tests/own_shape.py): what they
read is asserted as model values, what they write as the raw remote fields the system stores."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge.systems.economic.connector import EconomicConnector
from ledgerbridge.systems.economic.emulator import EconomicEmulator
from ledgerbridge.systems.economic.mapping import ECONOMIC_VAT_ZONES
from ledgerbridge.systems.webcrm.connector import WebcrmConnector
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator
from ledgerbridge.vat_zones import VatZones
from own_shape import ECONOMIC_CUSTOMER, ECONOMIC_PRODUCT, WEBCRM_ORGANISATION

SECRET, GRANT, API_KEY = "app-secret", "grant", "api-key"


@pytest.fixture
def economic():
    with EconomicEmulator(app_secret_token=SECRET, agreement_grant_token=GRANT) as emulator:
        yield emulator


@pytest.fixture
def erp(economic):
    connector = EconomicConnector(economic.base_url, SECRET, GRANT, backoff_base=0.01, timeout=10)
    yield connector
    connector.close()


@pytest.fixture
def webcrm():
    with WebcrmEmulator(api_keys=(API_KEY,)) as emulator:
        yield emulator


@pytest.fixture
def crm(webcrm):
    connector = WebcrmConnector(webcrm.base_url, API_KEY, backoff_base=0.01, max_attempts=4)
    yield connector
    connector.close()


# -- e-conomic --------------------------------------------------------------------------------

def test_a_customer_reads_with_its_vat_zone_mobile_and_address_parts(economic, erp):
    economic.insert_raw("customers", ECONOMIC_CUSTOMER)

    values = erp.get("debtors", "7001").values

    assert (values["street"], values["house_number"]) == ("Avenue des Arts", "No 5")
    assert values["country"] == "BE" and values["vat_zone"] == "eu"
    assert values["mobile"] == "+32 470 12 34 56" and values["phone"] == "+32 2 512 34 56"
    assert (values["currency"], values["payment_terms"], values["customer_group"]) == ("EUR", "2", "2")
    assert not values["barred"]


def test_a_customer_update_keeps_what_it_does_not_change(economic, erp):
    economic.insert_raw("customers", ECONOMIC_CUSTOMER)

    erp.update("debtors", "7001", {"city": "Ixelles"})

    [stored] = economic.all_raw("customers")
    assert stored["city"] == "Ixelles"
    for kept in ("address", "mobilePhone", "telephoneAndFaxNumber", "corporateIdentificationNumber", "website", "email",
                 "country"):
        assert stored[kept] == ECONOMIC_CUSTOMER[kept], kept
    assert stored["vatZone"] == {"vatZoneNumber": 2}
    assert "balance" not in stored and "self" not in stored  # read-only answers are not stored back


def test_a_created_customer_holds_e_conomic_s_fields(economic, erp):
    created = erp.create("debtors", {"name": "Alpen Design AG", "street": "Bahnhofstrasse", "house_number": "10",
                                     "postcode": "8001", "city": "Zürich", "country": "CH", "mobile": "+41 79 123 45 67",
                                     "currency": "CHF", "payment_terms": "1", "customer_group": "2"})

    stored = economic.all_raw("customers")[-1]
    assert stored["address"] == "Bahnhofstrasse 10" and stored["country"] == "Switzerland"
    assert stored["vatZone"] == {"vatZoneNumber": 3} and stored["mobilePhone"] == "+41 79 123 45 67"
    assert stored["paymentTerms"] == {"paymentTermsNumber": 1} and stored["customerGroup"] == {"customerGroupNumber": 2}
    assert created.values["vat_zone"] == "abroad"


def test_the_zone_codes_follow_the_configuration(economic):
    zones = VatZones.from_options({"company_country": "CH", "vat_zone_abroad": 4}, ECONOMIC_VAT_ZONES)
    erp = EconomicConnector(economic.base_url, SECRET, GRANT, vat_zones=zones)
    try:
        swiss = erp.create("debtors", {"name": "Alpen Design AG", "country": "CH", "currency": "CHF",
                                       "payment_terms": "1", "customer_group": "1"})
        danish = erp.create("debtors", {"name": "Fjord ApS", "country": "DK", "currency": "DKK",
                                        "payment_terms": "1", "customer_group": "1"})
        norwegian = erp.create("debtors", {"name": "Oslo AS", "country": "NO", "currency": "NOK",
                                           "payment_terms": "1", "customer_group": "1"})
    finally:
        erp.close()
    stored = {c["name"]: c["vatZone"]["vatZoneNumber"] for c in economic.all_raw("customers")}
    assert stored == {"Alpen Design AG": 1, "Fjord ApS": 2, "Oslo AS": 4}
    assert (swiss.values["vat_zone"], danish.values["vat_zone"], norwegian.values["vat_zone"]) == ("domestic", "eu", "abroad")


def test_a_product_reads_with_its_recommended_price(economic, erp):
    economic.insert_raw("products", ECONOMIC_PRODUCT)

    values = erp.get("items", "ADV-1").values

    assert values["recommended_price"] == Decimal("1100.00")
    assert (values["unit_price"], values["cost_price"]) == (Decimal("950.00"), Decimal("400.00"))
    assert (values["unit"], values["product_group"], values["ean"]) == ("2", "2", "5701234567899")

    erp.update("items", "ADV-1", {"recommended_price": Decimal("1200.00")})
    [stored] = economic.all_raw("products")
    assert stored["recommendedPrice"] == 1200.0 and stored["salesPrice"] == 950.0
    assert stored["unit"] == {"unitNumber": 2} and "minimumStock" not in stored


def test_invoice_lines_read_from_a_booked_invoice_with_server_fields(economic, erp):
    economic.insert_raw("customers", ECONOMIC_CUSTOMER)
    economic.insert_raw("products", ECONOMIC_PRODUCT)
    economic.book_invoice(7001, [{"product": {"productNumber": "ADV-1"}, "description": "Advice", "quantity": 3,
                                  "unitNetPrice": 950.0, "discountPercentage": 10.0}], invoice_date="2026-11-02")

    [invoice] = [r.values for c in erp.iter_changed("invoices", None) for r in c.records]
    [line] = [r.values for c in erp.iter_changed("invoice_lines", None) for r in c.records]

    assert invoice["currency"] == "EUR" and invoice["net_amount"] == Decimal("2565.00")
    assert invoice["vat_amount"] == Decimal("0.00")  # an EU customer: no Danish VAT
    assert (line["item_id"], line["quantity"], line["discount_percentage"]) == ("ADV-1", Decimal("3.00"), Decimal("10.00"))
    assert line["net_amount"] == Decimal("2565.00")


# -- webCRM -----------------------------------------------------------------------------------

def test_an_organisation_reads_in_model_terms(webcrm, crm):
    org_id = webcrm.insert_raw("Organisations", WEBCRM_ORGANISATION)["OrganisationId"]

    values = crm.get("debtors", str(org_id)).values

    assert (values["street"], values["house_number"]) == ("Straße des 17. Juni", "135")
    assert values["country"] == "DE" and values["vat_number"] == "DE136695976"
    assert values["number"] is None  # "" is webCRM's nothing


def test_an_organisation_update_writes_webcrm_s_fields(webcrm, crm):
    org_id = webcrm.insert_raw("Organisations", WEBCRM_ORGANISATION)["OrganisationId"]

    crm.update("debtors", str(org_id), {"number": "1042", "street": "Unter den Linden", "house_number": "7"})

    stored = webcrm.get_raw("Organisations", org_id)
    assert stored["OrganisationExtraCustom1"] == "1042"
    assert stored["OrganisationAddress"] == "Unter den Linden 7"
    assert stored["OrganisationTelephone"] == "+49 30 1234567" and stored["OrganisationCountry"] == "Deutschland"


def test_a_french_address_is_written_number_first(webcrm, crm):
    created = crm.create("debtors", {"name": "Maison Lumière SARL", "street": "rue de la Paix", "house_number": "12",
                                     "postcode": "75002", "city": "Paris", "country": "FR"})

    stored = webcrm.get_raw("Organisations", created.remote_id)
    assert stored["OrganisationAddress"] == "12 rue de la Paix" and stored["OrganisationCountry"] == "France"
    assert (created.values["street"], created.values["house_number"]) == ("rue de la Paix", "12")
