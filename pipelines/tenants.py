"""One code location for many tenants: a dynamic partition per tenant ($LEDGERBRIDGE_TENANTS_DIR).

Every entity asset is partitioned by tenant, so the UI shows each tenant's runs and
materialisations as its partition, and a backfill of one partition re-syncs one tenant. A tenant
is added or removed in the registry directory (`ledgerbridge tenants add|remove`); the
`tenant_registry` sensor turns the directory into the partitions, without a redeploy.

The resources find their tenant in the run's partition (the `dagster/partition` tag) when the run
starts, and hand the unchanged asset bodies that tenant's configuration, hub (its own schema or
SQLite file) and connectors (its own secrets). A run therefore never sees another tenant.

Sensors (each one definition for all tenants, so a new tenant needs no new definition):
  tenant_registry   registry directory -> dynamic partitions (adds and deletes)
  tenant_inbox      each tenant's webhook events -> one run per tenant and entity
  tenant_probes     systems without webhooks: one "anything new?" call per tenant and entity
  tenant_schedules  each tenant's entity crons, and the nightly full reconcile, as run requests
  notify_*          failed runs and checks told to the run's own tenant (pipelines/notifications.py)

Runs carry tags the instance limits (see ledgerbridge.tenants.instance): `dagster/partition` (the
tenant; every partitioned run has it, also backfills) and `ledgerbridge/tenant_entity`
("<tenant>:<entity>", from the job's partitioned config, so also runs launched in the UI).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from functools import cached_property
from zoneinfo import ZoneInfo

from dagster import (
    AddDynamicPartitionsRequest,
    AssetSelection,
    DefaultSensorStatus,
    Definitions,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsDefinition,
    InitResourceContext,
    PartitionedConfig,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
    sensor,
)
import sqlalchemy as sa
from pydantic import PrivateAttr

from assets import entity_assets
from assets.lineage import Lineage, pull_key, tenant_storage
from ledgerbridge.config import ConfigError, SyncConfig
from ledgerbridge.connectors.base import Connector
from ledgerbridge.model import ENTITIES
from ledgerbridge.store import HubStore
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.sync.pull import read_cursor
from ledgerbridge.systems import build_connector
from ledgerbridge.systems.triggers import triggers
from ledgerbridge.tenants.instance import PARTITION_TAG, TENANT_ENTITY_TAG
from ledgerbridge.tenants.registry import Tenant, TenantRegistry
from ledgerbridge.tenants.triggers import InboxReader, due_schedules, last_tick, plan_inbox_runs, tenant_entities
from ledgerbridge.webhooks.probe import probe
from pipelines.jobs import ENTITY_TAG, entity_job_name
from pipelines.notifications import tenant_notification_sensors
from pipelines.sensors import INBOX_INTERVAL, PENDING, PROBE_INTERVAL
from resources import HubStoreResource, RunOptionsResource, SyncConfigResource, SystemsResource

TENANTS = DynamicPartitionsDefinition(name="tenants")
TRIGGER_TAG = "ledgerbridge/trigger"
REGISTRY_INTERVAL = int(os.environ.get("LEDGERBRIDGE_REGISTRY_SENSOR_SECONDS", "5"))
DEFAULT_ENTITIES = ["debtors"]  # the graph's entities while no tenant is registered


def tenant_entity(tenant: str, entity: str) -> str:
    return f"{tenant}:{entity}"


# -- resources: the run's tenant ----------------------------------------------------------------

def run_tenant(context: InitResourceContext, registry: TenantRegistry) -> Tenant:
    run = context.dagster_run
    name = run.tags.get(PARTITION_TAG) if run is not None else None
    if not name:
        raise ConfigError("this run has no tenant: launch it for one partition of 'tenants' (one tenant per run)")
    return registry.get(name)


class TenantHubStoreResource(HubStoreResource):
    """The hub of the run's tenant: its PostgreSQL schema or its SQLite file."""

    url: str = ""
    tenants_dir: str
    _tenant: Tenant = PrivateAttr()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._tenant = run_tenant(context, TenantRegistry(self.tenants_dir))

    @cached_property
    def store(self) -> HubStore:
        return self._tenant.open_store()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if "store" in self.__dict__:
            self.store.dispose()


class TenantSyncConfigResource(SyncConfigResource):
    """The run's tenant's sync configuration."""

    path: str = ""
    tenants_dir: str
    _tenant: Tenant = PrivateAttr()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._tenant = run_tenant(context, TenantRegistry(self.tenants_dir))

    @cached_property
    def config(self) -> SyncConfig:
        return self._tenant.config


