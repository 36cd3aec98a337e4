"""The test-only system syncs against e-conomic's emulator like any built-in CRM: found through
the registry, configured by name, pulled, reconciled, pushed both ways, numbers written back."""

from __future__ import annotations

import pytest

from ledgerbridge.config import parse_config
from ledgerbridge.sync.engine import SyncEngine
from ledgerbridge.systems import build_connector, get

from contract.minimal_system import MiniEmulator
from sync_helpers import writes


@pytest.fixture
def mini(monkeypatch):
    monkeypatch.setenv("LB_TEST_MINI_KEY", "mini-test-key")
    emulator = MiniEmulator(api_key="mini-test-key")
    emulator.start()
    yield emulator
    emulator.stop()


def test_the_minimal_crm_syncs_both_ways_with_economic(mini, economic, sqlite_store, secrets_env):
    assert get("minicrm").label == "MiniCRM (tests only)"
    mini.seed("debtors", [{"name": "Nordlys Consult ApS", "country": "DK", "city": "Aarhus", "crm_type": "Customer"},
                          {"name": "Just A Lead GmbH", "country": "DE", "crm_type": "Lead"}])
    economic.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO", "city": "Bergen"}])
    config = parse_config({
        "crm": {"system": "minicrm", "base_url": mini.base_url, "secrets": {"api_key": "LB_TEST_MINI_KEY"}},
        "erp": {"system": "economic", "base_url": economic.base_url,
                "secrets": {"app_secret_token": "LB_TEST_ECONOMIC_SECRET",
                            "agreement_grant_token": "LB_TEST_ECONOMIC_GRANT"}},
        "hub": {"url": sqlite_store.url},
        "entities": {"debtors": {"create_in_erp": "crm_type == 'Customer'",
                                 "erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}}},
    })

    def run():
        connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
        try:
            return SyncEngine(config, sqlite_store, connectors).run()
        finally:
            for connector in connectors.values():
                connector.close()

    summary = run()["debtors"]

    assert summary.created == 2 and not summary.failed  # one to each side
    customers = {c["name"]: c for c in economic.all_raw("customers")}
    assert set(customers) == {"Fjord Trading AS", "Nordlys Consult ApS"}
    assert customers["Nordlys Consult ApS"]["country"] == "Denmark"  # the one country translation
    companies = {c["name"]: c for c in mini.tables.rows["companies"].values()}
    assert companies["Fjord Trading AS"]["country"] == "Norway"
    # e-conomic assigned the customer number; it was written back to the CRM in the same run.
    assert companies["Nordlys Consult ApS"]["customer_no"] == str(customers["Nordlys Consult ApS"]["customerNumber"])

    mark_crm, mark_erp = len(mini.request_log), len(economic.request_log)
    again = run()["debtors"]
    assert again.created == again.updated == 0
    assert writes(mini, mark_crm) == [] and writes(economic, mark_erp) == []
