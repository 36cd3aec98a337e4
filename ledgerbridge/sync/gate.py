"""The quality gate between plan and push: bad records are held back with a reason, not pushed.

Findings go to the quarantine table (first and last seen, so a person sees how long a record has
been stuck); a record held before and clean now is released (resolved_at set). The good writes
are recorded in the outbox as 'planned', which is what the push reads.

Each finding has its field's severity (ledgerbridge.model.Severity, overridable per entity in the
configuration). A `block` finding holds the record back. A record whose findings are all `warn`
goes on without those fields (the target keeps the value it has); its findings stay in the
quarantine as warnings until the source holds a value that passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from ledgerbridge.connectors.base import FieldLimits
from ledgerbridge.model import Severity
from ledgerbridge.model import entity as model_entity
from ledgerbridge.quality import Finding, QualityReport, check_records
from ledgerbridge.store import T, HubStore, dialect_insert, hub, to_json, utcnow
from ledgerbridge.sync.deletes import DELETE_OPERATIONS
from ledgerbridge.sync.outbox import PLANNED, supersede
from ledgerbridge.sync.queue import settle as settle_queue
from ledgerbridge.sync.queue import settle_everything
from ledgerbridge.sync.plan import Plan, PlannedWrite


@dataclass
class GateResult:
    entity: str
    system: str
    report: QualityReport
    planned: list[PlannedWrite] = field(default_factory=list)
    held: list[PlannedWrite] = field(default_factory=list)
    # hub id -> fields left out of its write because they failed a `warn` check
    warned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # writes with nothing left to send once their warned fields were left out
    dropped: list[PlannedWrite] = field(default_factory=list)
    released: int = 0
    newly_bad_share: float = 0.0  # records failing now that were not held before, of all planned
    delete_share: float = 0.0  # deletes planned, of all records linked in the target
    mass_delete: bool = False  # blocked because too many records were deleted upstream
    blocked_since: Any = None  # an earlier run's stop that is still open (ledgerbridge gate release)
    stop_reason: str = ""  # why it stopped then
    still_held: int = 0  # records that caused it and are still held back
    blocked: bool = False  # that share passed the threshold: nothing is pushed

    def held_back(self) -> list[dict[str, Any]]:
        """Held-back records with their reasons, for summaries."""
        reasons: dict[str, list[str]] = {}
        for finding in self.report.findings:
            reasons.setdefault(str(finding.key), []).append(finding.reason)
        return [
            {"hub_id": w.hub_id, "record": w.label, "target": self.system, "reasons": reasons.get(w.hub_id, [])}
            for w in self.held
        ]

    def warnings(self) -> list[dict[str, Any]]:
        """Records sent without some fields, with the fields and why, for summaries."""
        labels = {w.hub_id: w.label for w in (*self.planned, *self.dropped)}
        return [
            {"hub_id": hub_id, "record": labels.get(hub_id, ""), "target": self.system, "fields": list(fields),
             "reasons": [f.reason for f in self.report.findings if str(f.key) == hub_id and f.field in fields]}
            for hub_id, fields in self.warned.items()
        ]


def apply_gate(
    store: HubStore,
    plan: Plan,
    limits: FieldLimits | None,
    *,
    threshold: float,
    min_records: int = 1,
    run_id: str | None = None,
    record: bool = True,
    severity: Mapping[str, Severity] | None = None,
) -> GateResult:
    """`severity` overrides the model's severity per field (EntityConfig.severity)."""
    # Deletes carry no values to check; they count towards a mass-delete stop instead.
    deletes = [w for w in plan.writes if w.operation in DELETE_OPERATIONS]
    rows = [{"hub_id": w.hub_id, **w.values} for w in plan.writes if w.operation not in DELETE_OPERATIONS]
    report = check_records(plan.entity, rows, key="hub_id", target=plan.system, limits=limits)
    result = GateResult(plan.entity, plan.system, report)
    severity_of = _severities(plan.entity, severity or {})
    sends = {w.hub_id: set(w.send) for w in plan.writes}
    # A warning is about a value the write would send; one the target already holds is no news.
    report.findings = [f for f in report.findings
                       if severity_of(f) is Severity.BLOCK or f.field in sends.get(f.key, ())]
    blocking = {f.key for f in report.findings if severity_of(f) is Severity.BLOCK}
    # the report's "bad" records are the ones held back
    report.bad_rows = {row for row, r in enumerate(rows) if r["hub_id"] in blocking} | {
        f.row for f in report.findings if f.key is None}
    report.bad_keys = blocking - {None}
    warned: dict[Any, set[str]] = {}
    for f in report.findings:
        if f.key not in blocking:
            warned.setdefault(f.key, set()).add(f.field)
    # A jump in bad records means corruption upstream; records already held (and planned again
    # because they are still unfixed) are no jump.
    newly_bad = report.bad_keys - _already_held(store, plan)
    result.newly_bad_share = len(newly_bad) / len(rows) if rows else 0.0
    # An expectation that could not run judged nobody: fail closed rather than push unchecked.
    result.blocked = bool(report.errors) or (len(rows) >= min_records and result.newly_bad_share > threshold)
    if deletes:
        linked = _linked_count(store, plan)
        result.delete_share = len(deletes) / linked if linked else 1.0
        if len(deletes) >= min_records and result.delete_share > threshold:
            result.blocked = result.mass_delete = True  # a mass delete upstream must not empty this system
    # A stop stays a stop until the data is fixed (no record held since the stop is still held) or a
    # person releases it: the next run must not pass because the same bad records now count as
    # "already held", nor because it plans only the records that changed since.
    approved = _approved_mass_delete(store, plan) if result.mass_delete else None
    if approved is not None:  # a person looked at these deletes and released them: follow them once
        result.blocked = bool(report.errors) or (len(rows) >= min_records and result.newly_bad_share > threshold)
        result.mass_delete = False
    block = _open_block(store, plan)
    if block is not None:
        result.blocked_since, result.stop_reason = block["blocked_at"], block["reason"]
        clean_now = {w.hub_id for w in plan.writes if w.hub_id not in report.bad_keys}
        result.still_held = len(_held_since(store, plan, block["blocked_at"]) - clean_now)
        if not result.blocked and result.still_held:
            result.blocked = True
    for write in plan.writes:
        if write.hub_id in blocking:
            result.held.append(write)
        elif write.hub_id in warned:
            result.warned[write.hub_id] = tuple(sorted(warned[write.hub_id]))
            kept = _without(write, warned[write.hub_id])
            (result.planned if kept.send else result.dropped).append(kept)
        else:
            result.planned.append(write)
    if not record:
        return result
    labels = {w.hub_id: w.label for w in plan.writes}
    now = utcnow()
    with store.begin() as conn:
        quarantine = T["quarantine"]
        held_rows = [
            {
                "entity": plan.entity,
                "record_key": str(f.key),
                "target": plan.system,
                "field": f.field,
                "check_name": f.check,
                "value": None if f.value is None else str(f.value),
                "reason": f.reason,
                "record_label": labels.get(f.key, ""),
                "severity": severity_of(f).value,
                "first_seen": now,
                "last_seen": now,
                "resolved_at": None,
            }
            for f in report.findings
        ]
        if held_rows:
            _upsert_keep_first_seen(conn, held_rows)
        # Records planned again and clean now: their old findings are resolved.
        flagged = {f.key for f in report.findings}
        clean = [w.hub_id for w in plan.writes if w.hub_id not in flagged]
        for start in range(0, len(clean), 500):
            released = conn.execute(
                quarantine.update()
                .where(
                    quarantine.c.entity == plan.entity,
                    quarantine.c.target == plan.system,
                    quarantine.c.record_key.in_(clean[start : start + 500]),
                    quarantine.c.resolved_at.is_(None),
                )
                .values(resolved_at=now)
            )
            result.released += released.rowcount
        # Findings of a record that is still bad but no longer fails that particular check.
        for key in {f.key for f in report.findings if f.key is not None}:
            current = {(f.field, f.check) for f in report.findings if f.key == key}
            for row in conn.execute(
                sa.select(quarantine.c.id, quarantine.c.field, quarantine.c.check_name).where(
                    quarantine.c.entity == plan.entity,
                    quarantine.c.target == plan.system,
                    quarantine.c.record_key == str(key),
                    quarantine.c.resolved_at.is_(None),
                )
            ):
                if (row.field, row.check_name) not in current:
                    conn.execute(quarantine.update().where(quarantine.c.id == row.id).values(resolved_at=now))
        result.released += _release_fixed_warnings(conn, plan, limits, {w.hub_id for w in plan.writes}, now)
        outbox = T["outbox"]
        conn.execute(
            outbox.delete().where(
                outbox.c.entity == plan.entity, outbox.c.system == plan.system, outbox.c.status == "planned"
            )
        )
        if result.blocked:
            if block is None:
                conn.execute(T["gate_blocks"].insert(), {"entity": plan.entity, "system": plan.system,
                                                         "reason": block_reason(result, threshold), "blocked_at": now})
            return result
        if block is not None:
            conn.execute(T["gate_blocks"].update().where(T["gate_blocks"].c.id == block["id"])
                         .values(released_at=now, released_by="data fixed"))
        if approved is not None:
            conn.execute(T["gate_blocks"].update().where(T["gate_blocks"].c.id == approved).values(applied_at=now))
        if plan.everything:
            settle_everything(store, conn, plan.entity, plan.side, plan.started_at, plan.still_queued())
        else:
            settle_queue(conn, plan.entity, plan.side, plan.done())
        planned = {w.hub_id: i for i, w in enumerate(result.planned)}
        carried = supersede(conn, plan.entity, plan.system, planned, keep_open=set(plan.deferred))
        if result.planned:
            conn.execute(outbox.insert(), [_outbox_row(w, run_id, now, carried.get(w.hub_id, 0)) for w in result.planned])
    return result


