"""The hub's record of what was told (table `notifications`): one open row per thing that fails
(a job, a check) until it succeeds or passes again, with what each channel did with each message.

Each tenant's hub is its own schema or file (ledgerbridge.tenants.hub), so a tenant's console only
ever sees its own notifications. Rows hold the sentences, counts and hub ids that were sent, never
record data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from ledgerbridge.notify.message import Notification
from ledgerbridge.store import T, HubStore, utcnow

OPENED, RESOLVED = "opened", "resolved"
SENT, PENDING = "sent", "pending"
MAX_ATTEMPTS = 5  # a channel that failed this often for one message is given up on (shown in the console)
STALE_PENDING = timedelta(minutes=2)  # a tick that made a message and did not send it by then has died
RECOVERED = {"run_failure": "run_recovered", "check_failure": "check_recovered"}


@dataclass(frozen=True)
class Entry:
    """One notification as the console shows it."""

    id: int
    kind: str
    about: str
    severity: str
    text: str
    details: dict[str, Any]
    links: dict[str, str]
    run_id: str | None
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    repeats: int
    delivery: dict[str, dict[str, str]]

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def message(self, which: str) -> Notification:
        """The message sent when this opened, or when it was resolved."""
        tenant = self.details.get("tenant")
        sender = f"ledgerbridge ({tenant})" if tenant else "ledgerbridge"
        if which == OPENED:
            return Notification(self.kind, self.text, self.details, about=self.about,
                                subject=f"{sender}: {self.about} failed", links=self.links)
        details = {"opened_at": str(self.opened_at), **({"tenant": tenant} if tenant else {})}
        return Notification(RECOVERED.get(self.kind, self.kind), self.resolution or "", details,
                            about=self.about, subject=f"{sender}: {self.about} is fine again", links=self.links)


def _entry(row: Any) -> Entry:
    return Entry(id=row.id, kind=row.kind, about=row.about, severity=row.severity, text=row.text,
                 details=json.loads(row.details or "{}"), links=json.loads(row.links or "{}"), run_id=row.run_id,
                 status=row.status, opened_at=row.opened_at, resolved_at=row.resolved_at, resolution=row.resolution,
                 repeats=row.repeats, delivery=json.loads(row.delivery))


def open_or_repeat(store: HubStore, notification: Notification, *, event_key: str, severity: str,
                   run_id: str | None, channels: list[str]) -> tuple[int, bool]:
    """(row id, whether it was opened now). While a notification about the same thing is open, a new
    failure only counts as a repeat (a gate that stays stopped run after run is told once); an event
    recorded before (a tick evaluated again) changes nothing."""
    table = T["notifications"]
    with store.begin() as conn:
        seen = conn.execute(sa.select(table.c.id).where(table.c.event_key == event_key)).scalar()
        if seen is not None:
            return seen, False
        current = conn.execute(sa.select(table.c.id).where(table.c.status == "open",
                                                           table.c.about == notification.about)).scalar()
        if current is not None:
            conn.execute(table.update().where(table.c.id == current).values(repeats=table.c.repeats + 1))
            return current, False
        row_id = conn.execute(table.insert().values(
            kind=notification.kind, about=notification.about, event_key=event_key, severity=severity,
            text=notification.text, details=json.dumps(notification.details, sort_keys=True, default=str),
            links=json.dumps(notification.links), run_id=run_id, status="open", opened_at=utcnow(),
            repeats=0, delivery=json.dumps({OPENED: {c: PENDING for c in channels}}),
        )).inserted_primary_key[0]
        return row_id, True


def resolve(store: HubStore, about: str, resolution: str, channels: list[str]) -> list[int]:
    """Close the open notification about `about`; its 'fine again' message is then due on every channel."""
    table = T["notifications"]
    with store.begin() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.delivery).where(
            table.c.status == "open", table.c.about == about)).all()
        for row in rows:
            delivery = {**json.loads(row.delivery), RESOLVED: {c: PENDING for c in channels}}
            conn.execute(table.update().where(table.c.id == row.id).values(
                status="resolved", resolved_at=utcnow(), resolution=resolution, delivery=json.dumps(delivery)))
    return [row.id for row in rows]


def open_about(store: HubStore, kind: str) -> set[str]:
    table = T["notifications"]
    with store.connect() as conn:
        return set(conn.execute(sa.select(table.c.about).where(table.c.status == "open", table.c.kind == kind)).scalars())


def entries(conn: sa.Connection, *, limit: int = 200, only_open: bool = False) -> list[Entry]:
    """Newest first."""
    table = T["notifications"]
    query = sa.select(table).order_by(table.c.opened_at.desc(), table.c.id.desc()).limit(limit)
    if only_open:
        query = query.where(table.c.status == "open")
    return [_entry(row) for row in conn.execute(query)]


def open_count(conn: sa.Connection) -> int:
    table = T["notifications"]
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.status == "open")).scalar_one()


def undelivered(store: HubStore, ids: list[int] | None = None) -> list[tuple[Entry, str, str]]:
    """(entry, message, channel) still to send: pending, or failed fewer than MAX_ATTEMPTS times.

    Without `ids` (the sweep of later ticks), a message still pending is left to the tick that made it
    for STALE_PENDING: the daemon evaluates sensors in parallel threads, and taking it over earlier
    would send it twice."""
    table = T["notifications"]
    query = sa.select(table).where(table.c.delivery.like(f"%{PENDING}%") | table.c.delivery.like("%failed%"))
    if ids is not None:
        query = query.where(table.c.id.in_(ids))
    with store.connect() as conn:
        rows = [_entry(row) for row in conn.execute(query.order_by(table.c.id))]
    stale = utcnow() - STALE_PENDING

    def due(entry: Entry, message: str, state: str) -> bool:
        if state.startswith("failed"):
            return True
        since = entry.opened_at if message == OPENED else entry.resolved_at
        return state == PENDING and (ids is not None or since is None or _aware(since) < stale)

    return [(entry, message, channel) for entry in rows for message, states in entry.delivery.items()
            for channel, state in states.items() if due(entry, message, state)]


def _aware(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone; the hub writes UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def mark(store: HubStore, row_id: int, message: str, channel: str, *, error: str | None = None) -> str:
    """Record what `channel` did with a message; returns the new state."""
    table = T["notifications"]
    with store.begin() as conn:
        delivery = json.loads(conn.execute(sa.select(table.c.delivery).where(table.c.id == row_id)).scalar_one())
        before = delivery.setdefault(message, {}).get(channel, PENDING)
        if error is None:
            state = SENT
        else:
            earlier = re.match(r"failed (\d+)x", before)
            attempts = int(earlier.group(1)) + 1 if earlier else 1
            state = f"failed {attempts}x: {error}" if attempts < MAX_ATTEMPTS else f"gave up after {attempts}x: {error}"
        delivery[message][channel] = state
        conn.execute(table.update().where(table.c.id == row_id).values(delivery=json.dumps(delivery)))
    return state
