"""The one SQL connector (SQLAlchemy Core), driven by a profile: cobra, europa3000, Sage 50, ChannelCRM.

Reads: the entity's table (LEFT JOINed with its 1:1 extension tables), restricted to the profile's
`where`, in pages, by the profile's change strategy (changes.py). remote_id is the key column's
value as text; references hold the referenced entity's key.

Writes: each record in one transaction: the number drawn (numbers.py), the main row and its
extension rows written, the modified-at column stamped with the server's clock; a kill at any
point leaves either all of it or nothing. Values are fitted into their columns first (validate.py):
a record that does not fit is refused with RecordRejected naming the record, field and column, and
never reaches the driver. `append_only` entities (Sage 50's booking import) are only ever inserted:
the import is create-only, so a correction is a new voucher, not an update.

New identity keys come back through SQLAlchemy's inserted_primary_key: RETURNING on PostgreSQL and
SQLite; on SQL Server SCOPE_IDENTITY() by default, because an OUTPUT clause fails on tables with
triggers (common in products such as these); `output_clause: true` in the options switches to
OUTPUT inserted.<key>.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from ledgerbridge.connectors.base import (
    Chunk,
    ConnectorError,
    FieldLimits,
    OutcomeUnknown,
    RecordGone,
    RecordRejected,
    RemoteRecord,
    WriteGuard,
)
from ledgerbridge.systems.sql import changes, validate
from ledgerbridge.systems.sql.converters import adapt, model_values
from ledgerbridge.systems.sql.numbers import draw_number
from ledgerbridge.systems.sql.profile import Profile
from ledgerbridge.systems.sql.schema import EntityTables, build_tables

MAX_PAGE = 5000


class SqlConnector:
    def __init__(self, profile: Profile, url: str | sa.URL, *, snapshot_store: str | None = None,
                 output_clause: bool = False):
        self.profile = profile
        self.system = profile.system
        self.role = profile.role
        # No ping per checkout (a round trip per write); connections are renewed after 5 minutes,
        # and one dropped by the server fails one call, which the outbox retries.
        self.engine = sa.create_engine(url, pool_recycle=300)
        self.metadata, self.tables = build_tables(profile)
        if not output_clause:
            for tables in self.tables.values():
                tables.main.implicit_returning = self.engine.dialect.name != "mssql"
        self._snapshots = changes.SnapshotStore(snapshot_store) if snapshot_store else None
        self._selects: dict[str, sa.Select] = {}

    def __repr__(self) -> str:  # never the URL: it may carry a password
        return f"SqlConnector({self.system!r}, {self.engine.dialect.name})"

    # -- protocol --------------------------------------------------------------------------------

    def entities(self) -> tuple[str, ...]:
        return tuple(self.profile.entities)

    def limits(self, entity: str) -> FieldLimits:
        return validate.limits(self.profile, entity)

    def close(self) -> None:
        self.engine.dispose()
        if self._snapshots is not None:
            self._snapshots.dispose()

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        tables = self._tables(entity)
        size = max(1, min(chunk_size, MAX_PAGE))
        strategy = tables.profile.change.strategy
        if strategy == "rowversion":
            yield from self._iter_rowversion(entity, tables, cursor, size)
        elif strategy == "modified":
            yield from self._iter_modified(entity, tables, cursor, size)
        else:
            yield from self._iter_snapshot(entity, tables, cursor, size)

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None:
        tables = self._tables(entity)
        try:
            key = self._key_value(tables, remote_id)
        except ValueError:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(self._select(entity).where(tables.key == key)).mappings().first()
        return self._record(entity, row) if row else None

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        tables = self._tables(entity)
        column_name = tables.profile.number
        if not column_name:
            raise KeyError(f"{self.system}: {entity} have no number column in the profile")
        column = next(c for c in tables.profile.columns if c.column == column_name)
        try:
            value = adapt(column.sql_type, str(number).strip(), self.profile.codepage)
        except ValueError:
            return None  # no record can carry a number its column cannot hold
        with self.engine.connect() as conn:
            row = conn.execute(self._select(entity).where(tables.main.c[column_name] == value)).mappings().first()
        return self._record(entity, row) if row else None

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        tables = self._tables(entity)
        profile = tables.profile
        label = self._label(entity, values)
        if profile.write == "read_only":
            reason = "read-only in this profile (the product keeps them itself)"
            raise RecordRejected(f"{self.system}: create {entity} {label}: {reason}", field_errors={"(record)": reason})
        number_field = self._number_field(entity)
        rows, problems = validate.fitted_rows(self.profile, entity, values, create=True)
        number_column = next((c for c in profile.columns if c.column == profile.number), None)
        needs_number = number_column is not None and (number_column.required or profile.key.generated == "number")
        if needs_number and profile.numbering.must_be_given and not values.get(number_field):
            by = "the other system" if profile.numbering.strategy == "elsewhere" else f"{self.profile.label}'s users"
            problems[number_field] = f"{profile.number} is assigned by {by}, and none was given"
        if problems:
            raise RecordRejected(f"{self.system}: create {entity} " + validate.describe(label, problems),
                                 field_errors=problems)
        main = {**rows[profile.table], **profile.where}
        with self._transaction(f"create {entity} {label}", creating=True) as conn:
            if profile.numbering.drawn_here and main.get(profile.number) is None:
                drawn = draw_number(conn, tables)
                number_column = next(c for c in profile.columns if c.column == profile.number)
                main[profile.number] = str(drawn) if number_column.sql_type.is_text else drawn
            if profile.key.generated == "number":
                main[profile.key.column] = main[profile.number]
            elif profile.key.generated == "guid":
                main[profile.key.column] = str(uuid.uuid4()).upper()
            if profile.change.strategy == "modified":
                main[profile.change.column] = sa.func.current_timestamp()
            result = conn.execute(tables.main.insert().values(main))
            key = main.get(profile.key.column)
            if key is None:
                key = result.inserted_primary_key[0]
            for extension, table in zip(profile.extensions, tables.extensions):
                conn.execute(table.insert().values({extension.key: key, **rows[extension.table]}))
            # Read back as stored (padding, defaults), in the same transaction: no second checkout.
            row = conn.execute(self._select(entity).where(tables.key == key)).mappings().first()
        return self._record(entity, row)

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *,
               guard: WriteGuard | None = None) -> RemoteRecord:
        """Read the row under an update lock, let `guard` see it, write: all in one transaction, so
        nothing can change the row between the guard's look and the write."""
        tables = self._tables(entity)
        profile = tables.profile
        label = self._label(entity, values) or f"{entity} {remote_id}"
        if profile.write != "direct":
            reason = ("the booking import is create-only: a correction is booked as a new voucher"
                      if profile.write == "append_only" else "read-only in this profile (the product keeps them itself)")
            raise RecordRejected(f"{self.system}: update {entity} {remote_id}: {reason}", field_errors={"(record)": reason})
        try:
            key = self._key_value(tables, remote_id)
        except ValueError:
            raise RecordGone(f"{self.system}: update {entity} {remote_id}: no such key", status=404) from None
        with self._transaction(f"update {entity} {remote_id}") as conn:
            row = conn.execute(self._locked_row(entity, key)).mappings().first()
            if row is None:
                raise RecordGone(f"{self.system}: update {entity} {remote_id}: the record no longer exists", status=404)
            current = self._record(entity, row)
            if guard is not None:
                guard(current)
            # A column holding several fields is written whole: the parts not given keep their value.
            merged = dict(values)
            for _, column in profile.all_columns():
                if column.fields and any(f in values for f in column.fields):
                    merged.update({f: current.values.get(f) for f in column.fields if f not in values})
            if self._number_field(entity) and profile.key.generated == "number":
                merged.pop(self._number_field(entity), None)  # the number is the key: never rewritten
            rows, problems = validate.fitted_rows(self.profile, entity, merged, create=False)
            if problems:
                raise RecordRejected(f"{self.system}: update {entity} {remote_id} " + validate.describe(label, problems),
                                     field_errors=problems)
            main = rows[profile.table]
            if profile.change.strategy == "modified":
                main[profile.change.column] = sa.func.current_timestamp()
            if main:
                conn.execute(tables.main.update().where(tables.key == key).values(main))
            for extension, table in zip(profile.extensions, tables.extensions):
                row_values = rows[extension.table]
                if not row_values:
                    continue
                written = conn.execute(table.update().where(table.c[extension.key] == key).values(row_values)).rowcount
                if not written:
                    conn.execute(table.insert().values({extension.key: key, **row_values}))
            stored = conn.execute(self._select(entity).where(tables.key == key)).mappings().first()
        return self._record(entity, stored)

    @contextmanager
    def _transaction(self, what: str, *, creating: bool = False) -> Iterator[sa.Connection]:
        """One transaction; database errors become the connector's errors, naming the write.

        A failure before COMMIT leaves nothing behind (rolled back): retrying is safe. A failure
        during COMMIT leaves the outcome unknown: a create is looked up before it is sent again.
        """
        committing = False
        try:
            with self.engine.connect() as conn:
                transaction = conn.begin()
                try:
                    yield conn
                except BaseException:
                    transaction.rollback()
                    raise
                committing = True
                transaction.commit()
        except sa.exc.IntegrityError as exc:
            detail = _first_line(exc.orig)
            raise RecordRejected(f"{self.system}: {what}: the database refused it ({detail})",
                                 field_errors={"(record)": detail}) from None
        except sa.exc.DBAPIError as exc:
            detail = _first_line(exc.orig)
            if committing and creating:
                raise OutcomeUnknown(f"{self.system}: {what}: the commit's outcome is unknown ({detail})") from None
            raise ConnectorError(f"{self.system}: {what}: {detail}") from None

    # -- change probe --------------------------------------------------------------------------

    def probe(self, entity: str, cursor: str | None) -> str | None:
        """One aggregate query: a marker of the newest change after `cursor`, or None."""
        tables = self._tables(entity)
        strategy = tables.profile.change.strategy
        with self.engine.connect() as conn:
            if strategy == "rowversion":
                query = sa.select(sa.func.max(tables.change_column)).where(*self._where(tables))
                active = changes.below_active_rowversion(conn, tables.change_column)
                if active is not None:
                    query = query.where(active)
                newest = conn.execute(query).scalar()
                after = changes.parse_rowversion(cursor) or 0
                return f"rv:{newest}" if newest is not None and newest > after else None
            if strategy == "modified":
                newest = conn.execute(sa.select(sa.func.max(tables.change_column)).where(*self._where(tables))).scalar()
                after = changes.parse_modified(cursor)
                if newest is None or (after is not None and newest <= after[0]):
                    return None
                return changes.modified_cursor(newest, "")
            current = changes.fingerprint(conn, tables, self._where_clause(tables))
        return None if changes.parse_snapshot(cursor) == current else f"snap:{current}"

    # -- reading ---------------------------------------------------------------------------------

    def _iter_rowversion(self, entity: str, tables: EntityTables, cursor: str | None, size: int) -> Iterator[Chunk]:
        after = changes.parse_rowversion(cursor) or 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(self._rowversion_page(entity, after, size, conn.dialect.name)).mappings().all()
            if not rows:
                return
            after = rows[-1]["__change"]
            yield Chunk([self._record(entity, r) for r in rows], f"rv:{after}")
            if len(rows) < size:
                return

    def _iter_modified(self, entity: str, tables: EntityTables, cursor: str | None, size: int) -> Iterator[Chunk]:
        """Keyset pages over (modified, key), plain columns so an index on modified serves them. A
        full read (no cursor) first takes the rows the product never stamped; incremental reads
        cannot see those (the nightly full pull does)."""
        after = changes.parse_modified(cursor)
        if after is None:
            yield from self._iter_unstamped(entity, tables, size)
        overlap = tables.profile.change.overlap_seconds
        stamp = tables.change_column
        key_of = lambda text: self._key_value(tables, text)  # noqa: E731
        while True:
            query = self._select(entity).where(stamp.is_not(None)).order_by(stamp, tables.key).limit(size)
            condition = changes.modified_after(tables, after, key_of, overlap)
            overlap = 0  # only the first page reaches back
            if condition is not None:
                query = query.where(condition)
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            last = rows[-1]
            after = (last["__change"], str(last["__key"]))
            yield Chunk([self._record(entity, r) for r in rows], changes.modified_cursor(*after))
            if len(rows) < size:
                return

    def _iter_unstamped(self, entity: str, tables: EntityTables, size: int) -> Iterator[Chunk]:
        last = None
        while True:
            query = self._select(entity).where(tables.change_column.is_(None)).order_by(tables.key).limit(size)
            if last is not None:
                query = query.where(tables.key > last)
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            if rows:
                yield Chunk([self._record(entity, r) for r in rows], None)
            if len(rows) < size:
                return
            last = rows[-1]["__key"]

    def _iter_snapshot(self, entity: str, tables: EntityTables, cursor: str | None, size: int) -> Iterator[Chunk]:
        if self._snapshots is None:
            raise ConnectorError(
                f"{self.system}: {entity} have no change column, so changes are found by comparing row hashes; "
                "set the option snapshot_store (a database URL) where those hashes are kept"
            )
        with self.engine.connect() as conn:
            current = changes.fingerprint(conn, tables, self._where_clause(tables))
        known = self._snapshots.hashes(self.system, entity) if cursor else None
        columns = [c for c in self._select(entity).selected_columns if c.key not in ("__key", "__change")]

        def rows() -> Iterator[tuple[str, tuple[Any, ...], Any]]:
            last = None
            while True:
                query = self._select(entity).order_by(tables.key).limit(MAX_PAGE)
                if last is not None:
                    query = query.where(tables.key > last)
                with self.engine.connect() as conn:
                    page = conn.execute(query).mappings().all()
                for row in page:
                    yield str(row["__key"]), tuple(row[c.key] for c in columns), row
                if len(page) < MAX_PAGE:
                    return
                last = page[-1]["__key"]

        def save(hashes: dict[str, str]) -> None:
            self._snapshots.save(self.system, entity, hashes)

        for group, is_last in changes.iter_snapshot_changes(rows(), known, size, save):
            if group or is_last:
                yield Chunk([self._record(entity, r) for r in group], f"snap:{current}" if is_last else None)

    def _select(self, entity: str) -> sa.Select:
        if entity not in self._selects:
            tables = self._tables(entity)
            profile = tables.profile
            selected = [tables.key.label("__key")]
            if tables.change_column is not None:
                selected.append(tables.change_column.label("__change"))
            joined = tables.main
            for extension, table in zip(profile.extensions, tables.extensions):
                joined = joined.outerjoin(table, table.c[extension.key] == tables.key)
            for table_name, column in profile.all_columns():
                selected.append(tables.table_of(table_name).c[column.column].label(f"{table_name}__{column.column}"))
            self._selects[entity] = sa.select(*selected).select_from(joined).where(*self._where(tables))
        return self._selects[entity]

    def _locked_row(self, entity: str, key: Any) -> sa.Select:
        """The row, locked for update until commit (PostgreSQL FOR UPDATE, SQL Server UPDLOCK)."""
        tables = self._tables(entity)
        return (self._select(entity).where(tables.key == key).with_for_update(of=tables.main)
                .with_hint(tables.main, "WITH (UPDLOCK, ROWLOCK)", "mssql"))

    def _rowversion_page(self, entity: str, after: int, size: int, dialect_name: str) -> sa.Select:
        tables = self._tables(entity)
        column = tables.change_column
        query = self._select(entity).where(column > after).order_by(column).limit(size)
        if dialect_name == "mssql":  # see changes.py: rows of open transactions are not skipped
            query = query.where(column < sa.func.MIN_ACTIVE_ROWVERSION())
        return query

    def _where(self, tables: EntityTables) -> list[sa.ColumnElement[bool]]:
        return [tables.main.c[column] == value for column, value in tables.profile.where.items()]

    def _where_clause(self, tables: EntityTables) -> sa.ColumnElement[bool] | None:
        where = self._where(tables)
        return sa.and_(*where) if where else None

    def _record(self, entity: str, row: Any) -> RemoteRecord:
        profile = self.profile.entity(entity)
        values: dict[str, Any] = {}
        for table_name, column in profile.all_columns():
            values.update(model_values(column, row[f"{table_name}__{column.column}"]))
        changed = row.get("__change") if profile.change.strategy == "modified" else None
        if isinstance(changed, datetime) and changed.tzinfo is None:
            changed = changed.replace(tzinfo=timezone.utc)
        return RemoteRecord(str(row["__key"]).strip(), values, changed)

    def _tables(self, entity: str) -> EntityTables:
        try:
            return self.tables[entity]
        except KeyError:
            raise KeyError(f"{self.system}: the profile maps no {entity} (it maps {', '.join(self.tables)})") from None

    def _key_value(self, tables: EntityTables, remote_id: str) -> Any:
        if tables.profile.key.sql_type.is_text:
            return str(remote_id)
        return int(str(remote_id).strip())

    def _number_field(self, entity: str) -> str | None:
        profile = self.profile.entity(entity)
        if not profile.number:
            return None
        column = next(c for c in profile.columns if c.column == profile.number)
        return column.field

    def _label(self, entity: str, values: dict[str, Any]) -> str:
        number = self._number_field(entity)
        parts = [str(values[f]) for f in (number, "name") if f and values.get(f)]
        label = " ".join(parts)
        return (label[:60] + "...") if len(label) > 60 else label or "(new record)"


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else "no detail"