class TenantSystemsResource(SystemsResource):
    """Connectors to the run's tenant's CRM and ERP, with the tenant's own secrets."""

    config_path: str = ""
    tenants_dir: str
    _tenant: Tenant = PrivateAttr()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._tenant = run_tenant(context, TenantRegistry(self.tenants_dir))

    def connector(self, side: str) -> Connector:
        return build_connector(self._tenant.config.side(side))


# -- jobs -----------------------------------------------------------------------------------------

def tenant_entity_config(entity: str) -> PartitionedConfig:
    """No run config of its own; the tags that put each run under its tenant+entity limit."""
    return PartitionedConfig(
        partitions_def=TENANTS,
        run_config_for_partition_key_fn=lambda key: {},
        tags_for_partition_key_fn=lambda key: {TENANT_ENTITY_TAG: tenant_entity(key, entity)},
    )


def tenant_jobs(entities: list[str]) -> list:
    return [
        define_asset_job(entity_job_name(entity), selection=AssetSelection.groups(entity), partitions_def=TENANTS,
                         config=tenant_entity_config(entity), tags={ENTITY_TAG: entity},
                         description=f"pull -> reconcile -> check -> push for {entity}, for one tenant")
        for entity in entities
    ]


def full_pull_config(entity: str) -> dict:
    """The pulls are named by role here (assets.lineage: the tenants' systems differ)."""
    return {"ops": {pull_key(entity, side).to_python_identifier(): {"config": {"full": True}} for side in ("crm", "erp")}}


# -- sensors --------------------------------------------------------------------------------------

def registered(context: SensorEvaluationContext, registry: TenantRegistry) -> list[Tenant]:
    """Tenants both in the registry and already a partition (the registry sensor adds them first);
    a tenant whose file does not load is logged and passed over, the others go on."""
    partitions = set(context.instance.get_dynamic_partitions(TENANTS.name))
    tenants = []
    for name in registry.names():
        if name not in partitions:
            continue
        try:
            tenants.append(registry.get(name))
        except ConfigError as exc:
            context.log.error(f"tenant {name} skipped: {exc}")
    return tenants


def waiting_runs(context: SensorEvaluationContext) -> set[tuple[str, str]]:
    """(tenant, entity) of every run that has not started pulling yet."""
    waiting = set()
    for run in context.instance.get_runs(filters=RunsFilter(statuses=PENDING)):
        value = run.tags.get(TENANT_ENTITY_TAG, "")
        if ":" in value:
            waiting.add(tuple(value.split(":", 1)))
    return waiting


def registry_sensor(registry: TenantRegistry, jobs: list) -> SensorDefinition:
    """A tenant added gets its partition and a first full sync of each of its entities (nothing else
    would start one before the first webhook or cron); a tenant removed loses its partition."""
    job_names = {job.name for job in jobs}

    @sensor(name="tenant_registry", jobs=jobs, minimum_interval_seconds=REGISTRY_INTERVAL,
            default_status=DefaultSensorStatus.RUNNING,
            description="The tenant registry directory -> the 'tenants' partitions, and a first sync of a new tenant.")
    def _registry(context: SensorEvaluationContext):
        wanted = set(registry.names())
        present = set(context.instance.get_dynamic_partitions(TENANTS.name))
        added, removed = sorted(wanted - present), sorted(present - wanted)
        if not added and not removed:
            return SkipReason(f"{len(present)} tenant(s), as registered.")
        partitions, runs = [], []
        if added:
            partitions.append(AddDynamicPartitionsRequest(TENANTS.name, added))
        if removed:
            partitions.append(DeleteDynamicPartitionsRequest(TENANTS.name, removed))
        for name in added:
            try:
                tenant = registry.get(name)
            except ConfigError as exc:
                context.log.error(f"tenant {name}: no first sync: {exc}")
                continue
            added_at = int(tenant.path.stat().st_mtime)  # a tenant removed and added again syncs again
            runs += [RunRequest(run_key=f"first-{name}-{entity}-{added_at}", job_name=entity_job_name(entity),
                                partition_key=name, run_config=full_pull_config(entity), tags={TRIGGER_TAG: "tenant_added"})
                     for entity in tenant_entities(tenant) if entity_job_name(entity) in job_names]
        context.log.info(f"tenants added: {', '.join(added) or 'none'}; removed: {', '.join(removed) or 'none'}")
        return SensorResult(dynamic_partitions_requests=partitions, run_requests=runs)

    return _registry


