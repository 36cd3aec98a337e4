"""What the systems really hold, end to end over the emulators (issue 15): VAT zones derived from the
customer's country and the company's own, and a bad contact detail that does not hold a customer back.

The CRM's records are planted in webCRM's own shape (OrganisationDto fields), not through the
mapping under test; what e-conomic ends up holding is asserted on its raw JSON.
"""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from conftest import make_config
from ledgerbridge.model import Severity
from ledgerbridge.store import T, hub
from ledgerbridge.sync.review import held_back, still_held
from sync_helpers import engine_for, writes

SWISS = {"OrganisationName": "Alpen Design AG", "OrganisationAddress": "Bahnhofstrasse 10",
         "OrganisationPostCode": "8001", "OrganisationCity": "Zürich", "OrganisationCountry": "Switzerland",
         "OrganisationVatNumber": "CHE-116.281.710 MWST", "OrganisationType": "Customer"}
GERMAN = {"OrganisationName": "Nordwind Handels GmbH", "OrganisationAddress": "Straße des 17. Juni 135",
          "OrganisationPostCode": "10623", "OrganisationCity": "Berlin", "OrganisationCountry": "Germany",
          "OrganisationVatNumber": "DE136695976", "OrganisationType": "Customer"}
# The phone of the real demo customers the validator judged invalid for Belgium.
BELGIAN = {"OrganisationName": "Atelier Bruxelles SPRL", "OrganisationAddress": "Avenue des Arts No 5",
           "OrganisationPostCode": "1000", "OrganisationCity": "Bruxelles", "OrganisationCountry": "Belgium",
           "OrganisationTelephone": "08343242525", "OrganisationWww": "https://atelier.example.be",
           "OrganisationType": "Customer"}


def with_erp_options(config, **options):
    return config.model_copy(update={"erp": config.erp.model_copy(update={"options": options})})


@pytest.fixture
def setup(store, webcrm, economic, secrets_env):
    return make_config(webcrm.base_url, economic.base_url, store.url), store, webcrm, economic


def customers_by_name(economic):
    return {c["name"]: c for c in economic.all_raw("customers")}


def open_findings(store, entity="debtors"):
    quarantine = T["quarantine"]
    with store.connect() as conn:
        return conn.execute(sa.select(quarantine).where(quarantine.c.entity == entity,
                                                        quarantine.c.resolved_at.is_(None))).mappings().all()


def test_swiss_and_german_customers_land_in_economic_with_their_vat_zones(setup):
    config, store, webcrm, economic = setup
    webcrm.insert_raw("Organisations", SWISS)
    webcrm.insert_raw("Organisations", GERMAN)

    engine_for(config, store).run(["debtors"])

    customers = customers_by_name(economic)
    # seen from a Danish company (the default): Switzerland is abroad (3), Germany in the EU (2)
    assert customers["Alpen Design AG"]["vatZone"]["vatZoneNumber"] == 3
    assert customers["Nordwind Handels GmbH"]["vatZone"]["vatZoneNumber"] == 2
    with store.connect() as conn:
        zones = dict(conn.execute(sa.select(hub("debtors").c.name, hub("debtors").c.vat_zone)).tuples().all())
    assert zones == {"Alpen Design AG": "abroad", "Nordwind Handels GmbH": "eu"}  # the ERP's zone, shown


def test_the_erp_s_zone_comes_back_to_the_crm_s_view(setup):
    config, store, webcrm, economic = setup
    swiss = webcrm.insert_raw("Organisations", SWISS)["OrganisationId"]
    german = webcrm.insert_raw("Organisations", GERMAN)["OrganisationId"]

    engine_for(config, store).run(["debtors"])

    # webCRM's own VAT group field shows the zone e-conomic holds
    assert webcrm.get_raw("Organisations", swiss)["OrganisationVatGroup"] == "abroad"
    assert webcrm.get_raw("Organisations", german)["OrganisationVatGroup"] == "eu"
    mark = len(webcrm.request_log), len(economic.request_log)
    engine_for(config, store).run(["debtors"])
    assert writes(webcrm, mark[0]) == [] and writes(economic, mark[1]) == []


