"""The debtors road end to end: live emulators, the engine, the hub on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from conftest import make_config
from ledgerbridge.store import T, hub
from sync_helpers import engine_for, writes

CUSTOMER = {"name": "Nordlys Consult ApS", "street": "Vestergade", "house_number": "12", "postcode": "8000",
            "city": "Aarhus", "country": "DK", "vat_number": "DK13585628", "phone": "+45 86 12 34 56",
            "crm_type": "Customer"}


@pytest.fixture
def setup(store, webcrm, economic, secrets_env):
    config = make_config(webcrm.base_url, economic.base_url, store.url)
    return config, store, webcrm, economic


def customers_by_name(economic):
    return {c["name"]: c for c in economic.all_raw("customers")}


def organisations_by_name(webcrm):
    return {o["OrganisationName"]: o for o in webcrm.all_raw("Organisations")}


def test_first_sync_creates_matches_and_writes_the_erp_number_back(setup):
    config, store, webcrm, economic = setup
    [erp_number] = economic.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO", "vat_number": "NO974760673MVA"}])
    [paired_by_number] = economic.seed("debtors", [{"name": "Alpen Design AG", "country": "CH"}])
    [paired_by_vat] = economic.seed("debtors", [{"name": "Bakery Hansen A/S", "country": "DK", "vat_number": "DK10000009"}])
    webcrm.seed("debtors", [
        CUSTOMER,
        {"name": "Alpen Design AG", "country": "CH", "number": paired_by_number, "crm_type": "Customer"},
        {"name": "Bakery Hansen A/S", "country": "DK", "vat_number": "10000009", "crm_type": "Customer"},
        {"name": "Maybe Later GmbH", "country": "CH", "crm_type": "Prospect"},
    ])

    summary = engine_for(config, store).run()["debtors"]

    customers = customers_by_name(economic)
    organisations = organisations_by_name(webcrm)
    assert sorted(customers) == ["Alpen Design AG", "Bakery Hansen A/S", "Fjord Trading AS", "Nordlys Consult ApS"]
    assert "Maybe Later GmbH" not in customers  # the creation trigger: prospects stay in the CRM
    assert sorted(organisations) == [
        "Alpen Design AG", "Bakery Hansen A/S", "Fjord Trading AS", "Maybe Later GmbH", "Nordlys Consult ApS"]
    new_number = str(customers["Nordlys Consult ApS"]["customerNumber"])
    assert organisations["Nordlys Consult ApS"]["OrganisationExtraCustom1"] == new_number  # written back
    assert organisations["Bakery Hansen A/S"]["OrganisationExtraCustom1"] == paired_by_vat
    assert organisations["Fjord Trading AS"]["OrganisationExtraCustom1"] == erp_number
    assert customers["Nordlys Consult ApS"]["address"] == "Vestergade 12"
    assert summary.matched == 2 and summary.created == 2
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(hub("debtors"))).scalar_one() == 5
        how = dict(conn.execute(sa.select(T["id_map"].c.remote_id, T["id_map"].c.linked_by)
                                .where(T["id_map"].c.system == "economic")).tuples().all())
    assert how[paired_by_number] == "number" and how[paired_by_vat] == "vat_number"


def test_a_second_sync_writes_nothing(setup):
    config, store, webcrm, economic = setup
    economic.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO"}])
    webcrm.seed("debtors", [CUSTOMER])
    engine_for(config, store).run()
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)

    summary = engine_for(config, store).run()["debtors"]

    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []
    assert summary.created == summary.updated == 0
    assert summary.unchanged == 2


def test_a_change_in_the_crm_reaches_the_erp_and_its_echo_writes_nothing(setup):
    config, store, webcrm, economic = setup
    [org_id] = webcrm.seed("debtors", [CUSTOMER])
    engine_for(config, store).run()
    webcrm.update_raw("Organisations", org_id, {"OrganisationCity": "Odense", "OrganisationPostCode": "5000"})

    summary = engine_for(config, store).run()["debtors"]

    customer = customers_by_name(economic)["Nordlys Consult ApS"]
    assert (customer["city"], customer["zip"]) == ("Odense", "5000")
    assert summary.updated == 1
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)
    engine_for(config, store).run()
    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []


def test_both_sides_change_one_field_the_owner_wins_and_the_conflict_is_recorded(setup):
    config, store, webcrm, economic = setup
    [org_id] = webcrm.seed("debtors", [CUSTOMER])
    engine_for(config, store).run()
    number = organisations_by_name(webcrm)["Nordlys Consult ApS"]["OrganisationExtraCustom1"]
    webcrm.update_raw("Organisations", org_id, {"OrganisationCity": "Odense"})
    economic.update_raw("customers", number, {"city": "Vejle"})

    engine_for(config, store).run()

    assert customers_by_name(economic)["Nordlys Consult ApS"]["city"] == "Odense"  # city is owned by the CRM
    assert organisations_by_name(webcrm)["Nordlys Consult ApS"]["OrganisationCity"] == "Odense"
    with store.connect() as conn:
        conflict = conn.execute(sa.select(T["conflicts"])).mappings().one()
    assert (conflict["field"], conflict["crm_value"], conflict["erp_value"], conflict["winner"]) == (
        "city", "Odense", "Vejle", "crm")


def test_a_bad_record_is_held_back_the_rest_go_on_and_a_fix_releases_it(setup):
    config, store, webcrm, economic = setup
    good, bad = webcrm.seed("debtors", [CUSTOMER, {**CUSTOMER, "name": "Broken Vat A/S", "vat_number": "DK13585629"}])

    summary = engine_for(config, store).run()["debtors"]

    assert sorted(customers_by_name(economic)) == ["Nordlys Consult ApS"]
    [held] = summary.held_back
    assert held["record"] == "Broken Vat A/S" and "check digit" in " ".join(held["reasons"])
    with store.connect() as conn:
        finding = conn.execute(sa.select(T["quarantine"])).mappings().one()
    assert (finding["field"], finding["resolved_at"]) == ("vat_number", None)

    webcrm.update_raw("Organisations", bad, {"OrganisationVatNumber": "DK13585628"})
    summary = engine_for(config, store).run()["debtors"]

    assert "Broken Vat A/S" in customers_by_name(economic)
    assert summary.held_back == []
    with store.connect() as conn:
        assert conn.execute(sa.select(T["quarantine"].c.resolved_at)).scalar_one() is not None


def test_a_dry_run_plans_but_writes_nothing_remote(setup):
    config, store, webcrm, economic = setup
    webcrm.seed("debtors", [CUSTOMER])
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)

    summary = engine_for(config, store).run(dry_run=True)["debtors"]

    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []
    assert [(p["operation"], p["system"], p["record"]) for p in summary.planned] == [
        ("create", "economic", "Nordlys Consult ApS")]
    assert economic.all_raw("customers") == []


def test_a_lost_confirmation_does_not_create_twice(setup):
    """A crash between the remote create and the bookkeeping: the next sync recognises the record."""
    config, store, webcrm, economic = setup
    webcrm.seed("debtors", [{**CUSTOMER, "vat_number": None}])  # no exact key to fall back on
    engine = engine_for(config, store)
    engine.pull("crm", "debtors")
    engine.pull("erp", "debtors")
    engine.reconcile("debtors")
    engine.plan("erp", "debtors")
    with store.connect() as conn:
        row = conn.execute(sa.select(T["outbox"])).mappings().one()
    # The call is made (status pending), then the process dies before confirming.
    with store.begin() as conn:
        conn.execute(T["outbox"].update().values(status="pending"))
    import json
    from ledgerbridge.sync.records import coerce
    from ledgerbridge.model import DEBTORS
    engine.connectors["erp"].create("debtors", coerce(DEBTORS, json.loads(row["payload"])["values"])[0])

    engine_for(config, store).run()

    assert [c["name"] for c in economic.all_raw("customers")] == ["Nordlys Consult ApS"]
    assert organisations_by_name(webcrm)["Nordlys Consult ApS"]["OrganisationExtraCustom1"] == str(
        economic.all_raw("customers")[0]["customerNumber"])
