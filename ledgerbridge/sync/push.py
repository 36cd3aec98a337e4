"""Push: carry out the planned writes through the transactional outbox (ledgerbridge.sync.outbox).

For each write the intent is committed first (status sent, with the time), then the remote call
is made, then the remote id, the stored record, its shadow and hash are committed together
(confirmed); intents and results are committed for a batch of writes at a time (BATCH_SIZE), the
calls made one by one in between. What can go wrong has one answer each:

- the system refuses the record (4xx): failed, held in quarantine with the system's own reason,
  not sent again until the record changes; the other writes go on;
- the record is gone in the system (deleted there): the write is obsolete, the link is marked
  gone, and nothing is written to it again (reported once);
- the record changed in the system since we read it, on a field we were about to write: the write
  is dropped (obsolete) so that change is not overwritten; the next sync merges it first;
- a passing failure (5xx, timeout, 429) of a write that did not happen or can be repeated: retry,
  with a next attempt after a growing delay, failed after `retries.max_attempts`;
- no answer to a create (lost reply, timeout, a kill): the row stays sent; before anything is sent
  again the record is looked up (by its number, or recognised by reconcile in the next pull).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import RetryConfig
from ledgerbridge.connectors.base import (
    Connector,
    ConnectorError,
    OutcomeUnknown,
    RecordGone,
    RecordRejected,
    RemoteRecord,
    StaleWrite,
)
from ledgerbridge.matching.keys import equivalent
from ledgerbridge.model import Entity
from ledgerbridge.model import entity as model_entity
from ledgerbridge.quality import normalise_record
from ledgerbridge.store import T, HubStore, dialect_insert, hub, staging, to_json, utcnow
from ledgerbridge.sync import outbox as box
from ledgerbridge.sync.deletes import DELETE_OPERATIONS, mark_gone
from ledgerbridge.sync.erasure import erase_in, purge_if_done, try_delete
from ledgerbridge.sync.queue import enqueue
from ledgerbridge.sync.records import coerce, content_hash
from ledgerbridge.sync.shadows import load_shadows, shadow_row
from ledgerbridge.systems import mapped_fields

log = logging.getLogger(__name__)


@dataclass
class PushResult:
    entity: str
    system: str
    created: int = 0
    updated: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {hub_id, record, error}: refused or given up
    retrying: list[dict[str, Any]] = field(default_factory=list)  # passing failures, sent again later
    uncertain: list[dict[str, Any]] = field(default_factory=list)  # creates without an answer: looked up first
    gone: list[dict[str, Any]] = field(default_factory=list)  # the record was deleted in the system
    stale: int = 0  # writes dropped because the record changed there meanwhile (merged next sync)
    deleted: list[dict[str, Any]] = field(default_factory=list)  # deletes followed: deleted, barred, ...
    recovered: int = 0  # creates without an answer found in the system by their number

    @property
    def calls(self) -> int:
        return self.created + self.updated + len(self.failed) + len(self.retrying) + len(self.uncertain)


def push(
    store: HubStore,
    connector: Connector,
    side: str,
    entity_name: str,
    *,
    run_id: str | None = None,
    retries: RetryConfig | None = None,
    systems: dict[str, str] | None = None,
) -> PushResult:
    """`systems` names each side's system (for an erasure's purge); default: only this side's."""
    systems = systems or {side: connector.system}
    entity = model_entity(entity_name)
    policy = retries or RetryConfig()
    fields = tuple(f for f in mapped_fields(connector.system, entity_name) if f in entity.field_by_name)
    outbox = T["outbox"]
    result = PushResult(entity_name, connector.system)
    for row, record in box.settle_uncertain(store, connector, side, entity_name, entity.number_field, policy):
        confirm_found(store, row, record, side, entity_name, run_id)
        result.recovered += 1
    with store.connect() as conn:
        planned = conn.execute(
            sa.select(outbox)
            .where(outbox.c.entity == entity_name, outbox.c.system == connector.system, outbox.c.status == box.PLANNED)
            .order_by(outbox.c.id)
        ).mappings().all()
        shadows = load_shadows(conn, entity, connector.system, [r["hub_id"] for r in planned if r["operation"] == "update"])
        staged = _staged(conn, side, entity_name, [r["remote_id"] for r in planned if r["remote_id"]])

    for start in range(0, len(planned), BATCH_SIZE):
        batch = planned[start : start + BATCH_SIZE]
        _mark_sent(store, entity, batch, run_id)
        confirmed: list[_Confirmation] = []
        try:
            for row in batch:
                _send(store, connector, entity, side, row, shadows, staged, policy, result, systems, confirmed)
        finally:
            # Written even when the batch stops half-way (an error no record explains): what happened
            # is recorded; rows not reached stay sent and are settled like any unanswered call.
            _confirm_many(store, confirmed, side, entity_name, fields, run_id)
        for item in confirmed:
            if item.row["operation"] == "create":
                result.created += 1
            else:
                result.updated += 1
    return result


