"""Sensors that tell people (ledgerbridge.notify) when a sync run fails or a check starts failing.

notify_run_failure
    Every failed run of this code location: the job and, when a blocking check stopped it, the
    check's own sentence (why), not the stack trace.
notify_check_failure
    Reads asset check evaluations after its cursor. A check that starts failing is told once (and
    once more when it passes again), so a WARN check failing run after run while records stay held
    back sends one message, not one per run. The cursor keeps the checks that are failing.

Both exist only when notify.webhook_url_env is configured; they are on by default then. The URL
is read from its environment variable at each evaluation, never stored in the definitions.
"""

from __future__ import annotations

import json

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from ledgerbridge.config import SyncConfig
from ledgerbridge.notify import Notification, notifier_from_config

CHECK_BATCH = 1000


def failed_checks(instance, run_id: str) -> list[AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if not e.passed]


def run_failure_message(job_name: str, run_id: str, failed: list[AssetCheckEvaluation], error: str | None) -> Notification:
    blocking = [e for e in failed if e.blocking]
    why = " ".join(e.description or f"{e.check_name} failed" for e in blocking) or (error or "see the run's log")
    return Notification(
        "run_failure",
        f"ledgerbridge: run {run_id[:8]} of {job_name} failed. {why}",
        {"job": job_name, "run_id": run_id,
         "failed_checks": [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed]},
    )


def notification_sensors(config: SyncConfig) -> list[SensorDefinition]:
    if config.notify.webhook_url_env is None:
        return []

    @run_failure_sensor(name="notify_run_failure", default_status=DefaultSensorStatus.RUNNING,
                        description="Tells the notification webhook about every failed sync run, with the reason.")
    def notify_run_failure(context: RunFailureSensorContext):
        run = context.dagster_run
        error = context.failure_event.message if context.failure_event else None
        notifier_from_config(config).send(
            run_failure_message(run.job_name, run.run_id, failed_checks(context.instance, run.run_id), error))

    @sensor(name="notify_check_failure", default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
            description="Tells the notification webhook when a check starts failing (and when it passes again).")
    def notify_check_failure(context: SensorEvaluationContext):
        state = json.loads(context.cursor) if context.cursor else {"after": None, "failing": []}
        failing = set(state["failing"])
        records = context.instance.get_event_records(
            EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=state["after"]),
            limit=CHECK_BATCH, ascending=True)
        if not records:
            return SkipReason("No check was evaluated since the last tick.")
        notifier, told = notifier_from_config(config), 0
        for record in records:
            evaluation: AssetCheckEvaluation = record.event_log_entry.dagster_event.event_specific_data
            check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if not evaluation.passed and check not in failing:
                failing.add(check)
                notifier.send(Notification(
                    "check_failure", f"ledgerbridge: check {check} failed. {evaluation.description or ''}".strip(),
                    {"check": check, "severity": evaluation.severity.value, "run_id": record.run_id}))
                told += 1
            elif evaluation.passed and check in failing:
                failing.discard(check)
                notifier.send(Notification(
                    "check_recovered", f"ledgerbridge: check {check} passes again.", {"check": check,
                                                                                     "run_id": record.run_id}))
                told += 1
        # A tick whose message cannot be sent fails before this line and keeps its cursor, so the next
        # tick tries again (a message sent earlier in that tick may then be sent twice).
        context.update_cursor(json.dumps({"after": records[-1].storage_id, "failing": sorted(failing)}))
        if not told:
            return SkipReason(f"{len(records)} check evaluation(s), no check started or stopped failing.")
        return None

    return [notify_run_failure, notify_check_failure]
