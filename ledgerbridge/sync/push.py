"""Push: carry out the planned writes through the transactional outbox.

For each write the intent is committed first (status pending), then the remote call is made, then
the remote id, the stored record and its hash are committed together (status confirmed). A crash
between the call and the bookkeeping leaves a pending create; the next reconcile recognises the
record it created (reconcile step 1) instead of creating it again. A refused record is failed in
the outbox and held in quarantine with the system's own reason; the other writes go on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.connectors.base import Connector, ConnectorError, RecordRejected, RemoteRecord
from ledgerbridge.model import entity as model_entity
from ledgerbridge.quality import normalise_record
from ledgerbridge.store import T, HubStore, dialect_insert, hub, staging, to_json, utcnow
from ledgerbridge.sync.records import coerce, content_hash
from ledgerbridge.systems import mapped_fields

log = logging.getLogger(__name__)


@dataclass
class PushResult:
    entity: str
    system: str
    created: int = 0
    updated: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {hub_id, record, error}

    @property
    def calls(self) -> int:
        return self.created + self.updated + len(self.failed)


def push(store: HubStore, connector: Connector, side: str, entity_name: str, *, run_id: str | None = None) -> PushResult:
    entity = model_entity(entity_name)
    fields = mapped_fields(connector.system, entity_name)
    outbox = T["outbox"]
    result = PushResult(entity_name, connector.system)
    with store.connect() as conn:
        planned = conn.execute(
            sa.select(outbox)
            .where(outbox.c.entity == entity_name, outbox.c.system == connector.system, outbox.c.status == "planned")
            .order_by(outbox.c.id)
        ).mappings().all()

    for row in planned:
        payload = json.loads(row["payload"])
        values, _ = coerce(entity, payload["values"])
        with store.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == row["id"])
                .values(status="pending", attempts=outbox.c.attempts + 1, run_id=run_id, updated_at=utcnow())
            )
            if row["operation"] == "create" and entity.number_field and values.get(entity.number_field):
                # A number assigned before the call (hub or CRM policy) is the create's natural key.
                hub_table = hub(entity_name)
                conn.execute(
                    hub_table.update()
                    .where(hub_table.c.hub_id == row["hub_id"], hub_table.c[entity.number_field].is_(None))
                    .values({entity.number_field: values[entity.number_field]})
                )
        try:
            if row["operation"] == "create":
                stored = _create_once(connector, entity_name, entity.number_field, values)
            else:
                stored = connector.update(entity_name, row["remote_id"], values)
        except RecordRejected as exc:
            _fail(store, row, str(exc), entity_name, connector.system, payload.get("label", ""), exc.field_errors)
            result.failed.append({"hub_id": row["hub_id"], "record": payload.get("label", ""), "error": str(exc)})
            continue
        except ConnectorError as exc:
            _fail(store, row, str(exc), entity_name, connector.system, payload.get("label", ""), None)
            result.failed.append({"hub_id": row["hub_id"], "record": payload.get("label", ""), "error": str(exc)})
            continue
        _confirm(store, row, stored, side, entity_name, fields, run_id)
        if row["operation"] == "create":
            result.created += 1
        else:
            result.updated += 1
    return result


def _create_once(connector: Connector, entity_name: str, number_field: str | None, values: dict[str, Any]) -> RemoteRecord:
    """Create, unless a record with the same business number already exists (lookup before create)."""
    number = values.get(number_field) if number_field else None
    if number:
        existing = connector.find_by_number(entity_name, str(number))
        if existing is not None:
            return connector.update(entity_name, existing.remote_id, values)
    return connector.create(entity_name, values)


def _confirm(
    store: HubStore,
    row: Any,
    stored: RemoteRecord,
    side: str,
    entity_name: str,
    fields: tuple[str, ...],
    run_id: str | None,
) -> None:
    entity = model_entity(entity_name)
    values, _ = coerce(entity, stored.values)
    values = normalise_record(entity_name, values)
    stored_hash = content_hash(values, fields)
    now = utcnow()
    table = staging(side, entity_name)
    with store.begin() as conn:
        before = conn.execute(sa.select(table).where(table.c.remote_id == stored.remote_id)).mappings().first()
        store.upsert(
            conn,
            table,
            [
                {
                    "remote_id": stored.remote_id,
                    **{name: values.get(name) for name in entity.field_names},
                    "remote_updated_at": stored.updated_at,
                    "content_hash": stored_hash,
                    "pulled_at": now,
                }
            ],
            ["remote_id"],
        )
        if row["operation"] == "create":
            conn.execute(
                dialect_insert(conn, T["id_map"]).on_conflict_do_nothing(),
                {
                    "entity": entity_name,
                    "hub_id": row["hub_id"],
                    "system": row["system"],
                    "remote_id": stored.remote_id,
                    "linked_at": now,
                    "linked_by": "created",
                },
            )
            # What the system filled in (the number it assigned, defaults) becomes the hub's
            # where the hub had nothing, so it is written back to the other side, not cleared.
            hub_table = hub(entity_name)
            current = conn.execute(sa.select(hub_table).where(hub_table.c.hub_id == row["hub_id"])).mappings().first()
            filled = {k: values[k] for k in fields if current is not None and current[k] is None and values.get(k) is not None}
            number = entity.number_field
            if number and values.get(number) and current is not None and current[number] != values[number]:
                filled[number] = values[number]  # the number the system assigned on create is its key
            if filled:
                conn.execute(
                    hub_table.update().where(hub_table.c.hub_id == row["hub_id"]).values({**filled, "updated_at": now})
                )
        store.upsert(
            conn,
            T["sync_state"],
            [
                {
                    "entity": entity_name,
                    "hub_id": row["hub_id"],
                    "system": row["system"],
                    "last_pushed_hash": stored_hash,
                    "last_sent_hash": row["payload_hash"],
                    "last_pushed_at": now,
                    "last_seen_hash": stored_hash,
                    "last_seen_at": now,
                }
            ],
            ["entity", "hub_id", "system"],
        )
        conn.execute(
            T["outbox"].update()
            .where(T["outbox"].c.id == row["id"])
            .values(status="confirmed", remote_id=stored.remote_id, last_error=None, updated_at=now)
        )
        conn.execute(
            T["audit_log"].insert(),
            {
                "run_id": run_id,
                "entity": entity_name,
                "hub_id": row["hub_id"],
                "system": row["system"],
                "operation": row["operation"],
                "before": to_json({k: before[k] for k in fields}) if before else None,
                "after": to_json({k: values.get(k) for k in fields}),
                "at": now,
            },
        )


def _fail(
    store: HubStore,
    row: Any,
    error: str,
    entity_name: str,
    system: str,
    label: str,
    field_errors: dict[str, str] | None,
) -> None:
    log.warning("push %s to %s failed for %s: %s", entity_name, system, label or row["hub_id"], error)
    now = utcnow()
    with store.begin() as conn:
        conn.execute(
            T["outbox"].update()
            .where(T["outbox"].c.id == row["id"])
            .values(status="failed", last_error=error, updated_at=now)
        )
        if field_errors is None:
            return  # a transport failure: the write is retried by the next sync, not held back
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