def inbox_sensor(registry: TenantRegistry, jobs: list, reader: InboxReader) -> SensorDefinition:
    job_names = {job.name for job in jobs}

    @sensor(name="tenant_inbox", jobs=jobs, minimum_interval_seconds=INBOX_INTERVAL,
            default_status=DefaultSensorStatus.RUNNING,
            description="Each tenant's webhook events -> one sync_<entity> run per tenant and entity.")
    def _inbox(context: SensorEvaluationContext):
        cursors: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        waiting = None
        requests, notes = [], []
        tenants = registered(context, registry)
        found = reader.new_events_of([(tenant, cursors.get(tenant.name, 0)) for tenant in tenants])
        for tenant in tenants:
            events = found.get(tenant.name)
            if not events:
                continue
            if waiting is None:
                waiting = waiting_runs(context)
            plan = plan_inbox_runs(tenant.name, tenant_entities(tenant), events, waiting)
            notes += plan.covered
            if plan.ignored:
                notes.append(f"{plan.ignored} event(s) of {tenant.name} for entities it does not sync")
            for run in plan.runs:
                if entity_job_name(run.entity) not in job_names:
                    notes.append(f"{run.entity} of {tenant.name} is not in this code location; reload it")
                    continue
                requests.append(RunRequest(
                    run_key=f"inbox-{run.tenant}-{run.entity}-{run.last_id}",
                    job_name=entity_job_name(run.entity),
                    partition_key=run.tenant,
                    tags={
                        TRIGGER_TAG: "webhook",
                        "ledgerbridge/inbox_ids": f"{run.first_id}-{run.last_id}",
                        "ledgerbridge/events": str(run.events),
                        "ledgerbridge/systems": ",".join(run.systems),
                        "ledgerbridge/first_received_at": str(run.first_received_at),
                    },
                ))
            cursors[tenant.name] = events[-1].id
        cursor = json.dumps(cursors, sort_keys=True)
        if notes:
            context.log.info("; ".join(notes))
        if not requests:
            return SensorResult(skip_reason="No new webhook events to launch a run for.", cursor=cursor)
        return SensorResult(run_requests=requests, cursor=cursor)

    return _inbox


def probe_sensor(registry: TenantRegistry, jobs: list) -> SensorDefinition:
    job_names = {job.name for job in jobs}

    @sensor(name="tenant_probes", jobs=jobs, minimum_interval_seconds=PROBE_INTERVAL,
            default_status=DefaultSensorStatus.RUNNING,
            description="For each tenant's entities whose system has no webhook: anything changed after the pull cursor?")
    def _probes(context: SensorEvaluationContext):
        markers: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests, probed = [], 0
        for tenant in registered(context, registry):
            probes = [t for t in triggers(tenant.config) if t.kind == "probe"]
            if not probes:
                continue
            store = HubStore(tenant.hub_url())  # read only: its first run creates the tables
            try:
                for trigger in probes:
                    side = "crm" if trigger.direction == "crm_to_erp" else "erp"
                    try:
                        cursor = read_cursor(store, trigger.system, trigger.entity)
                    except sa.exc.DBAPIError:
                        cursor = None
                    if cursor is None or entity_job_name(trigger.entity) not in job_names:
                        continue  # the first run or schedule sets the cursor
                    connector = build_connector(tenant.config.side(side))
                    try:
                        marker = probe(connector, trigger.entity, cursor)
                    except Exception as exc:  # noqa: BLE001 - one tenant's system being down must not stop the rest
                        context.log.warning(f"probe {tenant.name} {trigger.system} {trigger.entity}: "
                                            f"{type(exc).__name__}")
                        continue
                    finally:
                        connector.close()
                    probed += 1
                    key = f"{tenant.name}/{trigger.system}/{trigger.entity}"
                    if marker is None or marker == markers.get(key):
                        continue
                    markers[key] = marker
                    requests.append(RunRequest(
                        run_key=f"probe-{tenant.name}-{trigger.system}-{trigger.entity}-{marker}",
                        job_name=entity_job_name(trigger.entity), partition_key=tenant.name,
                        tags={TRIGGER_TAG: "probe", "ledgerbridge/change": marker},
                    ))
            finally:
                store.dispose()
        cursor = json.dumps(markers, sort_keys=True)
        if not requests:
            return SensorResult(skip_reason=f"No change found in {probed} probe(s).", cursor=cursor)
        return SensorResult(run_requests=requests, cursor=cursor)

    return _probes