# Writes whose intent is recorded in one transaction before their calls, and whose results are
# recorded in one after them. A run killed in between leaves the batch's rows `sent`, the state an
# unanswered call leaves: an update is sent again (the same values), a create is looked up first.
BATCH_SIZE = 50


@dataclass
class _Confirmation:
    row: Any
    stored: RemoteRecord
    send: tuple[str, ...]
    expected: dict[str, Any] | None


def _mark_sent(store: HubStore, entity: Entity, batch: list[Any], run_id: str | None) -> None:
    outbox = T["outbox"]
    now = utcnow()
    with store.begin() as conn:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_([row["id"] for row in batch]))
            .values(status=box.SENT, attempts=outbox.c.attempts + 1, run_id=run_id, sent_at=now, updated_at=now)
        )
        for row in batch:
            values = json.loads(row["payload"]).get("values", {})
            if row["operation"] == "create" and entity.number_field and values.get(entity.number_field):
                # A number assigned before the call (hub or CRM policy) is the create's natural key.
                hub_table = hub(entity.name)
                conn.execute(
                    hub_table.update()
                    .where(hub_table.c.hub_id == row["hub_id"], hub_table.c[entity.number_field].is_(None))
                    .values({entity.number_field: values[entity.number_field]})
                )


def _send(store: HubStore, connector: Connector, entity: Entity, side: str, row: Any, shadows: dict[str, Any],
          staged: dict[str, Any], policy: RetryConfig, result: PushResult, systems: dict[str, str],
          confirmed: list[_Confirmation]) -> None:
    """Make one planned write's call; a success joins `confirmed`, anything else is recorded here."""
    entity_name = entity.name
    payload = json.loads(row["payload"])
    values, _ = coerce(entity, payload["values"])
    send = tuple(payload.get("send") or values)
    label = payload.get("label", "")
    what = {"hub_id": row["hub_id"], "record": label}
    if row["operation"] in DELETE_OPERATIONS:
        try:
            how = _follow_delete(connector, entity, row["operation"], row["remote_id"])
        except ConnectorError as exc:
            _retry_or_fail(store, row, str(exc), policy, result, what, side)
            return
        _followed(store, row, how, side, entity_name, systems)
        result.deleted.append({**what, "done": how})
        return
    try:
        if row["operation"] == "create":
            stored = _create_once(connector, entity_name, entity.number_field, values)
        else:
            expected = shadows.get(row["hub_id"]) or staged.get(row["remote_id"]) or {}
            guard = _unchanged_since_read(entity, connector.system, send, expected)
            stored = connector.update(entity_name, row["remote_id"], {k: values.get(k) for k in send}, guard=guard)
    except StaleWrite as exc:
        _close(store, row, box.OBSOLETE, str(exc), requeue=side)
        result.stale += 1
        return
    except RecordGone as exc:
        _gone(store, row, str(exc))
        result.gone.append({**what, "error": str(exc)})
        return
    except RecordRejected as exc:
        _refused(store, row, str(exc), entity_name, connector.system, label, exc.field_errors)
        result.failed.append({**what, "error": str(exc)})
        return
    except OutcomeUnknown as exc:
        if row["operation"] == "create":
            _close(store, row, box.SENT, f"{exc}; the record is looked up before the create is sent again")
            result.uncertain.append({**what, "error": str(exc)})
        else:  # an update sends the same values again safely
            _retry_or_fail(store, row, str(exc), policy, result, what, side)
        return
    except ConnectorError as exc:
        _retry_or_fail(store, row, str(exc), policy, result, what, side)
        return
    confirmed.append(_Confirmation(row, stored, send, shadows.get(row["hub_id"])))


