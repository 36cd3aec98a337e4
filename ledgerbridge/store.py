"""The hub store: one SQLAlchemy database holding staging, golden and sync-state tables (their
layout: ledgerbridge.schema, re-exported here), and the analyst views over them.

SQLite (a file) is the embedded default; PostgreSQL is used by giving a postgresql+psycopg:// URL.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ledgerbridge.model import ENTITIES
from ledgerbridge.schema import (  # noqa: F401 - the layout, re-exported for the store's users
    ERASED, METADATA, SIDES, UNRECONCILED, T, hub, hub_table_name, reference_index_name, staging, staging_table_name,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_json(values: Mapping[str, Any]) -> str:
    return json.dumps(values, default=json_default, sort_keys=True, ensure_ascii=False)


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def canonical_decimal(value: Decimal) -> str:
    # 10, 10.0 and 10.0000 (what Numeric(18, 4) gives back) must hash alike.
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def dialect_insert(conn: Connection, table: sa.Table):
    """INSERT with ON CONFLICT support, for the two dialects the hub runs on."""
    return _insert_for(conn.dialect.name, table)


def _insert_for(dialect: str, table: sa.Table):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@functools.lru_cache(maxsize=1024)
def _upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """The INSERT .. ON CONFLICT statement for these key and value columns, built once: building it
    (`excluded` copies every column of the table) cost more than running it for a row or two."""
    insert = _insert_for(dialect, table)
    if not columns:
        return insert.on_conflict_do_nothing(index_elements=list(keys))
    return insert.on_conflict_do_update(index_elements=list(keys), set_={c: insert.excluded[c] for c in columns})


class HubStore:
    """Connections and set-based writes to the hub database."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            # Several threads (the Dagster in-process executor, the webhook receiver) share the file.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        """The tables, then the analyst views over them (ledgerbridge.analytics)."""
        from ledgerbridge.analytics import create_views

        METADATA.create_all(self.engine)
        self._add_missing_columns()
        self._add_missing_references()
        self._add_missing_indexes()
        create_views(self, replace=False)

    def _add_missing_columns(self) -> None:
        """A hub made by an earlier version gains the nullable columns added since (no data moves)."""
        inspector = sa.inspect(self.engine)
        with self.engine.begin() as conn:
            for table in METADATA.sorted_tables:
                if not inspector.has_table(table.name):
                    continue
                present = {c["name"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present and column.nullable:
                        kind = column.type.compile(dialect=conn.dialect)
                        conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))

    def _add_missing_indexes(self) -> None:
        """A hub made by an earlier version gains the staging tables' indexes added since."""
        with self.engine.begin() as conn:
            for side in SIDES:
                for entity in ENTITIES.values():
                    for index in staging(side, entity.name).indexes:
                        index.create(conn, checkfirst=True)

    def _add_missing_references(self) -> None:
        """A hub made before the golden tables had foreign keys gains them and their indexes. A row
        that points at a record no longer in the hub (erased before erasure kept tombstones) gets
        that tombstone first, so the constraint holds for every row that is already there."""
        inspector = sa.inspect(self.engine)
        lacking = []
        for entity in ENTITIES.values():
            table = hub(entity.name)
            if not entity.references or not inspector.has_table(table.name):
                continue
            present = {tuple(fk["constrained_columns"]) for fk in inspector.get_foreign_keys(table.name)}
            if any((ref.name,) not in present for ref in entity.references if ref.reference in ENTITIES):
                lacking.append(table)
        if lacking and self.dialect == "sqlite":
            self._rebuild_sqlite_tables(lacking)
        elif lacking:
            with self.engine.begin() as conn:
                _add_tombstones(conn, lacking)
                for table in lacking:
                    present = {fk["name"] for fk in sa.inspect(conn).get_foreign_keys(table.name)}
                    for constraint in table.foreign_key_constraints:
                        if constraint.name not in present:
                            conn.execute(sa.schema.AddConstraint(constraint))
        with self.engine.begin() as conn:
            for entity in ENTITIES.values():
                for index in hub(entity.name).indexes:
                    index.create(conn, checkfirst=True)

    def _rebuild_sqlite_tables(self, tables: list[sa.Table]) -> None:
        """SQLite cannot add a constraint to a table: each is made anew and its rows copied over
        (sqlite.org/lang_altertable.html, "making other kinds of table schema changes")."""
        from ledgerbridge.analytics import drop_views

        drop_views(self)  # made again by create_all, over the new tables
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # only outside a transaction
            # an analyst's own view over a table stays as it is: the new table gets the old name
            conn.exec_driver_sql("PRAGMA legacy_alter_table=ON")
            conn.commit()
            try:
                with conn.begin():
                    _add_tombstones(conn, tables)
                    for table in tables:
                        interim = f"_new_{table.name}"
                        create = str(sa.schema.CreateTable(table).compile(dialect=conn.dialect)).strip()
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {interim}")
                        conn.exec_driver_sql(create.replace(f"CREATE TABLE {table.name} (", f"CREATE TABLE {interim} (", 1))
                        columns = ", ".join(f'"{c.name}"' for c in table.columns)
                        conn.exec_driver_sql(f"INSERT INTO {interim} ({columns}) SELECT {columns} FROM {table.name}")
                        conn.exec_driver_sql(f"DROP TABLE {table.name}")
                        conn.exec_driver_sql(f"ALTER TABLE {interim} RENAME TO {table.name}")
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"hub migration: rows still point at missing records: {broken[:5]}")
            finally:
                conn.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()

    def drop_all(self) -> None:
        from ledgerbridge.analytics import drop_views

        drop_views(self)  # PostgreSQL refuses to drop a table a view still reads
        METADATA.drop_all(self.engine)

    def begin(self):
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def upsert(self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> int:
        """Insert or update `rows` in one statement per batch (no row-by-row round trips)."""
        if not rows:
            return 0
        keys = tuple(keys)
        columns = tuple(c for c in rows[0] if c not in keys)
        statement = _upsert_statement(conn.dialect.name, table, keys, columns)
        conn.execute(statement, rows if isinstance(rows, list) else list(rows))
        return len(rows)

    def dispose(self) -> None:
        self.engine.dispose()

    def table_counts(self) -> dict[str, int]:
        with self.connect() as conn:
            return {name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for name, t in T.items()}


def _add_tombstones(conn: Connection, tables: Iterable[sa.Table]) -> int:
    """Golden records, without values, for references in `tables` to records the hub no longer has."""
    added = 0
    now = sa.literal(utcnow(), sa.DateTime(timezone=True))
    for table in tables:
        for column in table.columns:
            for fk in column.foreign_keys:
                parent = fk.column.table
                missing = (
                    sa.select(column, now, now, now, sa.literal(ERASED)).distinct()
                    .where(column.is_not(None), ~sa.exists().where(parent.c.hub_id == column))
                )
                added += conn.execute(parent.insert().from_select(
                    ["hub_id", "created_at", "updated_at", "deleted_at", "deleted_in"], missing)).rowcount
    return added


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
