"""Erasure: a person's data removed from every system and from the hub (GDPR Art. 17).

A person (a contact, a private customer) is erased when the system that owns the record deletes
it, or on request (`ledgerbridge erase`). Every other system gets a delete or, where its API cannot
delete that record (webCRM persons and organisations), the personal fields overwritten with
nothing; the hub then removes the record and every trace of its values: staging rows, the golden
record (only its hub id stays, as a tombstone, while other records point at it), shadows, sync state, outbox payloads, the audit log, quarantine findings, conflicts,
webhook bodies and review candidates. What is kept is the id map entry, marked gone (remote ids
are no personal data, and it stops an anonymised record from being imported again), and one line in
`erasures`: when, which record, which systems and how, why and by whom, without the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.connectors.base import Connector, RecordGone, RecordRejected
from ledgerbridge.model import Entity, Kind
from ledgerbridge.model import entity as model_entity
from ledgerbridge.store import ERASED, T, HubStore, hub, staging, utcnow
from ledgerbridge.sync.deletes import mark_gone

ERASED_NAME = "(erased)"  # a required name cannot be empty: this marks the record for what it is


@dataclass
class ErasureResult:
    entity: str
    hub_id: str
    systems: dict[str, str] = field(default_factory=dict)  # system -> deleted | anonymised | gone
    purged_rows: int = 0


def anonymous_values(entity: Entity) -> dict[str, Any]:
    """What a record's personal fields are overwritten with where it cannot be deleted."""
    return {name: (ERASED_NAME if name == "name" else None) for name in entity.personal_fields
            if entity[name].kind is not Kind.REFERENCE}


def try_delete(connector: Connector, entity: Entity, remote_id: str) -> str | None:
    """"deleted" (or "gone": it already was), or None where the system refuses or cannot delete it."""
    try:
        connector.delete(entity.name, remote_id)
        return "deleted"
    except RecordGone:
        return "gone"
    except (NotImplementedError, RecordRejected):
        return None


def erase_in(connector: Connector, entity: Entity, remote_id: str) -> str:
    """Delete the record in the connector's system, or anonymise it where that cannot be done."""
    deleted = try_delete(connector, entity, remote_id)
    if deleted:
        return deleted
    try:
        connector.update(entity.name, remote_id, anonymous_values(entity))
    except RecordGone:
        return "gone"
    return "anonymised"


def links(conn: sa.Connection, entity: str, hub_id: str) -> dict[str, tuple[str, Any, str | None]]:
    """system -> (remote id, gone_at, gone_how)."""
    id_map = T["id_map"]
    query = sa.select(id_map.c.system, id_map.c.remote_id, id_map.c.gone_at, id_map.c.gone_how).where(
        id_map.c.entity == entity, id_map.c.hub_id == hub_id)
    return {system: (remote_id, gone_at, how) for system, remote_id, gone_at, how in conn.execute(query).tuples()}


def erase(store: HubStore, connectors: dict[str, Connector], entity_name: str, hub_id: str, *, reason: str,
          requested_by: str) -> ErasureResult:
    """Erase one record everywhere now (the `ledgerbridge erase` command); `connectors` by side."""
    systems = {side: connector.system for side, connector in connectors.items()}
    entity = model_entity(entity_name)
    result = ErasureResult(entity_name, hub_id)
    with store.connect() as conn:
        linked = links(conn, entity_name, hub_id)
    for connector in connectors.values():
        remote_id, gone_at, how = linked.get(connector.system, (None, None, None))
        if remote_id is None:
            continue
        if gone_at is not None and how in ("deleted", "anonymised"):
            result.systems[connector.system] = how
            continue
        result.systems[connector.system] = erase_in(connector, entity, remote_id)
        with store.begin() as conn:
            mark_gone(conn, entity_name, connector.system, [hub_id], result.systems[connector.system], utcnow())
    result.purged_rows = purge(store, systems, entity_name, hub_id, reason=reason, requested_by=requested_by)
    return result


def purge_if_done(store: HubStore, systems: dict[str, str], entity_name: str, hub_id: str, *, reason: str) -> bool:
    """After the erasing writes of a delete-triggered erasure: purge once no system is left to do."""
    with store.connect() as conn:
        linked = links(conn, entity_name, hub_id)
    if any(gone_at is None for _, gone_at, _ in linked.values()):
        return False
    purge(store, systems, entity_name, hub_id, reason=reason, requested_by="ledgerbridge sync")
    return True