def schedules_sensor(registry: TenantRegistry, jobs: list) -> SensorDefinition:
    """The tenants' crons as one sensor: a ScheduleDefinition targets one job and cannot come and go
    with tenants."""
    job_names = {job.name for job in jobs}

    @sensor(name="tenant_schedules", jobs=jobs, minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.RUNNING,
            description="Each tenant's entity schedules and the nightly full reconcile (one run per entity).")
    def _schedules(context: SensorEvaluationContext):
        now = datetime.now(timezone.utc)
        since = datetime.fromisoformat(context.cursor) if context.cursor else now - timedelta(minutes=1)
        requests = []
        for tenant in registered(context, registry):
            entities = [e for e in tenant_entities(tenant) if entity_job_name(e) in job_names]
            # The tenant's crons tick in its own time zone (dagster.timezone).
            zone = ZoneInfo(tenant.config.dagster.timezone)
            local_since, local_now = since.astimezone(zone), now.astimezone(zone)
            nightly = tenant.config.dagster.nightly_reconcile
            due = [(e, tick, False) for e, tick in due_schedules(tenant, local_since, local_now) if e in entities]
            due += [(e, tick, True) for tick in (last_tick(nightly, local_since, local_now) if nightly else [])
                    for e in entities]
            for entity, tick, full in due:
                requests.append(RunRequest(
                    run_key=f"{'nightly' if full else 'schedule'}-{tenant.name}-{entity}-{tick.isoformat()}",
                    job_name=entity_job_name(entity), partition_key=tenant.name,
                    run_config=full_pull_config(entity) if full else None,
                    tags={TRIGGER_TAG: "nightly" if full else "schedule"},
                ))
        if not requests:
            return SensorResult(skip_reason=f"No tenant schedule due since {since:%H:%M:%S}.", cursor=now.isoformat())
        return SensorResult(run_requests=requests, cursor=now.isoformat())

    return _schedules


# -- the code location ----------------------------------------------------------------------------

def executor_from_environment():
    """LEDGERBRIDGE_EXECUTOR: in_process (default: small frequent runs, no process per step),
    multiprocess (large backfills on one machine), celery (steps on Celery workers; `pip install
    ledgerbridge[celery]`, broker in DAGSTER_CELERY_BROKER_URL)."""
    choice = os.environ.get("LEDGERBRIDGE_EXECUTOR", "in_process")
    if choice == "in_process":
        return in_process_executor
    if choice == "multiprocess":
        return multiprocess_executor.configured({"max_concurrent": int(os.environ.get("LEDGERBRIDGE_MAX_PROCESSES", "4"))})
    if choice == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError:
            raise ConfigError("LEDGERBRIDGE_EXECUTOR=celery needs dagster-celery: pip install 'ledgerbridge[celery]'") from None
        return celery_executor
    raise ConfigError(f"LEDGERBRIDGE_EXECUTOR={choice!r}: choose in_process, multiprocess or celery")


def loadable_configs(registry: TenantRegistry) -> list[SyncConfig]:
    configs = []
    for name in registry.names():
        try:
            configs.append(registry.get(name).config)
        except ConfigError:
            continue  # reported by the sensors, tick after tick
    return configs


def code_location_entities(configs: list[SyncConfig]) -> list[str]:
    """Every entity any tenant syncs, in dependency order (a tenant with a new entity needs a reload)."""
    wanted = {entity for config in configs for entity in enabled_entities(config)}
    return [name for name in ENTITIES if name in wanted] or DEFAULT_ENTITIES


def build_tenant_definitions(registry: TenantRegistry) -> Definitions:
    configs = loadable_configs(registry)
    entities = code_location_entities(configs)
    # The plan and push assets any tenant's directions need (a tenant writing a new direction needs a reload).
    lineage = Lineage.of_tenants(configs, entities, tenant_storage(configs))
    jobs = tenant_jobs(entities)
    directory = str(registry.directory.resolve())
    reader = InboxReader()
    return Definitions(
        assets=[a for name in entities for a in entity_assets(name, lineage, TENANTS)],
        jobs=jobs,
        sensors=[registry_sensor(registry, jobs), inbox_sensor(registry, jobs, reader), probe_sensor(registry, jobs),
                 schedules_sensor(registry, jobs), *tenant_notification_sensors(registry)],
        resources={
            "hub": TenantHubStoreResource(tenants_dir=directory),
            "sync_config": TenantSyncConfigResource(tenants_dir=directory),
            "systems": TenantSystemsResource(tenants_dir=directory),
            "run_options": RunOptionsResource(),
        },
        executor=executor_from_environment(),
    )