def _severities(entity_name: str, overrides: Mapping[str, Severity]):
    """A finding's severity: the configured one for its field, else the model's; a finding on no
    field of the model (the record itself, its key) blocks."""
    fields = model_entity(entity_name).field_by_name

    def severity_of(finding: Finding) -> Severity:
        if finding.key is None:
            return Severity.BLOCK
        if finding.field in overrides:
            return Severity(overrides[finding.field])
        spec = fields.get(finding.field)
        return spec.severity if spec is not None else Severity.BLOCK

    return severity_of


def _without(write: PlannedWrite, fields: set[str]) -> PlannedWrite:
    """The write without the given fields: neither created with them nor updated, so the target
    keeps what it holds."""
    return replace(
        write,
        values={k: v for k, v in write.values.items() if k not in fields},
        compare={k: v for k, v in write.compare.items() if k not in fields},
        diff={k: v for k, v in write.diff.items() if k not in fields},
    )


def _release_fixed_warnings(conn: sa.Connection, plan: Plan, limits: FieldLimits | None, planned: set[str],
                            now: Any) -> int:
    """Warnings of records not planned this time whose source now holds a value that passes (a phone
    fixed to what the target already has sends nothing, yet the warning is over)."""
    quarantine = T["quarantine"]
    open_rows = [
        r for r in conn.execute(
            sa.select(quarantine.c.id, quarantine.c.record_key, quarantine.c.field, quarantine.c.check_name).where(
                quarantine.c.entity == plan.entity,
                quarantine.c.target == plan.system,
                quarantine.c.severity == Severity.WARN.value,
                quarantine.c.resolved_at.is_(None),
            )
        )
        if r.record_key not in planned
    ]
    if not open_rows:
        return 0
    table = hub(plan.entity)
    keys = sorted({r.record_key for r in open_rows})
    current = [dict(row) for start in range(0, len(keys), 500)
               for row in conn.execute(sa.select(table).where(table.c.hub_id.in_(keys[start:start + 500]))).mappings()]
    fields = {r.field for r in open_rows}
    checked = [{"hub_id": row["hub_id"], "country": row.get("country"), **{f: row.get(f) for f in fields if f in row}}
               for row in current]
    report = check_records(plan.entity, checked, key="hub_id", target=plan.system, limits=limits)
    still = {(str(f.key), f.field, f.check) for f in report.findings}
    fixed = [r.id for r in open_rows if (r.record_key, r.field, r.check_name) not in still]
    for start in range(0, len(fixed), 500):
        conn.execute(quarantine.update().where(quarantine.c.id.in_(fixed[start:start + 500])).values(resolved_at=now))
    return len(fixed)


