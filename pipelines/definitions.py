"""The code location. The sync configuration comes from $LEDGERBRIDGE_CONFIG; without it, the
embedded default is the demo's (emulated webCRM and e-conomic, SQLite hub in ./ledgerbridge-demo),
so `dagster dev` always loads."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, EnvVar, in_process_executor

from assets import entity_assets
from assets.analytics import analytics_assets
from ledgerbridge.config import SyncConfig, SystemConfig, load_config, parse_config
from ledgerbridge.sync.engine import enabled_entities
from pipelines.jobs import entity_jobs, schedules
from pipelines.sensors import build_sensors
from resources import EconomicResource, HubStoreResource, SyncConfigResource, WebcrmResource

DEFAULT_WORKDIR = Path("ledgerbridge-demo")


def config_path() -> Path:
    return Path(os.environ.get("LEDGERBRIDGE_CONFIG", DEFAULT_WORKDIR / "config.yaml"))


def default_config() -> SyncConfig:
    from ledgerbridge.demo.run import DEFAULT_CRM, DEFAULT_ERP, demo_config
    from ledgerbridge.systems import get

    crm, erp = (f"http://127.0.0.1:{get(name).emulation.demo_port}" for name in (DEFAULT_CRM, DEFAULT_ERP))
    return parse_config(demo_config(DEFAULT_WORKDIR, crm, erp), "embedded default")


def connector_resource(system: SystemConfig):
    if system.system == "webcrm":
        return WebcrmResource(
            base_url=system.base_url,
            api_key=EnvVar(system.secrets["api_key"]),
            number_field=str(system.options.get("number_field", "OrganisationExtraCustom1")),
            rate_per_second=system.rate_per_second,
        )
    return EconomicResource(
        base_url=system.base_url,
        app_secret_token=EnvVar(system.secrets["app_secret_token"]),
        agreement_grant_token=EnvVar(system.secrets["agreement_grant_token"]),
        rate_per_second=system.rate_per_second,
    )


def build_definitions(path: Path | None = None) -> Definitions:
    path = path or config_path()
    if path.exists():
        config = load_config(path)
    else:
        config = default_config()
        path = DEFAULT_WORKDIR / "config.yaml"
    entities = enabled_entities(config)
    assets = [a for name in entities for a in entity_assets(name)] + analytics_assets(entities)
    jobs = entity_jobs(entities)
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules(config, entities),
        sensors=build_sensors(config, entities, jobs),
        resources={
            "hub": HubStoreResource(url=config.hub.resolved_url(f"sqlite:///{(DEFAULT_WORKDIR / 'hub.db').resolve()}")),
            "sync_config": SyncConfigResource(path=str(path.resolve())),
            "crm": connector_resource(config.crm),
            "erp": connector_resource(config.erp),
        },
        # Small, frequent runs: one process, no start-up cost per step.
        executor=in_process_executor,
    )


defs = build_definitions()
