"""Fuzzy suggestions reviewed with `ledgerbridge matches`, held records listed with `ledgerbridge quarantine`."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import make_config
from ledgerbridge.cli import main
from sync_helpers import engine_for

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}
CRM_SPELLING = {"name": "BAKERY HANSEN AS", "street": "Vestergade", "house_number": "12", "postcode": "8000",
                "city": "Aarhus", "country": "DK", "crm_type": "Customer"}
ERP_SPELLING = {"name": "Bakery Hansen A/S", "street": "Vestergade", "house_number": "12", "postcode": "8000",
                "city": "Aarhus", "country": "DK"}


@pytest.fixture
def setup(tmp_path, sqlite_store, webcrm, economic, secrets_env):
    config = make_config(webcrm.base_url, economic.base_url, sqlite_store.url, debtors={"erp_defaults": DEFAULTS})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return config, sqlite_store, webcrm, economic, str(path)


def cli_json(capsys, *args):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_look_alike_is_suggested_not_merged_and_accepting_links_it(setup, capsys):
    config, store, webcrm, economic, path = setup
    webcrm.seed("debtors", [CRM_SPELLING])
    economic.seed("debtors", [ERP_SPELLING])

    summary = engine_for(config, store).run()["debtors"]

    assert summary.suggestions == 1
    assert len(economic.all_raw("customers")) == 1 and len(webcrm.all_raw("Organisations")) == 1  # nothing created
    [suggestion] = cli_json(capsys, "matches", "list", "--config", path)
    assert suggestion["score"] >= 80 and "name" in suggestion["evidence"]

    assert main(["matches", "accept", str(suggestion["id"]), "--config", path]) == 0
    engine_for(config, store).run()

    [customer] = economic.all_raw("customers")
    [organisation] = webcrm.all_raw("Organisations")
    assert organisation["OrganisationExtraCustom1"] == str(customer["customerNumber"])  # linked, number written back
    assert customer["name"] == "BAKERY HANSEN AS"  # the name is owned by the CRM


def test_rejecting_a_suggestion_keeps_both_companies(setup, capsys):
    config, store, webcrm, economic, path = setup
    webcrm.seed("debtors", [CRM_SPELLING])
    economic.seed("debtors", [ERP_SPELLING])
    engine_for(config, store).run()
    [suggestion] = cli_json(capsys, "matches", "list", "--config", path)

    assert main(["matches", "reject", str(suggestion["id"]), "--config", path]) == 0
    engine_for(config, store).run()

    assert len(economic.all_raw("customers")) == 2 and len(webcrm.all_raw("Organisations")) == 2


def test_quarantine_list_shows_what_is_held_and_why(setup, capsys):
    config, store, webcrm, economic, path = setup
    webcrm.seed("debtors", [{"name": "Broken Vat A/S", "country": "DK", "vat_number": "DK13585629", "crm_type": "Customer"}])
    engine_for(config, store).run()

    [finding] = cli_json(capsys, "quarantine", "list", "--config", path)

    assert finding["record_label"] == "Broken Vat A/S"
    assert finding["field"] == "vat_number" and "check digit" in finding["reason"]
    assert main(["quarantine", "list", "--config", path]) == 0
    assert "Broken Vat A/S" in capsys.readouterr().out


def test_a_configuration_error_is_named_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("crm: {system: webcrm}\n")
    assert main(["sync", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert "crm.base_url" in error and "erp" in error


def test_duplicates_within_one_system_are_reported_not_merged(setup, capsys):
    config, store, webcrm, economic, path = setup
    webcrm.seed("debtors", [
        {"name": "Nordlys Consult ApS", "country": "DK", "vat_number": "DK13585628", "crm_type": "Customer"},
        {"name": "Nordlys Consult", "country": "DK", "vat_number": "13585628", "crm_type": "Customer"},
    ])

    summary = engine_for(config, store).run()["debtors"]

    assert summary.duplicates == 1
    [twin] = [r for r in cli_json(capsys, "matches", "list", "--config", path) if r["kind"] == "duplicate"]
    assert twin["system"] == "webcrm" and twin["score"] == 100.0
    assert "vat_number" in twin["evidence"]
    assert main(["matches", "list", "--config", path]) == 0
    assert "likely duplicate(s) within one system" in capsys.readouterr().out
    assert economic.all_raw("customers") == []  # not copied into the ERP while the report is open

    assert main(["matches", "dismiss", str(twin["id"]), "--config", path]) == 0
    engine_for(config, store).run()
    assert len(economic.all_raw("customers")) == 2


def test_sync_dry_run_prints_the_plan_with_field_diffs_and_writes_nothing(setup, capsys):
    config, store, webcrm, economic, path = setup
    [org] = webcrm.seed("debtors", [{"name": "Nordlys Consult ApS", "country": "DK", "city": "Aarhus", "crm_type": "Customer"}])
    assert main(["sync", "--config", path]) == 0
    capsys.readouterr()
    webcrm.update_raw("Organisations", org, {"OrganisationCity": "Odense"})
    mark = len(economic.request_log)

    report = cli_json(capsys, "sync", "--dry-run", "--config", path)

    assert report["dry_run"] is True
    [planned] = report["entities"]["debtors"]["planned"]
    assert planned["operation"] == "update" and planned["changes"]["city"] == {"from": "Aarhus", "to": "Odense"}
    assert [m for m, _ in economic.request_log[mark:] if m in ("POST", "PUT")] == []
    assert economic.all_raw("customers")[0]["city"] == "Aarhus"
