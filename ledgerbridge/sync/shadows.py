"""Shadows: per record and system, what that system held after our last confirmed read or write.

A shadow is kept in staging form (model field names, references as that system's remote ids), so
its hash compares directly with a staging row's content hash: a staging row whose hash differs
from its shadow's is a change in that system. It is the base of the three-way merge: a field
counts as changed in a system only where the system's value differs from that system's shadow,
never because it differs from the golden record (a system that missed one of our pushes has not
changed anything).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ledgerbridge.model import Entity
from ledgerbridge.store import T, HubStore, to_json, utcnow
from ledgerbridge.sync.records import coerce


def load_shadows(conn: sa.Connection, entity: Entity, system: str, hub_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """hub id -> the shadow's model-typed values (staging form)."""
    table = T["shadows"]
    ids = [h for h in hub_ids if h is not None]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        query = sa.select(table.c.hub_id, table.c.shadow).where(
            table.c.entity == entity.name, table.c.system == system, table.c.hub_id.in_(ids[start : start + 500])
        )
        for hub_id, shadow in conn.execute(query).tuples():
            found[hub_id] = coerce(entity, json.loads(shadow))[0]
    return found


def shadow_row(entity_name: str, hub_id: str, system: str, values: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A shadows row holding `values` (only the fields the system stores)."""
    text = to_json({name: values.get(name) for name in fields})
    return {
        "entity": entity_name,
        "hub_id": hub_id,
        "system": system,
        "shadow": text,
        # content_hash(kept, fields) hashes this very text (the fields' values, keys sorted): hashed
        # once here instead of written out twice
        "shadow_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "updated_at": utcnow(),
    }


def save_shadows(store: HubStore, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    unique = {(r["entity"], r["hub_id"], r["system"]): r for r in rows}
    store.upsert(conn, T["shadows"], list(unique.values()), ["entity", "hub_id", "system"])