def _follow_delete(connector: Connector, entity: Entity, operation: str, remote_id: str) -> str:
    """Carry out a delete followed from the other system; returns what was done."""
    if operation == "erase":
        return erase_in(connector, entity, remote_id)
    if operation == "delete":
        if try_delete(connector, entity, remote_id):
            return "deleted"
        operation = "bar"  # kept by the system (postings), or it cannot delete: bar it if it can
    if operation == "bar" and "barred" in mapped_fields(connector.system, entity.name):
        try:
            connector.update(entity.name, remote_id, {"barred": True})
            return "barred"
        except RecordGone:
            return "deleted"
    return "unlinked"


def _followed(store: HubStore, row: Any, how: str, side: str, entity_name: str, systems: dict[str, str]) -> None:
    now = utcnow()
    with store.begin() as conn:
        box.close(conn, row["id"], box.CONFIRMED, f"the record was deleted in the other system; here it was {how}")
        mark_gone(conn, entity_name, row["system"], [row["hub_id"]], how, now)
        if how in ("deleted", "gone"):
            table = staging(side, entity_name)
            conn.execute(table.update().where(table.c.remote_id == row["remote_id"]).values(deleted_at=now))
    if row["operation"] == "erase":
        golden = hub(entity_name)
        with store.connect() as conn:
            deleted_in = conn.execute(sa.select(golden.c.deleted_in).where(golden.c.hub_id == row["hub_id"])).scalar()
        where = systems.get(deleted_in or "", deleted_in or "the system that owns it")
        purge_if_done(store, systems, entity_name, row["hub_id"], reason=f"deleted in {where}, the system that owns it")


def confirm_found(store: HubStore, row: Any, record: RemoteRecord, side: str, entity_name: str, run_id: str | None) -> None:
    """A create without an answer whose record a lookup found: confirmed as if the answer had come."""
    entity = model_entity(entity_name)
    fields = tuple(f for f in mapped_fields(row["system"], entity_name) if f in entity.field_by_name)
    _confirm_many(store, [_Confirmation(row, record, tuple(json.loads(row["payload"])["values"]), None)], side,
                  entity_name, fields, run_id)


def _unchanged_since_read(entity: Entity, system: str, send: tuple[str, ...], expected: dict[str, Any]):
    """A guard for connector.update: stop if the system changed a field we are about to write since
    we last read it (its value differs from the shadow), so that change is merged, not overwritten."""

    def guard(current: RemoteRecord) -> None:
        values, _ = coerce(entity, current.values)
        values = normalise_record(entity.name, values)
        country = values.get("country") or expected.get("country")
        changed = tuple(
            name for name in send
            if name in expected and not equivalent(name, values.get(name), expected.get(name), country)
        )
        if changed:
            raise StaleWrite(
                f"{system}: {entity.name} {current.remote_id} changed there meanwhile ({', '.join(changed)}); "
                "not overwritten, merged by the next sync",
                changed,
            )

    return guard


def _create_once(connector: Connector, entity_name: str, number_field: str | None, values: dict[str, Any]) -> RemoteRecord:
    """Create, unless a record with the same business number already exists (lookup before create)."""
    number = values.get(number_field) if number_field else None
    if number:
        existing = connector.find_by_number(entity_name, str(number))
        if existing is not None:
            return connector.update(entity_name, existing.remote_id, values)
    return connector.create(entity_name, values)


