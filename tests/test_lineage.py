"""What the Dagster UI shows before any run: names that say what each asset holds, kinds naming the
systems and the storage, only the configured directions, column schemas, owners, descriptions, and
schedules that run in the configured time zone."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import (
    DefaultScheduleStatus, Definitions, build_schedule_context, build_sensor_context, instance_for_test, validate_run_config,
)

from ledgerbridge.config import ConfigError, parse_config
from ledgerbridge.store import T
from ledgerbridge.tenants import TenantRegistry
from pipelines.definitions import build_definitions
from pipelines.tenants import TENANTS, build_tenant_definitions

from assets.lineage import hub_key, plan_key, pull_key, push_key

WEBCRM = {"system": "webcrm", "base_url": "http://127.0.0.1:9", "secrets": {"api_key": "LB_TEST_WEBCRM_KEY"}}
ECONOMIC = {"system": "economic", "base_url": "http://127.0.0.1:9",
            "secrets": {"app_secret_token": "LB_TEST_ECONOMIC_SECRET", "agreement_grant_token": "LB_TEST_ECONOMIC_GRANT"}}
TRIBECRM = {"system": "tribecrm", "base_url": "http://127.0.0.1:9"}
POWEROFFICE = {"system": "poweroffice", "base_url": "http://127.0.0.1:9"}


def definitions(tmp_path, data: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return build_definitions(path)


def two_way(tmp_path, **extra):
    return {"crm": WEBCRM, "erp": ECONOMIC, "hub": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
            "entities": {"debtors": {"owners": {"email": "erp"}}, "contacts": {}}, **extra}


def one_way(tmp_path):
    return {"crm": WEBCRM, "erp": ECONOMIC, "hub": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
            "entities": {"debtors": {"direction": "crm_to_erp"}, "contacts": {},
                         "items": {"direction": "erp_to_crm"}}}


def graph_of(defs):
    graph = defs.resolve_asset_graph()
    return graph, {key: graph.get(key) for key in graph.get_all_asset_keys()}


def test_every_stage_has_a_name_of_its_own_that_names_its_system(tmp_path):
    graph, nodes = graph_of(definitions(tmp_path, two_way(tmp_path)))

    assert max(Counter(key.path[-1] for key in nodes).values()) == 1
    assert {key for key in nodes if nodes[key].group_name == "debtors"} == {
        pull_key("debtors", "webcrm"), pull_key("debtors", "economic"), hub_key("debtors"),
        plan_key("debtors", "economic"), push_key("debtors", "economic"),
        plan_key("debtors", "webcrm"), push_key("debtors", "webcrm")}
    assert [k.to_user_string() for k in (pull_key("debtors", "webcrm"), hub_key("debtors"),
                                         plan_key("debtors", "economic"), push_key("debtors", "economic"))] == [
        "pull/debtors_pulled_from_webcrm", "hub/debtors_golden", "plan/debtors_planned_to_economic",
        "push/debtors_pushed_to_economic"]
    assert nodes[hub_key("contacts")].parent_keys == {
        pull_key("contacts", "webcrm"), pull_key("contacts", "economic"), hub_key("debtors")}
    assert push_key("debtors", "economic") in nodes[plan_key("debtors", "webcrm")].parent_keys


def test_kinds_name_the_system_the_storage_and_great_expectations(tmp_path):
    _, nodes = graph_of(definitions(tmp_path, two_way(tmp_path)))

    assert nodes[pull_key("debtors", "webcrm")].kinds == {"webcrm", "sqlite"}
    assert nodes[pull_key("debtors", "economic")].kinds == {"economic", "sqlite"}
    assert nodes[hub_key("debtors")].kinds == {"sqlite"}
    assert nodes[plan_key("debtors", "economic")].kinds == {"economic", "sqlite", "greatexpectations"}
    assert nodes[push_key("debtors", "webcrm")].kinds == {"webcrm", "sqlite"}


def test_column_schema_owners_and_descriptions_are_on_the_definitions(tmp_path):
    data = two_way(tmp_path, dagster={"owners": ["team:finance", "erp-owner@example.com"]})
    _, nodes = graph_of(definitions(tmp_path, data))

    pulled = nodes[pull_key("debtors", "webcrm")]
    schema = pulled.metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == [c.name for c in T["crm_debtors"].columns]  # the store's layout
    columns = {c.name: c for c in schema.columns}
    assert "max length 255" in columns["name"].constraints.other and not columns["name"].constraints.nullable
    assert "owner erp" in columns["email"].constraints.other  # the configured owner, not the model's crm
    assert columns["remote_id"].type == "text" and columns["pulled_at"].type == "timestamp"
    assert pulled.metadata["dagster/table_name"] == "crm_debtors"
    golden = nodes[hub_key("debtors")].metadata["dagster/column_schema"]
    assert [c.name for c in golden.columns] == [c.name for c in T["hub_debtors"].columns]
    planned = nodes[plan_key("debtors", "economic")]
    assert planned.metadata["dagster/table_name"] == "outbox"
    assert {tuple(node.owners) for node in nodes.values() if node.key.path[0] != "analytics"} == {
        ("team:finance", "erp-owner@example.com")}
    assert "webCRM" in pulled.description and "crm_debtors" in pulled.description
    assert "e-conomic" in planned.description and "Great Expectations" in planned.description
    assert "hub_debtors" in nodes[hub_key("debtors")].description


def test_a_one_way_entity_gets_no_plan_or_push_towards_the_side_it_never_writes(tmp_path):
    defs = definitions(tmp_path, one_way(tmp_path))
    graph, nodes = graph_of(defs)

    assert plan_key("debtors", "webcrm") not in nodes and push_key("debtors", "webcrm") not in nodes
    assert push_key("debtors", "economic") in nodes
    assert plan_key("items", "economic") not in nodes and push_key("items", "economic") not in nodes
    assert push_key("items", "webcrm") in nodes
    # both sides are still pulled: matching needs what the other side holds
    assert {pull_key("items", "webcrm"), pull_key("items", "economic")} <= set(nodes)
    # a child written both ways waits for its parent only where the parent is written
    assert nodes[plan_key("contacts", "webcrm")].parent_keys == {hub_key("contacts"), push_key("contacts", "economic")}
    assert all(node.is_materializable for node in nodes.values())  # no dependency on an asset that is not there
    Definitions.validate_loadable(defs)  # every job, schedule and sensor targets what is there
    for job in defs.jobs:
        assert job.selection.resolve(graph), job.name
    sync_all = defs.resolve_job_def("sync_all")
    [nightly] = [s for s in defs.schedules if s.name == "nightly_full_reconcile"]
    [request] = nightly.evaluate_tick(build_schedule_context()).run_requests
    assert validate_run_config(sync_all, request.run_config)  # names pulls of the job only
    [lean] = [job.selection.resolve(graph) for job in defs.jobs if job.name == "sync_debtors_from_crm"]
    assert pull_key("debtors", "webcrm") in lean and pull_key("debtors", "economic") not in lean


def test_tribecrm_and_poweroffice_on_postgres_read_as_such(tmp_path, monkeypatch):
    url = "postgresql+psycopg://ledgerbridge:s3cret-pass@db.example.com/hub"
    monkeypatch.setenv("LB_TEST_LINEAGE_HUB_URL", url)
    data = {"crm": TRIBECRM, "erp": POWEROFFICE, "hub": {"url_env": "LB_TEST_LINEAGE_HUB_URL"},
            "entities": {"debtors": {}, "creditors": {"direction": "erp_to_crm"}}}
    _, nodes = graph_of(definitions(tmp_path, data))

    assert nodes[pull_key("debtors", "tribecrm")].kinds == {"tribecrm", "postgres"}
    assert nodes[plan_key("debtors", "poweroffice")].kinds == {"poweroffice", "postgres", "greatexpectations"}
    assert nodes[hub_key("creditors")].kinds == {"postgres"}
    assert plan_key("creditors", "poweroffice") not in nodes and push_key("creditors", "tribecrm") in nodes
    assert "TribeCRM" in nodes[pull_key("debtors", "tribecrm")].description
    shown = " ".join(f"{node.description} {node.metadata}" for node in nodes.values())
    assert "s3cret-pass" not in shown and "db.example.com" not in shown


def test_schedules_run_by_default_in_the_configured_time_zone(tmp_path):
    data = two_way(tmp_path, dagster={"timezone": "Europe/Copenhagen", "nightly_reconcile": "30 3 * * *"})
    data["entities"]["debtors"]["schedule"] = "0 6 * * 1-5"
    defs = definitions(tmp_path, data)

    schedules = {s.name: s for s in defs.schedules}
    assert {s.default_status for s in schedules.values()} == {DefaultScheduleStatus.RUNNING}
    assert {s.execution_timezone for s in schedules.values()} == {"Europe/Copenhagen"}
    assert schedules["nightly_full_reconcile"].cron_schedule == "30 3 * * *"
    assert schedules["sync_debtors_schedule"].cron_schedule == "0 6 * * 1-5"

    data["dagster"]["nightly_reconcile"] = None
    assert "nightly_full_reconcile" not in {s.name for s in definitions(tmp_path, data).schedules}


def test_a_default_configuration_runs_the_nightly_reconcile_at_two_utc(tmp_path):
    [nightly] = [s for s in definitions(tmp_path, two_way(tmp_path)).schedules if s.name == "nightly_full_reconcile"]
    assert (nightly.cron_schedule, nightly.execution_timezone) == ("0 2 * * *", "UTC")
    assert nightly.default_status == DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize("dagster, message", [
    ({"timezone": "Europe/Copenhagn"}, "test: dagster.timezone: unknown time zone 'Europe/Copenhagn'; use an IANA name"),
    ({"owners": ["finance"]}, "test: dagster.owners: 'finance' is neither an e-mail address nor a team written team:<name>"),
    ({"nightly_reconcile": "0 2 * *"}, "test: dagster.nightly_reconcile: '0 2 * *' is not a cron schedule of five fields"),
])
def test_a_wrong_dagster_setting_is_one_line_naming_the_field(tmp_path, dagster, message):
    with pytest.raises(ConfigError) as error:
        parse_config(two_way(tmp_path, dagster=dagster), "test")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def register(registry: TenantRegistry, name: str, crm: dict, erp: dict, entities: dict, **extra):
    registry.add(name, {"crm": {"system": crm["system"], "base_url": crm["base_url"]},
                        "erp": {"system": erp["system"], "base_url": erp["base_url"]},
                        "entities": entities, **extra})


def test_many_tenants_name_the_sides_by_role_with_every_tenants_systems_as_kinds(tmp_path):
    registry = TenantRegistry(tmp_path / "tenants")
    register(registry, "acme", WEBCRM, ECONOMIC, {"debtors": {"direction": "crm_to_erp"}},
             dagster={"owners": ["team:acme"]})
    register(registry, "nord", TRIBECRM, POWEROFFICE, {"debtors": {"direction": "crm_to_erp"}, "items": {}})
    _, nodes = graph_of(build_tenant_definitions(registry))

    assert max(Counter(key.path[-1] for key in nodes).values()) == 1
    assert nodes[pull_key("debtors", "crm")].kinds == {"webcrm", "tribecrm", "sqlite"}
    assert nodes[plan_key("debtors", "erp")].kinds == {"economic", "poweroffice", "sqlite", "greatexpectations"}
    assert plan_key("debtors", "crm") not in nodes  # no tenant writes debtors to its CRM
    assert {plan_key("items", "crm"), plan_key("items", "erp")} <= set(nodes)
    assert nodes[hub_key("items")].owners == ["team:acme"]
    assert "the CRM" in nodes[pull_key("debtors", "crm")].description


def test_a_tenants_nightly_reconcile_ticks_in_its_own_time_zone(tmp_path):
    registry = TenantRegistry(tmp_path / "tenants")
    register(registry, "kiwi", WEBCRM, ECONOMIC, {"debtors": {}}, dagster={"timezone": "Pacific/Auckland"})
    defs = build_tenant_definitions(registry)
    sensor = defs.resolve_sensor_def("tenant_schedules")
    now = datetime.now(ZoneInfo("Pacific/Auckland"))
    tick = now.replace(hour=2, minute=0, second=0, microsecond=0)  # the last 02:00 in Auckland
    tick -= timedelta(days=1) if tick > now else timedelta(0)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(TENANTS.name, ["kiwi"])
        nightly = []
        for since in (tick - timedelta(minutes=1), tick + timedelta(minutes=1)):
            with build_sensor_context(instance=instance, instance_ref=instance.get_ref(), definitions=defs,
                                      cursor=since.astimezone(timezone.utc).isoformat()) as context:
                nightly.append([r.run_key for r in sensor.evaluate_tick(context).run_requests
                                if r.tags["ledgerbridge/trigger"] == "nightly"])
    # 02:00 in Auckland (UTC+12/+13), not 02:00 UTC
    assert nightly == [[f"nightly-kiwi-debtors-{tick.isoformat()}"], []]
    assert tick.isoformat().endswith(("+12:00", "+13:00"))
