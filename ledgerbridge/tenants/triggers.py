"""What the tenants' sensors launch: webhook events per tenant, grouped into runs; tenants' crons due.

The Dagster layer only turns these plans into RunRequests. Reading many tenants' inboxes must not
cost a connection pool per tenant (two hundred tenants would exhaust a PostgreSQL server's
connections): tenants whose hubs share a PostgreSQL database are read through one engine, each
query pointed at the tenant's schema with SQLAlchemy's schema_translate_map; SQLite hubs (a file
per tenant) are opened without a pool.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ledgerbridge.store import T
from ledgerbridge.systems.triggers import entity_schedules
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.tenants.hub import schema_of
from ledgerbridge.tenants.registry import Tenant

INBOX_BATCH = 10_000  # events read per tenant and tick; a larger backlog is read over the next ticks


@dataclass(frozen=True)
class InboxEvent:
    id: int
    system: str
    entity: str
    received_at: datetime


class InboxReader:
    """Reads new inbox events of many tenants: one engine per PostgreSQL database, and one statement
    per UNION_CHUNK tenants there (a tick costs a few round trips, not one per tenant)."""

    UNION_CHUNK = 200

    def __init__(self) -> None:
        self._engines: dict[str, sa.Engine] = {}
        self._inboxes: dict[str, sa.Table] = {}  # schema -> the inbox table in it

    def _engine(self, url: str) -> tuple[str, sa.Engine, str | None]:
        schema = schema_of(url)
        if schema is None:
            key = url
            if key not in self._engines:
                self._engines[key] = sa.create_engine(url, poolclass=NullPool)
            return key, self._engines[key], None
        parsed = make_url(url)
        server = parsed.set(query={k: v for k, v in parsed.query.items() if k != "options"})
        key = server.render_as_string(hide_password=False)
        if key not in self._engines:
            self._engines[key] = sa.create_engine(server, pool_size=2, max_overflow=2, pool_pre_ping=True)
        return key, self._engines[key], schema

    def _inbox(self, schema: str | None) -> sa.Table:
        if schema is None:
            return T["inbox"]
        if schema not in self._inboxes:
            self._inboxes[schema] = T["inbox"].to_metadata(sa.MetaData(), schema=schema)
        return self._inboxes[schema]

    def _query(self, name: str, schema: str | None, after: int, limit: int):
        inbox = self._inbox(schema)
        return (sa.select(sa.literal(name).label("tenant"), inbox.c.id, inbox.c.system, inbox.c.entity,
                          inbox.c.received_at)
                .where(inbox.c.id > after).order_by(inbox.c.id).limit(limit))

    def new_events(self, tenant: Tenant, after: int, limit: int = INBOX_BATCH) -> list[InboxEvent]:
        return self.new_events_of([(tenant, after)], limit).get(tenant.name, [])

    def new_events_of(self, tenants: list[tuple[Tenant, int]], limit: int = INBOX_BATCH) -> dict[str, list[InboxEvent]]:
        """Tenant name -> its events after its cursor, in inbox order (tenants without any left out)."""
        groups: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
        for tenant, after in tenants:
            key, _, schema = self._engine(tenant.hub_url())
            groups[key].append((tenant.name, schema, after))
        found: dict[str, list[InboxEvent]] = defaultdict(list)
        for key, members in groups.items():
            with self._engines[key].connect() as conn:
                for start in range(0, len(members), self.UNION_CHUNK):
                    chunk = members[start:start + self.UNION_CHUNK]
                    for row in self._read(conn, chunk, limit):
                        found[row.tenant].append(InboxEvent(row.id, row.system, row.entity, row.received_at))
        return dict(found)

    def _read(self, conn, chunk: list[tuple[str, str | None, int]], limit: int) -> list:
        selects = [self._query(name, schema, after, limit).subquery().select() for name, schema, after in chunk]
        try:
            return conn.execute(sa.union_all(*selects) if len(selects) > 1 else selects[0]).all()
        except (sa.exc.ProgrammingError, sa.exc.OperationalError):
            # A hub without its tables yet (its first run creates them): read the others one by one.
            conn.rollback()
            if len(chunk) == 1:
                return []
            return [row for member in chunk for row in self._read(conn, [member], limit)]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


@dataclass(frozen=True)
class PlannedRun:
    tenant: str
    entity: str
    first_id: int
    last_id: int
    events: int
    systems: tuple[str, ...]
    first_received_at: datetime


@dataclass
class InboxPlan:
    runs: list[PlannedRun]
    covered: list[str]  # sentences: events a waiting run will pick up
    ignored: int  # events of entities the tenant does not sync


def plan_inbox_runs(tenant: str, entities: list[str], events: list[InboxEvent],
                    waiting: set[tuple[str, str]]) -> InboxPlan:
    """One run per entity with new events, unless a run of that tenant and entity is waiting to start
    (it has not pulled yet, so it picks these changes up)."""
    by_entity: dict[str, list[InboxEvent]] = defaultdict(list)
    ignored = 0
    for event in events:
        if event.entity in entities:
            by_entity[event.entity].append(event)
        else:
            ignored += 1
    plan = InboxPlan([], [], ignored)
    for entity, group in by_entity.items():
        if (tenant, entity) in waiting:
            plan.covered.append(f"{len(group)} {entity} event(s) of {tenant} covered by a waiting run")
            continue
        plan.runs.append(PlannedRun(
            tenant, entity, min(e.id for e in group), max(e.id for e in group), len(group),
            tuple(sorted({e.system for e in group})), min(e.received_at for e in group),
        ))
    return plan


def tenant_entities(tenant: Tenant) -> list[str]:
    return enabled_entities(tenant.config)


def due_schedules(tenant: Tenant, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
    """(entity, tick) for each of the tenant's entity schedules with a tick in (since, until]; the last
    tick only, when several were missed (one run catches up all of them)."""
    return [(entity, tick) for entity, cron in entity_schedules(tenant.config).items()
            for tick in last_tick(cron, since, until)]


def last_tick(cron: str, since: datetime, until: datetime) -> list[datetime]:
    """The cron's last tick in (since, until], if any."""
    tick = croniter(cron, until + timedelta(microseconds=1)).get_prev(datetime)
    return [tick] if since < tick <= until else []
