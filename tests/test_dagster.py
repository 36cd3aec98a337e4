"""The Dagster layer: the Definitions load, and the debtors road materialises against live emulators."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml
from dagster import AssetKey, DagsterInstance, materialize

from assets.lineage import hub_key, plan_key, pull_key, push_key

from ledgerbridge.config import ConfigError
from ledgerbridge.demo.run import demo_config
from ledgerbridge.store import T, HubStore

from conftest import make_config
from pipelines.definitions import build_definitions
from sync_helpers import writes

CUSTOMER = {"name": "Nordlys Consult ApS", "country": "DK", "vat_number": "DK13585628", "crm_type": "Customer"}
BROKEN = {"name": "Broken Vat A/S", "country": "DK", "vat_number": "DK13585629", "crm_type": "Customer"}


def definitions_for(tmp_path, webcrm, economic, store_url):
    config = make_config(webcrm.base_url, economic.base_url, store_url)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return build_definitions(path)


def test_without_a_configuration_loading_fails_naming_the_variable(monkeypatch):
    monkeypatch.delenv("LEDGERBRIDGE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="LEDGERBRIDGE_CONFIG is not set"):
        build_definitions()
    monkeypatch.setenv("LEDGERBRIDGE_CONFIG", "/nonexistent/config.yaml")
    with pytest.raises(ConfigError, match="LEDGERBRIDGE_CONFIG=/nonexistent/config.yaml: no such file"):
        build_definitions()


def test_the_demo_definitions_load(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(demo_config(tmp_path, "http://127.0.0.1:18801", "http://127.0.0.1:18802")))
    monkeypatch.setenv("LEDGERBRIDGE_CONFIG", str(path))
    defs = build_definitions()
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert push_key("debtors", "economic") in keys
    assert AssetKey(["analytics", "sales_lines"]) in keys  # the demo configures every entity
    assert hub_key("items") in defs.resolve_asset_graph().get(AssetKey(["analytics", "sales_lines"])).parent_keys
    assert defs.resolve_job_def("sync_all") is not None
    assert {s.name for s in defs.schedules} >= {"nightly_full_reconcile"}


def test_lineage_runs_pull_reconcile_plan_push(tmp_path, webcrm, economic, secrets_env):
    defs = definitions_for(tmp_path, webcrm, economic, f"sqlite:///{tmp_path / 'hub.db'}")
    graph = defs.resolve_asset_graph()
    parents = lambda key: graph.get(key).parent_keys  # noqa: E731
    assert parents(hub_key("debtors")) >= {pull_key("debtors", "webcrm"), pull_key("debtors", "economic")}
    assert parents(push_key("debtors", "economic")) == {plan_key("debtors", "economic")}
    assert push_key("debtors", "economic") in parents(plan_key("debtors", "webcrm"))  # numbers written back after


def test_materialising_the_debtors_road_syncs_and_reports(tmp_path, webcrm, economic, secrets_env):
    webcrm.seed("debtors", [CUSTOMER, BROKEN])
    economic.seed("debtors", [{"name": "Fjord Trading AS", "country": "NO"}])
    defs = definitions_for(tmp_path, webcrm, economic, f"sqlite:///{tmp_path / 'hub.db'}")
    assets = list(defs.assets)
    resources = defs.resources
    instance = DagsterInstance.ephemeral()

    result = materialize(assets, resources=resources, instance=instance)

    assert result.success
    assert sorted(c["name"] for c in economic.all_raw("customers")) == ["Fjord Trading AS", "Nordlys Consult ApS"]
    pulled = result.asset_materializations_for_node(pull_key("debtors", "webcrm").to_python_identifier())[0].metadata
    assert pulled["dagster/row_count"].value == 2
    assert pulled["dagster/table_name"].value == "crm_debtors"
    [gate] = [e for e in result.get_asset_check_evaluations()
              if e.asset_key == plan_key("debtors", "economic") and e.check_name == "quality_gate"]
    assert gate.passed
    assert gate.metadata["held_back"].value == 1
    held_ids = gate.metadata["held_back_ids"].value
    assert "vat_number" in held_ids and "Broken Vat" not in held_ids  # hub ids and rules, never names

    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)
    again = materialize(assets, resources=resources, instance=instance)
    assert again.success
    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []


def test_a_dry_run_writes_nothing_remote_and_records_nothing(tmp_path, webcrm, economic, secrets_env):
    webcrm.seed("debtors", [CUSTOMER, BROKEN])
    hub_url = f"sqlite:///{tmp_path / 'hub.db'}"
    defs = definitions_for(tmp_path, webcrm, economic, hub_url)
    run_config = {"resources": {"run_options": {"config": {"dry_run": True}}}}
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)

    result = materialize(list(defs.assets), resources=defs.resources, run_config=run_config)

    assert result.success
    assert economic.all_raw("customers") == []
    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []
    store = HubStore(hub_url)
    with store.connect() as conn:  # as `sync --dry-run`: no outbox rows, no quarantine findings
        assert conn.execute(sa.select(sa.func.count()).select_from(T["outbox"])).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(T["quarantine"])).scalar_one() == 0
    store.dispose()
    [gate] = [e for e in result.get_asset_check_evaluations()
              if e.asset_key == plan_key("debtors", "economic") and e.check_name == "quality_gate"]
    assert gate.metadata["held_back"].value == 1  # the check still says what it would hold back