def test_the_crm_s_field_for_the_zone_is_configurable(setup):
    config, store, webcrm, economic = setup
    crm = config.crm.model_copy(update={"options": {"vat_zone_field": "OrganisationExtraCustom2"}})
    config = config.model_copy(update={"crm": crm})
    swiss = webcrm.insert_raw("Organisations", SWISS)["OrganisationId"]

    engine_for(config, store).run(["debtors"])

    stored = webcrm.get_raw("Organisations", swiss)
    assert stored["OrganisationExtraCustom2"] == "abroad" and stored["OrganisationVatGroup"] == ""


def test_the_company_country_and_the_codes_are_configurable(setup):
    config, store, webcrm, economic = setup
    config = with_erp_options(config, company_country="CH", vat_zone_abroad=4)
    webcrm.insert_raw("Organisations", SWISS)
    webcrm.insert_raw("Organisations", GERMAN)
    webcrm.insert_raw("Organisations", {**BELGIAN, "OrganisationName": "Oslo Fjord AS",
                                        "OrganisationCountry": "Norway", "OrganisationTelephone": ""})

    engine_for(config, store).run(["debtors"])

    customers = customers_by_name(economic)
    assert customers["Alpen Design AG"]["vatZone"]["vatZoneNumber"] == 1  # domestic for a Swiss company
    assert customers["Nordwind Handels GmbH"]["vatZone"]["vatZoneNumber"] == 2
    assert customers["Oslo Fjord AS"]["vatZone"]["vatZoneNumber"] == 4  # the configured code for abroad


def test_a_zone_set_by_hand_in_economic_is_kept_and_shown(setup):
    config, store, webcrm, economic = setup
    [org_id] = [webcrm.insert_raw("Organisations", GERMAN)["OrganisationId"]]
    engine_for(config, store).run(["debtors"])
    number = customers_by_name(economic)["Nordwind Handels GmbH"]["customerNumber"]
    economic.update_raw("customers", number, {"vatZone": {"vatZoneNumber": 4}})  # domestic, exempt
    webcrm.update_raw("Organisations", org_id, {"OrganisationCity": "Potsdam"})

    engine_for(config, store).run(["debtors"])

    stored = customers_by_name(economic)["Nordwind Handels GmbH"]
    assert stored["city"] == "Potsdam" and stored["vatZone"]["vatZoneNumber"] == 4
    with store.connect() as conn:
        assert conn.execute(sa.select(hub("debtors").c.vat_zone)).scalar_one() == "4"


def test_a_bad_phone_reaches_the_erp_without_the_phone_and_warns_until_fixed_at_the_source(setup):
    config, store, webcrm, economic = setup
    org_id = webcrm.insert_raw("Organisations", BELGIAN)["OrganisationId"]

    summary = engine_for(config, store).run(["debtors"])["debtors"]

    customer = customers_by_name(economic)["Atelier Bruxelles SPRL"]
    assert "telephoneAndFaxNumber" not in customer  # sent without the phone...
    assert customer["website"] == "https://atelier.example.be"  # ...and with everything else
    assert customer["address"] == "Avenue des Arts No 5"
    assert summary.held_back == []
    assert str(customer["customerNumber"]) == webcrm.get_raw("Organisations", org_id)["OrganisationExtraCustom1"]
    [warning] = open_findings(store)
    assert (warning["field"], warning["severity"], warning["value"]) == ("phone", "warn", "'08343242525'")
    assert "phone" in warning["reason"] and warning["record_label"].endswith("Atelier Bruxelles SPRL")
    with store.connect() as conn:  # what `ledgerbridge quarantine list` and the console show
        [group] = held_back(conn, {"crm": "webcrm", "erp": "economic"})
    assert (group.field, group.severity, group.target) == ("phone", "warn", "economic")
    assert "sent to economic without phone" in group.next_step
    with store.connect() as conn:  # a warning holds nothing back: no exit code 1, no failing held_back check
        assert still_held(conn, "debtors") == {}

    # a second run sends nothing more and keeps the one warning
    mark = len(economic.request_log)
    engine_for(config, store).run(["debtors"])
    assert [m for m, _ in economic.request_log[mark:] if m != "GET"] == []
    assert len(open_findings(store)) == 1

    webcrm.update_raw("Organisations", org_id, {"OrganisationTelephone": "+32 2 512 34 56"})
    engine_for(config, store).run(["debtors"])

    assert customers_by_name(economic)["Atelier Bruxelles SPRL"]["telephoneAndFaxNumber"] == "+32 2 512 34 56"
    assert open_findings(store) == []


