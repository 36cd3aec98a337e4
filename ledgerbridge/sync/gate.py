"""The quality gate between plan and push: bad records are held back with a reason, not pushed.

Findings go to the quarantine table (first and last seen, so a person sees how long a record has
been stuck); a record held before and clean now is released (resolved_at set). The good writes
are recorded in the outbox as 'planned', which is what the push reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.connectors.base import FieldLimits
from ledgerbridge.quality import QualityReport, check_records
from ledgerbridge.store import T, HubStore, dialect_insert, to_json, utcnow
from ledgerbridge.sync.outbox import PLANNED, supersede
from ledgerbridge.sync.plan import Plan, PlannedWrite


@dataclass
class GateResult:
    entity: str
    system: str
    report: QualityReport
    planned: list[PlannedWrite] = field(default_factory=list)
    held: list[PlannedWrite] = field(default_factory=list)
    released: int = 0
    newly_bad_share: float = 0.0  # records failing now that were not held before, of all planned
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


def apply_gate(
    store: HubStore,
    plan: Plan,
    limits: FieldLimits | None,
    *,
    threshold: float,
    min_records: int = 1,
    run_id: str | None = None,
    record: bool = True,
) -> GateResult:
    rows = [{"hub_id": w.hub_id, **w.values} for w in plan.writes]
    report = check_records(plan.entity, rows, key="hub_id", target=plan.system, limits=limits)
    result = GateResult(plan.entity, plan.system, report)
    # A jump in bad records means corruption upstream; records already held (and planned again
    # because they are still unfixed) are no jump.
    newly_bad = report.bad_keys - _already_held(store, plan)
    result.newly_bad_share = len(newly_bad) / len(rows) if rows else 0.0
    # An expectation that could not run judged nobody: fail closed rather than push unchecked.
    result.blocked = bool(report.errors) or (len(rows) >= min_records and result.newly_bad_share > threshold)
    for write in plan.writes:
        (result.held if write.hub_id in report.bad_keys else result.planned).append(write)
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
                "first_seen": now,
                "last_seen": now,
                "resolved_at": None,
            }
            for f in report.findings
        ]
        if held_rows:
            _upsert_keep_first_seen(conn, held_rows)
        # Records planned again and clean now: their old findings are resolved.
        clean = [w.hub_id for w in plan.writes if w.hub_id not in report.bad_keys]
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
        for key in report.bad_keys:
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
        outbox = T["outbox"]
        conn.execute(
            outbox.delete().where(
                outbox.c.entity == plan.entity, outbox.c.system == plan.system, outbox.c.status == "planned"
            )
        )
        if result.blocked:
            return result
        planned = {w.hub_id: i for i, w in enumerate(result.planned)}
        carried = supersede(conn, plan.entity, plan.system, planned, keep_open=set(plan.deferred))
        if result.planned:
            conn.execute(outbox.insert(), [_outbox_row(w, run_id, now, carried.get(w.hub_id, 0)) for w in result.planned])
    return result


def _already_held(store: HubStore, plan: Plan) -> set[str]:
    quarantine = T["quarantine"]
    with store.connect() as conn:
        return set(
            conn.execute(
                sa.select(quarantine.c.record_key).where(
                    quarantine.c.entity == plan.entity,
                    quarantine.c.target == plan.system,
                    quarantine.c.resolved_at.is_(None),
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
            "last_seen": insert.excluded.last_seen,
            "resolved_at": None,
        },
    )
    conn.execute(statement, rows)
