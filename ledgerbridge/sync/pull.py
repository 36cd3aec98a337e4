"""Pull: stream a system's changed records into its staging table, chunk by chunk.

The cursor is saved in the same transaction as the chunk it describes, never before it
(Singer's rule): a crash loses no record and re-reads at most one chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from ledgerbridge.bulk_upsert import bulk_upsert
from ledgerbridge.connectors.base import Connector
from ledgerbridge.model import entity as model_entity
from ledgerbridge.quality import normalise_record
from ledgerbridge.store import T, HubStore, staging, utcnow
from ledgerbridge.sync.deletes import follows_deletes, mark_missing
from ledgerbridge.sync.records import coerce, content_hasher
from ledgerbridge.systems import mapped_fields

log = logging.getLogger(__name__)


@dataclass
class PullResult:
    entity: str
    side: str
    system: str
    pulled: int = 0
    chunks: int = 0
    cursor: str | None = None
    unconvertible: list[str] = field(default_factory=list)  # "record 12: field: problem"
    deleted: int = 0  # records a complete pull no longer found


def read_cursor(store: HubStore, system: str, entity: str) -> str | None:
    with store.connect() as conn:
        cursors = T["cursors"]
        return conn.execute(
            sa.select(cursors.c.cursor).where(cursors.c.system == system, cursors.c.entity == entity)
        ).scalar_one_or_none()


# Records per chunk (one page, one transaction). Connectors clamp it to their system's maximum page
# size (1000 for e-conomic and webCRM); fewer, larger pages mean fewer remote calls per record.
CHUNK_SIZE = 1000


def pull(store: HubStore, connector: Connector, side: str, entity_name: str, *, full: bool = False,
         chunk_size: int = CHUNK_SIZE) -> PullResult:
    """Pull changes since the stored cursor (everything when `full`) into `<side>_<entity>`."""
    entity = model_entity(entity_name)
    fields = mapped_fields(connector.system, entity_name)
    table = staging(side, entity_name)
    result = PullResult(entity_name, side, connector.system)
    started = utcnow()
    cursor = None if full else read_cursor(store, connector.system, entity_name)
    # A row is a tuple in this column order (fewer objects per row than a dict; see bulk_upsert).
    columns = ("remote_id", *entity.field_names, "deleted_at", "remote_updated_at", "content_hash", "pulled_at")
    field_names = entity.field_names  # a property that builds a tuple: once per pull, not per record
    hash_of = content_hasher(fields)  # content_hash(values, fields), with the fields sorted once
    complete = cursor is None and follows_deletes(entity)
    for chunk in connector.iter_changed(entity_name, cursor, chunk_size):
        now = utcnow()
        rows = []
        for record in chunk.records:
            values, errors = coerce(entity, record.values)
            for error in errors:
                result.unconvertible.append(f"{entity_name} {record.remote_id}: {error}")
            values = normalise_record(entity_name, values)
            get = values.get
            rows.append((record.remote_id, *[get(name) for name in field_names], None, record.updated_at,
                         hash_of(values), now))
        with store.begin() as conn:
            bulk_upsert(conn, table, columns, rows, ("remote_id",))
            if chunk.cursor is not None:
                store.upsert(
                    conn,
                    T["cursors"],
                    [{"system": connector.system, "entity": entity_name, "cursor": chunk.cursor, "updated_at": now}],
                    ["system", "entity"],
                )
        result.pulled += len(rows)
        result.chunks += 1
        result.cursor = chunk.cursor or result.cursor
    if complete:  # everything was read: what is not there any more was deleted there
        with store.begin() as conn:
            result.deleted = mark_missing(conn, side, entity, started, utcnow())
    _mark_complete(store, connector.system, entity_name, started)
    for problem in result.unconvertible:
        log.warning("pull: %s", problem)
    return result


def _mark_complete(store: HubStore, system: str, entity: str, started) -> None:
    """Everything changed before `started` is in staging now: a create sent before it (and its
    grace) that this pull did not bring was not carried out (ledgerbridge.sync.outbox)."""
    cursors = T["cursors"]
    with store.begin() as conn:
        updated = conn.execute(
            cursors.update()
            .where(cursors.c.system == system, cursors.c.entity == entity)
            .values(complete_pull_started_at=started)
        )
        if not updated.rowcount:
            conn.execute(cursors.insert(), {"system": system, "entity": entity, "cursor": None,
                                            "updated_at": started, "complete_pull_started_at": started})
