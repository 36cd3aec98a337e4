"""`python -m pipelines.warm_worker`: applies webhook events in a warm process, seconds after they arrive.

`ledgerbridge serve` runs it beside the Dagster daemon. It polls the hub's inbox for events not
applied yet and, per entity, applies them as one burst:

1. take the entity's lease (ledgerbridge.leases; a Dagster run of that entity holds the same lease,
   see resources/hub_store.py): if someone else syncs the entity, the events wait for the next pass;
2. claim the entity's pending events (ledgerbridge.webhooks.inbox), then run the entity's assets of
   the code location (pipelines.definitions) in their lineage order: the very asset functions a
   `sync_<entity>` run executes, called directly (Dagster's public direct invocation), with the
   code, the connectors' configuration and the Great Expectations suites loaded once at start-up.
   CRM events alone leave the ERP pull out, as the inbox sensor's `sync_<entity>_from_crm` does. A
   failed blocking check (the quality gate) stops what depends on its asset, as in a run;
3. record each asset's materialisation and check results in the Dagster instance with
   DagsterInstance.report_runless_asset_event (public), tagged with the burst, so the UI's asset
   pages show what happened and when. A thread of its own writes them (Recorder), in order: the
   instance's storage takes about as long as the sync itself, and the next burst need not wait;
4. mark the claimed events applied by the burst, then release the lease.

A burst that raises leaves its events pending and the entity is tried again with a growing pause
(0.5 s doubling to 5 min: on a SQLite hub a write can meet "database is locked" while another
process writes, which passes at once; a system that is down is asked less and less often); what
the failing step did before it raised is idempotent (outbox, shadows). Scheduled, nightly, probe
and UI-launched work stays ordinary Dagster runs. Without this worker (e.g. `ledgerbridge webhooks`
beside a separate daemon) the inbox sensor launches runs instead; see pipelines/sensors.py and
docs/serve.md.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    build_asset_context,
)

from assets.factory import BURST_TAG, SIDE_TAG, STAGE_TAG
from ledgerbridge.config import SyncConfig, load_config
from ledgerbridge.connectors.base import Connector
from ledgerbridge.leases import TIME_TO_LIVE, LeaseBusy, held
from ledgerbridge.notify import NotifyError
from ledgerbridge.store import HubStore
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.systems import build_connector
from ledgerbridge.webhooks.inbox import (
    NOT_CONFIGURED,
    InboxEvent,
    applied_before,
    by_entity,
    claim,
    crm_events_only,
    mark_applied,
    pending,
)
from pipelines.jobs import ENTITY_TAG
from pipelines.notifications import Audience, OneAudience, tell_burst, tell_evaluation
from resources import HubStoreResource, SystemsResource

log = logging.getLogger("ledgerbridge.warm_worker")


POLL_SECONDS = 0.25  # an empty inbox read costs well under a millisecond
FIRST_PAUSE, MAX_PAUSE = 0.5, 300.0  # seconds before a failed entity is tried again


@dataclass
class Burst:
    """What one burst did: the events it carried, the assets it materialised, where it stopped."""

    entity: str
    burst_id: str
    events: list[InboxEvent]
    started: float = field(default_factory=time.time)
    materialized: list[AssetKey] = field(default_factory=list)
    blocked: list[AssetKey] = field(default_factory=list)  # assets whose blocking check failed
    skipped: list[AssetKey] = field(default_factory=list)  # downstream of a block, not run
    error: BaseException | None = None
    failed_at: AssetKey | None = None

    @property
    def completed(self) -> bool:
        return self.error is None


class Recorder:
    """Writes asset events to the Dagster instance in a thread of its own, in the order given. A
    worker stopped normally writes everything first (close); one killed loses what was still queued
    (the sync happened; the hub's audit log has its writes)."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._write, name="dagster event recorder", daemon=True)
        self.thread.start()

    def record(self, event: AssetMaterialization | AssetCheckEvaluation) -> None:
        self.queue.put(event)

    def flush(self) -> None:
        """Return once everything recorded so far is in the instance."""
        self.queue.join()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _write(self) -> None:
        while (event := self.queue.get()) is not None:
            try:
                self.instance.report_runless_asset_event(event)
            except Exception as exc:  # noqa: BLE001 - the sync is done; only the UI misses this event
                log.error("could not record %s of %s in the Dagster instance: %s", type(event).__name__,
                          event.asset_key.to_user_string(), exc)
            finally:
                self.queue.task_done()
        self.queue.task_done()


class OpenHubStoreResource(HubStoreResource):
    """The hub resource of the worker's bursts: the worker's own open store. Dagster copies resources
    into every direct invocation's context; a store per copy would connect and check the schema
    again on every burst."""

    @property
    def store(self) -> HubStore:
        return OPEN_STORES[self.url]


class LoadedSystemsResource(SystemsResource):
    """The systems resource of the worker's bursts: the configuration read once, not per step."""

    def connector(self, side: str) -> Connector:
        return build_connector(LOADED_CONFIGS[self.config_path].side(side))


# What those two hand to every copy Dagster makes of them, by the field the copy keeps.
OPEN_STORES: dict[str, HubStore] = {}  # hub URL (password hidden) -> the worker's store
LOADED_CONFIGS: dict[str, SyncConfig] = {}  # configuration path -> the worker's configuration


def lineage_order(assets: list[AssetsDefinition]) -> list[AssetsDefinition]:
    """`assets` with each after every asset of the list it depends on."""
    by_key = {a.key: a for a in assets}
    deps = {a.key: {d.asset_key for spec in a.specs for d in spec.deps if d.asset_key in by_key} for a in assets}
    ordered: list[AssetsDefinition] = []
    done: set[AssetKey] = set()
    while len(ordered) < len(assets):
        ready = [a for a in assets if a.key not in done and deps[a.key] <= done]
        if not ready:
            raise ValueError(f"the assets {sorted(k.to_user_string() for k in by_key)} depend on each other in a cycle")
        for a in ready:
            ordered.append(a)
            done.add(a.key)
    return ordered


def pulls_from_erp(asset: AssetsDefinition) -> bool:
    tags = asset.specs_by_key[asset.key].tags
    return tags.get(STAGE_TAG) == "pull" and tags.get(SIDE_TAG) == "erp"


class WarmWorker:
    """Applies the inbox's pending events, one burst per entity, through the code location's assets."""

    def __init__(self, definitions: Definitions, config: SyncConfig, store: HubStore, instance: DagsterInstance,
                 *, name: str | None = None, lease_ttl: float = TIME_TO_LIVE, poll: float = POLL_SECONDS):
        self.config, self.store, self.instance = config, store, instance
        self.recorder = Recorder(instance)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ttl, self.poll = lease_ttl, poll
        self.entities = enabled_entities(config)
        self.resources = dict(definitions.resources)
        OPEN_STORES[store.engine.url.render_as_string(hide_password=True)] = store
        self.resources["hub"] = OpenHubStoreResource(url=store.engine.url.render_as_string(hide_password=True))
        systems = self.resources["systems"]
        LOADED_CONFIGS[systems.config_path] = config
        self.resources["systems"] = LoadedSystemsResource(config_path=systems.config_path)
        self.assets: dict[str, list[AssetsDefinition]] = {}
        for entity in self.entities:
            group = [a for a in definitions.assets or [] if isinstance(a, AssetsDefinition) and len(a.keys) == 1
                     and a.specs_by_key[a.key].group_name == entity]
            self.assets[entity] = lineage_order(group)
        self.after = applied_before(store)  # every event up to this id is applied
        self.failures: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}
        # Bursts run outside Dagster runs, so the notifier sensors (which read runs) do not see them:
        # the worker tells its failed checks and failed bursts itself, through the same journal.
        self.audience = OneAudience(config.notify, store).audience if config.notify.enabled else None

    @classmethod
    def for_config_file(cls, path: Path, instance: DagsterInstance, **kw: Any) -> "WarmWorker":
        from pipelines.definitions import build_definitions, default_hub_url

        config = load_config(path)
        store = HubStore(config.hub.resolved_url(default_hub_url(path)))
        store.create_all()
        return cls(build_definitions(path), config, store, instance, **kw)

    # -- start-up ------------------------------------------------------------------------------

    def warm(self) -> None:
        """Evaluate each entity's quality suites once for both targets: the first evaluation in a
        process loads Great Expectations (seconds); after it, a burst's checks take milliseconds."""
        from ledgerbridge.quality.suites import warm as warm_suite

        started = time.monotonic()
        for system in (self.config.erp, self.config.crm):
            connector = build_connector(system)
            try:
                for entity in self.entities:
                    warm_suite(entity, connector.system, connector.limits(entity))
            finally:
                connector.close()
        log.info("warm worker %s: quality suites loaded in %.1f s", self.name, time.monotonic() - started)

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.pass_once():
                stop.wait(self.poll)

    def pass_once(self) -> list[Burst]:
        """Apply what is pending and due now; returns the bursts that ran."""
        events = pending(self.store, after=self.after)
        if not events:
            return []
        bursts, waiting = [], []
        for entity, group in by_entity(events).items():
            if entity not in self.assets:
                mark_applied(self.store, [e.id for e in group], NOT_CONFIGURED)
                continue
            if self.retry_at.get(entity, 0.0) > time.monotonic():
                waiting.append(group[0].id)
                continue
            burst = self.apply(entity)
            if burst is None or not burst.completed:
                waiting.append(group[0].id)
            if burst is not None:
                bursts.append(burst)
        # what is still pending keeps the reader's start below it; the rest is behind us
        self.after = min(waiting) - 1 if waiting else max(self.after, events[-1].id)
        return bursts

    def apply(self, entity: str) -> Burst | None:
        """One burst for `entity`; None when another holder syncs it now or nothing is pending."""
        burst_id = f"burst-{uuid.uuid4().hex}"  # the holder of the lease, and the id its writes are recorded under
        try:
            with held(self.store, [entity], burst_id, wait=0.0, ttl=self.lease_ttl):
                events = claim(self.store, entity, after=self.after)
                if not events:
                    return None
                burst = Burst(entity, burst_id, events)
                self.sync(burst)
                if burst.completed:
                    mark_applied(self.store, [e.id for e in events], burst_id)
        except LeaseBusy as busy:
            log.info("%s: %s; its events wait", entity, busy)
            return None
        self._account(burst)
        return burst

    def _tell(self, what: Callable[[Audience], bool]) -> None:
        if self.audience is None:
            return
        try:
            what(self.audience)
        except NotifyError as exc:  # recorded in the hub; the check sensor's next tick sends it again
            log.error("a notification was not delivered: %s", exc)

    def _account(self, burst: Burst) -> None:
        entity = burst.entity
        self._tell(lambda audience: tell_burst(audience, entity, burst.burst_id,
                                               burst.failed_at.to_user_string() if burst.failed_at else None,
                                               burst.error))
        if burst.completed:
            self.failures.pop(entity, None)
            self.retry_at.pop(entity, None)
            log.info("%s: %d event(s) applied by %s in %.2f s%s", entity, len(burst.events), burst.burst_id,
                     time.time() - burst.started,
                     f"; stopped by the failed check of {', '.join(k.to_user_string() for k in burst.blocked)}"
                     if burst.blocked else "")
            return
        failures = self.failures[entity] = self.failures.get(entity, 0) + 1
        pause = min(MAX_PAUSE, FIRST_PAUSE * 2.0 ** (failures - 1))
        self.retry_at[entity] = time.monotonic() + pause
        log.error("%s: %s failed at %s (%s: %s); its %d event(s) stay pending, next try in %.0f s",
                  entity, burst.burst_id, burst.failed_at.to_user_string() if burst.failed_at else "?",
                  type(burst.error).__name__, burst.error, len(burst.events), pause)

    # -- one burst -----------------------------------------------------------------------------

    def sync(self, burst: Burst) -> None:
        """Run the entity's assets for `burst` and record each in the instance; fills in `burst`."""
        crm_only = crm_events_only(self.store, burst.events, self.config.crm.system, self.config.erp.system)
        assets = [a for a in self.assets[burst.entity] if not (crm_only and pulls_from_erp(a))]
        run_tags = {BURST_TAG: burst.burst_id, ENTITY_TAG: burst.entity}
        stopped: set[AssetKey] = set()
        with build_asset_context(resources=self.resources, run_tags=run_tags, instance=self.instance) as context:
            for asset in assets:
                upstream = {d.asset_key for spec in asset.specs for d in spec.deps}
                if upstream & stopped:
                    burst.skipped.append(asset.key)
                    stopped.add(asset.key)
                    continue
                try:
                    result = asset(context)
                except Exception as exc:  # noqa: BLE001 - reported with the burst; its events stay pending
                    burst.error, burst.failed_at = exc, asset.key
                    return
                self.record(asset, result, burst)
                if any(not check.passed and self._blocking(asset, check.check_name)
                       and check.severity == AssetCheckSeverity.ERROR for check in result.check_results or []):
                    burst.blocked.append(asset.key)
                    stopped.add(asset.key)

    @staticmethod
    def _blocking(asset: AssetsDefinition, check_name: str) -> bool:
        return any(spec.name == check_name and spec.blocking for spec in asset.check_specs)

    def record(self, asset: AssetsDefinition, result: Any, burst: Burst) -> None:
        tags = {
            BURST_TAG: burst.burst_id,
            ENTITY_TAG: burst.entity,
            "ledgerbridge/trigger": "webhook",
            "ledgerbridge/inbox_ids": f"{burst.events[0].id}-{burst.events[-1].id}",
            "ledgerbridge/burst_started": f"{burst.started:.3f}",  # unix time (tag values allow no ':')
        }
        self.recorder.record(
            AssetMaterialization(asset_key=asset.key, metadata=result.metadata, tags=tags,
                                 description=f"Applied {len(burst.events)} webhook event(s) ({burst.burst_id})"))
        burst.materialized.append(asset.key)
        for check in result.check_results or []:
            evaluation = AssetCheckEvaluation(
                asset_key=check.asset_key or asset.key, check_name=check.check_name, passed=check.passed,
                metadata=check.metadata, severity=check.severity, description=check.description,
                blocking=self._blocking(asset, check.check_name),
            )
            self.recorder.record(evaluation)
            self._tell(lambda audience: tell_evaluation(
                audience, evaluation, burst_id=burst.burst_id,
                event_key=f"check:{evaluation.asset_key.to_user_string()}:{evaluation.check_name}:{burst.burst_id}"))


def interrupt(signum, frame) -> None:  # noqa: ANN001
    raise KeyboardInterrupt


def stop_on(signals: Iterable[int], stop: threading.Event) -> None:
    """SIGINT/SIGTERM end the loop after the burst in progress (its lease is released, its events marked)."""
    def handler(signum, frame):  # noqa: ANN001
        if stop.is_set():
            raise KeyboardInterrupt  # asked twice: stop now; the burst's events stay pending
        stop.set()

    for number in signals:
        signal.signal(number, handler)


def main() -> int:
    from pipelines.definitions import config_path

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, interrupt)  # while starting up, SIGTERM stops at once, as Ctrl-C does
    try:
        worker = WarmWorker.for_config_file(config_path(), DagsterInstance.get())
        worker.warm()
    except KeyboardInterrupt:
        return 0
    stop = threading.Event()
    stop_on((signal.SIGINT, signal.SIGTERM), stop)
    log.info("warm worker %s: applying webhook events for %s", worker.name, ", ".join(worker.entities))
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        worker.recorder.close()
        worker.store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
