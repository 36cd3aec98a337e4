"""Sensors: webhook events (the inbox) and change probes launch the entity's sync job.

inbox_sensor
    Reads inbox rows after its cursor (the highest inbox id handled). A burst is coalesced: all new
    events of one entity become one RunRequest of sync_<entity>, whose run_key is
    "inbox-<entity>-<highest inbox id>", so a re-evaluated tick never launches the same run twice.
    An entity that already has a run waiting to start (queued, not started, starting) gets no new
    one: that run has not pulled yet, so it picks these changes up. Events of entities that are not
    configured are passed over (and logged).
    When all of an entity's new events come from the CRM and its ERP side has been pulled before,
    the run is of the leaner sync_<entity>_from_crm (no ERP pull: the ERP's own changes arrive as
    events, or through its probe, and launch the full job). A waiting run of that job covers only
    CRM events; one of the full job covers everything.
    Under `ledgerbridge serve` its warm worker applies the inbox in process (pipelines/warm_worker.py)
    and this sensor starts stopped; without the worker (a separate daemon, `serve --no-worker`) it
    starts running.
probe_<system>_<entity>
    For entities whose system has no webhook configured (see ledgerbridge.webhooks.systems): one
    cheap "anything after the pull cursor?" call per tick; a new change marker launches a run
    (run_key "probe-<system>-<entity>-<marker>").

Runs carry the tag ledgerbridge/entity, on which the instance limits concurrency to one run per
entity (see ledgerbridge/serve.py); a run also holds the entity's lease (resources/hub_store.py), so
neither two runs nor a run and the warm worker reconcile the same entity at once.
"""

from __future__ import annotations

import os
from collections import defaultdict

import sqlalchemy as sa
from dagster import (
    DefaultSensorStatus,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ledgerbridge.config import SyncConfig
from ledgerbridge.store import T
from ledgerbridge.sync.pull import read_cursor
from ledgerbridge.webhooks.inbox import worker_applies_inbox
from ledgerbridge.webhooks.probe import probe, probeable
from ledgerbridge.webhooks.systems import hooked_entities
from pipelines.notifications import notification_sensors
from pipelines.jobs import ENTITY_TAG, crm_only_job_name, entity_job_name
from resources import HubStoreResource, SystemsResource

INBOX_BATCH = 10_000  # rows read per tick; a larger backlog is read over the next ticks
INBOX_INTERVAL = int(os.environ.get("LEDGERBRIDGE_INBOX_SENSOR_SECONDS", "1"))
PROBE_INTERVAL = int(os.environ.get("LEDGERBRIDGE_PROBE_SENSOR_SECONDS", "5"))
PENDING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING]


def pending_run_id(context: SensorEvaluationContext, job_name: str) -> str | None:
    """A run of `job_name` that has not started pulling yet, if any."""
    runs = context.instance.get_runs(filters=RunsFilter(job_name=job_name, statuses=PENDING), limit=1)
    return runs[0].run_id if runs else None


