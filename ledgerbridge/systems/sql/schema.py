"""SQLAlchemy Core tables built from a profile: what the connector reads and writes, and what the
emulator creates. On SQL Server the types are SQL Server's own (NVARCHAR, DECIMAL, BIT, ROWVERSION,
IDENTITY keys); elsewhere their nearest equivalents, with a rowversion kept as a BIGINT that the
emulator's triggers advance on every insert and update."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.types import TypeDecorator

from ledgerbridge.systems.sql.profile import Column, ColumnType, EntityProfile, Profile


class RowVersion(TypeDecorator):
    """SQL Server's rowversion (8 bytes, database-wide, grows on every write) as an int everywhere."""

    impl = sa.BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "mssql":
            return dialect.type_descriptor(mssql.ROWVERSION())
        return dialect.type_descriptor(sa.BigInteger())

    def process_bind_param(self, value, dialect):
        if dialect.name == "mssql" and isinstance(value, int):
            return value.to_bytes(8, "big")
        return value

    def process_result_value(self, value, dialect):
        if isinstance(value, (bytes, bytearray)):
            return int.from_bytes(value, "big")
        return value


def sql_type(column_type: ColumnType) -> sa.types.TypeEngine:
    name, length = column_type.name, column_type.length
    if name == "nvarchar":
        return sa.Unicode(length).with_variant(mssql.NVARCHAR(length), "mssql")
    if name == "varchar":
        return sa.String(length).with_variant(mssql.VARCHAR(length), "mssql")
    if name == "nchar":
        return sa.NCHAR(length)
    if name == "char":
        return sa.CHAR(length)
    if name == "int":
        return sa.Integer()
    if name == "bigint":
        return sa.BigInteger()
    if name == "smallint":
        return sa.SmallInteger()
    if name == "decimal":
        return sa.Numeric(column_type.precision, column_type.scale, asdecimal=True)
    if name == "date":
        return sa.Date()
    if name == "datetime":
        return sa.DateTime().with_variant(mssql.DATETIME(), "mssql")
    if name == "datetime2":
        return sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")
    if name == "bit":
        return sa.Boolean().with_variant(mssql.BIT(), "mssql")
    if name == "rowversion":
        return RowVersion()
    raise ValueError(f"unknown column type {column_type}")


def _column(column: Column) -> sa.Column:
    return sa.Column(column.column, sql_type(column.sql_type), nullable=not column.required)


class EntityTables:
    """The tables of one profile entity: the main table, its 1:1 extensions, the counter table."""

    def __init__(self, metadata: sa.MetaData, entity: EntityProfile):
        self.profile = entity
        key_type = entity.key.sql_type
        identity = entity.key.generated == "identity"
        columns = [
            sa.Column(entity.key.column, sql_type(key_type), primary_key=True, autoincrement=identity),
            *(_column(c) for c in entity.columns if c.column != entity.key.column),
        ]
        names = {c.name for c in columns}
        for where_column, value in entity.where.items():
            if where_column not in names:
                columns.append(sa.Column(where_column, sa.Integer() if isinstance(value, int) else sa.String(50)))
                names.add(where_column)
        change = entity.change
        if change.column and change.column not in names:
            change_type = RowVersion() if change.strategy == "rowversion" else sa.DateTime()
            columns.append(sa.Column(change.column, change_type, nullable=True))
        self.main = _table(metadata, entity.table, columns)
        # What probes, incremental reads and number lookups filter on (the check reports a missing one).
        for indexed in (change.column, entity.number):
            name = f"ix_{entity.table}_{indexed}".lower()
            if indexed and indexed != entity.key.column and name not in {i.name for i in self.main.indexes}:
                sa.Index(name, self.main.c[indexed])
        for unique in entity.unique:
            self.main.append_constraint(sa.UniqueConstraint(*unique, name=f"uq_{entity.table}_{'_'.join(unique)}".lower()))
        self.extensions = [
            _table(
                metadata,
                extension.table,
                [sa.Column(extension.key, sql_type(key_type), primary_key=True, autoincrement=False),
                 *(_column(c) for c in extension.columns)],
            )
            for extension in entity.extensions
        ]
        numbering = entity.numbering
        self.counter = None
        if numbering.strategy == "counter":
            self.counter = _table(
                metadata,
                numbering.counter_table,
                [sa.Column(numbering.counter_name_column, sa.String(50), primary_key=True),
                 sa.Column(numbering.counter_value_column, sa.Integer(), nullable=False)],
            )

    @property
    def key(self) -> sa.Column:
        return self.main.c[self.profile.key.column]

    @property
    def change_column(self) -> sa.Column | None:
        column = self.profile.change.column
        return self.main.c[column] if column else None

    def table_of(self, name: str) -> sa.Table:
        for table in (self.main, *self.extensions):
            if table.name == name:
                return table
        raise KeyError(name)


def _table(metadata: sa.MetaData, name: str, columns: list[sa.Column]) -> sa.Table:
    """A table; several entities may share one (invoice headers and lines in one booking table)."""
    if name in metadata.tables:
        table = metadata.tables[name]
        for column in columns:
            if column.name not in table.c:
                table.append_column(column)
        return table
    return sa.Table(name, metadata, *columns)


def build_tables(profile: Profile) -> tuple[sa.MetaData, dict[str, EntityTables]]:
    """The profile's tables on one MetaData, per entity."""
    metadata = sa.MetaData()
    return metadata, {name: EntityTables(metadata, entity) for name, entity in profile.entities.items()}
