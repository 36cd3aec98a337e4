"""The assets of one entity. Each body reads a resource, calls the engine, returns metadata.

One road, two drivers: every body calls the same step of `SyncEngine` the CLI's `SyncEngine.run`
calls (pull, reconcile, settle + plan + gate, push), with the same semantics. A dry run
(`run_options` resource, `dry_run: true`) pulls and reconciles, plans and checks without
recording anything (no outbox or quarantine rows) and writes nothing remote, as `sync --dry-run`.

    pull/<entity>_pulled_from_<crm>, pull/<entity>_pulled_from_<erp>
                                    pull (incremental by cursor; `full` re-reads everything)
    hub/<entity>_golden             reconcile both sides into golden records
    plan/<entity>_planned_to_<erp>  planned writes + the blocking `quality_gate` check
    push/<entity>_pushed_to_<erp>   writes through the outbox
    plan/.._planned_to_<crm>, push/.._pushed_to_<crm>   the same towards the CRM, after the ERP push
                                    (so a number the ERP assigned is written back in the same run)

<crm> and <erp> are the configured systems' names (assets.lineage); an entity gets the plan and push
assets of its configured directions only. Each asset's definition carries its table's column schema,
kinds, owners and a description, so the UI shows them before the first run.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import (
    AssetExecutionContext,
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
from assets.lineage import Lineage, hub_key
from assets.metadata import column_schema, markdown_table, table_metadata
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


# The run tag carrying the warm worker's burst id (pipelines/warm_worker.py calls these assets outside a run).
BURST_TAG = "ledgerbridge/burst"


def run_id(context: AssetExecutionContext) -> str:
    """The id this step's writes are recorded under (outbox, audit log, conflicts): the run's, or the
    warm worker's burst's, where Dagster's direct invocation has no run id of its own."""
    return context.op_execution_context.run_tags.get(BURST_TAG) or context.run_id


# Asset tags the jobs select by (pipelines/jobs.py), whatever the configured systems' names.
STAGE_TAG, SIDE_TAG = "ledgerbridge/stage", "ledgerbridge/side"


def readable(entity: Entity) -> str:
    return entity.name.replace("_", " ")


def definition_metadata(table: str, entity: Entity | None, lineage: Lineage) -> dict:
    return {"dagster/table_name": table,
            "dagster/column_schema": column_schema(table, entity, lineage.owner_of(entity.name) if entity else None)}