def test_a_warned_field_keeps_the_value_the_target_holds(setup):
    config, store, webcrm, economic = setup
    org_id = webcrm.insert_raw("Organisations", {**BELGIAN, "OrganisationTelephone": "+32 2 512 34 56"})["OrganisationId"]
    engine_for(config, store).run(["debtors"])

    webcrm.update_raw("Organisations", org_id, {"OrganisationTelephone": "08343242525", "OrganisationCity": "Ixelles"})
    engine_for(config, store).run(["debtors"])

    customer = customers_by_name(economic)["Atelier Bruxelles SPRL"]
    assert customer["city"] == "Ixelles"  # the record went on
    assert customer["telephoneAndFaxNumber"] == "+32 2 512 34 56"  # the ERP keeps its good phone
    assert [(f["field"], f["severity"]) for f in open_findings(store)] == [("phone", "warn")]


def test_severity_is_configurable_per_field(setup):
    config, store, webcrm, economic = setup
    debtors = config.entities["debtors"].model_copy(update={"severity": {"phone": Severity.BLOCK}})
    config = config.model_copy(update={"entities": {"debtors": debtors}})
    webcrm.insert_raw("Organisations", BELGIAN)

    summary = engine_for(config, store).run(["debtors"])["debtors"]

    assert customers_by_name(economic) == {}
    assert [h["record"] for h in summary.held_back] == ["Atelier Bruxelles SPRL"]
    assert [(f["field"], f["severity"]) for f in open_findings(store)] == [("phone", "block")]


def test_an_erp_customer_with_a_bad_phone_reaches_the_crm_without_it(setup):
    """The real demo agreement's case: a Belgian customer whose phone the validator judges invalid."""
    config, store, webcrm, economic = setup
    economic.insert_raw("customers", {
        "name": "Brasserie Demo SA", "address": "Rue de la Loi 16", "zip": "1040", "city": "Bruxelles",
        "country": "Belgium", "currency": "EUR", "telephoneAndFaxNumber": "08343242525",
        "mobilePhone": "+32 470 12 34 56", "vatZone": {"vatZoneNumber": 2}, "barred": False,
        "customerGroup": {"customerGroupNumber": 2}, "paymentTerms": {"paymentTermsNumber": 1}})

    engine_for(config, store).run(["debtors"])

    [organisation] = webcrm.all_raw("Organisations")
    assert organisation["OrganisationName"] == "Brasserie Demo SA" and organisation["OrganisationTelephone"] == ""
    assert organisation["OrganisationAddress"] == "Rue de la Loi 16" and organisation["OrganisationVatGroup"] == "eu"
    assert [(f["target"], f["field"], f["severity"]) for f in open_findings(store)] == [("webcrm", "phone", "warn")]
    with store.connect() as conn:  # the hub keeps what e-conomic holds, mobile included
        row = conn.execute(sa.select(hub("debtors"))).mappings().one()
    assert (row["phone"], row["mobile"], row["vat_zone"]) == ("08343242525", "+32 470 12 34 56", "eu")