def _staged(conn: sa.Connection, side: str, entity_name: str, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
    table = staging(side, entity_name)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(remote_ids), 500):
        query = sa.select(table).where(table.c.remote_id.in_(remote_ids[start : start + 500]))
        found.update({r["remote_id"]: dict(r) for r in conn.execute(query).mappings()})
    return found


def _close(store: HubStore, row: Any, status: str, reason: str, *, requeue: str | None = None) -> None:
    """Close the row; `requeue` (a side) when the record must be planned again towards it."""
    with store.begin() as conn:
        box.close(conn, row["id"], status, reason)
        if requeue:
            enqueue(conn, row["entity"], [row["hub_id"]], sides=(requeue,))


def _retry_or_fail(store: HubStore, row: Any, error: str, policy: RetryConfig, result: PushResult, what: dict,
                   side: str) -> None:
    attempts = row["attempts"] + 1
    now = utcnow()
    with store.begin() as conn:
        if attempts >= policy.max_attempts:
            reason = (f"{error} — gave up after {attempts} attempts; check that {row['system']} is reachable and "
                      "accepts us: the next sync plans the write again from the start")
            box.close(conn, row["id"], box.FAILED, reason)
            enqueue(conn, row["entity"], [row["hub_id"]], sides=(side,))
            result.failed.append({**what, "error": reason})
            return
        next_at = now + box.retry_delay(policy, attempts)
        conn.execute(
            T["outbox"].update().where(T["outbox"].c.id == row["id"])
            .values(status=box.RETRY, last_error=error, next_attempt_at=next_at, updated_at=now)
        )
    result.retrying.append({**what, "error": error})


def _gone(store: HubStore, row: Any, error: str) -> None:
    now = utcnow()
    with store.begin() as conn:
        box.close(conn, row["id"], box.OBSOLETE, error)
        mark_gone(conn, row["entity"], row["system"], [row["hub_id"]], "deleted", now)


def _confirm_many(store: HubStore, items: list[_Confirmation], side: str, entity_name: str,
                  fields: tuple[str, ...], run_id: str | None) -> None:
    """Record writes that happened, in one transaction: staging holds each record as stored, the
    shadow what we know the system holds because we wrote it (the fields sent) or read it (the
    others, from the shadow before the write), so a field changed there by someone else meanwhile
    still shows as a change."""
    if not items:
        return
    entity = model_entity(entity_name)
    now = utcnow()
    table, outbox = staging(side, entity_name), T["outbox"]
    with store.begin() as conn:
        before_rows: dict[str, Any] = {}
        remote_ids = [item.stored.remote_id for item in items]
        for start in range(0, len(remote_ids), 500):
            for record in conn.execute(sa.select(table).where(table.c.remote_id.in_(remote_ids[start : start + 500])))\
                    .mappings():
                before_rows[record["remote_id"]] = record
        shadow_rows, staging_rows, state_rows, audit_rows, outbox_rows = [], [], [], [], []
        for item in items:
            row, stored = item.row, item.stored
            values, _ = coerce(entity, stored.values)
            values = normalise_record(entity_name, values)
            stored_hash = content_hash(values, fields)
            before = before_rows.get(stored.remote_id)
            base = item.expected if item.expected is not None else (
                dict(before) if before is not None and row["operation"] == "update" else None)
            shadow = values if base is None else {**{k: base.get(k) for k in fields},
                                                  **{k: values.get(k) for k in item.send if k in fields}}
            shadow_rows.append(shadow_row(entity_name, row["hub_id"], row["system"], shadow, fields))
            staging_rows.append({"remote_id": stored.remote_id, **{name: values.get(name) for name in entity.field_names},
                                 "remote_updated_at": stored.updated_at, "content_hash": stored_hash, "pulled_at": now,
                                 "reconciled_hash": shadow_rows[-1]["shadow_hash"]})
            if row["operation"] == "create":
                _record_create(conn, entity, row, stored, values, side, fields, now)
            state_rows.append({"entity": entity_name, "hub_id": row["hub_id"], "system": row["system"],
                               "last_pushed_hash": stored_hash, "last_sent_hash": row["payload_hash"],
                               "last_refused_hash": None, "last_pushed_at": now, "last_seen_hash": stored_hash,
                               "last_seen_at": now})
            outbox_rows.append({"b_id": row["id"], "b_remote_id": stored.remote_id})
            audit_rows.append({"run_id": run_id, "entity": entity_name, "hub_id": row["hub_id"], "system": row["system"],
                               "operation": row["operation"],
                               "before": to_json({k: before[k] for k in fields}) if before else None,
                               "after": to_json({k: values.get(k) for k in fields}), "at": now})
        store.upsert(conn, T["shadows"], list({(r["hub_id"], r["system"]): r for r in shadow_rows}.values()),
                     ["entity", "hub_id", "system"])
        store.upsert(conn, table, list({r["remote_id"]: r for r in staging_rows}.values()), ["remote_id"])
        store.upsert(conn, T["sync_state"], list({(r["hub_id"], r["system"]): r for r in state_rows}.values()),
                     ["entity", "hub_id", "system"])
        conn.execute(
            outbox.update().where(outbox.c.id == sa.bindparam("b_id"))
            .values(status=box.CONFIRMED, remote_id=sa.bindparam("b_remote_id"), last_error=None, next_attempt_at=None,
                    updated_at=now),
            outbox_rows,
        )
        conn.execute(T["audit_log"].insert(), audit_rows)


