"""Jobs and schedules: one job per entity, one for everything, schedules from the configuration."""

from __future__ import annotations

from dagster import AssetSelection, RunConfig, ScheduleDefinition, define_asset_job

from ledgerbridge.config import SyncConfig
from assets.factory import PullConfig

NIGHTLY_RECONCILE = "0 2 * * *"


def entity_job_name(entity: str) -> str:
    return f"sync_{entity}"


def entity_jobs(entities: list[str]) -> list:
    jobs = [
        define_asset_job(entity_job_name(entity), selection=AssetSelection.groups(entity), description=f"pull -> reconcile -> check -> push for {entity}")
        for entity in entities
    ]
    jobs.append(
        define_asset_job("sync_all", selection=AssetSelection.groups(*entities, "analytics"), description="every configured entity, then the analyst views")
    )
    return jobs


def full_pull_config(entities: list[str]) -> RunConfig:
    return RunConfig(
        ops={f"{side}__{entity}": PullConfig(full=True) for entity in entities for side in ("crm", "erp")}
    )


def schedules(config: SyncConfig, entities: list[str]) -> list[ScheduleDefinition]:
    result = [
        ScheduleDefinition(
            name=f"{entity_job_name(entity)}_schedule",
            job_name=entity_job_name(entity),
            cron_schedule=config.entity(entity).schedule,
        )
        for entity in entities
        if config.entity(entity).schedule
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
