"""The emulator of a SQL system: a database created from its profile, on any SQLAlchemy URL.

Tests build PostgreSQL databases (reached through pyodbc and the ODBC driver) and the demo an
embedded SQLite file from the shipped profiles; `create_database` makes the profile's tables,
its unique constraints and counter tables, and does what the product does by itself:
a rowversion column grows on every insert and update, database-wide (a sequence/counter and a
trigger, as SQL Server's rowversion), and a modified-at column is stamped on every write (a
trigger, as the product's client would). Rows are seeded in the product's own shape (its column
names), never through the mapping under test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledgerbridge.systems.sql.profile import Profile
from ledgerbridge.systems.sql.schema import build_tables

ROWVERSION_SEQUENCE = "lb_rowversion"


def create_database(profile: Profile, engine: sa.Engine) -> None:
    """The profile's tables (if missing) and the triggers that emulate the product's stamps."""
    metadata, tables = build_tables(profile)
    metadata.create_all(engine)
    stamped = {}
    for entity in tables.values():
        change = entity.profile.change
        if change.strategy in ("rowversion", "modified"):
            stamped[(entity.main.name, change.column)] = (change.strategy, entity.main)
    with engine.begin() as conn:
        for (table_name, column), (strategy, table) in stamped.items():
            _stamp_trigger(conn, table, column, strategy)


def _stamp_trigger(conn: sa.Connection, table: sa.Table, column: str, strategy: str) -> None:
    quote = conn.dialect.identifier_preparer.quote
    name = f"lb_{table.name}_{column}".lower()
    if conn.dialect.name == "postgresql":
        value = f"nextval('{ROWVERSION_SEQUENCE}')" if strategy == "rowversion" else "localtimestamp"
        if strategy == "rowversion":
            conn.execute(sa.text(f"CREATE SEQUENCE IF NOT EXISTS {ROWVERSION_SEQUENCE}"))
        conn.execute(sa.text(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN NEW.{quote(column)} := {value}; RETURN NEW; END $$"
        ))
        conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {quote(table.name)}"))
        conn.execute(sa.text(
            f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {quote(table.name)} FOR EACH ROW EXECUTE FUNCTION {name}()"
        ))
    elif conn.dialect.name == "sqlite":
        if strategy == "rowversion":
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {ROWVERSION_SEQUENCE} (value INTEGER NOT NULL)"))
            conn.execute(sa.text(
                f"INSERT INTO {ROWVERSION_SEQUENCE} (value) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {ROWVERSION_SEQUENCE})"
            ))
            body = (f"UPDATE {ROWVERSION_SEQUENCE} SET value = value + 1; "
                    f"UPDATE {quote(table.name)} SET {quote(column)} = (SELECT value FROM {ROWVERSION_SEQUENCE}) "
                    "WHERE rowid = NEW.rowid;")
        else:
            body = (f"UPDATE {quote(table.name)} SET {quote(column)} = strftime('%Y-%m-%d %H:%M:%f', 'now') "
                    "WHERE rowid = NEW.rowid;")
        for event in ("INSERT", "UPDATE"):
            conn.execute(sa.text(
                f"CREATE TRIGGER IF NOT EXISTS {name}_{event.lower()} AFTER {event} ON {quote(table.name)} "
                f"BEGIN {body} END"
            ))
    elif conn.dialect.name != "mssql":  # SQL Server keeps rowversion itself; modified-at is the product's
        raise NotImplementedError(f"emulating change stamps on {conn.dialect.name} is not supported")


class SqlEmulator:
    """A product database built from a profile; `start()` creates it and returns its URL.

    Duck-types the emulators' start/stop/base_url so the registry's Emulation can run it.
    """

    def __init__(self, profile: Profile, url: str, *, state_file: Path | None = None):
        # state_file: written when a session ends (stop), saying where the database is; the demo
        # takes its presence for "seeded before".
        self.state_file = state_file
        self.profile = profile
        self.url = url
        self.engine = sa.create_engine(url)
        self.metadata, self.tables = build_tables(profile)

    @property
    def base_url(self) -> str:
        return self.url

    def start(self) -> str:
        create_database(self.profile, self.engine)
        return self.url

    def stop(self) -> None:
        self.engine.dispose()
        if self.state_file is not None:
            self.state_file.write_text(json.dumps({"database": self.url}))

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Rows in the product's own shape (column names); returns their keys, in order."""
        target = self.metadata.tables[table]
        key = next(iter(target.primary_key.columns))
        keys = []
        with self.engine.begin() as conn:
            for row in rows:
                result = conn.execute(target.insert().values(dict(row)))
                keys.append(row.get(key.name, None) if key.name in row else result.inserted_primary_key[0])
        return keys

    def rows(self, table: str, **where: Any) -> list[dict[str, Any]]:
        target = self.metadata.tables[table]
        query = sa.select(target).where(*(target.c[k] == v for k, v in where.items()))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(*target.primary_key.columns)).mappings()]

    def execute(self, statement: sa.Executable) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement)
