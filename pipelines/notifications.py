"""Sensors that tell people (ledgerbridge.notify) when a sync run fails or a check starts failing,
and record it in the hub for the review console, until the run succeeds or the check passes again.

notify_run_failure
    A failed run of this code location: the job and, when a blocking check stopped it, the check's
    own sentence (why), not the stack trace. A job failing again while its failure is open is
    counted, not told again.
notify_run_success
    A successful run closes its job's open failure and says so.
notify_check_failure
    Reads the asset check evaluations of runs that finished since its last tick (serve's warm worker,
    which applies webhooks outside runs, tells its own through `tell_evaluation` and `tell_burst`). A check that starts
    failing is told once (and once more when it passes again), so a WARN check failing run after run
    while records stay held back sends one message, not one per run. What is failing is what is open
    in the hub. It also sends again what a channel did not take before.

One configuration: they exist when notify names a webhook or an e-mail server, or notify.console is
on. Many tenants (pipelines/tenants.py): they always exist, and a run is told to its own tenant's
channels and recorded in its own tenant's hub when that tenant's configuration has a notify section;
messages name the tenant. The webhook URL and the mail login are read from their environment
variables at each evaluation, never stored in the definitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    FloatMetadataValue,
    IntMetadataValue,
    JsonMetadataValue,
    RunFailureSensorContext,
    RunRecord,
    RunsFilter,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from ledgerbridge.config import ConfigError, NotifyConfig, SyncConfig
from ledgerbridge.notify import Dispatcher, Notification, NotifyError, channels_from_config, links_for
from ledgerbridge.store import HubStore
from ledgerbridge.tenants.instance import PARTITION_TAG
from ledgerbridge.tenants.registry import TenantRegistry
from resources import HubStoreResource

RUN_BATCH = 200
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
COUNTS = (IntMetadataValue, FloatMetadataValue, JsonMetadataValue)  # what a message carries of a check's metadata


@dataclass
class Audience:
    """Who hears about a run: its notify settings, the hub that records, the channels that send."""

    notify: NotifyConfig
    teller: Dispatcher
    tenant: str | None = None

    @property
    def sender(self) -> str:
        return f"ledgerbridge ({self.tenant})" if self.tenant else "ledgerbridge"


class Audiences(Protocol):
    def for_run(self, run: DagsterRun) -> Audience | None: ...

    def everyone(self) -> list[Audience]: ...

    def close(self) -> None: ...


class OneAudience:
    """One configuration: every run is told to its channels and recorded in its hub."""

    def __init__(self, notify: NotifyConfig, store: HubStore):
        self.audience = Audience(notify, Dispatcher(store, channels_from_config(notify)))

    def for_run(self, run: DagsterRun) -> Audience:
        return self.audience

    def everyone(self) -> list[Audience]:
        return [self.audience]

    def close(self) -> None:
        pass


class TenantAudiences:
    """Many tenants: a run is told to its tenant (the run's partition), recorded in that tenant's hub."""

    def __init__(self, registry: TenantRegistry):
        self.registry = registry
        self.opened: dict[str, Audience | None] = {}
        self.stores: list[HubStore] = []

    def of(self, name: str) -> Audience | None:
        if name not in self.opened:
            try:
                tenant = self.registry.get(name)
            except ConfigError:  # its runs cannot start either; the registry sensor reports it
                self.opened[name] = None
                return None
            audience = None
            if tenant.config.notify.enabled:
                store = tenant.open_store()
                self.stores.append(store)
                audience = Audience(tenant.config.notify, Dispatcher(store, channels_from_config(tenant.config.notify)),
                                    tenant=name)
            self.opened[name] = audience
        return self.opened[name]

    def for_run(self, run: DagsterRun) -> Audience | None:
        name = run.tags.get(PARTITION_TAG)
        return self.of(name) if name and name in self.registry.names() else None

    def everyone(self) -> list[Audience]:
        return [a for a in (self.of(name) for name in self.registry.names()) if a is not None]

    def close(self) -> None:
        for store in self.stores:
            store.dispose()


def failed_checks(instance, run_id: str) -> list[AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if not e.passed]


def finished_runs_after(instance, cursor: str | None) -> tuple[list[RunRecord], str]:
    """Runs that finished after the cursor (oldest first) and the cursor after them.

    By run, not by event storage id: the SQLite instance `serve` writes shards its event log per run,
    where storage ids are not ordered across runs. The first tick starts from now, as Dagster's run
    status sensors do (every run evaluates its checks again, so a failing check is told on its next run).
    """
    if cursor is None:
        latest = instance.get_run_records(filters=RunsFilter(statuses=FINISHED), order_by="update_timestamp",
                                          ascending=False, limit=1)
        return [], json.dumps({"after": latest[0].update_timestamp.isoformat() if latest else None, "seen": []})
    state = json.loads(cursor)
    after = datetime.fromisoformat(state["after"]) if state.get("after") else None
    seen = set(state.get("seen", []))
    records = [r for r in instance.get_run_records(
        filters=RunsFilter(statuses=FINISHED, updated_after=after - timedelta(microseconds=1) if after else None),
        order_by="update_timestamp", ascending=True, limit=RUN_BATCH) if r.dagster_run.run_id not in seen]
    if not records:
        return [], cursor
    last = records[-1].update_timestamp
    # Runs updated at the very same instant as the last one are remembered, not skipped.
    same = [r.dagster_run.run_id for r in records if r.update_timestamp == last]
    if after is not None and last == after:
        same += sorted(seen)
    return records, json.dumps({"after": last.isoformat(), "seen": sorted(set(same))})


def check_name(evaluation: AssetCheckEvaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


def run_failure_message(job_name: str, run_id: str, failed: list[AssetCheckEvaluation], error: str | None,
                        audience: Audience) -> Notification:
    blocking = [e for e in failed if e.blocking]
    why = " ".join(e.description or f"{e.check_name} failed" for e in blocking) or (error or "see the run's log")
    notify = audience.notify
    return Notification(
        "run_failure", f"{audience.sender}: run {run_id[:8]} of {job_name} failed. {why}",
        {"job": job_name, "run_id": run_id, "failed_checks": [check_name(e) for e in failed],
         **({"tenant": audience.tenant} if audience.tenant else {})},
        about=f"job {job_name}", subject=f"{audience.sender}: {job_name} failed",
        links=links_for(notify.console_url, notify.dagster_url, run_id))


def check_failure_message(evaluation: AssetCheckEvaluation, run_id: str | None, audience: Audience,
                          burst_id: str | None = None) -> Notification:
    """The check's own sentence (why, and what to do) with its counts; the metadata's tables of hub
    ids stay in Dagster. `burst_id`: evaluated by serve's warm worker, outside a run."""
    check, notify = check_name(evaluation), audience.notify
    counts = {key: value.value for key, value in evaluation.metadata.items() if isinstance(value, COUNTS)}
    return Notification(
        "check_failure", f"{audience.sender}: check {check} failed. {evaluation.description or ''}".strip(),
        {"check": check, "severity": evaluation.severity.value, "run_id": run_id,
         **({"burst_id": burst_id} if burst_id else {}), **counts,
         **({"tenant": audience.tenant} if audience.tenant else {})},
        about=f"check {check}", subject=f"{audience.sender}: check {check} failed",
        links=links_for(notify.console_url, notify.dagster_url, run_id))


def tell_evaluation(audience: Audience, evaluation: AssetCheckEvaluation, *, event_key: str,
                    run_id: str | None = None, burst_id: str | None = None) -> bool:
    """A failing check opens (or repeats) its notification, a passing one resolves it; True when told."""
    check = check_name(evaluation)
    if not evaluation.passed:
        return audience.teller.tell(check_failure_message(evaluation, run_id, audience, burst_id), event_key=event_key,
                                    severity=evaluation.severity.value.lower(), run_id=run_id)
    by = f"run {run_id[:8]}" if run_id else f"webhook burst {(burst_id or '')[:14]}"
    return audience.teller.resolve(f"check {check}", f"{audience.sender}: check {check} passes again ({by}).")


def tell_burst(audience: Audience, entity: str, burst_id: str, failed_at: str | None, error: BaseException | None) -> bool:
    """A webhook burst of serve's warm worker that failed opens (or repeats) a notification about the
    entity's webhooks; one that completed resolves it. The error's type only: its text may name a record."""
    about = f"webhooks {entity}"
    if error is None:
        return audience.teller.resolve(about, f"{audience.sender}: webhooks of {entity} are applied again "
                                              f"({burst_id[:14]}).")
    notify = audience.notify
    text = (f"{audience.sender}: applying webhooks of {entity} failed at {failed_at or '?'} "
            f"({type(error).__name__}); the events stay pending and are tried again with a growing pause. "
            "The reason is in serve's log.")
    message = Notification("run_failure", text, {"entity": entity, "burst_id": burst_id, "failed_at": failed_at,
                                                 **({"tenant": audience.tenant} if audience.tenant else {})},
                           about=about, subject=f"{audience.sender}: webhooks of {entity} failing",
                           links=links_for(notify.console_url, None, None))
    return audience.teller.tell(message, event_key=f"burst:{burst_id}", severity="error")


def tell_run_failure(context: RunFailureSensorContext, audiences: Audiences) -> SkipReason | None:
    run = context.dagster_run
    audience = audiences.for_run(run)
    if audience is None:
        return SkipReason(f"Run {run.run_id[:8]} belongs to no one who asked to be notified.")
    error = context.failure_event.message if context.failure_event else None
    message = run_failure_message(run.job_name, run.run_id, failed_checks(context.instance, run.run_id), error, audience)
    audience.teller.tell(message, event_key=f"run_failure:{run.run_id}", severity="error", run_id=run.run_id)
    return None


def resolve_run_failure(context: RunStatusSensorContext, audiences: Audiences) -> None:
    run = context.dagster_run
    audience = audiences.for_run(run)
    if audience is not None:
        audience.teller.resolve(f"job {run.job_name}",
                                f"{audience.sender}: {run.job_name} succeeds again (run {run.run_id[:8]}).")


def tell_check_changes(context: SensorEvaluationContext, audiences: Audiences) -> SkipReason | None:
    runs, cursor = finished_runs_after(context.instance, context.cursor)
    told, evaluated, undelivered = 0, 0, []
    for run in runs:
        audience = audiences.for_run(run.dagster_run)
        if audience is None:
            continue
        for record in context.instance.get_records_for_run(
                run.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records:
            evaluation: AssetCheckEvaluation = record.event_log_entry.dagster_event.event_specific_data
            evaluated += 1
            try:
                told += tell_evaluation(audience, evaluation, run_id=record.run_id,
                                        event_key=f"check:{check_name(evaluation)}:{record.run_id}:{record.storage_id}")
            except NotifyError as exc:  # recorded in the hub; sent again below and by later ticks
                undelivered.append(str(exc))
    context.update_cursor(cursor)
    for audience in audiences.everyone():
        try:
            audience.teller.deliver()  # what a channel did not take in earlier ticks
        except NotifyError as exc:
            undelivered.append(str(exc))
    if undelivered:
        # The tick shows as failed with the reason (no URL, no login); its evaluations are recorded.
        raise NotifyError("; ".join(dict.fromkeys(undelivered)))
    if not evaluated:
        return SkipReason("No run with checks finished since the last tick.")
    if not told:
        return SkipReason(f"{evaluated} check evaluation(s), no check started or stopped failing.")
    return None


RUN_FAILURE = "Tells people about a failed sync run, with the reason (once while it keeps failing)."
RUN_SUCCESS = "Closes a job's open failure notification when a run of it succeeds, and says so."
CHECK_FAILURE = "Tells people when a check starts failing (and when it passes again)."


def notification_sensors(config: SyncConfig) -> list[SensorDefinition]:
    """One configuration's notifier sensors (none when it asks for no notifications)."""
    if not config.notify.enabled:
        return []

    def audiences(hub: HubStoreResource) -> OneAudience:
        return OneAudience(config.notify, hub.store)

    @run_failure_sensor(name="notify_run_failure", default_status=DefaultSensorStatus.RUNNING, description=RUN_FAILURE)
    def notify_run_failure(context: RunFailureSensorContext, hub: HubStoreResource):
        return tell_run_failure(context, audiences(hub))

    @run_status_sensor(run_status=DagsterRunStatus.SUCCESS, name="notify_run_success",
                       default_status=DefaultSensorStatus.RUNNING, description=RUN_SUCCESS)
    def notify_run_success(context: RunStatusSensorContext, hub: HubStoreResource):
        resolve_run_failure(context, audiences(hub))

    @sensor(name="notify_check_failure", default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
            description=CHECK_FAILURE)
    def notify_check_failure(context: SensorEvaluationContext, hub: HubStoreResource):
        return tell_check_changes(context, audiences(hub))

    return [notify_run_failure, notify_run_success, notify_check_failure]


def tenant_notification_sensors(registry: TenantRegistry) -> list[SensorDefinition]:
    """The notifier sensors of the many-tenant code location: each run told to its own tenant."""

    def each_tenant(tell):
        audiences = TenantAudiences(registry)
        try:
            return tell(audiences)
        finally:
            audiences.close()

    @run_failure_sensor(name="notify_run_failure", default_status=DefaultSensorStatus.RUNNING, description=RUN_FAILURE)
    def notify_run_failure(context: RunFailureSensorContext):
        return each_tenant(lambda audiences: tell_run_failure(context, audiences))

    @run_status_sensor(run_status=DagsterRunStatus.SUCCESS, name="notify_run_success",
                       default_status=DefaultSensorStatus.RUNNING, description=RUN_SUCCESS)
    def notify_run_success(context: RunStatusSensorContext):
        each_tenant(lambda audiences: resolve_run_failure(context, audiences))

    @sensor(name="notify_check_failure", default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
            description=CHECK_FAILURE)
    def notify_check_failure(context: SensorEvaluationContext):
        return each_tenant(lambda audiences: tell_check_changes(context, audiences))

    return [notify_run_failure, notify_run_success, notify_check_failure]
