"""The assets of one entity. Each body reads a resource, calls the engine, returns metadata.

One road, two drivers: every body calls the same step of `SyncEngine` the CLI's `SyncEngine.run`
calls (pull, reconcile, settle + plan + gate, push), with the same semantics. A dry run
(`run_options` resource, `dry_run: true`) pulls and reconciles, plans and checks without
recording anything (no outbox or quarantine rows) and writes nothing remote, as `sync --dry-run`.

    crm/<entity>, erp/<entity>      pull (incremental by cursor; `full` re-reads everything)
    hub/<entity>                    reconcile both sides into golden records
    plan/erp_<entity>               planned writes + the blocking `quality_gate` check
    push/erp_<entity>               writes through the outbox
    plan/crm_<entity>, push/crm_<entity>   the same towards the CRM, after the ERP push
                                    (so a number the ERP assigned is written back in the same run)
"""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    PartitionsDefinition,
    RetryPolicy,
    Backoff,
    Jitter,
    asset,
)

from ledgerbridge.model import Entity
from ledgerbridge.model import entity as model_entity
from ledgerbridge.store import hub_table_name, staging_table_name
from ledgerbridge.sync.engine import SyncEngine
from ledgerbridge.sync.review import still_held

from assets.checks import plan_check_results, plan_check_specs
from assets.metadata import markdown_table, table_metadata
from resources import HubStoreResource, RunOptionsResource, SyncConfigResource, SystemsResource

# Remote APIs are flaky; the connectors already retry single calls, this retries a whole step.
REMOTE_RETRY = RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


class PullConfig(Config):
    full: bool = False  # ignore the cursor and read every record (the nightly reconcile)


@contextmanager
def engine(hub: HubStoreResource, sync_config: SyncConfigResource, systems: SystemsResource | None = None,
           *sides: str) -> Iterator[SyncEngine]:
    """The CLI's engine over this run's resources, with connectors to `sides` (closed afterwards)."""
    connectors = {side: systems.connector(side) for side in sides} if systems is not None else {}
    try:
        yield SyncEngine(sync_config.config, hub.store, connectors)
    finally:
        for connector in connectors.values():
            connector.close()


def key(stage: str, name: str) -> AssetKey:
    return AssetKey([stage, name])


