"""The plan queue: which records the plan towards each side must look at.

Reconcile queues every record it touched (for both sides), a confirmed create queues its record for
the other side (the number it was given is written back), a review decision queues the records it
releases. The plan reads the queue and the due outbox work instead of the whole hub table, so a
sync's work follows what changed, not the table's size. A record stays queued while it waits (for
its parent, a retry, a lookup, a review); the rest leave the queue when their plan is recorded. A
side planned for the first time (a hub made by an earlier version) is planned in full once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from ledgerbridge.store import T, HubStore, dialect_insert, utcnow

SIDES = ("crm", "erp")


def enqueue(conn: sa.Connection, entity: str, hub_ids: Iterable[str], sides: Iterable[str] = SIDES) -> None:
    now = utcnow()
    rows = [{"entity": entity, "side": side, "hub_id": hub_id, "queued_at": now}
            for hub_id in dict.fromkeys(h for h in hub_ids if h) for side in sides]
    for start in range(0, len(rows), 500):
        conn.execute(dialect_insert(conn, T["plan_queue"]).on_conflict_do_nothing(), rows[start : start + 500])


def queued(conn: sa.Connection, entity: str, side: str) -> set[str] | None:
    """The queued hub ids, or None when this side was never planned from the queue (plan in full)."""
    cursors = T["cursors"]
    started = conn.execute(
        sa.select(cursors.c.cursor).where(cursors.c.system == _marker(side), cursors.c.entity == entity)
    ).scalar_one_or_none()
    if started is None:
        return None
    queue = T["plan_queue"]
    return set(conn.execute(sa.select(queue.c.hub_id).where(queue.c.entity == entity, queue.c.side == side)).scalars())


def settle(conn: sa.Connection, entity: str, side: str, done: Iterable[str]) -> None:
    """The plan was recorded: the records in `done` leave the queue."""
    queue = T["plan_queue"]
    ids = list(done)
    for start in range(0, len(ids), 500):
        conn.execute(queue.delete().where(queue.c.entity == entity, queue.c.side == side,
                                          queue.c.hub_id.in_(ids[start : start + 500])))


# A record queued this long before a full plan began reading was read by it (the transaction that
# queued it had long committed); one queued later stays queued and is planned again next time.
SETTLED_BEFORE = timedelta(minutes=1)


def settle_everything(store: HubStore, conn: sa.Connection, entity: str, side: str, read_from: datetime,
                      keep: Iterable[str]) -> None:
    """A plan that read the whole table was recorded: what was queued before it read leaves the
    queue, but for `keep` (records still waiting); the side is planned from the queue from now on.
    No list of the table's ids is held for it."""
    queue = T["plan_queue"]
    conn.execute(queue.delete().where(queue.c.entity == entity, queue.c.side == side,
                                      queue.c.queued_at <= read_from - SETTLED_BEFORE))
    enqueue(conn, entity, keep, sides=(side,))
    store.upsert(conn, T["cursors"], [{"system": _marker(side), "entity": entity, "cursor": "queued",
                                       "updated_at": utcnow()}], ["system", "entity"])


def _marker(side: str) -> str:
    return f"plan:{side}"
