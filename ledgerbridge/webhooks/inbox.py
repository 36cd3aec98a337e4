"""The inbox as a work list: which webhook events still wait to be applied, and marking them applied.

An event is applied once a sync of its entity that began after the event was received has
completed: the sync pulls everything changed since its cursor, so it carries the event's change.
The warm worker (pipelines/warm_worker.py) claims an entity's pending events only while it holds
the entity's lease, syncs, then marks exactly those events in one transaction. A worker that dies
between the sync and the mark leaves them pending; the next burst syncs again, which writes
nothing twice (the outbox and the shadows make every write idempotent), then marks them. A mark is
only ever set on a pending row, so an event is marked once, by one burst.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ledgerbridge.store import T, HubStore, utcnow
from ledgerbridge.sync.pull import read_cursor

NOT_CONFIGURED = "passed over: entity not configured"


@dataclass(frozen=True)
class InboxEvent:
    id: int
    system: str
    entity: str | None
    received_at: datetime


def pending(store: HubStore, *, after: int = 0, limit: int = 10_000) -> list[InboxEvent]:
    """Events not applied yet with an id above `after`, oldest first."""
    inbox = T["inbox"]
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(inbox.c.id, inbox.c.system, inbox.c.entity, inbox.c.received_at)
            .where(inbox.c.id > after, inbox.c.applied_at.is_(None)).order_by(inbox.c.id).limit(limit)
        ).all()
    return [InboxEvent(r.id, r.system, r.entity, r.received_at) for r in rows]


def applied_before(store: HubStore) -> int:
    """The highest id below which every event is applied: where a reader of pending events starts."""
    inbox = T["inbox"]
    with store.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(inbox.c.id)).where(inbox.c.applied_at.is_(None))).scalar()
        if first is not None:
            return first - 1
        return conn.execute(sa.select(sa.func.max(inbox.c.id))).scalar() or 0


def by_entity(events: list[InboxEvent]) -> dict[str | None, list[InboxEvent]]:
    grouped: dict[str | None, list[InboxEvent]] = defaultdict(list)
    for event in events:
        grouped[event.entity].append(event)
    return dict(grouped)


def claim(store: HubStore, entity: str, *, after: int = 0) -> list[InboxEvent]:
    """`entity`'s pending events now. Call it while holding the entity's lease and before the sync
    starts pulling: the events it returns are then carried by that sync."""
    inbox = T["inbox"]
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(inbox.c.id, inbox.c.system, inbox.c.entity, inbox.c.received_at)
            .where(inbox.c.id > after, inbox.c.entity == entity, inbox.c.applied_at.is_(None)).order_by(inbox.c.id)
        ).all()
    return [InboxEvent(r.id, r.system, r.entity, r.received_at) for r in rows]


def mark_applied(store: HubStore, ids: list[int], by: str) -> int:
    """Mark the events applied by `by`; returns how many were still pending (the others were marked before)."""
    if not ids:
        return 0
    inbox = T["inbox"]
    with store.begin() as conn:
        return conn.execute(
            inbox.update().where(inbox.c.id.in_(ids), inbox.c.applied_at.is_(None))
            .values(applied_at=utcnow(), applied_by=by[:80])
        ).rowcount


def crm_events_only(store: HubStore, events: list[InboxEvent], crm_system: str, erp_system: str) -> bool:
    """Whether a sync carrying `events` may leave out the ERP pull: they all come from the CRM and the
    ERP side has been pulled before (without an ERP cursor only a full sync may plan writes). The
    ERP's own changes arrive as their own events, or through its probe, and get the full sync."""
    return (all(e.system == crm_system for e in events) and events[0].entity is not None
            and read_cursor(store, erp_system, events[0].entity) is not None)


# Set by `ledgerbridge serve` for the Dagster processes when its warm worker applies the inbox: the
# inbox sensor then starts stopped (it would launch runs for events the worker applies anyway).
WORKER_VARIABLE = "LEDGERBRIDGE_INBOX_WORKER"


def worker_applies_inbox() -> bool:
    return os.environ.get(WORKER_VARIABLE) == "1"
