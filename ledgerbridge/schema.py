"""The hub's tables: staging (crm_*, erp_*) and golden (hub_*) tables per entity, derived from
ledgerbridge.model, and the sync-state tables, as one SQLAlchemy MetaData with a comment on every
table and column (the data dictionary and the Dagster column schemas read them).

Text columns are unbounded on purpose: staging must hold whatever a source sends (an over-long name
is stored, then held back by the quality gate); the model's max lengths live in the column schema
metadata and the checks. ledgerbridge.store creates them; ledgerbridge.analytics builds views on them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledgerbridge.model import ENTITIES, Entity, Field, Kind

SIDES = ("crm", "erp")

COLUMN_TYPES: dict[Kind, Any] = {
    Kind.TEXT: sa.Text,
    Kind.INTEGER: sa.BigInteger,
    Kind.DECIMAL: lambda: sa.Numeric(18, 4, asdecimal=True),
    Kind.DATE: sa.Date,
    Kind.BOOLEAN: sa.Boolean,
    Kind.REFERENCE: sa.Text,
}


def model_columns(entity: Entity, *, golden: bool = False) -> list[sa.Column]:
    """The entity's fields as columns; in a golden (hub_*) table a reference is a foreign key to the
    referenced entity's golden table (staging tables hold that system's remote ids instead)."""
    return [
        sa.Column(f.name, COLUMN_TYPES[f.kind](), *_foreign_key(entity, f, golden), nullable=True,
                  comment=f.description or None)
        for f in entity.fields
    ]


def _foreign_key(entity: Entity, field: Field, golden: bool) -> tuple[sa.ForeignKey, ...]:
    # RESTRICT: a golden record others point at is never deleted. An erasure keeps it as an anonymous
    # tombstone (ledgerbridge.sync.erasure), a review merge points the children at the kept record
    # first (ledgerbridge.sync.review): SET NULL would push a cleared customer to the other system,
    # CASCADE would drop invoices from the hub while their shadows say nothing changed.
    if not golden or field.kind is not Kind.REFERENCE or field.reference not in ENTITIES:
        return ()
    return (sa.ForeignKey(f"{hub_table_name(field.reference)}.hub_id", ondelete="RESTRICT",
                          name=foreign_key_name(entity.name, field.name)),)


def foreign_key_name(entity: str, field: str) -> str:
    return f"fk_{hub_table_name(entity)}_{field}"


def reference_index_name(entity: str, field: str) -> str:
    return f"ix_{hub_table_name(entity)}_{field}"


def staging_table_name(side: str, entity: str) -> str:
    return f"{side}_{entity}"


def hub_table_name(entity: str) -> str:
    return f"hub_{entity}"


def _unreconciled_clause() -> sa.TextClause:
    """Staging rows that differ from their shadow (or have none): what the next reconcile reads
    (reconcile's query carries the same condition, so both databases use the partial index)."""
    return sa.text(UNRECONCILED)


# NULL where the row has no shadow yet (the portable spelling of "is distinct from")
UNRECONCILED = "(reconciled_hash IS NULL OR reconciled_hash <> content_hash)"


# Columns many sync tables share, declared once (a Column belongs to one table: hence functions).
def row_number() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True, comment="Row number, given by the database")


def run_id_column() -> sa.Column:
    return sa.Column("run_id", sa.String(64), comment="The Dagster run (or CLI run) that wrote the row")


def entity_column() -> sa.Column:
    return sa.Column("entity", sa.String(40), nullable=False, comment="The entity (debtors, invoices, ...) the row is about")


def hub_id_column() -> sa.Column:
    return sa.Column("hub_id", sa.String(32), nullable=False, comment="The golden record's hub id (hub_<entity>.hub_id)")


def system_column() -> sa.Column:
    return sa.Column("system", sa.String(40), nullable=False, comment="The external system (webcrm, economic, ...)")


