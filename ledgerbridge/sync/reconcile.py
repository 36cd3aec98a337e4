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
from collections.abc import Iterable, Iterator, Mapping
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


# Hub records merged (and committed) together: memory and each transaction stay this size however
# many records changed; an initial sync of a million records streams through in chunks.
CHUNK_SIZE = 2000


def reconcile(store: HubStore, config: SyncConfig, entity_name: str, *, run_id: str | None = None) -> ReconcileResult:
    entity = model_entity(entity_name)
    systems = {"crm": config.crm.system, "erp": config.erp.system}
    fields = {side: tuple(f for f in mapped_fields(system, entity_name) if f in entity.field_by_name)
              for side, system in systems.items()}
    result = ReconcileResult(entity_name)
    now = utcnow()

    with store.connect() as conn:
        resolvers = {side: _ReferenceResolver(conn, entity, system) for side, system in systems.items()}
        scratch = _Scratch(conn)
        try:
            # 1. Rows no hub record holds yet get one (matched or new); committed before the merge,
            #    which reads them as linked rows. A run that stops in between leaves linked rows
            #    without a shadow: the next run merges them as first seen.
            scratch.collect_candidates(entity, systems)
            _match(store, conn, entity, systems, resolvers, result, scratch, now)
            conn.commit()
            # 2. Every changed row, merged chunk by chunk: a hub record's rows of both sides together.
            changed = scratch.changed_hub_ids()
            for low, high in changed:
                rows = {side: _changed_rows(conn, entity, side, systems[side], resolvers[side], result,
                                            scratch.changed, low, high) for side in systems}
                _merge_chunk(store, conn, config, entity, systems, fields, resolvers, rows, result, run_id, now)
                conn.commit()
        except BaseException:
            conn.rollback()  # what the chunks before committed stands; this chunk is read again next run
            raise
        finally:
            scratch.drop()
            conn.commit()
        deleted = detect_deletes(conn, config, entity, systems, now)
        result.deleted = len(deleted)
        enqueue(conn, entity_name, deleted)
        conn.commit()
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


def _merge_chunk(store: HubStore, conn: sa.Connection, config: SyncConfig, entity: Entity, systems: dict[str, str],
                 fields: dict[str, tuple[str, ...]], resolvers: dict[str, "_ReferenceResolver"],
                 rows: dict[str, list[Row]], result: ReconcileResult, run_id: str | None, now: Any) -> None:
    """Merge the changed rows of one chunk of hub records and write the hub records, their shadows
    and the plan queue in the connection's transaction."""
    entity_name = entity.name
    result.changed += sum(len(v) for v in rows.values())
    by_hub: dict[str, dict[str, Row]] = defaultdict(dict)
    for side, side_rows in rows.items():
        for row in side_rows:
            by_hub[row.hub_id][side] = row
    bases = _hub_rows(conn, entity_name, by_hub.keys())
    shadows: dict[str, dict[str, dict[str, Any]]] = {}
    for side, system in systems.items():
        shadows[side] = {}
        loaded = load_shadows(conn, entity, system, by_hub.keys())
        resolvers[side].prefetch(loaded.values())
        for hub_id, shadow in loaded.items():
            resolvers[side].translate(shadow)  # a reference gone from the id map compares as None
            shadows[side][hub_id] = shadow

    hub_writes: list[dict[str, Any]] = []
    shadow_writes: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    field_names = entity.field_names  # a property that builds a tuple: once per chunk
    owners = {name: config.owner_of(entity_name, name) for name in field_names}
    reconciled: dict[str, list[dict[str, str]]] = {side: [] for side in systems}  # the shadows' hashes, per row
    for hub_id, sides in by_hub.items():
        base = bases.get(hub_id)
        side_bases = {side: shadows[side].get(hub_id) for side in sides}
        merged, found = _merge(owners, entity, fields, base, sides, side_bases)
        for conflict in found:
            conflicts.append({"hub_id": hub_id, **conflict})
        for side, row in sides.items():
            shadow = shadow_row(entity_name, hub_id, systems[side], row.staged, fields[side])
            shadow_writes.append(shadow)
            reconciled[side].append({"b_remote_id": row.remote_id, "b_hash": shadow["shadow_hash"]})
        if base is None:
            result.created += 1
            hub_writes.append({"hub_id": hub_id, **merged, "created_at": now, "updated_at": now})
        elif any(merged[name] != base[name] for name in field_names):
            result.updated += 1
            hub_writes.append({"hub_id": hub_id, **merged, "created_at": base["created_at"], "updated_at": now})
        else:
            result.unchanged += 1
            if all(side_bases.get(side) is not None for side in sides):
                result.echoes += 1
    result.conflicts.extend(conflicts)
    store.upsert(conn, hub(entity_name), hub_writes, ["hub_id"])
    enqueue(conn, entity_name, by_hub.keys())
    # A new child may be what its parent's creation trigger waits for (first_invoice).
    new_children = [w for w in hub_writes if w["created_at"] == now]
    for ref in entity.references:
        enqueue(conn, ref.reference, [w[ref.name] for w in new_children if w.get(ref.name)])
    save_shadows(store, conn, shadow_writes)
    for side, hashes in reconciled.items():
        if hashes:
            table = staging(side, entity_name)
            conn.execute(table.update().where(table.c.remote_id == sa.bindparam("b_remote_id"))
                         .values(reconciled_hash=sa.bindparam("b_hash")), hashes)
    if conflicts:
        conn.execute(T["conflicts"].insert(), [_conflict_row(entity_name, c, run_id, now) for c in conflicts])


