"""Reconcile: turn what changed on either side into golden hub records.

Only staging rows whose content differs from their shadow (what that system held after our last
confirmed read or write, ledgerbridge.sync.shadows) are read; our own writes coming back match
their shadow and are never read again. A row whose referenced record (its company, its invoice)
is not in the hub yet waits, unread, and is taken up in the run that brings the parent. Rows not
yet in the id map go through the matching cascade (our own creates whose answer was lost,
accepted suggestions, then the entity's exact keys); what still has no partner becomes a new hub
record, and fuzzy look-alikes are only suggested for review.

Fields are merged three ways: a field changed in a system only where its value differs from that
system's shadow. Changed on one side, that value wins; changed on both to different values, the
configured owner wins and the conflict is recorded. A system that missed a push still holds its
shadow's value, so it changed nothing, and the push it missed is planned again.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import SyncConfig
from ledgerbridge.matching.keys import equivalent, key_value
from ledgerbridge.model import Entity, Owner
from ledgerbridge.model import entity as model_entity
from ledgerbridge.store import T, HubStore, dialect_insert, hub, staging, to_json, utcnow
from ledgerbridge.sync.deletes import detect as detect_deletes
from ledgerbridge.sync.deletes import erases
from ledgerbridge.sync.erasure import links as erasure_links
from ledgerbridge.sync.erasure import purge_if_done
from ledgerbridge.sync.outbox import UNCERTAIN, confirm_by_lookup
from ledgerbridge.sync.queue import enqueue
from ledgerbridge.sync.shadows import load_shadows, save_shadows, shadow_row
from ledgerbridge.systems import mapped_fields


@dataclass
class Row:
    """A changed staging row, with its references translated to hub ids."""

    side: str
    remote_id: str
    values: dict[str, Any]  # references as hub ids
    staged: dict[str, Any]  # as in staging (references as this system's remote ids): the next shadow
    content_hash: str
    updated_at: Any
    hub_id: str | None


@dataclass
class ReconcileResult:
    entity: str
    changed: int = 0
    echoes: int = 0  # rows read that hold nothing new against their shadow
    matched: dict[str, int] = field(default_factory=dict)  # how -> count
    created: int = 0  # new hub records
    updated: int = 0  # hub records whose values changed
    unchanged: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    suggestions: int = 0
    duplicates: int = 0  # look-alike pairs within one side, reported for merging at the source
    deleted: int = 0  # hub records newly found deleted in one system
    pinned: list[str] = field(default_factory=list)  # hub ids whose creation-trigger field was set back
    # rows whose referenced record is not in the hub yet: "<side> <entity> <remote id>: why"
    unresolved_references: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return len(self.unresolved_references)


def reconcile(store: HubStore, config: SyncConfig, entity_name: str, *, run_id: str | None = None) -> ReconcileResult:
    entity = model_entity(entity_name)
    systems = {"crm": config.crm.system, "erp": config.erp.system}
    fields = {side: tuple(f for f in mapped_fields(system, entity_name) if f in entity.field_by_name)
              for side, system in systems.items()}
    result = ReconcileResult(entity_name)
    now = utcnow()

    with store.connect() as conn:
        resolvers = {side: _ReferenceResolver(conn, entity, system) for side, system in systems.items()}
        rows = {side: _changed_rows(conn, entity, side, systems[side], resolvers[side], result) for side in systems}
        result.changed = sum(len(v) for v in rows.values())
        links: list[dict[str, Any]] = []
        own_creates: list[tuple[str, str, str]] = []  # (system, hub id, remote id) found by lookup
        unlinked = {side: [r for r in side_rows if r.hub_id is None] for side, side_rows in rows.items()}
        if any(unlinked.values()):
            _match(conn, entity, systems, unlinked, links, result, own_creates)

        by_hub: dict[str, dict[str, Row]] = defaultdict(dict)
        for side, side_rows in rows.items():
            for row in side_rows:
                by_hub[row.hub_id][side] = row
        bases = _hub_rows(conn, entity_name, by_hub.keys())
        shadows = {}
        for side, system in systems.items():
            shadows[side] = {}
            for hub_id, shadow in load_shadows(conn, entity, system, by_hub.keys()).items():
                resolvers[side].translate(shadow)  # a reference gone from the id map compares as None
                shadows[side][hub_id] = shadow

    hub_writes: list[dict[str, Any]] = []
    shadow_writes: list[dict[str, Any]] = []
    for hub_id, sides in by_hub.items():
        base = bases.get(hub_id)
        side_bases = {side: shadows[side].get(hub_id) for side in sides}
        merged, conflicts = _merge(config, entity, fields, base, sides, side_bases)
        for conflict in conflicts:
            result.conflicts.append({"hub_id": hub_id, **conflict})
        for side, row in sides.items():
            shadow_writes.append(shadow_row(entity_name, hub_id, systems[side], row.staged, fields[side]))
        if base is None:
            result.created += 1
            hub_writes.append({"hub_id": hub_id, **merged, "created_at": now, "updated_at": now})
        elif any(merged[name] != base[name] for name in entity.field_names):
            result.updated += 1
            hub_writes.append({"hub_id": hub_id, **merged, "created_at": base["created_at"], "updated_at": now})
        else:
            result.unchanged += 1
            if all(side_bases.get(side) is not None for side in sides):
                result.echoes += 1

    with store.begin() as conn:
        store.upsert(conn, T["id_map"], links, ["entity", "system", "hub_id"])
        store.upsert(conn, hub(entity_name), hub_writes, ["hub_id"])
        deleted = detect_deletes(conn, config, entity, systems, now)
        result.deleted = len(deleted)
        enqueue(conn, entity_name, [*by_hub.keys(), *deleted])
        # A new child may be what its parent's creation trigger waits for (first_invoice).
        new_children = [w for w in hub_writes if w["created_at"] == now]
        for ref in entity.references:
            enqueue(conn, ref.reference, [w[ref.name] for w in new_children if w.get(ref.name)])
        save_shadows(store, conn, shadow_writes)
        for system, hub_id, remote_id in own_creates:
            confirm_by_lookup(conn, entity_name, system, hub_id, remote_id, now)
        if result.conflicts:
            conn.execute(
                T["conflicts"].insert(),
                [_conflict_row(entity_name, c, run_id, now) for c in result.conflicts],
            )
    # A person deleted in the system that owns the record and known nowhere else: erased right away
    # (where another system holds it, the plan erases it there first, then the push purges).
    sides_of = {system: side for side, system in systems.items()}
    for hub_id in deleted:
        with store.connect() as conn:
            linked = erasure_links(conn, entity_name, hub_id)
        deleted_in = [sides_of[system] for system, (_, _, how) in linked.items() if how == "deleted" and system in sides_of]
        if deleted_in and erases(config, entity, deleted_in[0]):
            purge_if_done(store, systems, entity_name, hub_id, reason=f"deleted in {systems[deleted_in[0]]}, "
                          "the system that owns it")
    return result


# -- loading --------------------------------------------------------------------------------


def _changed_rows(conn: sa.Connection, entity: Entity, side: str, system: str, resolver: "_ReferenceResolver",
                  result: ReconcileResult) -> list[Row]:
    """Staging rows that differ from their shadow (or have none), minus those that must wait."""
    table = staging(side, entity.name)
    id_map, shadows = T["id_map"], T["shadows"]
    query = (
        sa.select(table, id_map.c.hub_id)
        .select_from(
            table.outerjoin(
                id_map,
                sa.and_(
                    id_map.c.entity == entity.name, id_map.c.system == system, id_map.c.remote_id == table.c.remote_id
                ),
            ).outerjoin(
                shadows,
                sa.and_(
                    shadows.c.entity == entity.name, shadows.c.system == system, shadows.c.hub_id == id_map.c.hub_id
                ),
            )
        )
        .where(sa.or_(shadows.c.shadow_hash.is_(None), shadows.c.shadow_hash != table.c.content_hash))
        # deleted there (ledgerbridge.sync.deletes), or no longer synced: deleted, barred, erased, unlinked
        .where(table.c.deleted_at.is_(None), id_map.c.gone_at.is_(None))
        .order_by(table.c.remote_id)
    )
    field_names = entity.field_names
    rows = []
    for record in conn.execute(query).mappings():
        staged = {name: record[name] for name in field_names}
        values = dict(staged)
        problems = resolver.translate(values)
        if problems:
            # Read again in the run that brings the parent: no hub value is set to nothing meanwhile.
            result.unresolved_references.extend(f"{side} {entity.name} {record['remote_id']}: {p}" for p in problems)
            continue
        rows.append(
            Row(
                side=side,
                remote_id=record["remote_id"],
                values=values,
                staged=staged,
                content_hash=record["content_hash"],
                updated_at=record["remote_updated_at"],
                hub_id=record["hub_id"],
            )
        )
    return rows


class _ReferenceResolver:
    """Remote ids of referenced records (this system's) -> hub ids, loaded once per entity."""

    def __init__(self, conn: sa.Connection, entity: Entity, system: str):
        id_map = T["id_map"]
        self.maps: dict[str, dict[str, str]] = {}
        self.references = entity.references
        for ref in self.references:
            query = sa.select(id_map.c.remote_id, id_map.c.hub_id).where(
                id_map.c.entity == ref.reference, id_map.c.system == system
            )
            self.maps[ref.name] = dict(conn.execute(query).tuples().all())

    def translate(self, values: dict[str, Any]) -> list[str]:
        problems = []
        for ref in self.references:
            remote = values.get(ref.name)
            if remote is None:
                continue
            hub_id = self.maps[ref.name].get(str(remote))
            if hub_id is None:
                problems.append(f"{ref.name} points at {ref.reference} {remote!r}, which is not synced yet")
            values[ref.name] = hub_id
        return problems


def _hub_rows(conn: sa.Connection, entity_name: str, hub_ids: Iterable[str | None]) -> dict[str, Mapping[str, Any]]:
    ids = [h for h in hub_ids if h is not None]
    table = hub(entity_name)
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        for record in conn.execute(sa.select(table).where(table.c.hub_id.in_(batch))).mappings():
            found[record["hub_id"]] = dict(record)
    return found


# -- matching -------------------------------------------------------------------------------


def _match(
    conn: sa.Connection,
    entity: Entity,
    systems: dict[str, str],
    unlinked: dict[str, list[Row]],
    links: list[dict[str, Any]],
    result: ReconcileResult,
    own_creates: list[tuple[str, str, str]],
) -> None:
    now = utcnow()

    def link(row: Row, hub_id: str, how: str, *, count: bool = True) -> None:
        row.hub_id = hub_id
        links.append(
            {
                "entity": entity.name,
                "hub_id": hub_id,
                "system": systems[row.side],
                "remote_id": row.remote_id,
                "linked_at": now,
                "linked_by": how,
            }
        )
        if count:  # a pair of new records counts once
            result.matched[how] = result.matched.get(how, 0) + 1

    # 1. Our own creates whose answer was lost (timeout, dropped reply, a kill between the call and
    #    the bookkeeping): the record they made is recognised, never created a second time.
    for side, side_rows in unlinked.items():
        for hub_id, payload in _unconfirmed_creates(conn, entity.name, systems[side]):
            for row in side_rows:
                if row.hub_id is None and _holds(row.values, payload):
                    link(row, hub_id, "own_create")
                    own_creates.append((systems[side], hub_id, row.remote_id))
                    break

    # 2. Pairs a person accepted from the review table.
    accepted = _accepted_pairs(conn, entity.name)
    if accepted:
        erp_by_id = {r.remote_id: r for r in unlinked["erp"] if r.hub_id is None}
        for row in unlinked["crm"]:
            partner = erp_by_id.get(accepted.get(row.remote_id, ""))
            if row.hub_id is None and partner is not None:
                hub_id = new_hub_id()
                link(row, hub_id, "accepted")
                link(partner, hub_id, "accepted", count=False)

    # 3. Exact keys, in the entity's order: first new records on both sides, then a new record on
    #    one side against hub records that have no partner on that side yet.
    open_hub = {side: _hub_without_link(conn, entity, systems[side]) for side in systems}
    for keys in entity.match_keys:
        how = "+".join(keys)
        crm_index = _unique_index(keys, (r for r in unlinked["crm"] if r.hub_id is None))
        erp_index = _unique_index(keys, (r for r in unlinked["erp"] if r.hub_id is None))
        for key, crm_row in crm_index.items():
            erp_row = erp_index.get(key)
            if crm_row is not None and erp_row is not None:
                hub_id = new_hub_id()
                link(crm_row, hub_id, how)
                link(erp_row, hub_id, how, count=False)
        for side, side_rows in unlinked.items():
            hub_index = _unique_hub_index(keys, open_hub[side])
            for key, row in _unique_index(keys, (r for r in side_rows if r.hub_id is None)).items():
                hub_id = hub_index.get(key)
                if row is not None and hub_id is not None:
                    link(row, hub_id, how)
                    open_hub[side] = [h for h in open_hub[side] if h["hub_id"] != hub_id]

    # 4. What is left is new; look-alikes across the sides are only suggested for review, and
    #    look-alikes within one side are reported as duplicates to merge in that system.
    leftovers = {side: [r for r in rows if r.hub_id is None] for side, rows in unlinked.items()}
    if leftovers["crm"] and leftovers["erp"]:
        result.suggestions += _suggest(conn, entity, leftovers)
    for side, side_rows in leftovers.items():
        result.duplicates += _report_duplicates(conn, entity, systems[side], side_rows)
    for side_rows in leftovers.values():
        for row in side_rows:
            link(row, new_hub_id(), "new")
    result.matched.pop("new", None)


def _holds(values: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether a record is the one a create made: it holds the values sent (a field sent empty may
    come back as the system's default, so only the values sent count), allowing one field that a
    person may have edited since, where enough fields were sent to still tell records apart."""
    sent = {k: v for k, v in payload.items() if v is not None}
    if not sent:
        return False
    country = values.get("country") or sent.get("country")
    differing = sum(
        1 for k, v in sent.items() if to_json({k: values.get(k)}) != to_json({k: v}) and not equivalent(k, values.get(k), v, country)
    )
    return differing == 0 or (differing == 1 and len(sent) >= 4)


def _unique_index(keys: tuple[str, ...], rows: Iterable[Row]) -> dict[tuple, Row | None]:
    """Key -> the one row carrying it; None where several rows share it (ambiguous: no match)."""
    index: dict[tuple, Row | None] = {}
    for row in rows:
        key = key_value(keys, row.values)
        if key is not None:
            index[key] = None if key in index else row
    return index


def _unique_hub_index(keys: tuple[str, ...], records: list[Mapping[str, Any]]) -> dict[tuple, str | None]:
    index: dict[tuple, str | None] = {}
    for record in records:
        key = key_value(keys, record)
        if key is not None:
            index[key] = None if key in index else record["hub_id"]
    return index


def _hub_without_link(conn: sa.Connection, entity: Entity, system: str) -> list[Mapping[str, Any]]:
    table, id_map = hub(entity.name), T["id_map"]
    linked = sa.select(id_map.c.hub_id).where(id_map.c.entity == entity.name, id_map.c.system == system)
    query = sa.select(table).where(table.c.hub_id.not_in(linked), table.c.deleted_at.is_(None))
    return [dict(r) for r in conn.execute(query).mappings()]


def _unconfirmed_creates(conn: sa.Connection, entity_name: str, system: str) -> list[tuple[str, dict]]:
    outbox = T["outbox"]
    query = sa.select(outbox.c.hub_id, outbox.c.payload).where(
        outbox.c.entity == entity_name,
        outbox.c.system == system,
        outbox.c.operation == "create",
        outbox.c.status.in_(UNCERTAIN),
    )
    return [(hub_id, json.loads(payload)["compare"]) for hub_id, payload in conn.execute(query).tuples()]


def _accepted_pairs(conn: sa.Connection, entity_name: str) -> dict[str, str]:
    table = T["match_candidates"]
    query = sa.select(table.c.crm_remote_id, table.c.erp_remote_id).where(
        table.c.entity == entity_name, table.c.status == "accepted"
    )
    return dict(conn.execute(query).tuples().all())


def _suggest(conn: sa.Connection, entity: Entity, leftovers: dict[str, list[Row]]) -> int:
    if entity.name != "debtors":
        return 0
    from ledgerbridge.matching import suggest_matches

    left = [{"key": r.remote_id, **r.values} for r in leftovers["crm"]]
    right = [{"key": r.remote_id, **r.values} for r in leftovers["erp"]]
    candidates = suggest_matches(left, right, key="key")
    if not candidates:
        return 0
    now = utcnow()
    rows = [
        {
            "entity": entity.name,
            "crm_remote_id": c.left_key,
            "erp_remote_id": c.right_key,
            "score": float(c.score),
            "evidence": to_json(c.evidence),
            "status": "suggested",
            "suggested_at": now,
        }
        for c in candidates
    ]
    conn.execute(dialect_insert(conn, T["match_candidates"]).on_conflict_do_nothing(), rows)
    conn.commit()
    return len(rows)


def _report_duplicates(conn: sa.Connection, entity: Entity, system: str, rows: list[Row]) -> int:
    """Pairs sharing an exact key, or (debtors) looking alike by name and address."""
    pairs: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
    for keys in entity.match_keys:
        groups: dict[tuple, list[str]] = defaultdict(list)
        for row in rows:
            key = key_value(keys, row.values)
            if key is not None:
                groups[key].append(row.remote_id)
        for key, ids in groups.items():
            for other in ids[1:]:
                pairs[(ids[0], other)] = (100.0, {"same": dict(zip(keys, map(str, key)))})
    if entity.name == "debtors" and len(rows) > 1:
        from ledgerbridge.matching import find_duplicates

        records = [{"key": r.remote_id, **r.values} for r in rows]
        for candidate in find_duplicates(records, key="key"):
            pairs.setdefault((candidate.left_key, candidate.right_key), (float(candidate.score), candidate.evidence))
    if not pairs:
        return 0
    now = utcnow()
    conn.execute(
        dialect_insert(conn, T["duplicate_candidates"]).on_conflict_do_nothing(),
        [
            {"entity": entity.name, "system": system, "remote_id_a": a, "remote_id_b": b, "score": score,
             "evidence": to_json(evidence), "suggested_at": now}
            for (a, b), (score, evidence) in pairs.items()
        ],
    )
    conn.commit()
    return len(pairs)


def new_hub_id() -> str:
    return uuid.uuid4().hex


# -- merging --------------------------------------------------------------------------------


def _merge(
    config: SyncConfig,
    entity: Entity,
    fields: dict[str, set[str]],
    base: Mapping[str, Any] | None,
    sides: dict[str, Row],
    side_bases: dict[str, Mapping[str, Any] | None],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Three-way merge of the changed rows into the hub record `base`.

    A side's base is its shadow; a record linked before shadows existed falls back to the hub's
    value (the old two-way rule), a record seen for the first time has no base at all.
    """
    merged: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    country = next((row.values.get("country") for row in sides.values() if row.values.get("country")), None)
    for name in entity.field_names:
        before = base[name] if base is not None else None
        changed = {}
        for side, row in sides.items():
            if name not in fields[side]:
                continue
            value = row.values.get(name)
            if base is None:
                changed[side] = value
                continue
            shadow = side_bases.get(side)
            side_before = shadow.get(name) if shadow is not None else before
            if not equivalent(name, value, side_before, country):
                changed[side] = value
        if len(changed) == 2 and not equivalent(name, changed["crm"], changed["erp"], country):
            if base is None and None in changed.values():
                # First sight of a matched pair: one side simply has no value yet.
                merged[name] = changed["crm"] if changed["crm"] is not None else changed["erp"]
                continue
            winner = _winner(config.owner_of(entity.name, name), sides)
            merged[name] = changed[winner]
            conflicts.append(
                {
                    "field": name,
                    "crm_value": changed["crm"],
                    "erp_value": changed["erp"],
                    "crm_updated_at": sides["crm"].updated_at,
                    "erp_updated_at": sides["erp"].updated_at,
                    "winner": winner,
                }
            )
        elif len(changed) == 2:
            merged[name] = changed[_winner(config.owner_of(entity.name, name), sides)]  # the same, spelled apart
        elif changed:
            merged[name] = next(iter(changed.values()))
        else:
            merged[name] = before
    return merged, conflicts


def _winner(owner: Owner, sides: dict[str, Row]) -> str:
    if owner is Owner.NEWEST:
        crm_at, erp_at = sides["crm"].updated_at, sides["erp"].updated_at
        if crm_at is None or erp_at is None:
            return "crm" if erp_at is None else "erp"
        return "crm" if crm_at >= erp_at else "erp"
    return owner.value


# -- writing --------------------------------------------------------------------------------


def _conflict_row(entity_name: str, conflict: dict[str, Any], run_id: str | None, now: Any) -> dict[str, Any]:
    text = lambda v: None if v is None else str(v)  # noqa: E731
    return {
        "run_id": run_id,
        "entity": entity_name,
        "hub_id": conflict["hub_id"],
        "field": conflict["field"],
        "crm_value": text(conflict["crm_value"]),
        "erp_value": text(conflict["erp_value"]),
        "crm_updated_at": conflict["crm_updated_at"],
        "erp_updated_at": conflict["erp_updated_at"],
        "winner": conflict["winner"],
        "detected_at": now,
    }
