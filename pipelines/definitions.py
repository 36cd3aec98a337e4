"""The code location, built from the sync configuration named by $LEDGERBRIDGE_CONFIG.

With $LEDGERBRIDGE_TENANTS_DIR set instead, one code location serves every tenant registered there
(pipelines/tenants.py). There is no silent default: without either variable (or with a file that does not exist) loading
fails with a sentence saying what to set. The demo is a choice: `bin/demo --ui` writes its
configuration and sets LEDGERBRIDGE_CONFIG to it; `ledgerbridge serve` does the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, EnvVar, definitions, in_process_executor

from assets import entity_assets
from assets.analytics import analytics_assets
from assets.lineage import Lineage, hub_storage
from ledgerbridge.config import ConfigError, SyncConfig, load_config
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.tenants import TENANTS_DIR_VARIABLE, TenantRegistry
from pipelines.jobs import entity_jobs, schedules
from pipelines.sensors import build_sensors
from resources import HubStoreResource, RunOptionsResource, SyncConfigResource, SystemsResource

CONFIG_VARIABLE = "LEDGERBRIDGE_CONFIG"


def config_path() -> Path:
    value = os.environ.get(CONFIG_VARIABLE)
    if not value:
        raise ConfigError(
            f"{CONFIG_VARIABLE} is not set: set it to the sync configuration file (YAML) this code location "
            "should run, or start the demo with `bin/demo --ui`, which sets it"
        )
    path = Path(value)
    if not path.exists():
        raise ConfigError(f"{CONFIG_VARIABLE}={value}: no such file")
    return path


def default_hub_url(path: Path) -> str:
    """As the CLI: the hub database beside the configuration file, unless the file names one."""
    return f"sqlite:///{(path.parent / 'hub.db').resolve()}"


def resources_for(config: SyncConfig, path: Path) -> dict:
    sync_config = SyncConfigResource(path=str(path.resolve()))
    return {
        # A URL from an environment variable may hold a password: it stays an EnvVar, resolved only
        # when the resource is used, so the UI shows the variable's name, never the URL.
        "hub": HubStoreResource(url=EnvVar(config.hub.url_env), schema_name=config.hub.schema_name)
        if config.hub.url_env
        else HubStoreResource(url=config.hub.resolved_url(default_hub_url(path))),
        "sync_config": sync_config,
        "systems": SystemsResource(config_path=sync_config.path),
        "run_options": RunOptionsResource(),
    }


def build_definitions(path: Path | None = None) -> Definitions:
    path = path or config_path()
    config = load_config(path)
    entities = enabled_entities(config)
    lineage = Lineage.of_config(config, hub_storage(config, default_hub_url(path)))
    assets = [a for name in entities for a in entity_assets(name, lineage)] + analytics_assets(entities)
    jobs = entity_jobs(entities)
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules(config, entities),
        sensors=build_sensors(config, entities, jobs),
        resources=resources_for(config, path),
        # Small, frequent runs: one process, no start-up cost per step.
        executor=in_process_executor,
    )


@definitions
def defs() -> Definitions:
    # Many tenants (a registry directory) or one configuration; see pipelines/tenants.py.
    if os.environ.get(TENANTS_DIR_VARIABLE):
        from pipelines.tenants import build_tenant_definitions

        return build_tenant_definitions(TenantRegistry.from_environment())
    return build_definitions()
