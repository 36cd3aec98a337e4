"""Jobs and schedules: one job per entity, one for everything, schedules from the configuration.

Every run of an entity's jobs carries the tag ledgerbridge/entity (job tags, so also runs started
from the UI or a schedule): the instance allows one run per entity at a time (see
ledgerbridge/serve.py). `sync_<entity>_from_crm` is the leaner job the inbox sensor launches when
only CRM events arrived: it leaves out the ERP pull (the ERP's changes come as their own events
and launch the full job).
"""

from __future__ import annotations

from dagster import AssetSelection, DefaultScheduleStatus, RunConfig, ScheduleDefinition, define_asset_job

from ledgerbridge.config import SyncConfig
from ledgerbridge.systems.triggers import entity_schedules
from assets.factory import SIDE_TAG, STAGE_TAG, PullConfig
from assets.lineage import Lineage

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
            selection=AssetSelection.groups(entity)
            - (AssetSelection.tag(STAGE_TAG, "pull") & AssetSelection.tag(SIDE_TAG, "erp")),
            tags={ENTITY_TAG: entity},
            description=f"{entity} after CRM events only: as sync_{entity}, without the ERP pull",
        )
        for entity in entities
    ]
    return jobs


def full_pull_config(lineage: Lineage) -> RunConfig:
    return RunConfig(ops={lineage.pull(entity, side).to_python_identifier(): PullConfig(full=True)
                          for entity in lineage.entities for side in ("crm", "erp")})


def schedules(config: SyncConfig, entities: list[str]) -> list[ScheduleDefinition]:
    """The configured schedules, plus a default one for every entity direction that neither a
    webhook nor a change probe covers (ledgerbridge.systems.triggers), and the nightly full
    reconcile: all running as soon as the daemon runs (`ledgerbridge serve`), in the configured
    time zone (dagster.timezone)."""
    crons = entity_schedules(config)
    timezone = config.dagster.timezone
    result = [
        ScheduleDefinition(
            name=f"{entity_job_name(entity)}_schedule",
            job_name=entity_job_name(entity),
            cron_schedule=crons[entity],
            execution_timezone=timezone,
            default_status=DefaultScheduleStatus.RUNNING,
            tags={ENTITY_TAG: entity},  # run tags
            description=f"{entity}: the configured schedule, or the default for a direction without webhook or probe.",
        )
        for entity in entities
        if entity in crons
    ]
    if config.dagster.nightly_reconcile:
        result.append(
            ScheduleDefinition(
                name="nightly_full_reconcile",
                job_name="sync_all",
                cron_schedule=config.dagster.nightly_reconcile,
                execution_timezone=timezone,
                default_status=DefaultScheduleStatus.RUNNING,
                run_config=full_pull_config(Lineage.of_config(config)),
                description="Re-reads everything without cursors: catches missed events and drift.",
            )
        )
    return result
