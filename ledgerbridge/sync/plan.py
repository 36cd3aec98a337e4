"""Plan: the writes one target system needs so that it agrees with the hub.

A hub record becomes a write only when the target's copy differs on a field the target holds,
and the payload differs from the last one we sent (so a target that stores a value in its own
way never sets off the same write again). New records obey the entity's creation trigger and
number policy. The plan is checked by the quality gate (ledgerbridge.sync.gate) before any push.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import SyncConfig, trigger_allows
from ledgerbridge.matching.keys import equivalent
from ledgerbridge.model import Entity
from ledgerbridge.model import entity as model_entity
from ledgerbridge.store import T, HubStore, hub, staging, utcnow
from ledgerbridge.sync.deletes import action_for, erases
from ledgerbridge.sync.outbox import PLANNED, RETRY, UNCERTAIN, as_utc, open_rows
from ledgerbridge.sync.queue import queued
from ledgerbridge.sync.records import content_hash
from ledgerbridge.systems import mapped_fields

OTHER_SIDE = {"crm": "erp", "erp": "crm"}
BLOCKED_DIRECTION = {"erp": "erp_to_crm", "crm": "crm_to_erp"}


@dataclass
class PlannedWrite:
    entity: str
    hub_id: str
    system: str
    operation: str  # create | update
    values: dict[str, Any]  # model field names; references hold the target's remote ids
    compare: dict[str, Any]  # the same fields as hub values (hub ids), to recognise our own create
    remote_id: str | None = None
    label: str = ""
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (target now, planned)

    @property
    def send(self) -> tuple[str, ...]:
        """The fields the write sends: all for a create, only those that differ for an update (the
        others stay as the system holds them, so a change made there meanwhile is not overwritten)."""
        return tuple(self.values) if self.operation == "create" else tuple(self.diff)

    @property
    def payload_hash(self) -> str:
        return content_hash(self.values, self.values.keys())


@dataclass
class Plan:
    entity: str
    side: str
    system: str
    writes: list[PlannedWrite] = field(default_factory=list)
    unchanged: int = 0
    not_created: dict[str, str] = field(default_factory=dict)  # hub id -> why it is not created (yet)
    waiting: dict[str, str] = field(default_factory=dict)  # hub id -> which referenced record is missing
    deferred: dict[str, str] = field(default_factory=dict)  # hub id -> why its write waits (retry, lookup)
    considered: set[str] = field(default_factory=set)  # hub ids looked at from the queue (ledgerbridge.sync.queue)
    everything: bool = False  # the whole table was looked at, not only the queue (considered stays empty)
    started_at: Any = None  # when the plan began to read
    under_review: set[str] = field(default_factory=set)  # skipped until a person decides

    def still_queued(self) -> set[str]:
        """Records that must be looked at again next time: waiting for a parent, a retry or a review."""
        return set(self.waiting) | set(self.deferred) | self.under_review

    def done(self) -> set[str]:
        return self.considered - self.still_queued()

    def skip(self, hub_id: str, reason: str) -> None:
        self.not_created[hub_id] = reason

    def not_created_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reason in self.not_created.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def record_label(entity: Entity, values: dict[str, Any]) -> str:
    """What a person recognises the record by: number and name, or else whatever it has."""
    parts = [str(values[name]) for name in (entity.number_field, "name") if name and values.get(name)]
    if parts:
        return " ".join(parts)
    clues = [f"{name} {values[name]}" for name in ("vat_number", "email", "city", "street") if values.get(name)]
    return f"(no name: {', '.join(clues[:2])})" if clues else ""


def plan_push(store: HubStore, config: SyncConfig, entity_name: str, side: str, *, full: bool = False) -> Plan:
    """The writes towards `side`, looking at the queued records and due outbox work (the whole hub
    table with `full`, or the first time a side is planned)."""
    entity = model_entity(entity_name)
    system_config = config.crm if side == "crm" else config.erp
    system = system_config.system
    entity_config = config.entity(entity_name)
    plan = Plan(entity_name, side, system)
    if not entity_config.enabled or entity_config.direction == BLOCKED_DIRECTION[side]:
        return plan
    fields = [name for name in mapped_fields(system, entity_name) if name in entity.field_by_name]
    trigger = entity_config.create_in_erp if side == "erp" else entity_config.create_in_crm

    with store.connect() as conn, store.connect() as reader:
        waiting_rows = open_rows(conn, entity_name, system)
        queue = None if full else queued(conn, entity_name, side)
        # Planned rows of a run that stopped before its push (killed, blocked) are planned afresh: the
        # gate replaces them, and their records already left the queue when that plan was recorded.
        only = None if queue is None else queue | set(waiting_rows) | _planned(conn, entity_name, system)
        plan.everything = only is None
        now = plan.started_at = utcnow()
        under_review = _under_review(conn, entity_name, config, side)
        used_numbers = _used_numbers(conn, entity) if entity_config.number_policy == "hub" else set()
        # Read chunk by chunk, with what each chunk needs looked up for it alone: memory stays the
        # size of a chunk however large the table (the first plan of a side reads all of it).
        for records in _hub_records(conn, reader, entity_name, only):
            _plan_chunk(conn, plan, config, entity, records, fields, trigger, waiting_rows, under_review,
                        used_numbers, now)
    return plan


def _plan_chunk(conn: sa.Connection, plan: Plan, config: SyncConfig, entity: Entity, records: list[Any],
                fields: list[str], trigger: Any, waiting_rows: dict[str, dict[str, Any]], under_review: set[str],
                used_numbers: set[str], now: Any) -> None:
    entity_name, side, system = entity.name, plan.side, plan.system
    entity_config = config.entity(entity_name)
    number = entity.number_field
    # properties that build a tuple on each use: read once per chunk, not per record
    field_names, entity_references = entity.field_names, entity.references
    ids = [r["hub_id"] for r in records]
    links = _links(conn, entity_name, system, ids)
    gone = _gone(conn, entity_name, system, ids)
    sent = _sent_hashes(conn, entity_name, system, ids)
    refused = _refused_hashes(conn, entity_name, system, ids)
    target_rows = _staging_by_id(conn, side, entity_name, list(links.values()))
    parents = {ref.name: [r[ref.name] for r in records if r[ref.name]] for ref in entity_references}
    references = {ref.name: _links(conn, ref.reference, system, parents[ref.name]) for ref in entity_references}
    gone_references = {ref.name: _gone(conn, ref.reference, system, parents[ref.name]) for ref in entity_references}
    with_invoices = _debtors_with_invoices(conn, ids) if trigger == "first_invoice" else set()
    for record in records:
        hub_values = {name: record[name] for name in field_names}
        hub_id = record["hub_id"]
        if not plan.everything:
            plan.considered.add(hub_id)
        if record["deleted_at"] is not None:
            _follow_delete(plan, config, entity, record, links.get(hub_id), hub_id in gone)
            continue
        values = {name: hub_values[name] for name in fields}
        missing_reference = False
        for ref in entity_references:
            if ref.name in values and values[ref.name] is not None:
                if values[ref.name] in gone_references[ref.name]:
                    missing_reference = True
                    plan.skip(hub_id, f"its {ref.reference} was deleted in {system}")
                    break
                remote = references[ref.name].get(values[ref.name])
                if remote is None:
                    missing_reference = True
                    plan.waiting[hub_id] = f"its {ref.reference} is not in {system} yet"
                values[ref.name] = remote
        if missing_reference:
            continue
        if hub_id in gone:
            plan.skip(hub_id, f"deleted in {system}; not written to again")
            continue
        open_row = waiting_rows.get(hub_id)
        if open_row is not None and open_row["operation"] == "create" and open_row["status"] in UNCERTAIN:
            plan.deferred[hub_id] = (
                f"a create sent to {system} got no answer; it is looked up before it is sent again"
            )
            continue
        if open_row is not None and open_row["status"] == RETRY and open_row["next_attempt_at"] is not None \
                and as_utc(open_row["next_attempt_at"]) > now:
            plan.deferred[hub_id] = (
                f"retrying after {open_row['next_attempt_at']:%Y-%m-%d %H:%M:%S} UTC "
                f"(attempt {open_row['attempts'] + 1}): {open_row['last_error']}"
            )
            continue
        remote_id = links.get(hub_id)
        label = record_label(entity, hub_values)
        if remote_id is not None:
            current = target_rows.get(remote_id, {})
            if number and side == "erp":
                values.pop(number, None)  # the ERP's number is the record's key there, never rewritten
            country = hub_values.get("country")
            diff = {
                n: (current.get(n), v)
                for n, v in values.items()
                if not equivalent(n, current.get(n), v, country)
            }
            write = PlannedWrite(entity_name, hub_id, system, "update", values, {}, remote_id, label, diff)
            if not diff or sent.get(hub_id) == write.payload_hash:
                plan.unchanged += 1
                continue
            if refused.get(hub_id) == write.payload_hash:
                plan.skip(hub_id, f"{system} refused this record before; it is sent again once it changes "
                                  "(ledgerbridge quarantine list)")
                continue
            plan.writes.append(write)
            continue

        allowed = trigger_allows(trigger, hub_values)
        if allowed is None:  # first_invoice
            allowed = hub_id in with_invoices
        if not allowed:
            plan.skip(hub_id, f"creation trigger {trigger!r} not met")
            continue
        if hub_id in under_review:
            plan.skip(hub_id, "a possible match or duplicate awaits review (ledgerbridge matches list)")
            plan.under_review.add(hub_id)
            continue
        if side == "erp":
            for name, default in entity_config.erp_defaults_for(hub_values.get("country")).items():
                if name in values and values[name] is None:
                    values[name] = default
        if number and side == "erp":
            policy = entity_config.number_policy
            if policy == "erp":
                values.pop(number, None)
            elif policy == "crm" and not values.get(number):
                plan.skip(hub_id, "number policy 'crm': the CRM has not assigned a number yet")
                continue
            elif policy == "hub" and not values.get(number):
                values[number] = _allocate(entity_config.number_range, used_numbers)
                hub_values[number] = values[number]
        # What the created record will hold, references as hub ids (as reconcile sees rows).
        references_of = {ref.name for ref in entity_references}
        compare = {n: hub_values[n] if n in references_of else v for n, v in values.items()}
        write = PlannedWrite(entity_name, hub_id, system, "create", values, compare, None, label, {})
        if refused.get(hub_id) == write.payload_hash:
            plan.skip(hub_id, f"{system} refused this record before; it is sent again once it changes "
                              "(ledgerbridge quarantine list)")
            continue
        plan.writes.append(write)


def _follow_delete(plan: Plan, config: SyncConfig, entity: Entity, record: Any, remote_id: str | None,
                   gone: bool) -> None:
    """A record deleted in the other system: erase, delete, bar or unlink it in this one."""
    if record["deleted_in"] == plan.side or remote_id is None or gone:
        return  # deleted here, never created here, or already followed
    action = "erase" if erases(config, entity, record["deleted_in"]) else action_for(config, entity, plan.side)
    label = f"hub id {record['hub_id']}"  # the record's data may be about to be erased: no names
    plan.writes.append(PlannedWrite(entity.name, record["hub_id"], plan.system, action, {}, {}, remote_id, label, {}))


def _allocate(number_range: tuple[int, int] | None, used: set[str]) -> str:
    first, last = number_range  # validated by the configuration
    for candidate in range(first, last + 1):
        if str(candidate) not in used:
            used.add(str(candidate))
            return str(candidate)
    raise RuntimeError(f"number range {first}-{last} is used up")


def _planned(conn: sa.Connection, entity_name: str, system: str) -> set[str]:
    outbox = T["outbox"]
    query = sa.select(outbox.c.hub_id).where(outbox.c.entity == entity_name, outbox.c.system == system,
                                             outbox.c.status == PLANNED)
    return set(conn.execute(query).scalars())


CHUNK_SIZE = 2000  # hub records planned together


def _hub_records(conn: sa.Connection, reader: sa.Connection, entity_name: str,
                 only: set[str] | None) -> Iterator[list[Any]]:
    """The hub records to plan, oldest first, in chunks: all (streamed through `reader`, a second
    connection, while `conn` looks up each chunk's links), or those in `only`."""
    table = hub(entity_name)
    if only is None:
        result = reader.execution_options(stream_results=True).execute(
            sa.select(table).order_by(table.c.created_at, table.c.hub_id))
        for chunk in result.mappings().partitions(CHUNK_SIZE):
            yield chunk
        return
    order = []
    ids = sorted(only)
    for start in range(0, len(ids), 500):
        order += conn.execute(sa.select(table.c.created_at, table.c.hub_id)
                              .where(table.c.hub_id.in_(ids[start : start + 500]))).tuples().all()
    order.sort()
    for start in range(0, len(order), CHUNK_SIZE):
        found = {}
        chunk_ids = [hub_id for _, hub_id in order[start : start + CHUNK_SIZE]]
        for batch in range(0, len(chunk_ids), 500):
            for record in conn.execute(sa.select(table).where(table.c.hub_id.in_(chunk_ids[batch : batch + 500])))\
                    .mappings():
                found[record["hub_id"]] = record
        yield [found[hub_id] for hub_id in chunk_ids if hub_id in found]


def _restricted(conn: sa.Connection, query: sa.Select, column: sa.ColumnElement, ids: list[str] | None) -> list[tuple]:
    """Rows of `query`, all or only where `column` is one of `ids` (in batches the databases accept)."""
    if ids is None:
        return list(conn.execute(query).tuples())
    rows: list[tuple] = []
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        rows += conn.execute(query.where(column.in_(unique[start : start + 500]))).tuples().all()
    return rows


def _links(conn: sa.Connection, entity_name: str, system: str, ids: list[str] | None = None) -> dict[str, str]:
    id_map = T["id_map"]
    query = sa.select(id_map.c.hub_id, id_map.c.remote_id).where(
        id_map.c.entity == entity_name, id_map.c.system == system
    )
    return dict(_restricted(conn, query, id_map.c.hub_id, ids))


def _gone(conn: sa.Connection, entity_name: str, system: str, ids: list[str] | None = None) -> set[str]:
    """Hub ids no longer written to in the system (deleted there, barred, anonymised, unlinked)."""
    id_map = T["id_map"]
    query = sa.select(id_map.c.hub_id).where(
        id_map.c.entity == entity_name, id_map.c.system == system, id_map.c.gone_at.is_not(None)
    )
    return {row[0] for row in _restricted(conn, query, id_map.c.hub_id, ids)}


def _refused_hashes(conn: sa.Connection, entity_name: str, system: str, ids: list[str] | None = None) -> dict[str, str]:
    state = T["sync_state"]
    query = sa.select(state.c.hub_id, state.c.last_refused_hash).where(
        state.c.entity == entity_name, state.c.system == system, state.c.last_refused_hash.is_not(None)
    )
    return dict(_restricted(conn, query, state.c.hub_id, ids))


def _sent_hashes(conn: sa.Connection, entity_name: str, system: str, ids: list[str] | None = None) -> dict[str, str]:
    state = T["sync_state"]
    query = sa.select(state.c.hub_id, state.c.last_sent_hash).where(
        state.c.entity == entity_name, state.c.system == system, state.c.last_sent_hash.is_not(None)
    )
    return dict(_restricted(conn, query, state.c.hub_id, ids))


def _staging_by_id(conn: sa.Connection, side: str, entity_name: str,
                   remote_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    table = staging(side, entity_name)
    if remote_ids is None:
        return {r["remote_id"]: dict(r) for r in conn.execute(sa.select(table)).mappings()}
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(remote_ids))
    for start in range(0, len(unique), 500):
        query = sa.select(table).where(table.c.remote_id.in_(unique[start : start + 500]))
        found.update({r["remote_id"]: dict(r) for r in conn.execute(query).mappings()})
    return found


def _under_review(conn: sa.Connection, entity_name: str, config: SyncConfig, side: str) -> set[str]:
    """Hub records on either end of an undecided fuzzy match or of an open duplicate report:
    creating them elsewhere would copy a possible duplicate."""
    candidates, duplicates, id_map = T["match_candidates"], T["duplicate_candidates"], T["id_map"]
    open_suggestion = sa.and_(candidates.c.entity == entity_name, candidates.c.status == "suggested")
    open_duplicate = sa.and_(duplicates.c.entity == entity_name, duplicates.c.status == "open")
    ends = (  # (table, remote id column, which rows, the system that remote id belongs to)
        (candidates, candidates.c.crm_remote_id, open_suggestion, sa.literal(config.crm.system)),
        (candidates, candidates.c.erp_remote_id, open_suggestion, sa.literal(config.erp.system)),
        (duplicates, duplicates.c.remote_id_a, open_duplicate, duplicates.c.system),
        (duplicates, duplicates.c.remote_id_b, open_duplicate, duplicates.c.system),
    )
    hub_ids: set[str] = set()
    for table, remote_id, which, system in ends:
        query = (
            sa.select(id_map.c.hub_id)
            .select_from(table.join(id_map, id_map.c.remote_id == remote_id))
            .where(which, id_map.c.entity == entity_name, id_map.c.system == system)
        )
        hub_ids.update(conn.execute(query).scalars())
    return hub_ids


def _used_numbers(conn: sa.Connection, entity: Entity) -> set[str]:
    number = entity.number_field
    used: set[str] = set()
    for table in (hub(entity.name), staging("crm", entity.name), staging("erp", entity.name)):
        used.update(str(v) for v in conn.execute(sa.select(table.c[number])).scalars() if v is not None)
    return used


def _debtors_with_invoices(conn: sa.Connection, debtor_ids: list[str]) -> set[str]:
    invoices = hub("invoices")
    found: set[str] = set()
    for start in range(0, len(debtor_ids), 500):
        found.update(conn.execute(sa.select(invoices.c.debtor_id).distinct()
                                  .where(invoices.c.debtor_id.in_(debtor_ids[start : start + 500]))).scalars())
    return found
