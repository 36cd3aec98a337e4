"""Number assignment policies and creation triggers for debtors created from the CRM."""

from __future__ import annotations

from conftest import make_config
from sync_helpers import engine_for

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}


def run(store, webcrm, economic, **debtors):
    config = make_config(webcrm.base_url, economic.base_url, store.url, debtors={"erp_defaults": DEFAULTS, **debtors})
    return engine_for(config, store).run(["debtors"])["debtors"]


def numbers(economic):
    return {c["name"]: c["customerNumber"] for c in economic.all_raw("customers")}


def test_erp_policy_the_erp_assigns_and_overwrites_the_crm_number(sqlite_store, webcrm, economic, secrets_env):
    economic.seed("debtors", [{"name": "Existing", "number": "500"}])
    [org] = webcrm.seed("debtors", [{"name": "New One", "number": "CRM-7", "crm_type": "Customer"}])

    run(sqlite_store, webcrm, economic, number_policy="erp")

    assigned = numbers(economic)["New One"]
    assert assigned == 501  # the next free number, as e-conomic supplies it
    assert webcrm.get_raw("Organisations", org)["OrganisationExtraCustom1"] == "501"


def test_crm_policy_the_crm_number_is_used_and_a_record_without_one_waits(sqlite_store, webcrm, economic, secrets_env):
    webcrm.seed("debtors", [{"name": "Numbered", "number": "4711", "crm_type": "Customer"},
                            {"name": "Unnumbered", "crm_type": "Customer"}])

    summary = run(sqlite_store, webcrm, economic, number_policy="crm")

    assert numbers(economic) == {"Numbered": 4711}
    assert summary.created == 1


def test_hub_policy_allocates_from_the_range_around_numbers_in_use(sqlite_store, webcrm, economic, secrets_env):
    economic.seed("debtors", [{"name": "Taken", "number": "20000"}])
    webcrm.seed("debtors", [{"name": "First", "crm_type": "Customer"}, {"name": "Second", "crm_type": "Customer"},
                            {"name": "Also Taken", "number": "20001", "crm_type": "Prospect"}])

    run(sqlite_store, webcrm, economic, number_policy="hub", number_range=[20000, 20999], create_in_erp="crm_type == 'Customer'")

    assigned = numbers(economic)
    assert sorted([assigned["First"], assigned["Second"]]) == [20002, 20003]


def test_first_invoice_trigger_waits_for_an_invoice(sqlite_store, webcrm, economic, secrets_env):
    webcrm.seed("debtors", [{"name": "No Invoice Yet", "crm_type": "Customer"}])

    summary = run(sqlite_store, webcrm, economic, create_in_erp="first_invoice")

    assert numbers(economic) == {}
    assert summary.created == 0