# -- loading --------------------------------------------------------------------------------


def _changed(table: sa.Table, shadows: sa.Table) -> sa.ColumnElement:
    """A staging row that differs from its shadow (or has none) and is still synced: not deleted
    there (ledgerbridge.sync.deletes), nor deleted, barred, erased or unlinked since."""
    id_map = T["id_map"]
    return sa.and_(sa.or_(shadows.c.shadow_hash.is_(None), shadows.c.shadow_hash != table.c.content_hash),
                   table.c.deleted_at.is_(None), id_map.c.gone_at.is_(None))


def _unreconciled(table: sa.Table) -> sa.ColumnElement:
    """Rows whose copy of their shadow's hash differs from their content (store.UNRECONCILED: the
    same condition as the staging table's partial index, so only those rows are read)."""
    return sa.or_(table.c.reconciled_hash.is_(None), table.c.reconciled_hash != table.c.content_hash)


def _linked_rows(entity: Entity, side: str, system: str) -> tuple[sa.Table, sa.FromClause]:
    table = staging(side, entity.name)
    id_map, shadows = T["id_map"], T["shadows"]
    joined = table.join(
        id_map,
        sa.and_(id_map.c.entity == entity.name, id_map.c.system == system, id_map.c.remote_id == table.c.remote_id),
    ).outerjoin(
        shadows,
        sa.and_(shadows.c.entity == entity.name, shadows.c.system == system, shadows.c.hub_id == id_map.c.hub_id),
    )
    return table, joined