def _record_create(conn: sa.Connection, entity: Entity, row: Any, stored: RemoteRecord, values: dict[str, Any],
                   side: str, fields: tuple[str, ...], now: Any) -> None:
    """A create happened: the link, the number back to the other side, and what the system filled in."""
    entity_name = entity.name
    enqueue(conn, entity_name, [row["hub_id"]], sides=("crm" if side == "erp" else "erp",))  # number back
    conn.execute(
        dialect_insert(conn, T["id_map"]).on_conflict_do_nothing(),
        {"entity": entity_name, "hub_id": row["hub_id"], "system": row["system"], "remote_id": stored.remote_id,
         "linked_at": now, "linked_by": "created"},
    )
    # What the system filled in (the number it assigned, defaults) becomes the hub's where the hub
    # had nothing, so it is written back to the other side, not cleared.
    hub_table = hub(entity_name)
    current = conn.execute(sa.select(hub_table).where(hub_table.c.hub_id == row["hub_id"])).mappings().first()
    filled = {k: values[k] for k in fields if current is not None and current[k] is None and values.get(k) is not None}
    number = entity.number_field
    if number and values.get(number) and current is not None and current[number] != values[number]:
        filled[number] = values[number]  # the number the system assigned on create is its key
    if filled:
        conn.execute(hub_table.update().where(hub_table.c.hub_id == row["hub_id"]).values({**filled, "updated_at": now}))


def _refused(
    store: HubStore,
    row: Any,
    error: str,
    entity_name: str,
    system: str,
    label: str,
    field_errors: dict[str, str] | None,
) -> None:
    """The system refused the record: failed, held in quarantine, not sent again until it changes."""
    log.warning("push %s to %s refused for hub id %s", entity_name, system, row["hub_id"])  # no personal data
    now = utcnow()
    with store.begin() as conn:
        box.close(conn, row["id"], box.FAILED, error)
        store.upsert(
            conn,
            T["sync_state"],
            [{"entity": entity_name, "hub_id": row["hub_id"], "system": system, "last_refused_hash": row["payload_hash"]}],
            ["entity", "hub_id", "system"],
        )
        findings = field_errors or {"(record)": error}
        statement = dialect_insert(conn, T["quarantine"])
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["entity", "record_key", "target", "field", "check_name"],
                set_={"reason": statement.excluded.reason, "last_seen": now, "resolved_at": None},
            ),
            [
                {
                    "entity": entity_name,
                    "record_key": row["hub_id"],
                    "target": system,
                    "field": field_name,
                    "check_name": f"{system}_refused",
                    "value": None,
                    "reason": f"{system} refused the record: {message}",
                    "record_label": label,
                    "first_seen": now,
                    "last_seen": now,
                }
                for field_name, message in findings.items()
            ],
        )