def inbox_sensor(entities: list[str], jobs: list, *, crm_system: str | None = None,
                 erp_system: str | None = None) -> SensorDefinition:
    """crm_system/erp_system (the configured systems' names) enable the CRM-only job, when it is among `jobs`."""
    known = set(entities)
    job_names = {job.name for job in jobs}

    @sensor(
        name="inbox_sensor",
        jobs=jobs,
        minimum_interval_seconds=INBOX_INTERVAL,
        default_status=DefaultSensorStatus.STOPPED if worker_applies_inbox() else DefaultSensorStatus.RUNNING,
        required_resource_keys={"hub"},
        description="Webhook events in the inbox -> one sync_<entity> run per affected entity.",
    )
    def _inbox(context: SensorEvaluationContext):
        after = int(context.cursor or 0)
        inbox = T["inbox"]
        with context.resources.hub.store.connect() as conn:
            rows = conn.execute(
                sa.select(inbox.c.id, inbox.c.system, inbox.c.entity, inbox.c.received_at)
                .where(inbox.c.id > after).order_by(inbox.c.id).limit(INBOX_BATCH)
            ).all()
        if not rows:
            return SkipReason(f"No webhook events after inbox id {after}.")
        by_entity: dict[str, list] = defaultdict(list)
        ignored = 0
        for row in rows:
            if row.entity in known:
                by_entity[row.entity].append(row)
            else:
                ignored += 1
        if ignored:
            context.log.info(f"{ignored} inbox event(s) are for entities that are not configured; passed over")
        requests, covered = [], []
        for entity, events in by_entity.items():
            job = entity_job_name(entity)
            lean = crm_only_job_name(entity)
            crm_only = lean in job_names and crm_system is not None and all(e.system == crm_system for e in events)
            pending = pending_run_id(context, job) or (crm_only and pending_run_id(context, lean))
            if pending:
                covered.append(f"{len(events)} {entity} event(s) covered by waiting run {pending[:8]}")
                continue
            # Without an ERP pull cursor the ERP side was never read: only the full job may plan writes.
            if crm_only and erp_system is not None and read_cursor(context.resources.hub.store, erp_system, entity) is not None:
                job = lean
            highest = max(e.id for e in events)
            requests.append(RunRequest(
                run_key=f"inbox-{entity}-{highest}",
                job_name=job,
                tags={
                    ENTITY_TAG: entity,
                    "ledgerbridge/trigger": "webhook",
                    "ledgerbridge/inbox_ids": f"{min(e.id for e in events)}-{highest}",
                    "ledgerbridge/events": str(len(events)),
                    "ledgerbridge/systems": ",".join(sorted({e.system for e in events})),
                    "ledgerbridge/first_received_at": str(min(e.received_at for e in events)),
                },
            ))
        cursor = str(rows[-1].id)
        if not requests:
            reason = "; ".join(covered) if covered else f"{ignored} event(s), none for a configured entity"
            return SensorResult(skip_reason=f"Nothing to launch: {reason}.", cursor=cursor)
        if covered:
            context.log.info("covered: " + "; ".join(covered))
        return SensorResult(run_requests=requests, cursor=cursor)

    return _inbox


def probe_sensor(system: str, side: str, entity: str, job) -> SensorDefinition:
    @sensor(
        name=f"probe_{system}_{entity}",
        jobs=[job],
        minimum_interval_seconds=PROBE_INTERVAL,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"{system} has no webhook for {entity}: asks whether anything changed since the pull cursor.",
    )
    def _probe(context: SensorEvaluationContext, hub: HubStoreResource, systems: SystemsResource):
        cursor = read_cursor(hub.store, system, entity)
        if cursor is None:
            return SkipReason(f"No {system} {entity} pull has run yet; the first run or schedule sets the cursor.")
        connector = systems.connector(side)
        try:
            marker = probe(connector, entity, cursor)
        finally:
            connector.close()
        if marker is None or marker == context.cursor:
            return SkipReason(f"No {system} {entity} change after {marker or cursor}.")
        pending = pending_run_id(context, entity_job_name(entity))
        if pending:
            return SensorResult(skip_reason=f"The change at {marker} is covered by waiting run {pending[:8]}.", cursor=marker)
        return SensorResult(
            run_requests=[RunRequest(
                run_key=f"probe-{system}-{entity}-{marker}",
                tags={ENTITY_TAG: entity, "ledgerbridge/trigger": "probe", "ledgerbridge/change": marker},
            )],
            cursor=marker,
        )

    return _probe


def build_sensors(config: SyncConfig, entities: list[str], jobs: list) -> list[SensorDefinition]:
    by_name = {job.name: job for job in jobs}
    targets = [by_name[name] for e in entities for name in (entity_job_name(e), crm_only_job_name(e)) if name in by_name]
    sensors = [inbox_sensor(entities, targets, crm_system=config.crm.system, erp_system=config.erp.system)]
    hooked = hooked_entities(config)
    for side, system in (("crm", config.crm), ("erp", config.erp)):
        for entity in entities:
            if entity not in hooked[system.system] and probeable(system.system, entity):
                sensors.append(probe_sensor(system.system, side, entity, by_name[entity_job_name(entity)]))
    return sensors + notification_sensors(config)