def _changed_rows(conn: sa.Connection, entity: Entity, side: str, system: str, resolver: "_ReferenceResolver",
                  result: ReconcileResult, changed: sa.Table, low: str | None, high: str) -> list[Row]:
    """The linked staging rows that differ from their shadow, of the hub records in the changed
    set between `low` (exclusive) and `high`, minus those that must wait for a parent."""
    table, joined = _linked_rows(entity, side, system)
    id_map = T["id_map"]
    query = (
        sa.select(table, id_map.c.hub_id)
        .select_from(joined.join(changed, changed.c.hub_id == id_map.c.hub_id))
        .where(_changed(table, T["shadows"]), changed.c.hub_id <= high,
               *([changed.c.hub_id > low] if low is not None else []))
        .order_by(table.c.remote_id)
    )
    field_names = entity.field_names
    rows = []
    records = conn.execute(query).mappings().all()
    resolver.prefetch(records)
    for record in records:
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
    """Remote ids of referenced records (this system's) -> hub ids, looked up for the rows at hand
    (`prefetch` a page's at once), so a reconcile holds as many as it reads, not the parent table."""

    CACHE = 50_000  # remembered ids per reference, before the oldest are forgotten

    def __init__(self, conn: sa.Connection, entity: Entity, system: str):
        self.conn, self.system = conn, system
        self.references = entity.references
        self.maps: dict[str, dict[str, str | None]] = {ref.name: {} for ref in self.references}

    def prefetch(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Look up the references `rows` hold (staging form) in a few queries."""
        if not self.references:
            return
        rows = list(rows)
        id_map = T["id_map"]
        for ref in self.references:
            known = self.maps[ref.name]
            wanted = sorted({str(r[ref.name]) for r in rows if r.get(ref.name) is not None} - known.keys())
            if len(known) + len(wanted) > self.CACHE:
                known.clear()
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                known.update(dict.fromkeys(batch))
                known.update(self.conn.execute(sa.select(id_map.c.remote_id, id_map.c.hub_id).where(
                    id_map.c.entity == ref.reference, id_map.c.system == self.system,
                    id_map.c.remote_id.in_(batch))).tuples().all())

    def translate(self, values: dict[str, Any]) -> list[str]:
        problems = []
        for ref in self.references:
            remote = values.get(ref.name)
            if remote is None:
                continue
            if str(remote) not in self.maps[ref.name]:
                self.prefetch([values])
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
#
# Rows not linked yet are matched through scratch tables in the database (temporary, this
# connection's own): their match keys are written there page by page and paired in SQL, so an
# initial sync of a million records never holds them in memory at once.

_SCRATCH = sa.MetaData()
# side: crm | erp (a staging row, remote_id) or hub:crm | hub:erp (a hub record without a link on
# that side, remote_id holding its hub id); hub_id once linked ("taken" for a hub record matched).
_scratch_rows = sa.Table(
    "lb_reconcile_rows", _SCRATCH,
    sa.Column("side", sa.String(8), primary_key=True), sa.Column("remote_id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.String(32)), sa.Column("linked_by", sa.String(80)),
    prefixes=["TEMPORARY"],
)
# how: the index of the entity's match key; key: its value as JSON
_scratch_keys = sa.Table(
    "lb_reconcile_keys", _SCRATCH,
    sa.Column("side", sa.String(8), nullable=False), sa.Column("how", sa.Integer, nullable=False),
    sa.Column("key", sa.Text, nullable=False), sa.Column("remote_id", sa.Text, nullable=False),
    sa.Index("ix_lb_reconcile_keys", "side", "how", "key"),
    prefixes=["TEMPORARY"],
)
_scratch_pairs = sa.Table(
    "lb_reconcile_pairs", _SCRATCH,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("a", sa.Text, nullable=False), sa.Column("b", sa.Text, nullable=False),
    prefixes=["TEMPORARY"],
)
# staging rows to read: not linked yet, or differing from their shadow (found in one pass per side)
_scratch_candidates = sa.Table(
    "lb_reconcile_candidates", _SCRATCH,
    sa.Column("side", sa.String(8), primary_key=True), sa.Column("remote_id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.String(32)),
    prefixes=["TEMPORARY"],
)
_scratch_changed = sa.Table(
    "lb_reconcile_changed", _SCRATCH, sa.Column("hub_id", sa.String(32), primary_key=True), prefixes=["TEMPORARY"],
)
PAGE = 500  # rows per statement batch (the bound-parameter limits of both databases)


class _Scratch:
    """The scratch tables of one reconcile, on its connection."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self.changed = _scratch_changed
        self.drop()
        for table in _SCRATCH.sorted_tables:
            table.create(conn)

    def drop(self) -> None:
        for table in _SCRATCH.sorted_tables:
            self.conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))

    def add(self, rows: list[dict[str, Any]], keys: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(_scratch_rows.insert(), rows)
        if keys:
            self.conn.execute(_scratch_keys.insert(), keys)

    def link(self, links: list[dict[str, Any]]) -> None:
        """Set hub_id and linked_by of rows given as {side, remote_id, hub_id, linked_by}."""
        if links:
            rows = _scratch_rows
            self.conn.execute(
                rows.update().where(rows.c.side == sa.bindparam("b_side"), rows.c.remote_id == sa.bindparam("b_remote_id"))
                .values(hub_id=sa.bindparam("b_hub_id"), linked_by=sa.bindparam("b_linked_by")),
                [{f"b_{k}": v for k, v in link.items()} for link in links],
            )

    def is_unlinked(self, side: str, remote_id: str) -> bool:
        rows = _scratch_rows
        return self.conn.execute(sa.select(rows.c.remote_id).where(
            rows.c.side == side, rows.c.remote_id == remote_id, rows.c.hub_id.is_(None))).first() is not None

    def has_unlinked(self, side: str) -> bool:
        rows = _scratch_rows
        return self.conn.execute(sa.select(rows.c.remote_id).where(rows.c.side == side, rows.c.hub_id.is_(None))
                                 .limit(1)).first() is not None

    def _unique(self, side: str, how: int) -> sa.Subquery:
        """Keys carried by exactly one row of `side` that is not linked yet (several: ambiguous)."""
        keys, rows = _scratch_keys, _scratch_rows
        return (
            sa.select(keys.c.key, sa.func.min(keys.c.remote_id).label("remote_id"))
            .select_from(keys.join(rows, sa.and_(rows.c.side == keys.c.side, rows.c.remote_id == keys.c.remote_id)))
            .where(keys.c.side == side, keys.c.how == how, rows.c.hub_id.is_(None))
            .group_by(keys.c.key).having(sa.func.count() == 1)
            .subquery()
        )

    def pairs(self, side_a: str, side_b: str, how: int) -> Iterator[list[tuple[str, str]]]:
        """Pages of (a, b): an unlinked row of each side carrying the same key, each the only one."""
        a, b, pairs = self._unique(side_a, how), self._unique(side_b, how), _scratch_pairs
        self.conn.execute(pairs.delete())
        self.conn.execute(pairs.insert().from_select(
            ["a", "b"], sa.select(a.c.remote_id, b.c.remote_id).select_from(a.join(b, a.c.key == b.c.key))))
        last = 0
        while True:
            page = self.conn.execute(sa.select(pairs.c.id, pairs.c.a, pairs.c.b).where(pairs.c.id > last)
                                     .order_by(pairs.c.id).limit(PAGE * 10)).all()
            if not page:
                return
            last = page[-1][0]
            yield [(row[1], row[2]) for row in page]

    def shared_keys(self, side: str, how: int) -> list[tuple[str, str]]:
        """(key, remote id) of unlinked rows of `side` sharing a key with another, in key order."""
        keys, rows = _scratch_keys, _scratch_rows
        unlinked = sa.and_(keys.c.side == side, keys.c.how == how, rows.c.hub_id.is_(None))
        joined = keys.join(rows, sa.and_(rows.c.side == keys.c.side, rows.c.remote_id == keys.c.remote_id))
        shared = sa.select(keys.c.key).select_from(joined).where(unlinked).group_by(keys.c.key).having(sa.func.count() > 1)
        query = (sa.select(keys.c.key, keys.c.remote_id).select_from(joined)
                 .where(unlinked, keys.c.key.in_(shared)).order_by(keys.c.key, keys.c.remote_id))
        return [tuple(row) for row in self.conn.execute(query)]

    def unlinked_pages(self, side: str) -> Iterator[list[str]]:
        """Remote ids of the rows of `side` not linked yet, page by page in remote id order."""
        rows = _scratch_rows
        last = None
        while True:
            query = sa.select(rows.c.remote_id).where(rows.c.side == side, rows.c.hub_id.is_(None))
            if last is not None:
                query = query.where(rows.c.remote_id > last)
            page = list(self.conn.execute(query.order_by(rows.c.remote_id).limit(PAGE * 10)).scalars())
            if not page:
                return
            last = page[-1]
            yield page

    def linked_pages(self, side: str) -> Iterator[list[tuple[str, str, str]]]:
        """(remote id, hub id, how) of the rows of `side` linked in this run, page by page."""
        rows = _scratch_rows
        last = None
        while True:
            query = sa.select(rows.c.remote_id, rows.c.hub_id, rows.c.linked_by).where(
                rows.c.side == side, rows.c.hub_id.is_not(None))
            if last is not None:
                query = query.where(rows.c.remote_id > last)
            page = [tuple(r) for r in self.conn.execute(query.order_by(rows.c.remote_id).limit(PAGE * 10))]
            if not page:
                return
            last = page[-1][0]
            yield page

    def collect_candidates(self, entity: Entity, systems: dict[str, str]) -> None:
        """The staging rows this run reads, in one pass over each staging table: those no hub
        record holds yet and those that differ from their shadow."""
        id_map, shadows = T["id_map"], T["shadows"]
        for side, system in systems.items():
            table = staging(side, entity.name)
            unreconciled = _unreconciled(table)
            # Rows whose shadow agrees although their copy of its hash does not (a hub made before
            # the copy existed, a write recorded elsewhere) are not read: their copy is set.
            agrees = (sa.select(id_map.c.hub_id).select_from(id_map.join(shadows, sa.and_(
                shadows.c.entity == id_map.c.entity, shadows.c.system == id_map.c.system,
                shadows.c.hub_id == id_map.c.hub_id)))
                .where(id_map.c.entity == entity.name, id_map.c.system == system,
                       id_map.c.remote_id == table.c.remote_id, shadows.c.shadow_hash == table.c.content_hash))
            self.conn.execute(table.update().where(unreconciled, agrees.exists())
                              .values(reconciled_hash=table.c.content_hash))
            joined = table.outerjoin(
                id_map, sa.and_(id_map.c.entity == entity.name, id_map.c.system == system,
                                id_map.c.remote_id == table.c.remote_id),
            ).outerjoin(
                shadows, sa.and_(shadows.c.entity == entity.name, shadows.c.system == system,
                                 shadows.c.hub_id == id_map.c.hub_id),
            )
            select = sa.select(sa.literal(side), table.c.remote_id, id_map.c.hub_id).select_from(joined).where(
                unreconciled, _changed(table, shadows))
            self.conn.execute(_scratch_candidates.insert().from_select(["side", "remote_id", "hub_id"], select))

    def changed_hub_ids(self) -> Iterator[tuple[str | None, str]]:
        """The hub ids with a changed row on either side (read by collect_candidates, or linked by
        the matching), as ranges (low exclusive, high inclusive) of CHUNK_SIZE hub ids."""
        changed, candidates, rows = _scratch_changed, _scratch_candidates, _scratch_rows
        for select in (sa.select(candidates.c.hub_id).where(candidates.c.hub_id.is_not(None)),
                       sa.select(rows.c.hub_id).where(rows.c.side.in_(("crm", "erp")), rows.c.hub_id.is_not(None))):
            self.conn.execute(dialect_insert(self.conn, changed).from_select(["hub_id"], select).on_conflict_do_nothing())
        low = None
        while True:
            query = sa.select(changed.c.hub_id)
            if low is not None:
                query = query.where(changed.c.hub_id > low)
            page = list(self.conn.execute(query.order_by(changed.c.hub_id).limit(CHUNK_SIZE)).scalars())
            if not page:
                return
            yield low, page[-1]
            low = page[-1]


def _key_text(key: tuple) -> str:
    return to_json({"k": list(key)})


def _unlinked_pages(conn: sa.Connection, entity: Entity, side: str) -> Iterator[list[Mapping[str, Any]]]:
    """Staging rows no hub record holds yet (and not deleted there), page by page."""
    table, candidates = staging(side, entity.name), _scratch_candidates
    joined = candidates.join(table, table.c.remote_id == candidates.c.remote_id)
    query = sa.select(table).select_from(joined).where(candidates.c.side == side, candidates.c.hub_id.is_(None))
    yield from _keyset_pages(conn, query, candidates.c.remote_id, "remote_id")


def _open_hub_pages(conn: sa.Connection, entity: Entity, system: str) -> Iterator[list[Mapping[str, Any]]]:
    """Hub records without a link in `system` (not deleted), page by page."""
    table, id_map = hub(entity.name), T["id_map"]
    joined = table.outerjoin(id_map, sa.and_(id_map.c.entity == entity.name, id_map.c.system == system,
                                             id_map.c.hub_id == table.c.hub_id))
    query = sa.select(table).select_from(joined).where(id_map.c.hub_id.is_(None), table.c.deleted_at.is_(None))
    yield from _keyset_pages(conn, query, table.c.hub_id, "hub_id")


def _keyset_pages(conn: sa.Connection, query: sa.Select, key: sa.ColumnElement, name: str
                  ) -> Iterator[list[Mapping[str, Any]]]:
    """`query`'s rows page by page, in order of the unique `key` (read back as `name`), each page after the last."""
    last = None
    while True:
        page_query = query if last is None else query.where(key > last)
        page = conn.execute(page_query.order_by(key).limit(PAGE * 4)).mappings().all()
        if not page:
            return
        last = page[-1][name]
        yield page


def _match(store: HubStore, conn: sa.Connection, entity: Entity, systems: dict[str, str],
           resolvers: dict[str, "_ReferenceResolver"], result: ReconcileResult, scratch: _Scratch, now: Any) -> None:
    """Give every changed row not linked yet a hub id: the cascade below, else a new one; writes
    the links to the id map."""

    def count(how: str, pairs: int = 1) -> None:
        result.matched[how] = result.matched.get(how, 0) + pairs

    # 1. Our own creates whose answer was lost (timeout, dropped reply, a kill between the call and
    #    the bookkeeping): the record they made is recognised, never created a second time.
    # 2. Pairs a person accepted from the review table (noted while the rows are read).
    accepted = _accepted_pairs(conn, entity.name)
    wanted = {"crm": set(accepted), "erp": set(accepted.values())}
    present: dict[str, set[str]] = {"crm": set(), "erp": set()}
    own_creates: list[tuple[str, str, str]] = []  # (system, hub id, remote id)
    taken: dict[str, set[str]] = {side: set() for side in systems}  # hub ids linked on that side here
    field_names = entity.field_names
    for side, system in systems.items():
        creates = _unconfirmed_creates(conn, entity.name, system)
        for page in _unlinked_pages(conn, entity, side):
            rows, keys = [], []
            resolvers[side].prefetch(page)
            for record in page:
                values = {name: record[name] for name in field_names}
                problems = resolvers[side].translate(values)
                remote_id = record["remote_id"]
                if problems:
                    # Read again in the run that brings the parent: no hub value is set to nothing meanwhile.
                    result.unresolved_references.extend(f"{side} {entity.name} {remote_id}: {p}" for p in problems)
                    continue
                hub_id = linked_by = None
                for i, (create_hub_id, payload) in enumerate(creates):
                    if _holds(values, payload):
                        hub_id, linked_by = create_hub_id, "own_create"
                        own_creates.append((system, hub_id, remote_id))
                        taken[side].add(hub_id)
                        count("own_create")
                        del creates[i]
                        break
                if remote_id in wanted[side]:
                    present[side].add(remote_id)
                rows.append({"side": side, "remote_id": remote_id, "hub_id": hub_id, "linked_by": linked_by})
                if hub_id is None:
                    for how, key_fields in enumerate(entity.match_keys):
                        key = key_value(key_fields, values)
                        if key is not None:
                            keys.append({"side": side, "how": how, "key": _key_text(key), "remote_id": remote_id})
            scratch.add(rows, keys)
    if not any(scratch.has_unlinked(side) for side in systems):
        _write_links(store, conn, entity, systems, scratch, own_creates, now)
        return

    for crm_id, erp_id in accepted.items():
        if crm_id in present["crm"] and erp_id in present["erp"] and scratch.is_unlinked("crm", crm_id) \
                and scratch.is_unlinked("erp", erp_id):
            hub_id = new_hub_id()
            scratch.link([{"side": "crm", "remote_id": crm_id, "hub_id": hub_id, "linked_by": "accepted"},
                          {"side": "erp", "remote_id": erp_id, "hub_id": hub_id, "linked_by": "accepted"}])
            count("accepted")

    # 3. Exact keys, in the entity's order: first new records on both sides, then a new record on
    #    one side against hub records that have no partner on that side yet.
    for side, system in systems.items():
        if not scratch.has_unlinked(side):
            continue
        for page in _open_hub_pages(conn, entity, system):
            rows, keys = [], []
            for record in page:
                if record["hub_id"] in taken[side]:
                    continue
                rows.append({"side": f"hub:{side}", "remote_id": record["hub_id"], "hub_id": None, "linked_by": None})
                for how, key_fields in enumerate(entity.match_keys):
                    key = key_value(key_fields, record)
                    if key is not None:
                        keys.append({"side": f"hub:{side}", "how": how, "key": _key_text(key), "remote_id": record["hub_id"]})
            scratch.add(rows, keys)
    for how, key_fields in enumerate(entity.match_keys):
        name = "+".join(key_fields)
        for page in scratch.pairs("crm", "erp", how):
            links = []
            for crm_id, erp_id in page:
                hub_id = new_hub_id()
                links += [{"side": "crm", "remote_id": crm_id, "hub_id": hub_id, "linked_by": name},
                          {"side": "erp", "remote_id": erp_id, "hub_id": hub_id, "linked_by": name}]
            scratch.link(links)
            count(name, len(page))
        for side in systems:
            for page in scratch.pairs(side, f"hub:{side}", how):
                scratch.link([{"side": side, "remote_id": remote_id, "hub_id": hub_id, "linked_by": name}
                              for remote_id, hub_id in page]
                             + [{"side": f"hub:{side}", "remote_id": hub_id, "hub_id": "taken", "linked_by": name}
                                for _, hub_id in page])
                count(name, len(page))

    # 4. What is left is new; look-alikes across the sides are only suggested for review, and
    #    look-alikes within one side are reported as duplicates to merge in that system.
    leftovers = {side: _leftover_rows(conn, entity, side, systems[side], resolvers[side], scratch)
                 for side in systems} if entity.name == "debtors" else {side: [] for side in systems}
    if leftovers["crm"] and leftovers["erp"]:
        result.suggestions += _suggest(conn, entity, leftovers)
    for side in systems:
        result.duplicates += _report_duplicates(conn, entity, systems[side], scratch, side, leftovers[side])
    del leftovers
    for side in systems:
        for page in scratch.unlinked_pages(side):
            scratch.link([{"side": side, "remote_id": remote_id, "hub_id": new_hub_id(), "linked_by": "new"}
                          for remote_id in page])
    _write_links(store, conn, entity, systems, scratch, own_creates, now)


def _write_links(store: HubStore, conn: sa.Connection, entity: Entity, systems: dict[str, str], scratch: _Scratch,
                 own_creates: list[tuple[str, str, str]], now: Any) -> None:
    for side, system in systems.items():
        for page in scratch.linked_pages(side):
            store.upsert(conn, T["id_map"], [
                {"entity": entity.name, "hub_id": hub_id, "system": system, "remote_id": remote_id,
                 "linked_at": now, "linked_by": how} for remote_id, hub_id, how in page
            ], ["entity", "system", "hub_id"])
    for system, hub_id, remote_id in own_creates:
        confirm_by_lookup(conn, entity.name, system, hub_id, remote_id, now)


def _leftover_rows(conn: sa.Connection, entity: Entity, side: str, system: str, resolver: "_ReferenceResolver",
                   scratch: _Scratch) -> list[Row]:
    """The rows still without a partner, with their values, for the look-alike search (which
    compares each with the others, so it holds them: as many as there are new records)."""
    table = staging(side, entity.name)
    rows: list[Row] = []
    for page in scratch.unlinked_pages(side):
        for start in range(0, len(page), PAGE):
            query = sa.select(table).where(table.c.remote_id.in_(page[start : start + PAGE])).order_by(table.c.remote_id)
            records = conn.execute(query).mappings().all()
            resolver.prefetch(records)
            for record in records:
                staged = {name: record[name] for name in entity.field_names}
                values = dict(staged)
                resolver.translate(values)
                rows.append(Row(side, record["remote_id"], values, staged, record["content_hash"],
                                record["remote_updated_at"], None))
    return rows


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


def _report_duplicates(conn: sa.Connection, entity: Entity, system: str, scratch: _Scratch, side: str,
                       rows: list[Row]) -> int:
    """Pairs of rows still without a partner sharing an exact key, or (debtors, `rows`) looking
    alike by name and address."""
    pairs: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
    for how, keys in enumerate(entity.match_keys):
        groups: dict[str, list[str]] = defaultdict(list)
        for key, remote_id in scratch.shared_keys(side, how):
            groups[key].append(remote_id)
        for key, ids in groups.items():
            same = dict(zip(keys, map(str, json.loads(key)["k"])))
            for other in ids[1:]:
                pairs[(ids[0], other)] = (100.0, {"same": same})
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
    owners: Mapping[str, Owner],
    entity: Entity,
    fields: dict[str, set[str]],
    base: Mapping[str, Any] | None,
    sides: dict[str, Row],
    side_bases: dict[str, Mapping[str, Any] | None],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Three-way merge of the changed rows into the hub record `base`; `owners`: field -> its owner.

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
            winner = _winner(owners[name], sides)
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
            merged[name] = changed[_winner(owners[name], sides)]  # the same, spelled apart
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
