"""The hub store: one SQLAlchemy database holding staging, golden and sync-state tables.

Every entity table is derived from ledgerbridge.model. SQLite (a file) is the embedded default;
PostgreSQL is used by giving a postgresql+psycopg:// URL. Text columns are unbounded on purpose:
staging must hold whatever a source sends (an over-long name is stored, then held back by the
quality gate); the model's max lengths live in the column schema metadata and the checks.
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

from ledgerbridge.model import ENTITIES, Entity, Kind

SIDES = ("crm", "erp")

COLUMN_TYPES: dict[Kind, Any] = {
    Kind.TEXT: sa.Text,
    Kind.INTEGER: sa.BigInteger,
    Kind.DECIMAL: lambda: sa.Numeric(18, 4, asdecimal=True),
    Kind.DATE: sa.Date,
    Kind.BOOLEAN: sa.Boolean,
    Kind.REFERENCE: sa.Text,
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def model_columns(entity: Entity) -> list[sa.Column]:
    return [
        sa.Column(f.name, COLUMN_TYPES[f.kind](), nullable=True, comment=f.description or None)
        for f in entity.fields
    ]


def staging_table_name(side: str, entity: str) -> str:
    return f"{side}_{entity}"


def hub_table_name(entity: str) -> str:
    return f"hub_{entity}"


def build_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    ts = lambda name, **kw: sa.Column(name, sa.DateTime(timezone=True), **kw)  # noqa: E731
    for entity in ENTITIES.values():
        for side in SIDES:
            sa.Table(
                staging_table_name(side, entity.name),
                metadata,
                sa.Column("remote_id", sa.Text, primary_key=True),
                *model_columns(entity),
                ts("remote_updated_at"),
                sa.Column("content_hash", sa.String(64), nullable=False),
                ts("pulled_at", nullable=False),
                # set when a complete pull no longer found the record (deleted in that system)
                ts("deleted_at"),
                comment=f"{entity.description} As last pulled from the {side.upper()}.",
            )
        sa.Table(
            hub_table_name(entity.name),
            metadata,
            sa.Column("hub_id", sa.String(32), primary_key=True),
            *model_columns(entity),
            ts("created_at", nullable=False),
            ts("updated_at", nullable=False),
            # the record was deleted in `deleted_in`; the delete is followed in the other system
            ts("deleted_at"),
            sa.Column("deleted_in", sa.String(40)),
            comment=f"{entity.description} Reconciled (golden) records.",
        )

    sa.Table(
        "id_map",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("hub_id", sa.String(32), primary_key=True),
        sa.Column("system", sa.String(40), primary_key=True),
        sa.Column("remote_id", sa.Text, nullable=False),
        ts("linked_at", nullable=False),
        sa.Column("linked_by", sa.String(40), nullable=False),  # how: created, number, vat, ...
        # set when a write found the record gone in that system: it is not written to again
        ts("gone_at"),
        sa.Column("gone_how", sa.String(20)),  # deleted | barred | anonymised | unlinked
        sa.UniqueConstraint("entity", "system", "remote_id", name="uq_id_map_remote"),
    )
    sa.Table(
        "shadows",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("hub_id", sa.String(32), primary_key=True),
        sa.Column("system", sa.String(40), primary_key=True),
        # What that system held after our last confirmed read or write of the record, in staging
        # form (references as that system's remote ids): the base of the three-way merge. A field
        # counts as changed in a system only where its value differs from this.
        sa.Column("shadow", sa.Text, nullable=False),
        sa.Column("shadow_hash", sa.String(64), nullable=False),  # content hash of `shadow`
        ts("updated_at", nullable=False),
        comment="Per record and system, the state last read from or written to it (three-way merge base).",
    )
    sa.Table(
        "sync_state",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("hub_id", sa.String(32), primary_key=True),
        sa.Column("system", sa.String(40), primary_key=True),
        # hash of the record as the system stored it after our write (its echo will match this)
        sa.Column("last_pushed_hash", sa.String(64)),
        # hash of the payload we sent (the same intent is never sent twice)
        sa.Column("last_sent_hash", sa.String(64)),
        # hash of a payload the system refused: not sent again until the record changes
        sa.Column("last_refused_hash", sa.String(64)),
        ts("last_pushed_at"),
        sa.Column("last_seen_hash", sa.String(64)),
        ts("last_seen_at"),
    )
    sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("hub_id", sa.String(32), nullable=False),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("operation", sa.String(10), nullable=False),  # create | update
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        # planned -> sent -> confirmed | retry (attempts, next_attempt_at) | failed (last_error says
        # why and what a person can do) | obsolete (superseded by a newer plan, or the record is gone)
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_error", sa.Text),
        sa.Column("remote_id", sa.Text),
        ts("created_at", nullable=False),
        ts("updated_at", nullable=False),
        ts("sent_at"),
        ts("next_attempt_at"),
        sa.Index("ix_outbox_open", "entity", "system", "status"),
    )
    sa.Table(
        "quarantine",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("record_key", sa.String(64), nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("field", sa.String(80), nullable=False),
        sa.Column("check_name", sa.String(120), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record_label", sa.Text),  # the record's name/number, so a person can find it
        # block: the record is held back; warn: it was sent without this field (None: block)
        sa.Column("severity", sa.String(10)),
        ts("first_seen", nullable=False),
        ts("last_seen", nullable=False),
        ts("resolved_at"),
        sa.UniqueConstraint("entity", "record_key", "target", "field", "check_name", name="uq_quarantine_finding"),
    )
    sa.Table(
        "conflicts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("hub_id", sa.String(32), nullable=False),
        sa.Column("field", sa.String(80), nullable=False),
        sa.Column("crm_value", sa.Text),
        sa.Column("erp_value", sa.Text),
        ts("crm_updated_at"),
        ts("erp_updated_at"),
        sa.Column("winner", sa.String(10), nullable=False),
        ts("detected_at", nullable=False),
    )
    sa.Table(
        "audit_log",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("hub_id", sa.String(32), nullable=False),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("operation", sa.String(10), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        ts("at", nullable=False),
    )
    sa.Table(
        "cursors",
        metadata,
        sa.Column("system", sa.String(40), primary_key=True),
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("cursor", sa.Text),
        ts("updated_at", nullable=False),
        # when the last pull that read everything changed since the cursor began (a create sent
        # before it and not found by it did not happen)
        ts("complete_pull_started_at"),
    )
    sa.Table(
        "inbox",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(40)),
        sa.Column("event", sa.String(80)),
        sa.Column("remote_id", sa.Text),
        sa.Column("payload", sa.Text),
        ts("received_at", nullable=False),
        sa.Column("event_key", sa.String(250), unique=True),  # system + sender's event id or body hash: replays are refused
    )
    sa.Table(
        "gate_blocks",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),  # the gate's sentence when it first blocked
        ts("blocked_at", nullable=False),
        ts("released_at"),
        sa.Column("released_by", sa.String(200)),  # a person (ledgerbridge gate release), or "data fixed"
        ts("applied_at"),  # a released mass delete was followed in this run (the release is used up)
        comment="Pushes the quality gate stopped: they stay stopped until the data is fixed or a person releases them.",
    )
    sa.Table(
        "notifications",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True, comment="Row number, given by the database"),
        sa.Column("kind", sa.String(30), nullable=False, comment="run_failure | check_failure"),
        sa.Column("about", sa.String(250), nullable=False, comment="What failed ('check plan/erp_debtors:quality_gate', 'job sync_debtors'): one open row each"),
        sa.Column("event_key", sa.String(250), nullable=False, unique=True, comment="The Dagster event that was told (each is told once) (the Dagster event told: once)"),
        sa.Column("severity", sa.String(10), nullable=False, comment="error | warn"),
        sa.Column("text", sa.Text, nullable=False, comment="The sentence sent (entity, system, counts: no record data)"),
        sa.Column("details", sa.Text, comment="JSON: counts and ids"),
        sa.Column("links", sa.Text, comment="JSON: label -> URL"),
        sa.Column("run_id", sa.String(64), comment="The failed run"),
        sa.Column("status", sa.String(10), nullable=False, comment="open | resolved"),
        ts("opened_at", nullable=False, comment="When it was first told"),
        ts("resolved_at", comment="When the run succeeded or the check passed again"),
        sa.Column("repeats", sa.Integer, nullable=False, server_default="0", comment="Failed again while open: not told again"),
        sa.Column("resolution", sa.Text, comment="The sentence sent when it passed or succeeded again"),
        sa.Column("delivery", sa.Text, nullable=False, comment="JSON: message -> channel -> sent | pending | failed ..."),
        sa.Index("ix_notifications_open", "status", "about"),
        comment="What the notifier sensors told people (run failures, failed checks, held-back records), open "
                "until the run succeeds or the check passes again; shown in the review console.",
    )
    sa.Table(
        "plan_queue",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("side", sa.String(3), primary_key=True),
        sa.Column("hub_id", sa.String(32), primary_key=True),
        ts("queued_at", nullable=False),
        comment="Records the plan towards a side must look at: changed by reconcile, filled by a create, decided "
                "in review, or waiting for a parent. The plan reads these, not the whole table.",
    )
    sa.Table(
        "erasures",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("hub_id", sa.String(32), nullable=False),
        # per system what was done there: "webcrm: anonymised; economic: deleted" (no personal data)
        sa.Column("systems", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),  # e.g. "Art. 17 request 2026-118", "deleted in webcrm"
        sa.Column("requested_by", sa.String(200), nullable=False),
        ts("erased_at", nullable=False),
        comment="Erased persons: when, which record (hub id), in which systems, why and by whom; never the data.",
    )
    sa.Table(
        "match_candidates",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("crm_remote_id", sa.Text, nullable=False),
        sa.Column("erp_remote_id", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text),
        sa.Column("status", sa.String(10), nullable=False),  # suggested | accepted | rejected
        ts("suggested_at", nullable=False),
        ts("decided_at"),
        sa.UniqueConstraint("entity", "crm_remote_id", "erp_remote_id", name="uq_match_candidate"),
    )
    sa.Table(
        "duplicate_candidates",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("remote_id_a", sa.Text, nullable=False),
        sa.Column("remote_id_b", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),  # open | dismissed
        ts("suggested_at", nullable=False),
        ts("decided_at"),
        sa.UniqueConstraint("entity", "system", "remote_id_a", "remote_id_b", name="uq_duplicate_candidate"),
        comment="Records that look like the same one twice within one system: to merge there.",
    )
    return metadata


METADATA = build_metadata()
T = METADATA.tables


def staging(side: str, entity: str) -> sa.Table:
    return T[staging_table_name(side, entity)]


def hub(entity: str) -> sa.Table:
    return T[hub_table_name(entity)]


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
