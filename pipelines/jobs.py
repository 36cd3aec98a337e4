"""Jobs and schedules: one job per entity, one for everything, schedules from the configuration.

Every run of an entity's jobs carries the tag ledgerbridge/entity (job tags, so also runs started
from the UI or a schedule): the instance allows one run per entity at a time (see
ledgerbridge/serve.py). `sync_<entity>_from_crm` is the leaner job the inbox sensor launches when
only CRM events arrived: it leaves out the ERP pull (the ERP's changes come as their own events
and launch the full job).
"""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, RunConfig, ScheduleDefinition, define_asset_job

from ledgerbridge.config import SyncConfig
from ledgerbridge.systems.triggers import entity_schedules
from assets.factory import PullConfig

NIGHTLY_RECONCILE = "0 2 * * *"
ENTITY_TAG = "ledgerbridge/entity"


def entity_job_name(entity: str) -> str:
    return f"sync_{entity}"


def crm_only_job_name(entity: str) -> str:
    return f"sync_{entity}_from_crm"


def entity_jobs(entities: list[str]) -> list:
    jobs = [
        define_asset_job(entity_job_name(entity), selection=AssetSelection.groups(entity), tags={ENTITY_TAG: entity},
                         description=f"pull -> reconcile -> check -> push for {entity}")
        for entity in entities
    ]
    jobs.append(
        define_asset_job("sync_all", selection=AssetSelection.groups(*entities, "analytics"), description="every configured entity, then the analyst views")
    )
    jobs += [
        define_asset_job(
            crm_only_job_name(entity),
            selection=AssetSelection.groups(entity) - AssetSelection.assets(AssetKey(["erp", entity])),
            tags={ENTITY_TAG: entity},
            description=f"{entity} after CRM events only: as sync_{entity}, without the ERP pull",
        )
        for entity in entities
    ]
    return jobs


def full_pull_config(entities: list[str]) -> RunConfig:
    return RunConfig(
        ops={f"{side}__{entity}": PullConfig(full=True) for entity in entities for side in ("crm", "erp")}
    )


def schedules(config: SyncConfig, entities: list[str]) -> list[ScheduleDefinition]:
    """The configured schedules, plus a default one for every entity direction that neither a
    webhook nor a change probe covers (ledgerbridge.systems.triggers)."""
    crons = entity_schedules(config)
    result = [
        ScheduleDefinition(
            name=f"{entity_job_name(entity)}_schedule",
            job_name=entity_job_name(entity),
            cron_schedule=crons[entity],
            tags={ENTITY_TAG: entity},  # run tags
        )
        for entity in entities
        if entity in crons
    ]
    result.append(
        ScheduleDefinition(
            name="nightly_full_reconcile",
            job_name="sync_all",
            cron_schedule=NIGHTLY_RECONCILE,
            run_config=full_pull_config(entities),
            description="Re-reads everything without cursors: catches missed events and drift.",
        )
    )
    return result
