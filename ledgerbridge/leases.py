"""Entity leases: one holder syncs an entity at a time, whichever driver it is.

A lease is a row of the hub's `entity_leases` table: the entity, its holder (a Dagster run, or a
burst of the warm worker) and when the lease expires. Taking it is one conditional UPDATE (free,
expired, or already ours), so it works the same on SQLite and PostgreSQL and across processes
and machines that share the hub. While held, a thread renews it every third of its time to live;
a holder that dies (killed, machine lost) stops renewing and loses the lease when it expires, so
nothing stays locked for longer than that. Several entities are taken in the model's order, so
two holders waiting for each other's entities cannot happen.

Holding is nested by holder: the warm worker holds an entity for a whole burst, and each asset step
it runs asks again under the same holder (the burst's id); the inner hold takes nothing and gives
nothing back. (With Dagster's multiprocess executor, two steps of one run in parallel processes
share the run's id the same way; the in-process executor, the code location's default, runs them
one after another.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from ledgerbridge.model import ENTITIES
from ledgerbridge.store import T, HubStore, dialect_insert, utcnow

log = logging.getLogger("ledgerbridge.leases")

TIME_TO_LIVE = 30.0  # seconds a lease outlives its last renewal


class LeaseBusy(Exception):
    """The entity stayed held by someone else for as long as we could wait."""

    def __init__(self, entity: str, holder: str | None, waited: float):
        super().__init__(f"entity {entity} is being synced by {holder or 'another holder'}; waited {waited:.0f} s for it")
        self.entity, self.holder = entity, holder


def try_take(store: HubStore, entity: str, holder: str, ttl: float = TIME_TO_LIVE) -> bool:
    """Take (or renew) `entity`'s lease for `holder` if it is free, expired or already theirs."""
    leases = T["entity_leases"]
    now = utcnow()
    with store.begin() as conn:
        conn.execute(dialect_insert(conn, leases).values(entity=entity).on_conflict_do_nothing())
        taken = conn.execute(
            leases.update()
            .where(leases.c.entity == entity,
                   sa.or_(leases.c.holder.is_(None), leases.c.holder == holder, leases.c.expires_at < now))
            .values(holder=holder, acquired_at=now, expires_at=now + timedelta(seconds=ttl))
        ).rowcount
    return taken == 1


def holder_of(store: HubStore, entity: str) -> str | None:
    """Who holds `entity` now (None when free or expired)."""
    leases = T["entity_leases"]
    with store.connect() as conn:
        row = conn.execute(sa.select(leases.c.holder, leases.c.expires_at).where(leases.c.entity == entity)).first()
    if row is None or row.holder is None or _aware(row.expires_at) < utcnow():
        return None
    return row.holder


def release(store: HubStore, entities: Iterable[str], holder: str) -> None:
    leases = T["entity_leases"]
    with store.begin() as conn:
        conn.execute(leases.update().where(leases.c.entity.in_(list(entities)), leases.c.holder == holder)
                     .values(holder=None, expires_at=None))


def _renew(store: HubStore, entities: list[str], holder: str, ttl: float) -> int:
    leases = T["entity_leases"]
    with store.begin() as conn:
        return conn.execute(
            leases.update().where(leases.c.entity.in_(entities), leases.c.holder == holder)
            .values(expires_at=utcnow() + timedelta(seconds=ttl))
        ).rowcount


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back without a zone; the hub writes them in UTC
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def in_model_order(entities: Iterable[str]) -> list[str]:
    wanted = set(entities)
    return [name for name in ENTITIES if name in wanted] + sorted(wanted - set(ENTITIES))


@contextmanager
def held(store: HubStore, entities: Iterable[str], holder: str, *, wait: float = 0.0,
         ttl: float = TIME_TO_LIVE, poll: float = 0.2) -> Iterator[list[str]]:
    """Hold the leases of `entities` (in the model's order) for the block, renewed in the background.
    Waits up to `wait` seconds for each; raises LeaseBusy (having released what it took) when one
    stays held by someone else."""
    ordered = [entity for entity in in_model_order(entities) if holder_of(store, entity) != holder]  # not held already
    taken: list[str] = []
    stop = threading.Event()
    renewer = None
    try:
        for entity in ordered:
            started = time.monotonic()
            while not try_take(store, entity, holder, ttl):
                waited = time.monotonic() - started
                if waited >= wait:
                    raise LeaseBusy(entity, holder_of(store, entity), waited)
                time.sleep(poll)
            taken.append(entity)
        if taken:
            renewer = threading.Thread(target=_keep, args=(store, taken, holder, ttl, stop), daemon=True,
                                       name=f"lease renewal ({holder})")
            renewer.start()
        yield taken
    finally:
        stop.set()
        if renewer is not None:
            renewer.join()
        if taken:
            release(store, taken, holder)


def _keep(store: HubStore, entities: list[str], holder: str, ttl: float, stop: threading.Event) -> None:
    while not stop.wait(ttl / 3):
        try:
            renewed = _renew(store, entities, holder, ttl)
        except Exception as exc:  # noqa: BLE001 - the next renewal tries again before the lease expires
            log.warning("could not renew the lease of %s for %s: %s", ", ".join(entities), holder, exc)
            continue
        if renewed < len(entities):
            log.error("%s lost the lease of %s (expired while held; another holder may sync it now)",
                      holder, ", ".join(entities))
