"""Tenants without Dagster: the registry and its CLI, each tenant's own hub (a PostgreSQL schema or a
SQLite file), the receiver routing by tenant, run planning from inboxes and crons, the instance file."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
import yaml
from starlette.testclient import TestClient

from ledgerbridge.cli import main
from ledgerbridge.store import T, utcnow
from ledgerbridge.tenants import TenantError, TenantRegistry
from ledgerbridge.tenants.hub import schema_of
from ledgerbridge.tenants.instance import instance_config, instance_yaml
from ledgerbridge.tenants.receiver import create_tenants_app
from ledgerbridge.tenants.triggers import InboxEvent, InboxReader, last_tick, plan_inbox_runs

from tenant_fixtures import WEBHOOK_SECRET

WEBCRM_EVENT = {"HookId": 1, "EventType": "Update", "Entity": "Organisation", "Id": 42, "Data": {"OrganisationName": "A"}}


def add(registry: TenantRegistry, name: str, hub_server_env: str | None = None, **entities):
    return registry.add(name, {
        "crm": {"system": "webcrm", "base_url": "http://127.0.0.1:9"},
        "erp": {"system": "economic", "base_url": "http://127.0.0.1:9"},
        "entities": entities or {"debtors": {}},
    }, hub_server_env=hub_server_env)


def inbox_rows(store) -> list[dict]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(T["inbox"])).mappings()]


# -- the registry and the CLI -----------------------------------------------------------------------

def test_cli_adds_lists_and_removes_a_tenant_with_its_own_secret_names_and_hub(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LEDGERBRIDGE_HUB_URL", raising=False)
    directory = tmp_path / "tenants"
    assert main(["tenants", "--dir", str(directory), "add", "acme", "--crm", "tribecrm", "--crm-url",
                 "http://127.0.0.1:9", "--erp", "poweroffice", "--erp-url", "http://127.0.0.1:9"]) == 0
    printed = capsys.readouterr().out
    written = yaml.safe_load((directory / "acme.yaml").read_text())
    assert written["crm"]["secrets"]["client_secret"] == "LEDGERBRIDGE_ACME_CRM_CLIENT_SECRET"
    assert written["crm"]["secrets"]["webhook_secret"] == "LEDGERBRIDGE_ACME_CRM_WEBHOOK_SECRET"
    assert written["erp"]["secrets"]["subscription_key"] == "LEDGERBRIDGE_ACME_ERP_SUBSCRIPTION_KEY"
    assert "LEDGERBRIDGE_ACME_ERP_SUBSCRIPTION_KEY" in printed and "/tenants/acme/hooks/" in printed
    hub_file = directory / "acme.hub.db"
    assert written["hub"] == {"url": f"sqlite:///{hub_file.resolve()}"} and hub_file.exists()

    assert main(["tenants", "--dir", str(directory), "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["crm"], listed["erp"], listed["entities"]) == ("acme", "tribecrm", "poweroffice", ["debtors"])

    assert main(["tenants", "--dir", str(directory), "add", "acme", "--crm", "webcrm", "--crm-url", "http://x.example",
                 "--erp", "economic", "--erp-url", "http://y.example"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["tenants", "--dir", str(directory), "remove", "acme", "--drop-hub"]) == 0
    assert not (directory / "acme.yaml").exists() and not hub_file.exists()
    assert TenantRegistry(directory).names() == []


@pytest.mark.parametrize("name", ["Acme", "acme_crm", "1acme", "a" * 33, "acme-2"])
def test_tenant_names_that_could_collide_in_variables_or_schemas_are_refused(tmp_path, name):
    with pytest.raises(TenantError, match="lower-case letters and digits"):
        add(TenantRegistry(tmp_path), name)


def test_a_tenant_file_naming_another_tenants_secret_or_hub_does_not_load(tmp_path):
    registry = TenantRegistry(tmp_path)
    add(registry, "acme")
    add(registry, "bolt")
    acme = yaml.safe_load((tmp_path / "acme.yaml").read_text())
    acme["crm"]["secrets"]["api_key"] = "LEDGERBRIDGE_BOLT_CRM_API_KEY"
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(acme))
    with pytest.raises(TenantError, match=r"crm.secrets.api_key names LEDGERBRIDGE_BOLT_CRM_API_KEY.*LEDGERBRIDGE_ACME_CRM_API_KEY"):
        registry.get("acme")
    acme["crm"]["secrets"]["api_key"] = "LEDGERBRIDGE_ACME_CRM_API_KEY"
    acme["hub"] = yaml.safe_load((tmp_path / "bolt.yaml").read_text())["hub"]
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(acme))
    with pytest.raises(TenantError, match="hub must be the tenant's own"):
        registry.get("acme")


def test_postgresql_hubs_are_one_schema_per_tenant_and_nothing_lands_in_public(tmp_path, pg_server_url, monkeypatch):
    from pg import fresh_database

    database = fresh_database(pg_server_url)
    monkeypatch.setenv("LEDGERBRIDGE_HUB_URL", database)
    registry = TenantRegistry(tmp_path)
    acme, bolt = add(registry, "acme", "LEDGERBRIDGE_HUB_URL"), add(registry, "bolt", "LEDGERBRIDGE_HUB_URL")
    assert (schema_of(acme.hub_url()), schema_of(bolt.hub_url())) == ("tenant_acme", "tenant_bolt")
    acme_store, bolt_store = acme.open_store(), bolt.open_store()
    with acme_store.begin() as conn:
        conn.execute(sa.insert(T["inbox"]).values(system="webcrm", entity="debtors", event="Update", remote_id="1",
                                                  payload="{}", received_at=utcnow(), event_key="acme-only"))
    assert [r["event_key"] for r in inbox_rows(acme_store)] == ["acme-only"]
    assert inbox_rows(bolt_store) == []
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        public = conn.execute(sa.text("select count(*) from information_schema.tables where table_schema = 'public'")).scalar()
        acme_inbox = conn.execute(sa.text("select count(*) from tenant_acme.inbox")).scalar()
    engine.dispose()
    assert (public, acme_inbox) == (0, 1)
    # One engine reads both tenants' inboxes (schema_translate_map), each sees only its own.
    reader = InboxReader()
    assert [e.id for e in reader.new_events(acme, 0)] == [1] and reader.new_events(bolt, 0) == []
    assert len(reader._engines) == 1
    reader.close()
    registry.remove("acme", drop_hub=True)
    with bolt_store.connect() as conn:  # the other tenant's hub is untouched
        assert conn.execute(sa.select(sa.func.count()).select_from(T["inbox"])).scalar() == 0
    acme_store.dispose()
    bolt_store.dispose()


# -- the receiver routes by tenant --------------------------------------------------------------------

def test_the_receiver_puts_an_event_in_its_tenants_inbox_only(tmp_path, monkeypatch):
    registry = TenantRegistry(tmp_path)
    for name in ("acme", "bolt"):
        monkeypatch.setenv(f"LEDGERBRIDGE_{name.upper()}_CRM_WEBHOOK_TOKEN", f"{WEBHOOK_SECRET}-{name}")
        monkeypatch.setenv(f"LEDGERBRIDGE_{name.upper()}_ERP_WEBHOOK_SECRET", f"{WEBHOOK_SECRET}-{name}-erp")
        add(registry, name)
    app, receivers = create_tenants_app(registry)
    with TestClient(app) as client:
        token = f"{WEBHOOK_SECRET}-acme"
        accepted = client.post(f"/tenants/acme/hooks/webcrm/debtors?token={token}", json=WEBCRM_EVENT)
        assert accepted.status_code == 202
        # acme's token on bolt's address: bolt's secret does not verify it
        assert client.post(f"/tenants/bolt/hooks/webcrm/debtors?token={token}", json=WEBCRM_EVENT).status_code == 403
        assert client.post(f"/tenants/nobody/hooks/webcrm/debtors?token={token}", json=WEBCRM_EVENT).status_code == 404
        # added after the receiver started: served without a restart
        monkeypatch.setenv("LEDGERBRIDGE_CODA_CRM_WEBHOOK_TOKEN", f"{WEBHOOK_SECRET}-coda")
        monkeypatch.setenv("LEDGERBRIDGE_CODA_ERP_WEBHOOK_SECRET", f"{WEBHOOK_SECRET}-coda-erp")
        add(registry, "coda")
        late = client.post(f"/tenants/coda/hooks/webcrm/debtors?token={WEBHOOK_SECRET}-coda", json=WEBCRM_EVENT)
        assert late.status_code == 202
        registry.remove("coda")
        assert client.post(f"/tenants/coda/hooks/webcrm/debtors?token={WEBHOOK_SECRET}-coda", json=WEBCRM_EVENT).status_code == 404
    stores = {name: registry.get(name).open_store() for name in ("acme", "bolt")}
    assert [(r["system"], r["remote_id"]) for r in inbox_rows(stores["acme"])] == [("webcrm", "42")]
    assert inbox_rows(stores["bolt"]) == []
    receivers.close()
    for store in stores.values():
        store.dispose()


def test_a_tenant_whose_webhook_secret_is_unset_gets_503_and_others_go_on(tmp_path, monkeypatch):
    registry = TenantRegistry(tmp_path)
    add(registry, "acme")  # no LEDGERBRIDGE_ACME_*_WEBHOOK_* variables
    app, receivers = create_tenants_app(registry)
    with TestClient(app) as client:
        r = client.post("/tenants/acme/hooks/webcrm/debtors?token=x", json=WEBCRM_EVENT)
        assert r.status_code == 503 and "LEDGERBRIDGE_ACME" not in r.text
        assert client.get("/healthz").json() == {"ok": True, "tenants": 1}
    receivers.close()


# -- what the sensors launch -------------------------------------------------------------------------

def _event(id_: int, entity: str, system: str = "webcrm") -> InboxEvent:
    return InboxEvent(id_, system, entity, datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_inbox_events_become_one_run_per_entity_unless_one_is_waiting():
    events = [_event(1, "debtors"), _event(2, "contacts"), _event(3, "debtors", "economic"), _event(4, "payments")]
    plan = plan_inbox_runs("acme", ["debtors", "contacts"], events, waiting={("acme", "contacts"), ("bolt", "debtors")})
    [run] = plan.runs
    assert (run.tenant, run.entity, run.first_id, run.last_id, run.events, run.systems) == (
        "acme", "debtors", 1, 3, 2, ("economic", "webcrm"))
    assert plan.ignored == 1 and plan.covered == ["1 contacts event(s) of acme covered by a waiting run"]


def test_a_cron_is_due_once_for_its_last_tick_in_the_window():
    at = lambda h, m, s=0: datetime(2026, 1, 1, h, m, s, tzinfo=timezone.utc)  # noqa: E731
    assert last_tick("*/15 * * * *", at(11, 59, 30), at(12, 0, 0)) == [at(12, 0)]
    assert last_tick("*/15 * * * *", at(12, 0, 0), at(12, 0, 30)) == []  # the same tick is not due twice
    assert last_tick("*/15 * * * *", at(11, 0), at(12, 1)) == [at(12, 0)]  # missed ticks: one catch-up


# -- the instance ----------------------------------------------------------------------------------

def test_the_instance_file_is_valid_for_dagster_and_holds_the_three_limits():
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    text = instance_yaml(max_runs=7, per_tenant=3)
    assert validate_config(dagster_instance_config_schema(), yaml.safe_load(text)).success
    config = instance_config(max_runs=7, per_tenant=3)
    coordinator = config["run_coordinator"]["config"]
    assert coordinator["max_concurrent_runs"] == 7
    assert {(l["key"], l["limit"]) for l in coordinator["tag_concurrency_limits"]} == {
        ("dagster/partition", 3), ("ledgerbridge/tenant_entity", 1)}
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert "run_launcher" not in config
    assert instance_config(launcher="k8s")["run_launcher"]["class"] == "K8sRunLauncher"
    assert instance_config(launcher="docker")["run_launcher"]["class"] == "DockerRunLauncher"
    with pytest.raises(ValueError, match="per_tenant must be at least 1"):
        instance_config(per_tenant=0)
    with pytest.raises(ValueError, match="choose one of default, docker, k8s"):
        instance_config(launcher="celery")


def test_the_shipped_deploy_files_limit_on_the_tags_the_runs_carry():
    from pathlib import Path

    from ledgerbridge.tenants.instance import PARTITION_TAG, TENANT_ENTITY_TAG

    deploy = Path(__file__).resolve().parents[1] / "deploy"
    assert (deploy / "compose" / "dagster.yaml").read_text() == instance_yaml(max_runs=8, per_tenant=2)
    values = yaml.safe_load((deploy / "helm" / "values.yaml").read_text())
    limits = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert {(l["key"], l["limit"]) for l in limits} == {(PARTITION_TAG, 2), (TENANT_ENTITY_TAG, 1)}
    [code] = values["dagster-user-deployments"]["deployments"]
    assert code["dagsterApiGrpcArgs"] == ["--module-name", "pipelines.definitions"]
    compose = yaml.safe_load((deploy / "compose" / "docker-compose.yaml").read_text())
    assert compose["services"]["hooks"]["command"][:3] == ["ledgerbridge", "tenants", "hooks"]
    assert '"--module-name", "pipelines.definitions"' in (deploy / "Dockerfile").read_text()