def build_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    ts = lambda name, **kw: sa.Column(name, sa.DateTime(timezone=True), **kw)  # noqa: E731
    for entity in ENTITIES.values():
        for side in SIDES:
            sa.Table(
                staging_table_name(side, entity.name),
                metadata,
                sa.Column("remote_id", sa.Text, primary_key=True, comment="The record's own id in the system it was pulled from"),
                *model_columns(entity),
                ts("remote_updated_at", comment="When the system last changed the record (its own change stamp), if it tells"),
                sa.Column("content_hash", sa.String(64), nullable=False, comment="Hash of the mapped fields: a changed record has a new hash (diffing and echo suppression)"),
                ts("pulled_at", nullable=False, comment="When the record was last pulled"),
                ts("deleted_at", comment="Set when a complete pull no longer found the record (deleted in that system)"),
                sa.Column("reconciled_hash", sa.String(64), comment="The hash of the record's shadow (what the system held "
                          "after our last confirmed read or write), kept beside content_hash: where they differ, "
                          "the next reconcile reads the row"),
                # Reconcile finds the rows to read through these, not by reading the whole table.
                sa.Index(f"ix_{staging_table_name(side, entity.name)}_unreconciled", "remote_id",
                         sqlite_where=_unreconciled_clause(), postgresql_where=_unreconciled_clause()),
                sa.Index(f"ix_{staging_table_name(side, entity.name)}_deleted", "remote_id",
                         sqlite_where=sa.text("deleted_at IS NOT NULL"), postgresql_where=sa.text("deleted_at IS NOT NULL")),
                comment=f"{entity.description} As last pulled from the {side.upper()}.",
            )
        sa.Table(
            hub_table_name(entity.name),
            metadata,
            sa.Column("hub_id", sa.String(32), primary_key=True, comment="The hub's own id of the golden record: what references between hub tables hold"),
            *model_columns(entity, golden=True),
            ts("created_at", nullable=False, comment="When the hub first saw the record"),
            ts("updated_at", nullable=False, comment="When a value of the golden record last changed"),
            ts("deleted_at", comment="When the record was found deleted in one system (deleted_in says which); the delete is followed in the other (the record was deleted in `deleted_in`; the delete is followed in the other system)"),
            sa.Column("deleted_in", sa.String(40), comment="The side (crm or erp) the record was deleted in, or 'erased' for a tombstone kept for the records that point at an erased one"),
            # joins from the referenced record (a debtor's invoices) read an index, not the table
            *(sa.Index(reference_index_name(entity.name, ref.name), ref.name) for ref in entity.references),
            comment=f"{entity.description} Reconciled (golden) records.",
        )

    sa.Table(
        "id_map",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True, comment="The entity (debtors, invoices, ...) the row is about"),
        sa.Column("hub_id", sa.String(32), primary_key=True, comment="The golden record's hub id (hub_<entity>.hub_id)"),
        sa.Column("system", sa.String(40), primary_key=True, comment="The external system (webcrm, economic, ...)"),
        sa.Column("remote_id", sa.Text, nullable=False, comment="The record's own id in that system"),
        ts("linked_at", nullable=False, comment="When the hub record was linked to that system's record"),
        sa.Column("linked_by", sa.String(40), nullable=False, comment="How: created, number, vat, ..."),
        ts("gone_at", comment="Set when a write found the record gone in that system: it is not written to again"),
        sa.Column("gone_how", sa.String(20), comment="deleted | barred | anonymised | unlinked"),
        sa.UniqueConstraint("entity", "system", "remote_id", name="uq_id_map_remote"),
        comment="The hub id of every record and its own id in each system it is linked in (unique per system and remote id).",
    )
    sa.Table(
        "shadows",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True, comment="The entity (debtors, invoices, ...) the row is about"),
        sa.Column("hub_id", sa.String(32), primary_key=True, comment="The golden record's hub id (hub_<entity>.hub_id)"),
        sa.Column("system", sa.String(40), primary_key=True, comment="The external system (webcrm, economic, ...)"),
        sa.Column("shadow", sa.Text, nullable=False, comment="What that system held after our last confirmed read or write of the record, in staging form (references as that system's remote ids): the base of the three-way merge. A field counts as changed in a system only where its value differs from this."),
        sa.Column("shadow_hash", sa.String(64), nullable=False, comment="Content hash of `shadow`"),
        ts("updated_at", nullable=False, comment="When the shadow was last written"),
        comment="Per record and system, the state last read from or written to it (three-way merge base).",
    )
    sa.Table(
        "sync_state",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True, comment="The entity (debtors, invoices, ...) the row is about"),
        sa.Column("hub_id", sa.String(32), primary_key=True, comment="The golden record's hub id (hub_<entity>.hub_id)"),
        sa.Column("system", sa.String(40), primary_key=True, comment="The external system (webcrm, economic, ...)"),
        sa.Column("last_pushed_hash", sa.String(64), comment="Hash of the record as the system stored it after our write (its echo will match this)"),
        sa.Column("last_sent_hash", sa.String(64), comment="Hash of the payload we sent (the same intent is never sent twice)"),
        sa.Column("last_refused_hash", sa.String(64), comment="Hash of a payload the system refused: not sent again until the record changes"),
        ts("last_pushed_at", comment="When the hub last wrote the record to that system"),
        sa.Column("last_seen_hash", sa.String(64), comment="Hash of the record as last pulled from that system"),
        ts("last_seen_at", comment="When the record was last pulled from that system"),
        comment="Per record and system, the hashes of what was last written, sent, refused and seen (echo suppression, no write twice).",
    )
    sa.Table(
        "outbox",
        metadata,
        row_number(),
        run_id_column(),
        entity_column(),
        hub_id_column(),
        system_column(),
        sa.Column("operation", sa.String(10), nullable=False, comment="create | update"),
        sa.Column("payload", sa.Text, nullable=False, comment="The values to write, as JSON in that system's terms (pruned after the retention period)"),
        sa.Column("payload_hash", sa.String(64), nullable=False, comment="Hash of the payload: the same intent is never written twice"),
        sa.Column("status", sa.String(10), nullable=False, comment="planned -> sent -> confirmed | retry (attempts, next_attempt_at) | failed (last_error says why and what a person can do) | obsolete (superseded by a newer plan, or the record is gone)"),
        sa.Column("attempts", sa.Integer, nullable=False, default=0, comment="Times the write was sent"),
        sa.Column("last_error", sa.Text, comment="Why the last attempt failed, and what a person can do"),
        sa.Column("remote_id", sa.Text, comment="The record's id in that system (known for an update, filled in after a create)"),
        ts("created_at", nullable=False, comment="When the write was planned"),
        ts("updated_at", nullable=False, comment="When its status last changed"),
        ts("sent_at", comment="When it was last sent"),
        ts("next_attempt_at", comment="When a write to retry is due again"),
        sa.Index("ix_outbox_open", "entity", "system", "status"),
        comment="Every intended write to a system, recorded before it is sent: planned -> sent -> confirmed | retry | failed | obsolete.",
    )
    sa.Table(
        "quarantine",
        metadata,
        row_number(),
        entity_column(),
        sa.Column("record_key", sa.String(64), nullable=False, comment="The hub id of the record held back or warned about"),
        sa.Column("target", sa.String(40), nullable=False, comment="The system the record was to be written to"),
        sa.Column("field", sa.String(80), nullable=False, comment="The field that failed the check"),
        sa.Column("check_name", sa.String(120), nullable=False, comment="The check that failed (expectation or domain validator)"),
        sa.Column("value", sa.Text, comment="The offending value"),
        sa.Column("reason", sa.Text, nullable=False, comment="Why, in a sentence a person can act on"),
        sa.Column("record_label", sa.Text, comment="The record's name/number, so a person can find it"),
        sa.Column("severity", sa.String(10), comment="Block: the record is held back; warn: it was sent without this field (None: block)"),
        ts("first_seen", nullable=False, comment="When the finding was first made"),
        ts("last_seen", nullable=False, comment="When a run last found it"),
        ts("resolved_at", comment="When the source was fixed (the record passed); NULL while it is open"),
        sa.UniqueConstraint("entity", "record_key", "target", "field", "check_name", name="uq_quarantine_finding"),
        comment="Findings of the quality checks: records held back (block) or sent without a field (warn), until the source is fixed.",
    )
    sa.Table(
        "conflicts",
        metadata,
        row_number(),
        run_id_column(),
        entity_column(),
        hub_id_column(),
        sa.Column("field", sa.String(80), nullable=False, comment="The field both systems changed since the last sync"),
        sa.Column("crm_value", sa.Text, comment="The CRM's new value"),
        sa.Column("erp_value", sa.Text, comment="The ERP's new value"),
        ts("crm_updated_at", comment="When the CRM changed the record"),
        ts("erp_updated_at", comment="When the ERP changed the record"),
        sa.Column("winner", sa.String(10), nullable=False, comment="The side whose value was kept (the field's owner, or the newer change)"),
        ts("detected_at", nullable=False, comment="When reconcile found the conflict"),
        comment="Fields both systems changed since the last sync, both values, and which side won.",
    )
    sa.Table(
        "audit_log",
        metadata,
        row_number(),
        run_id_column(),
        entity_column(),
        hub_id_column(),
        system_column(),
        sa.Column("operation", sa.String(10), nullable=False, comment="What was done: create, update, delete, bar, ..."),
        sa.Column("before", sa.Text, comment="The record's values in that system before the write, as JSON"),
        sa.Column("after", sa.Text, comment="The values written, as JSON"),
        ts("at", nullable=False, comment="When the write was made"),
        comment="Every write to a system, with the values before and after (pruned after the retention period).",
    )
    sa.Table(
        "cursors",
        metadata,
        sa.Column("system", sa.String(40), primary_key=True, comment="The external system (webcrm, economic, ...)"),
        sa.Column("entity", sa.String(40), primary_key=True, comment="The entity (debtors, invoices, ...) the row is about"),
        sa.Column("cursor", sa.Text, comment="Where the next incremental pull of the entity from the system starts"),
        ts("updated_at", nullable=False, comment="When the cursor last moved"),
        ts("complete_pull_started_at", comment="When the last pull that read everything changed since the cursor began (a create sent before it and not found by it did not happen)"),
        comment="Where each incremental pull of an entity from a system resumes.",
    )
    sa.Table(
        "inbox",
        metadata,
        row_number(),
        system_column(),
        sa.Column("entity", sa.String(40), comment="The entity the event is about, where the system says"),
        sa.Column("event", sa.String(80), comment="The event's type as the system names it"),
        sa.Column("remote_id", sa.Text, comment="The id, in that system, of the record the event is about"),
        sa.Column("payload", sa.Text, comment="The event's body (pruned after the retention period)"),
        ts("received_at", nullable=False, comment="When the webhook receiver took the event in"),
        sa.Column("event_key", sa.String(250), unique=True, comment="System + sender's event id or body hash: replays are refused"),
        ts("applied_at", comment="When a sync of the event's entity that began after the event arrived completed "
                                 "(the warm worker's burst); empty: still to apply"),
        sa.Column("applied_by", sa.String(80), comment="The burst that applied the event, or why it was passed over"),
        comment="Webhook events received, read by the sensors by id (bodies pruned after the retention period).",
    )
    sa.Table(
        "entity_leases",
        metadata,
        sa.Column("entity", sa.String(40), primary_key=True, comment="The entity synced"),
        sa.Column("holder", sa.String(120), comment="Who syncs it now: a Dagster run or a warm worker's burst; empty: free"),
        ts("acquired_at", comment="When the holder took it"),
        ts("expires_at", comment="Renewed while held; a holder that died loses the lease when this passes"),
        comment="Who syncs an entity now: one holder at a time, so two runs or workers never push the same entity at once.",
    )
    sa.Table(
        "gate_blocks",
        metadata,
        row_number(),
        entity_column(),
        system_column(),
        sa.Column("reason", sa.Text, nullable=False, comment="The gate's sentence when it first blocked"),
        ts("blocked_at", nullable=False, comment="When the gate stopped the push"),
        ts("released_at", comment="When the stop was lifted; NULL while it holds"),
        sa.Column("released_by", sa.String(200), comment="A person (ledgerbridge gate release), or 'data fixed'"),
        ts("applied_at", comment="When a released mass delete was followed (the release is used up then)"),
        comment="Pushes the quality gate stopped: they stay stopped until the data is fixed or a person releases them.",
    )
    sa.Table(
        "notifications",
        metadata,
        row_number(),
        sa.Column("kind", sa.String(30), nullable=False, comment="run_failure | check_failure"),
        sa.Column("about", sa.String(250), nullable=False, comment="What failed ('check plan/erp_debtors:quality_gate', 'job sync_debtors'): one open row each"),
        sa.Column("event_key", sa.String(250), nullable=False, unique=True, comment="The Dagster event that was told (each is told once)"),
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
        sa.Column("entity", sa.String(40), primary_key=True, comment="The entity (debtors, invoices, ...) the row is about"),
        sa.Column("side", sa.String(3), primary_key=True, comment="The side (crm or erp) the record may have to be written to"),
        sa.Column("hub_id", sa.String(32), primary_key=True, comment="The golden record's hub id (hub_<entity>.hub_id)"),
        ts("queued_at", nullable=False, comment="When the record was queued"),
        comment="Records the plan towards a side must look at: changed by reconcile, filled by a create, decided "
                "in review, or waiting for a parent. The plan reads these, not the whole table.",
    )
    sa.Table(
        "erasures",
        metadata,
        row_number(),
        entity_column(),
        hub_id_column(),
        sa.Column("systems", sa.Text, nullable=False, comment="Per system what was done there: 'webcrm: anonymised; economic: deleted' (no personal data)"),
        sa.Column("reason", sa.Text, nullable=False, comment="Why the record was erased (e.g. 'Art. 17 request 2026-118', 'deleted in webcrm')"),
        sa.Column("requested_by", sa.String(200), nullable=False, comment="Who asked for it (a person, or 'ledgerbridge sync' for a delete at the source)"),
        ts("erased_at", nullable=False, comment="When the record was erased"),
        comment="Erased persons: when, which record (hub id), in which systems, why and by whom; never the data.",
    )
    sa.Table(
        "match_candidates",
        metadata,
        row_number(),
        entity_column(),
        sa.Column("crm_remote_id", sa.Text, nullable=False, comment="The CRM record's id"),
        sa.Column("erp_remote_id", sa.Text, nullable=False, comment="The ERP record's id"),
        sa.Column("score", sa.Float, nullable=False, comment="How alike the two are (the matching's rapidfuzz score)"),
        sa.Column("evidence", sa.Text, comment="Which fields matched and how well, as JSON"),
        sa.Column("status", sa.String(10), nullable=False, comment="suggested | accepted | rejected"),
        ts("suggested_at", nullable=False, comment="When fuzzy matching suggested the pair"),
        ts("decided_at", comment="When a person decided"),
        sa.UniqueConstraint("entity", "crm_remote_id", "erp_remote_id", name="uq_match_candidate"),
        comment="Fuzzy look-alike pairs (a CRM and an ERP record) suggested for a person to accept or reject; never merged alone.",
    )
    sa.Table(
        "duplicate_candidates",
        metadata,
        row_number(),
        entity_column(),
        system_column(),
        sa.Column("remote_id_a", sa.Text, nullable=False, comment="One record's id in that system"),
        sa.Column("remote_id_b", sa.Text, nullable=False, comment="The other record's id in that system"),
        sa.Column("score", sa.Float, nullable=False, comment="How alike the two are (the matching's rapidfuzz score)"),
        sa.Column("evidence", sa.Text, comment="Which fields matched and how well, as JSON"),
        sa.Column("status", sa.String(10), nullable=False, server_default="open", comment="open | dismissed"),
        ts("suggested_at", nullable=False, comment="When the pair was found"),
        ts("decided_at", comment="When a person dismissed it"),
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


# What `deleted_in` says of a golden record kept only for the records that point at it: its person was
# erased (ledgerbridge.sync.erasure), every value is gone, the hub id stays so the references hold.
ERASED = "erased"
