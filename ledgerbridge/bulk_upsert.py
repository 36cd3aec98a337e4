"""Insert-or-update many rows given as tuples, on the DB-API cursor: the pull's write path.

HubStore.upsert takes a dict per row and lets SQLAlchemy bind each one: per row it builds the
parameter dict and runs every column's bind processor through the compiled statement, which cost
more than SQLite's own work. Here the statement text is built once per table and column list, the
bind processors are the same ones SQLAlchemy would run (so the stored values are exactly the same),
applied only to the columns that have one, and the rows go to the driver in one call:

- SQLite: `executemany` of one INSERT .. ON CONFLICT DO UPDATE (the sqlite3 module loops in C);
- PostgreSQL: COPY into a temporary table (psycopg's `copy`), then one INSERT .. SELECT .. ON
  CONFLICT DO UPDATE. A key given twice keeps its last row, as one upsert per row would.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class _Plan:
    insert: str  # SQLite: the upsert with positional parameters; PostgreSQL: INSERT .. SELECT from `scratch`
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column position, bind processor)
    key_positions: tuple[int, ...]
    scratch: str | None = None  # PostgreSQL: the temporary table the rows are copied into
    create_scratch: str | None = None
    copy: str | None = None


def bulk_upsert(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                keys: Sequence[str]) -> int:
    """Insert `rows` (tuples in the order of `columns`) into `table`, updating the rows whose `keys`
    exist: what HubStore.upsert does with the same values as dicts."""
    if not rows:
        return 0
    plan = _plan(conn.dialect, table, tuple(columns), tuple(keys))
    if plan.processors:
        rows = _processed(rows, plan.processors)
    if conn.dialect.name == "postgresql":
        _copy_then_upsert(conn, plan, rows)
    else:
        conn.exec_driver_sql(plan.insert, rows)  # the driver's executemany; errors as SQLAlchemy raises them
    return len(rows)


def _processed(rows: Sequence[Sequence[Any]], processors: tuple[tuple[int, Callable[[Any], Any]], ...]) -> list[tuple]:
    """The rows with each processed column's values converted: column by column (one loop per
    column, not per row and column), the same object converted once (a chunk's rows share their
    pulled_at). By identity, not equality: equal datetimes in two time zones are written apart."""
    columns = list(zip(*rows))
    for position, process in processors:
        converted: dict[int, Any] = {id(None): None}
        columns[position] = [converted[id(v)] if id(v) in converted else converted.setdefault(id(v), process(v))
                             for v in columns[position]]
    return list(zip(*columns))


def _copy_then_upsert(conn: Connection, plan: _Plan, rows: Sequence[Sequence[Any]]) -> None:
    if len(plan.key_positions) == 1:
        (position,) = plan.key_positions
        unique = {row[position]: row for row in rows}
    else:
        unique = {tuple(row[p] for p in plan.key_positions): row for row in rows}
    if len(unique) < len(rows):
        rows = list(unique.values())  # ON CONFLICT DO UPDATE may touch a row once per statement
    conn.exec_driver_sql(plan.create_scratch)
    dbapi = conn.dialect.loaded_dbapi
    try:
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(plan.copy) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:  # raised as SQLAlchemy raises the driver's errors everywhere else
        raise sa.exc.DBAPIError.instance(plan.copy, None, exc, dbapi.Error) from exc
    conn.exec_driver_sql(plan.insert)
    # Emptied for the next chunk (a failed chunk's rows go with its rollback). TRUNCATE, not DELETE:
    # nothing vacuums a temporary table, and dead rows would slow every later INSERT .. SELECT.
    conn.exec_driver_sql(f"TRUNCATE {plan.scratch}")


@functools.lru_cache(maxsize=256)
def _plan(dialect: sa.engine.Dialect, table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> _Plan:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    target = quote(table.name)
    updated = [c for c in columns if c not in keys]
    conflict = f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO " + (
        "UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updated) if updated else "NOTHING")
    processors = []
    for position, name in enumerate(columns):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((position, process))
    key_positions = tuple(columns.index(k) for k in keys)
    if dialect.name == "postgresql":
        # One scratch table per table and column list (the name says which), kept by the session and
        # emptied after each use; its columns have the target's types, so COPY converts as INSERT would.
        digest = hashlib.sha1(repr((table.name, columns)).encode()).hexdigest()[:12]
        scratch = quote(f"bulk_{table.name[:40]}_{digest}")
        return _Plan(
            insert=f"INSERT INTO {target} ({names}) SELECT {names} FROM {scratch} {conflict}",
            processors=tuple(processors),
            key_positions=key_positions,
            scratch=scratch,
            create_scratch=(f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} AS "
                            f"SELECT {names} FROM {target} WITH NO DATA"),
            copy=f"COPY {scratch} ({names}) FROM STDIN",
        )
    marks = ", ".join("?" for _ in columns)
    return _Plan(insert=f"INSERT INTO {target} ({names}) VALUES ({marks}) {conflict}",
                 processors=tuple(processors), key_positions=key_positions)