def pull_asset(entity: Entity, side: str, lineage: Lineage,
               partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    table = staging_table_name(side, entity.name)
    source = lineage.labels[side]

    @asset(
        key=lineage.pull(entity.name, side),
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds=lineage.kinds(side),
        tags={STAGE_TAG: "pull", SIDE_TAG: side},
        owners=list(lineage.owners),
        metadata=definition_metadata(table, entity, lineage),
        description=f"{readable(entity).capitalize()} as pulled from {source} into the hub table {table}, mapped to the model's "
                    f"fields; incremental by cursor (op config full: true re-reads everything). {entity.description}",
        retry_policy=REMOTE_RETRY,
    )
    def _pull(context: AssetExecutionContext, config: PullConfig, hub: HubStoreResource,
              sync_config: SyncConfigResource, systems: SystemsResource) -> MaterializeResult:
        with hub.holding(entity.name, run_id(context)), engine(hub, sync_config, systems, side) as road:
            result = road.pull(side, entity.name, full=config.full)
        return MaterializeResult(
            metadata=table_metadata(
                hub.store, table,
                pulled=result.pulled, chunks=result.chunks, cursor=result.cursor or "",
                unconvertible=len(result.unconvertible),
            )
        )

    return _pull


def hub_asset(entity: Entity, lineage: Lineage, partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    table = hub_table_name(entity.name)
    deps = [lineage.pull(entity.name, side) for side in ("crm", "erp")]
    deps += [hub_key(ref) for ref in entity.depends_on if lineage.configured(ref)]

    @asset(
        key=hub_key(entity.name),
        deps=deps,
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds=lineage.kinds(),
        tags={STAGE_TAG: "hub"},
        owners=list(lineage.owners),
        metadata=definition_metadata(table, entity, lineage),
        description=f"Golden {readable(entity)} in the hub table {table}: the records of {lineage.labels['crm']} and "
                    f"{lineage.labels['erp']} matched and merged field by field, each field's owner winning a "
                    f"conflict. {entity.description}",
    )
    def _reconcile(context: AssetExecutionContext, hub: HubStoreResource,
                   sync_config: SyncConfigResource) -> MaterializeResult:
        with hub.holding(entity.name, run_id(context)), engine(hub, sync_config) as road:
            result = road.reconcile(entity.name, run_id=run_id(context))
        return MaterializeResult(
            metadata=table_metadata(
                hub.store, table,
                changed=result.changed, echoes=result.echoes, new_records=result.created,
                updated_records=result.updated, matched={k: v for k, v in result.matched.items()},
                match_suggestions=result.suggestions, conflicts=len(result.conflicts),
                # hub ids, fields and winners only: the values may be personal data (e-mails, phones)
                conflict_preview=markdown_table(result.conflicts, ["hub_id", "field", "winner"]),
            )
        )

    return _reconcile


def plan_asset(entity: Entity, side: str, lineage: Lineage,
               partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    asset_key = lineage.plan(entity.name, side)
    deps = [hub_key(entity.name)] + [lineage.push(ref, side) for ref in entity.depends_on if lineage.writes(ref, side)]
    if side == "crm" and lineage.writes(entity.name, "erp"):
        deps.append(lineage.push(entity.name, "erp"))  # ERP-assigned numbers first
    target = lineage.labels[side]

    @asset(
        key=asset_key,
        deps=deps,
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds=lineage.kinds(side, checked=True),
        tags={STAGE_TAG: "plan", SIDE_TAG: side},
        owners=list(lineage.owners),
        metadata=definition_metadata("outbox", None, lineage),
        description=f"Writes of {readable(entity)} planned towards {target} (rows of the hub table outbox, status "
                    "planned), checked by Great Expectations suites and validators before any is sent: a bad "
                    "record is held back, a mass corruption fails the quality_gate check and stops the push.",
        check_specs=plan_check_specs(asset_key),
    )
    def _plan(context: AssetExecutionContext, hub: HubStoreResource, sync_config: SyncConfigResource,
              systems: SystemsResource, run_options: RunOptionsResource) -> MaterializeResult:
        dry_run = run_options.dry_run
        with hub.holding(entity.name, run_id(context)), engine(hub, sync_config, systems, side) as road:
            if not dry_run:
                road.settle(side, entity.name, run_id=run_id(context))
            plan, gate = road.plan(side, entity.name, run_id=run_id(context), record=not dry_run)
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


def push_asset(entity: Entity, side: str, lineage: Lineage,
               partitions_def: PartitionsDefinition | None = None) -> AssetsDefinition:
    table = staging_table_name(side, entity.name)
    target = lineage.labels[side]

    @asset(
        key=lineage.push(entity.name, side),
        deps=[lineage.plan(entity.name, side)],
        group_name=entity.name,
        partitions_def=partitions_def,
        kinds=lineage.kinds(side),
        tags={STAGE_TAG: "push", SIDE_TAG: side},
        owners=list(lineage.owners),
        metadata=definition_metadata(table, entity, lineage),
        description=f"{readable(entity).capitalize()} written to {target} through the outbox (intent recorded before each call, "
                    f"confirmed after); the hub table {table} holds what {target} stored after each confirmed write.",
        retry_policy=REMOTE_RETRY,
    )
    def _push(context: AssetExecutionContext, hub: HubStoreResource, sync_config: SyncConfigResource,
              systems: SystemsResource, run_options: RunOptionsResource) -> MaterializeResult:
        if run_options.dry_run:
            return MaterializeResult(metadata={"dry_run": True, "created": 0, "updated": 0})
        with hub.holding(entity.name, run_id(context)), engine(hub, sync_config, systems, side) as road:
            result = road.push(side, entity.name, run_id=run_id(context))
        return MaterializeResult(
            metadata=table_metadata(
                hub.store, table,
                created=result.created, updated=result.updated, failed=len(result.failed),
                # hub ids only (labels are names); the reasons are in the outbox and the quarantine
                failures=markdown_table(result.failed, ["hub_id"]),
            )
        )

    return _push


def entity_assets(entity_name: str, lineage: Lineage,
                  partitions_def: PartitionsDefinition | None = None) -> list[AssetsDefinition]:
    """The road of one entity as `lineage` names it, with plan and push assets for the sides it writes.
    `partitions_def`: one partition per tenant when a code location serves many (pipelines/tenants.py)."""
    entity = model_entity(entity_name)
    assets = [pull_asset(entity, "crm", lineage, partitions_def), pull_asset(entity, "erp", lineage, partitions_def),
              hub_asset(entity, lineage, partitions_def)]
    for side in lineage.written.get(entity_name, ()):
        assets += [plan_asset(entity, side, lineage, partitions_def), push_asset(entity, side, lineage, partitions_def)]
    return assets