def pull_asset(entity: Entity, side: str, partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    table = staging_table_name(side, entity.name)

    @asset(
        key=key(side, entity.name),
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds={"python", "sql"},
        description=f"{entity.name} as pulled from the {side.upper()} (table {table}).",
        retry_policy=REMOTE_RETRY,
    )
    def _pull(context: AssetExecutionContext, config: PullConfig, hub: HubStoreResource,
              sync_config: SyncConfigResource, systems: SystemsResource) -> MaterializeResult:
        store = hub.store
        with engine(hub, sync_config, systems, side) as road:
            result = road.pull(side, entity.name, full=config.full)
        return MaterializeResult(
            metadata=table_metadata(
                store, table, entity, "staging",
                pulled=result.pulled, chunks=result.chunks, cursor=result.cursor or "",
                unconvertible=len(result.unconvertible),
            )
        )

    return _pull


def hub_asset(entity: Entity, partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    table = hub_table_name(entity.name)
    deps = [key("crm", entity.name), key("erp", entity.name)] + [key("hub", ref) for ref in entity.depends_on]

    @asset(
        key=key("hub", entity.name),
        deps=deps,
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds={"sql"},
        description=f"Reconciled {entity.name} (table {table}): matched, merged by field owner.",
    )
    def _reconcile(context: AssetExecutionContext, hub: HubStoreResource,
                   sync_config: SyncConfigResource) -> MaterializeResult:
        store = hub.store
        with engine(hub, sync_config) as road:
            result = road.reconcile(entity.name, run_id=context.run_id)
        return MaterializeResult(
            metadata=table_metadata(
                store, table, entity, "hub",
                changed=result.changed, echoes=result.echoes, new_records=result.created,
                updated_records=result.updated, matched={k: v for k, v in result.matched.items()},
                match_suggestions=result.suggestions, conflicts=len(result.conflicts),
                # hub ids, fields and winners only: the values may be personal data (e-mails, phones)
                conflict_preview=markdown_table(result.conflicts, ["hub_id", "field", "winner"]),
            )
        )

    return _reconcile


def plan_asset(entity: Entity, side: str, partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    name = f"{side}_{entity.name}"
    deps = [key("hub", entity.name)] + [key("push", f"{side}_{ref}") for ref in entity.depends_on]
    if side == "crm":
        deps.append(key("push", f"erp_{entity.name}"))  # ERP-assigned numbers first

    @asset(
        key=key("plan", name),
        deps=deps,
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds={"sql"},
        description=f"Writes planned towards the {side.upper()} for {entity.name} (outbox rows 'planned').",
        check_specs=plan_check_specs(key("plan", name)),
    )
    def _plan(context: AssetExecutionContext, hub: HubStoreResource, sync_config: SyncConfigResource,
              systems: SystemsResource, run_options: RunOptionsResource) -> MaterializeResult:
        dry_run = run_options.dry_run
        with engine(hub, sync_config, systems, side) as road:
            if not dry_run:
                road.settle(side, entity.name, run_id=context.run_id)
            plan, gate = road.plan(side, entity.name, run_id=context.run_id, record=not dry_run)
        config = sync_config.config
        source = config.erp.system if side == "crm" else config.crm.system
        held = None
        if not dry_run:
            with hub.store.connect() as conn:
                held = still_held(conn, entity.name, gate.system)
        checks = plan_check_results(gate, config.quality.block_threshold, source, held)
        if gate.blocked:
            context.log.error(checks[0].description)  # the run's log says why, not only the check's metadata
        return MaterializeResult(
            metadata={
                "dagster/table_name": "outbox",
                "dagster/row_count": 0 if gate.blocked else len(gate.planned),
                "creates": sum(w.operation == "create" for w in gate.planned),
                "updates": sum(w.operation == "update" for w in gate.planned),
                "unchanged": plan.unchanged,
                "not_created": plan.not_created_counts(),
                "waiting_for_parent": len(plan.waiting),
                "held_back": len(gate.held),
                "dry_run": dry_run,
            },
            check_results=checks,
        )

    return _plan


def push_asset(entity: Entity, side: str, partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    name = f"{side}_{entity.name}"

    @asset(
        key=key("push", name),
        deps=[key("plan", name)],
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds={"python"},
        description=f"{entity.name} written to the {side.upper()} through the outbox.",
        retry_policy=REMOTE_RETRY,
    )
    def _push(context: AssetExecutionContext, hub: HubStoreResource, sync_config: SyncConfigResource,
              systems: SystemsResource, run_options: RunOptionsResource) -> MaterializeResult:
        store = hub.store
        if run_options.dry_run:
            return MaterializeResult(metadata={"dry_run": True, "created": 0, "updated": 0})
        with engine(hub, sync_config, systems, side) as road:
            result = road.push(side, entity.name, run_id=context.run_id)
        # The target's staging table holds what the system stored after each confirmed write.
        return MaterializeResult(
            metadata=table_metadata(
                store, staging_table_name(side, entity.name), entity, "staging",
                created=result.created, updated=result.updated, failed=len(result.failed),
                # hub ids only (labels are names); the reasons are in the outbox and the quarantine
                failures=markdown_table(result.failed, ["hub_id"]),
            )
        )

    return _push


def entity_assets(entity_name: str, partitions_def: PartitionsDefinition | None = None) -> list[AssetsDefinition]:
    """`partitions_def`: one partition per tenant when a code location serves many (pipelines/tenants.py)."""
    entity = model_entity(entity_name)
    return [
        pull_asset(entity, "crm", partitions_def),
        pull_asset(entity, "erp", partitions_def),
        hub_asset(entity, partitions_def),
        plan_asset(entity, "erp", partitions_def),
        push_asset(entity, "erp", partitions_def),
        plan_asset(entity, "crm", partitions_def),
        push_asset(entity, "crm", partitions_def),
    ]