def block_reason(gate: GateResult, threshold: float) -> str:
    """Why the push was stopped, in one sentence a person can act on."""
    if gate.blocked_since is not None and gate.still_held and not gate.mass_delete:
        return (f"stopped since {gate.blocked_since:%Y-%m-%d %H:%M} UTC ({gate.stop_reason}); {gate.still_held} of "
                f"the records that caused it are still held back")
    if gate.mass_delete:
        return (f"{gate.delete_share:.0%} of the linked {gate.entity} were deleted in the other system (threshold "
                f"{threshold:.0%}), which looks like a mass delete upstream")
    if gate.report.errors:
        return f"a check could not run ({'; '.join(gate.report.errors)[:300]}), so nothing was pushed unchecked"
    return (f"{gate.newly_bad_share:.0%} of the planned {gate.entity} failed the checks (threshold {threshold:.0%}), "
            "which looks like a mass corruption upstream")


def _open_block(store: HubStore, plan: Plan) -> Any:
    blocks = T["gate_blocks"]
    with store.connect() as conn:
        return conn.execute(
            sa.select(blocks).where(blocks.c.entity == plan.entity, blocks.c.system == plan.system,
                                    blocks.c.released_at.is_(None)).order_by(blocks.c.id.desc())
        ).mappings().first()