def purge(store: HubStore, systems: dict[str, str], entity_name: str, hub_id: str, *, reason: str,
          requested_by: str) -> int:
    """Remove every trace of the record's values from the hub; log the erasure without them.
    `systems` names each side's system (remote ids are only unique within one system)."""
    now = utcnow()
    removed = 0
    with store.begin() as conn:
        linked = links(conn, entity_name, hub_id)
        for side, system in systems.items():
            if system in linked:
                table = staging(side, entity_name)
                removed += conn.execute(table.delete().where(table.c.remote_id == linked[system][0])).rowcount
        removed += _remove_golden_record(conn, model_entity(entity_name), hub_id, now)
        for name in ("shadows", "sync_state", "outbox", "audit_log", "conflicts"):
            table = T[name]
            removed += conn.execute(table.delete().where(table.c.entity == entity_name, table.c.hub_id == hub_id)).rowcount
        quarantine = T["quarantine"]
        removed += conn.execute(quarantine.delete().where(quarantine.c.entity == entity_name,
                                                          quarantine.c.record_key == hub_id)).rowcount
        for system, (remote_id, _, _) in linked.items():
            inbox = T["inbox"]
            removed += conn.execute(inbox.delete().where(inbox.c.system == system, inbox.c.remote_id == remote_id)).rowcount
            candidates, duplicates = T["match_candidates"], T["duplicate_candidates"]
            removed += conn.execute(candidates.delete().where(
                candidates.c.entity == entity_name,
                sa.or_(candidates.c.crm_remote_id == remote_id, candidates.c.erp_remote_id == remote_id))).rowcount
            removed += conn.execute(duplicates.delete().where(
                duplicates.c.entity == entity_name, duplicates.c.system == system,
                sa.or_(duplicates.c.remote_id_a == remote_id, duplicates.c.remote_id_b == remote_id))).rowcount
        # References to the record stay (an invoice keeps its customer's hub id, now a tombstone's);
        # their own copies of the person's data, where an entity keeps some, are blanked.
        for other in _referencing(entity_name):
            blank = {name: None for name in other.personal_fields if other[name].kind is not Kind.REFERENCE}
            for ref in other.references:
                if ref.reference == entity_name and blank:
                    table = hub(other.name)
                    conn.execute(table.update().where(table.c[ref.name] == hub_id).values(blank))
        conn.execute(T["erasures"].insert(), {
            "entity": entity_name, "hub_id": hub_id,
            "systems": "; ".join(f"{system}: {how or 'unlinked'}" for system, (_, _, how) in sorted(linked.items())),
            "reason": reason, "requested_by": requested_by, "erased_at": now,
        })
    return removed


def _remove_golden_record(conn: sa.Connection, entity: Entity, hub_id: str, now: Any) -> int:
    """Delete the golden record; where other golden records point at it (an invoice at its customer:
    the foreign keys hold them to it) keep only its hub id, as a tombstone without any value."""
    table = hub(entity.name)
    referenced = any(
        conn.execute(sa.select(hub(other.name).c.hub_id).where(hub(other.name).c[ref.name] == hub_id).limit(1)).first()
        for other in _referencing(entity.name) for ref in other.references if ref.reference == entity.name)
    if not referenced:
        return conn.execute(table.delete().where(table.c.hub_id == hub_id)).rowcount
    tombstone = {**{name: None for name in entity.field_names}, "deleted_at": now, "deleted_in": ERASED, "updated_at": now}
    return conn.execute(table.update().where(table.c.hub_id == hub_id).values(tombstone)).rowcount


def _referencing(entity_name: str) -> list[Entity]:
    from ledgerbridge.model import ENTITIES

    return [e for e in ENTITIES.values() if any(ref.reference == entity_name for ref in e.references)]


def find(store: HubStore, entity_name: str, *, email: str | None = None, hub_id: str | None = None) -> list[str]:
    """Hub ids of the records to erase: by hub id, or by e-mail (any case)."""
    table = hub(entity_name)
    with store.connect() as conn:
        if hub_id:
            return list(conn.execute(sa.select(table.c.hub_id).where(table.c.hub_id == hub_id)).scalars())
        if email and "email" in table.c:
            return list(conn.execute(sa.select(table.c.hub_id).where(
                sa.func.lower(table.c.email) == email.strip().lower())).scalars())
    return []
