"""The outbox: every intended write and where it stands.

    planned -> sent -> confirmed
                    -> retry      a passing failure (5xx, timeout, 429) with attempts and a next try
                    -> failed     the system refused it, or it kept failing: the reason says what to do
                    -> obsolete   superseded by a newer plan, the record is gone, or it changed meanwhile
    sent (left)     the call went out and no answer came (lost reply, timeout, the process was
                    killed): a create is looked up before it is ever sent again

A row is open while planned, sent or retry; every open row has a next step: the push sends
planned rows, the plan supersedes retry rows that are due, and `settle_uncertain` resolves sent
ones (found in the system, or shown not to be there by a complete pull that began after it).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import RetryConfig
from ledgerbridge.connectors.base import Connector, ConnectorError, RemoteRecord
from ledgerbridge.store import T, HubStore, utcnow
from ledgerbridge.sync.queue import enqueue

PLANNED, SENT, CONFIRMED, RETRY, FAILED, OBSOLETE = "planned", "sent", "confirmed", "retry", "failed", "obsolete"
# "pending" is what earlier versions called "sent"
UNCERTAIN = (SENT, "pending")
OPEN = (PLANNED, RETRY, *UNCERTAIN)


def open_rows(conn: sa.Connection, entity: str, system: str) -> dict[str, dict[str, Any]]:
    """hub id -> its open outbox row that is not merely planned (retry or sent), newest first wins."""
    outbox = T["outbox"]
    query = (
        sa.select(outbox)
        .where(outbox.c.entity == entity, outbox.c.system == system, outbox.c.status.in_((RETRY, *UNCERTAIN)))
        .order_by(outbox.c.id)
    )
    return {row["hub_id"]: dict(row) for row in conn.execute(query).mappings()}


def retry_delay(policy: RetryConfig, attempts: int) -> timedelta:
    return timedelta(seconds=min(policy.first_delay_seconds * 2 ** max(0, attempts - 1), policy.max_delay_seconds))


def close(conn: sa.Connection, row_id: int, status: str, reason: str | None, **values: Any) -> None:
    outbox = T["outbox"]
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(status=status, last_error=reason, next_attempt_at=None, updated_at=utcnow(), **values)
    )


def confirm_by_lookup(conn: sa.Connection, entity: str, system: str, hub_id: str, remote_id: str, now: datetime) -> None:
    """A create with an unknown outcome whose record was found: it did happen, exactly once."""
    outbox = T["outbox"]
    conn.execute(
        outbox.update()
        .where(outbox.c.entity == entity, outbox.c.system == system, outbox.c.hub_id == hub_id,
               outbox.c.operation == "create", outbox.c.status.in_(UNCERTAIN))
        .values(status=CONFIRMED, remote_id=remote_id, updated_at=now,
                last_error="the answer was lost; the record was found in the system afterwards")
    )


def supersede(conn: sa.Connection, entity: str, system: str, planned: dict[str, int], keep_open: set[str]) -> dict[str, int]:
    """Close the retry/sent-update rows of records planned again (their attempts carry over) and of
    records no longer planned at all; `keep_open` holds records that wait for a retry or a lookup.

    Returns hub id -> attempts already made, for the new planned rows.
    """
    carried: dict[str, int] = {}
    for hub_id, row in open_rows(conn, entity, system).items():
        if hub_id in keep_open:
            continue
        if row["operation"] == "create" and row["status"] in UNCERTAIN:
            continue  # only settle_uncertain may close these: the record may exist
        if hub_id in planned:
            carried[hub_id] = row["attempts"]
            close(conn, row["id"], OBSOLETE, "superseded by a newer plan for the same record")
        else:
            close(conn, row["id"], OBSOLETE, "no longer needed: the system already agrees, or the record is not planned any more")
    return carried


def complete_pull_started(conn: sa.Connection, system: str, entity: str) -> datetime | None:
    cursors = T["cursors"]
    return conn.execute(
        sa.select(cursors.c.complete_pull_started_at).where(cursors.c.system == system, cursors.c.entity == entity)
    ).scalar_one_or_none()


def settle_uncertain(
    store: HubStore, connector: Connector, side: str, entity: str, number_field: str | None, policy: RetryConfig
) -> list[tuple[dict[str, Any], RemoteRecord]]:
    """Resolve creates whose outcome is unknown; returns (row, record) for those found by number,
    which the caller confirms like a successful create. Reconcile links the others it finds."""
    outbox, id_map = T["outbox"], T["id_map"]
    found: list[tuple[dict[str, Any], RemoteRecord]] = []
    with store.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                sa.select(outbox).where(
                    outbox.c.entity == entity, outbox.c.system == connector.system,
                    outbox.c.operation == "create", outbox.c.status.in_(UNCERTAIN),
                )
            ).mappings()
        ]
        pulled_from = complete_pull_started(conn, connector.system, entity)
    for row in rows:
        with store.begin() as conn:
            linked = conn.execute(
                sa.select(id_map.c.remote_id).where(
                    id_map.c.entity == entity, id_map.c.system == connector.system, id_map.c.hub_id == row["hub_id"]
                )
            ).scalar_one_or_none()
            if linked is not None:
                close(conn, row["id"], CONFIRMED, "the answer was lost; the record was found in the system afterwards",
                      remote_id=linked)
                continue
        number = json.loads(row["payload"])["values"].get(number_field) if number_field else None
        if number:
            try:
                record = connector.find_by_number(entity, str(number))
            except (ConnectorError, KeyError):
                record = None  # the lookup itself failed: stay uncertain, ask again next run
            else:
                if record is not None:
                    found.append((row, record))
                    continue
        sent_at = row["sent_at"] or row["updated_at"]
        if pulled_from is not None and sent_at is not None and as_utc(pulled_from) >= as_utc(sent_at) + timedelta(
            seconds=policy.lookup_grace_seconds
        ):
            with store.begin() as conn:
                close(conn, row["id"], OBSOLETE,
                      "the answer was lost and a complete pull afterwards did not find the record: not carried "
                      "out; planned again")
                enqueue(conn, entity, [row["hub_id"]], sides=(side,))
    return found


def as_utc(value: datetime) -> datetime:
    # SQLite gives naive datetimes back (stored as UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)