def release_blocks(store: HubStore, entity: str, system: str, by: str) -> int:
    """A person looked at a stopped push and lets it go on (the held records stay held)."""
    blocks = T["gate_blocks"]
    with store.begin() as conn:
        return conn.execute(
            blocks.update().where(blocks.c.entity == entity, blocks.c.system == system, blocks.c.released_at.is_(None))
            .values(released_at=utcnow(), released_by=by)
        ).rowcount


def _approved_mass_delete(store: HubStore, plan: Plan) -> int | None:
    """The id of the latest stop of this push if a person released it and it was not followed yet."""
    blocks = T["gate_blocks"]
    with store.connect() as conn:
        latest = conn.execute(
            sa.select(blocks).where(blocks.c.entity == plan.entity, blocks.c.system == plan.system)
            .order_by(blocks.c.id.desc())
        ).mappings().first()
    if latest is None or latest["released_at"] is None or latest["applied_at"] is not None \
            or latest["released_by"] == "data fixed":
        return None
    return latest["id"]


def _held_since(store: HubStore, plan: Plan, since: Any) -> set[str]:
    """Records held back (not warnings) by findings first seen at or after `since`, still unresolved."""
    quarantine = T["quarantine"]
    with store.connect() as conn:
        return set(conn.execute(
            sa.select(quarantine.c.record_key).distinct().where(
                quarantine.c.entity == plan.entity, quarantine.c.target == plan.system,
                quarantine.c.resolved_at.is_(None), quarantine.c.first_seen >= since,
                sa.or_(quarantine.c.severity.is_(None), quarantine.c.severity != Severity.WARN.value))
        ).scalars())


def _linked_count(store: HubStore, plan: Plan) -> int:
    id_map = T["id_map"]
    with store.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(id_map).where(
                id_map.c.entity == plan.entity, id_map.c.system == plan.system, id_map.c.gone_at.is_(None))
        ).scalar_one()


def _already_held(store: HubStore, plan: Plan) -> set[str]:
    """Records held back (a blocking finding still open) before this run."""
    quarantine = T["quarantine"]
    with store.connect() as conn:
        return set(
            conn.execute(
                sa.select(quarantine.c.record_key).where(
                    quarantine.c.entity == plan.entity,
                    quarantine.c.target == plan.system,
                    quarantine.c.resolved_at.is_(None),
                    sa.or_(quarantine.c.severity.is_(None), quarantine.c.severity == Severity.BLOCK.value),
                )
            ).scalars()
        )


def _outbox_row(write: PlannedWrite, run_id: str | None, now: Any, attempts: int) -> dict[str, Any]:
    payload = {"values": write.values, "send": list(write.send), "compare": write.compare, "label": write.label}
    return {
        "run_id": run_id,
        "entity": write.entity,
        "hub_id": write.hub_id,
        "system": write.system,
        "operation": write.operation,
        "payload": to_json(payload),
        "payload_hash": write.payload_hash,
        "status": PLANNED,
        "attempts": attempts,
        "remote_id": write.remote_id,
        "created_at": now,
        "updated_at": now,
    }


def _upsert_keep_first_seen(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    insert = dialect_insert(conn, T["quarantine"])
    statement = insert.on_conflict_do_update(
        index_elements=["entity", "record_key", "target", "field", "check_name"],
        set_={
            "value": insert.excluded.value,
            "reason": insert.excluded.reason,
            "record_label": insert.excluded.record_label,
            "severity": insert.excluded.severity,
            "last_seen": insert.excluded.last_seen,
            "resolved_at": None,
        },
    )
    conn.execute(statement, rows)
