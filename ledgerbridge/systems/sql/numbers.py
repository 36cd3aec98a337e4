"""Drawing a new business number inside the INSERT's transaction (profile `numbering`).

counter: the product's counter row is advanced with UPDATE first, which takes its row lock until
commit on every database, then read; two writers cannot draw the same number, and a rolled-back
INSERT gives its number back.
max_plus_one: MAX(number) + 1, read under a lock held to commit: SQL Server WITH (UPDLOCK, HOLDLOCK)
(a key-range lock other writers wait on), PostgreSQL LOCK TABLE ... SHARE ROW EXCLUSIVE; the
embedded SQLite serialises writers by itself.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.systems.sql.schema import EntityTables


class NumberNotDrawn(Exception):
    pass


def draw_number(conn: sa.Connection, tables: EntityTables) -> int:
    numbering = tables.profile.numbering
    if numbering.strategy == "counter":
        return _from_counter(conn, tables)
    if numbering.strategy == "max_plus_one":
        return _max_plus_one(conn, tables)
    raise NumberNotDrawn(f"numbering {numbering.strategy!r} draws no number here")


def _from_counter(conn: sa.Connection, tables: EntityTables) -> int:
    numbering, counter = tables.profile.numbering, tables.counter
    name = counter.c[numbering.counter_name_column]
    value = counter.c[numbering.counter_value_column]
    advanced = conn.execute(
        counter.update().where(name == numbering.counter_name).values({value: value + 1})
    ).rowcount
    if not advanced:
        conn.execute(counter.insert().values({name: numbering.counter_name, value: numbering.start}))
        return numbering.start
    return int(conn.execute(sa.select(value).where(name == numbering.counter_name)).scalar_one())


def _max_plus_one(conn: sa.Connection, tables: EntityTables) -> int:
    profile = tables.profile
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"LOCK TABLE {conn.dialect.identifier_preparer.format_table(tables.main)} IN SHARE ROW EXCLUSIVE MODE"))
    highest = conn.execute(highest_number_query(tables)).scalar()
    return profile.numbering.start if highest is None else max(int(highest) + 1, profile.numbering.start)


def highest_number_query(tables: EntityTables) -> sa.Select:
    """MAX(number), locked on SQL Server until commit (a key-range lock other writers wait on)."""
    profile = tables.profile
    column = tables.main.c[profile.number]
    numeric = column if not isinstance(column.type, sa.String) else sa.cast(column, sa.BigInteger)
    query = sa.select(sa.func.max(numeric)).with_hint(tables.main, "WITH (UPDLOCK, HOLDLOCK)", "mssql")
    for where_column, value in profile.where.items():
        query = query.where(tables.main.c[where_column] == value)
    return query
