"""How changed rows are found, per profile entity: three strategies, one cursor format each.

- rowversion ("rv:<n>"): rows whose rowversion is above the cursor, in rowversion order. On SQL
  Server only rows below MIN_ACTIVE_ROWVERSION() are read: a transaction still open holds a lower
  rowversion than rows already committed, and reading past it would skip its rows for good.
- modified ("mod:<timestamp>|<key>"): keyset pages over (modified, key), so rows sharing a stamp
  across a page boundary are neither lost nor read twice; `overlap_seconds` re-reads a window
  before the cursor for products whose stamps commit out of order. Rows without a stamp are read
  by full pulls only.
- snapshot ("snap:<fingerprint>"): the table has no change column. Every read hashes each row's
  mapped columns and delivers the rows whose hash differs from the one kept in the snapshot store
  (or all rows when the pull has no cursor). A chunk's hashes are saved only when the caller asks
  for the next chunk, i.e. after it has stored this one (state after data: a crash re-delivers at
  most a chunk). The cursor is a fingerprint of the whole table, computed by the database where it
  can (SQL Server: CHECKSUM_AGG(BINARY_CHECKSUM(*)); PostgreSQL: the sum of 64-bit row hashes), so
  the probe asks one aggregate query per tick instead of reading the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ledgerbridge.systems.sql.schema import EntityTables


class SnapshotStore:
    """Per-key hashes of the rows last delivered, for tables without a change column.

    Lives in its own small database (option `snapshot_store`, any SQLAlchemy URL), never in the
    product's database: ledgerbridge does not add tables to a vendor's schema.
    """

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        self.table = sa.Table(
            "sql_snapshots",
            sa.MetaData(),
            sa.Column("system", sa.String(50), primary_key=True),
            sa.Column("entity", sa.String(50), primary_key=True),
            sa.Column("remote_id", sa.String(100), primary_key=True),
            sa.Column("hash", sa.String(64), nullable=False),
        )
        self.table.metadata.create_all(self.engine)

    def hashes(self, system: str, entity: str) -> dict[str, str]:
        t = self.table
        with self.engine.connect() as conn:
            query = sa.select(t.c.remote_id, t.c.hash).where(t.c.system == system, t.c.entity == entity)
            return dict(conn.execute(query).tuples().all())

    def save(self, system: str, entity: str, hashes: dict[str, str]) -> None:
        if not hashes:
            return
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(
                t.delete().where(t.c.system == system, t.c.entity == entity, t.c.remote_id.in_(list(hashes)))
            )
            conn.execute(t.insert(), [{"system": system, "entity": entity, "remote_id": k, "hash": h} for k, h in hashes.items()])

    def dispose(self) -> None:
        self.engine.dispose()


def row_hash(values: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(values).encode("utf-8")).hexdigest()


# -- cursors ---------------------------------------------------------------------------------------

def parse_rowversion(cursor: str | None) -> int | None:
    return int(cursor[3:]) if cursor and cursor.startswith("rv:") else None


def parse_modified(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor or not cursor.startswith("mod:"):
        return None
    stamp, _, key = cursor[4:].partition("|")
    return datetime.fromisoformat(stamp), key


def modified_cursor(stamp: datetime, key: Any) -> str:
    return f"mod:{stamp.isoformat()}|{key}"


def parse_snapshot(cursor: str | None) -> str | None:
    return cursor[5:] if cursor and cursor.startswith("snap:") else None


# -- queries ---------------------------------------------------------------------------------------

def below_active_rowversion(conn: sa.Connection, column: sa.Column) -> sa.ColumnElement[bool] | None:
    """SQL Server: only rowversions of committed transactions (see the module docstring)."""
    if conn.dialect.name == "mssql":
        return column < sa.func.MIN_ACTIVE_ROWVERSION()
    return None


def modified_after(tables: EntityTables, after: tuple[datetime, str] | None, key_value: Callable[[str], Any],
                   overlap_seconds: float) -> sa.ColumnElement[bool] | None:
    if after is None:
        return None
    stamp, key = after
    column = tables.change_column
    if overlap_seconds:
        return column > stamp - timedelta(seconds=overlap_seconds)
    return sa.or_(column > stamp, sa.and_(column == stamp, tables.key > key_value(key)))


def fingerprint(conn: sa.Connection, tables: EntityTables, where: sa.ColumnElement[bool] | None) -> str:
    """One value that changes whenever any row of the entity's tables changes."""
    parts = []
    for table in (tables.main, *tables.extensions):
        condition = where if table is tables.main else None
        key = next(iter(table.primary_key.columns))
        if conn.dialect.name == "mssql":
            query = sa.select(sa.func.CHECKSUM_AGG(sa.func.BINARY_CHECKSUM(sa.literal_column("*"))), sa.func.count())
            query = query.select_from(table)
        elif conn.dialect.name == "postgresql":
            # Order-independent, as SQL Server's CHECKSUM_AGG: a sum of 64-bit row hashes, no sort.
            row_text = sa.cast(sa.literal_column(conn.dialect.identifier_preparer.quote(table.name)), sa.Text)
            query = sa.select(sa.func.sum(sa.func.hashtextextended(row_text, 0)), sa.func.count()).select_from(table)
        else:  # the embedded database has no row hash: the rows are read and hashed here
            digest = hashlib.sha256()
            query = sa.select(table).order_by(key)
            if condition is not None:
                query = query.where(condition)
            count = 0
            for row in conn.execute(query):
                digest.update(repr(tuple(row)).encode("utf-8"))
                count += 1
            parts.append(f"{digest.hexdigest()[:16]}.{count}")
            continue
        if condition is not None:
            query = query.where(condition)
        value, count = conn.execute(query).one()
        parts.append(f"{value}.{count}")
    return "-".join(parts)


def iter_snapshot_changes(
    rows: Iterator[tuple[str, tuple[Any, ...], Any]],
    known: dict[str, str] | None,
    chunk_size: int,
    save: Callable[[dict[str, str]], None],
) -> Iterator[tuple[list[Any], bool]]:
    """(group, is_last): groups of changed rows (`item` of each (remote_id, hashed values, item)),
    the last one possibly empty; a group's hashes are saved when the caller asks for the next
    group, i.e. after it stored this one, and the last group's when the caller finished."""
    pending: dict[str, str] = {}
    group: list[Any] = []
    for remote_id, hashed, item in rows:
        digest = row_hash(hashed)
        if known is not None and known.get(remote_id) == digest:
            continue
        pending[remote_id] = digest
        group.append(item)
        if len(group) >= chunk_size:
            yield group, False
            save(pending)
            pending, group = {}, []
    yield group, True
    save(pending)
