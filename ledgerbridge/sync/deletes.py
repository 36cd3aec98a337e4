"""Deletes: noticing that a record is gone from one system, and what that does to the other.

A complete pull (the nightly full reconcile, or any pull that reads a whole collection) marks the
staging rows it no longer found as deleted. Reconcile turns a deleted, linked row into a deleted
hub record (`deleted_at`, `deleted_in`), and the plan follows it in the other system as the entity
is configured: delete, bar (accounting keeps a customer with postings: barred, it takes no new
ones) or unlink (left alone, no longer synced). These writes pass the quality gate like any other,
so a mass delete upstream is stopped before it empties the other system. A delete in the system
that owns a person's record erases the person (ledgerbridge.sync.erasure).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import SyncConfig
from ledgerbridge.model import Entity, Owner
from ledgerbridge.store import T, hub, staging

DELETE_OPERATIONS = ("delete", "bar", "unlink", "erase")


def follows_deletes(entity: Entity) -> bool:
    """Whether deletes of this entity are looked for (transactions are never deleted in the books)."""
    return bool(entity.personal_fields) or entity.erase_on_delete or "unlink" != entity.delete_in_erp \
        or "unlink" != entity.delete_in_crm


def mark_missing(conn: sa.Connection, side: str, entity: Entity, pull_started: datetime, now: datetime) -> int:
    """After a complete pull: rows it did not bring are deleted in that system. Every row a pull brings
    (and every row a confirmed write stores) gets `pulled_at` of its time, so the rows not written since
    the pull started are the ones it did not find: one statement, no list of ids in memory."""
    table = staging(side, entity.name)
    return conn.execute(
        table.update().where(table.c.deleted_at.is_(None), table.c.pulled_at < pull_started).values(deleted_at=now)
    ).rowcount


def action_for(config: SyncConfig, entity: Entity, target_side: str) -> str:
    """What a delete elsewhere does to the record in `target_side`: delete, bar or unlink."""
    configured = config.entity(entity.name)
    if target_side == "erp":
        return configured.delete_in_erp or entity.delete_in_erp
    return configured.delete_in_crm or entity.delete_in_crm


def erases(config: SyncConfig, entity: Entity, deleted_in_side: str) -> bool:
    """A delete in the system that owns the record's name erases the person everywhere."""
    configured = config.entity(entity.name).erase_on_delete
    if not (entity.erase_on_delete if configured is None else configured) or not entity.personal_fields:
        return False
    owner = config.owner_of(entity.name, "name") if "name" in entity.field_by_name else Owner.CRM
    return owner.value == deleted_in_side


def detect(conn: sa.Connection, config: SyncConfig, entity: Entity, systems: dict[str, str], now: datetime) -> list[str]:
    """Linked rows deleted in a system -> hub records deleted there; returns their hub ids."""
    id_map, golden = T["id_map"], hub(entity.name)
    deleted: list[str] = []
    for side, system in systems.items():
        table = staging(side, entity.name)
        # the rows deleted there first (the staging table's partial index), not the whole id map
        deleted_there = sa.select(table.c.remote_id).where(table.c.deleted_at.is_not(None))
        query = (
            sa.select(id_map.c.hub_id)
            .select_from(id_map.join(golden, golden.c.hub_id == id_map.c.hub_id))
            .where(id_map.c.entity == entity.name, id_map.c.system == system, id_map.c.remote_id.in_(deleted_there),
                   id_map.c.gone_at.is_(None), golden.c.deleted_at.is_(None))
        )
        hub_ids = list(conn.execute(query).scalars())
        for start in range(0, len(hub_ids), 500):
            batch = hub_ids[start : start + 500]
            conn.execute(golden.update().where(golden.c.hub_id.in_(batch)).values(deleted_at=now, deleted_in=side))
            mark_gone(conn, entity.name, system, batch, "deleted", now)
        deleted.extend(hub_ids)
    return deleted


def mark_gone(conn: sa.Connection, entity: str, system: str, hub_ids: Iterable[str], how: str, now: datetime) -> None:
    """The record is no longer written to in `system`: deleted, barred, anonymised or unlinked."""
    id_map = T["id_map"]
    ids = list(hub_ids)
    for start in range(0, len(ids), 500):
        conn.execute(
            id_map.update()
            .where(id_map.c.entity == entity, id_map.c.system == system, id_map.c.hub_id.in_(ids[start : start + 500]),
                   id_map.c.gone_at.is_(None))
            .values(gone_at=now, gone_how=how)
        )


def deleted_hub_records(conn: sa.Connection, entity: Entity) -> dict[str, dict[str, Any]]:
    golden = hub(entity.name)
    query = sa.select(golden.c.hub_id, golden.c.deleted_in).where(golden.c.deleted_at.is_not(None))
    return {hub_id: {"deleted_in": deleted_in} for hub_id, deleted_in in conn.execute(query).tuples()}
