"""Decisions on fuzzy match suggestions and duplicate reports, and the reads that show a person
what needs a decision (the CLI's `matches`/`quarantine` and the review console use the same ones).

Accepting a suggestion merges the two hub records the pair had become (the CRM's record keeps
its hub id; the ERP record's link moves to it), and forgets what was last seen of both, so the
next reconcile merges their fields by ownership. Rejecting lets both records be created on the
other side as the separate companies they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ledgerbridge.model import entity as model_entity
from ledgerbridge.store import T, hub, staging, utcnow
from ledgerbridge.sync.plan import record_label


def decide(conn: sa.Connection, ids: list[int], *, accept: bool, systems: dict[str, str]) -> list[int]:
    """Record decisions on suggestions `ids`; `systems` names the CRM and ERP ({"crm": "webcrm", ...})."""
    candidates, id_map, state = T["match_candidates"], T["id_map"], T["sync_state"]
    decided = []
    for candidate in conn.execute(
        sa.select(candidates).where(candidates.c.id.in_(ids), candidates.c.status == "suggested")
    ).mappings():
        decided.append(candidate["id"])
        conn.execute(
            candidates.update()
            .where(candidates.c.id == candidate["id"])
            .values(status="accepted" if accept else "rejected", decided_at=utcnow())
        )
        if not accept:
            continue
        entity = candidate["entity"]
        link = lambda side: conn.execute(  # noqa: E731
            sa.select(id_map.c.hub_id, id_map.c.system).where(
                id_map.c.entity == entity,
                id_map.c.system == systems[side],
                id_map.c.remote_id == candidate[f"{side}_remote_id"],
            )
        ).first()
        crm_link, erp_link = link("crm"), link("erp")
        if crm_link is None or erp_link is None or crm_link.hub_id == erp_link.hub_id:
            continue  # not reconciled yet: reconcile pairs them as accepted
        keep, drop = crm_link.hub_id, erp_link.hub_id
        conn.execute(
            id_map.update()
            .where(id_map.c.entity == entity, id_map.c.hub_id == drop, id_map.c.system == erp_link.system)
            .values(hub_id=keep, linked_by="accepted", linked_at=utcnow())
        )
        conn.execute(state.delete().where(state.c.entity == entity, state.c.hub_id.in_([keep, drop])))
        shadows = T["shadows"]  # without a shadow both rows are read again
        conn.execute(shadows.delete().where(shadows.c.entity == entity, shadows.c.hub_id.in_([keep, drop])))
        for side, system in systems.items():  # ... and their staging rows say so (reconcile reads those)
            table = staging(side, entity)
            linked = sa.select(id_map.c.remote_id).where(id_map.c.entity == entity, id_map.c.system == system,
                                                         id_map.c.hub_id.in_([keep, drop]))
            conn.execute(table.update().where(table.c.remote_id.in_(linked)).values(reconciled_hash=None))
        _repoint_references(conn, entity, drop, keep)
        conn.execute(hub(entity).delete().where(hub(entity).c.hub_id == drop))
        # Both sides are read afresh by the next reconcile and merged as a first sight of the pair: a
        # record without values is merged as one seen for the first time. It stays, for the records
        # that point at it (foreign keys).
        blank = {name: None for name in model_entity(entity).field_names}
        conn.execute(hub(entity).update().where(hub(entity).c.hub_id == keep).values(blank))
    return decided


def _repoint_references(conn: sa.Connection, entity: str, old: str, new: str) -> None:
    """Golden records that pointed at `old` (the ERP's customer's invoices) point at `new`."""
    from ledgerbridge.model import ENTITIES

    for other in ENTITIES.values():
        for ref in other.references:
            if ref.reference == entity:
                table = hub(other.name)
                conn.execute(table.update().where(table.c[ref.name] == old).values({ref.name: new}))


def dismiss_duplicates(conn: sa.Connection, ids: list[int]) -> list[int]:
    """Close duplicate reports (merged at the source, or not duplicates after all): the records
    they held back are created on the other side by the next sync."""
    duplicates = T["duplicate_candidates"]
    found = list(
        conn.execute(
            sa.select(duplicates.c.id).where(duplicates.c.id.in_(ids), duplicates.c.status == "open")
        ).scalars()
    )
    conn.execute(
        duplicates.update().where(duplicates.c.id.in_(found)).values(status="dismissed", decided_at=utcnow())
    )
    return found


# -- what needs a person, read for the CLI (`matches list`) and the review console ------------------

@dataclass(frozen=True)
class FieldPair:
    name: str
    left: Any
    right: Any

    @property
    def same(self) -> bool:
        return _text(self.left) == _text(self.right)

    @property
    def state(self) -> str:
        """same | differs | one_side (only one record has a value)."""
        if self.same:
            return "same"
        return "differs" if _text(self.left) and _text(self.right) else "one_side"


@dataclass(frozen=True)
class RecordPair:
    """Two records that may be one: a suggested match (CRM left, ERP right) or a likely duplicate
    within one system (both sides in that system)."""

    id: int
    kind: str  # "match" | "duplicate"
    entity: str
    score: float
    reasons: list[str]
    left_system: str
    right_system: str
    left_id: str
    right_id: str
    left_label: str
    right_label: str
    fields: list[FieldPair]
    evidence: str | None = None  # as the matching stored it (JSON)

    def to_dict(self) -> dict[str, Any]:
        system = {"system": self.left_system} if self.kind == "duplicate" else {}
        return {
            "id": self.id, "kind": self.kind, "entity": self.entity, **system, "score": self.score,
            "reasons": self.reasons, "evidence": self.evidence,
            "left": {"system": self.left_system, "remote_id": self.left_id, "label": self.left_label},
            "right": {"system": self.right_system, "remote_id": self.right_id, "label": self.right_label},
            "fields": [{"name": f.name, "left": f.left, "right": f.right, "same": f.same} for f in self.fields],
        }


@dataclass(frozen=True)
class HeldRecord:
    hub_id: str
    label: str
    value: str | None
    reason: str
    first_seen: datetime


@dataclass(frozen=True)
class HeldGroup:
    """Records held back from one system by one check on one field (severity block), or sent
    without that field (severity warn: a warning)."""

    entity: str
    target: str
    source: str
    field: str
    check: str
    records: list[HeldRecord]
    severity: str = "block"

    @property
    def next_step(self) -> str:
        if self.severity == "warn":
            return (f"These records were sent to {self.target} without {self.field}, which keeps its value there; "
                    f"fix {self.field} in {self.source} and the next sync sends it.")
        return (f"Fix {self.field} of these records in {self.source}; the next sync checks them again "
                f"and sends them to {self.target}.")


@dataclass(frozen=True)
class Conflict:
    id: int
    entity: str
    hub_id: str
    label: str
    field: str
    crm_value: str | None
    erp_value: str | None
    winner_system: str
    detected_at: datetime


@dataclass(frozen=True)
class FailedWrite:
    id: int
    entity: str
    hub_id: str
    label: str
    system: str
    operation: str
    attempts: int
    error: str | None
    failed_at: datetime


def failed_writes(conn: sa.Connection, systems: dict[str, str], limit: int = 500) -> list[FailedWrite]:
    """Writes given up on (the outbox's 'failed' rows), newest first, with the reason a person can act
    on; the record is planned again as soon as it changes."""
    outbox = T["outbox"]
    rows = conn.execute(
        sa.select(outbox).where(outbox.c.status == "failed").order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
        .limit(limit)
    ).mappings().all()
    labels = _hub_labels(conn, rows)
    return [FailedWrite(r["id"], r["entity"], r["hub_id"], labels.get((r["entity"], r["hub_id"])) or r["hub_id"],
                        r["system"], r["operation"], r["attempts"], r["last_error"], r["updated_at"]) for r in rows]


def explain_evidence(evidence: str | dict | None) -> list[str]:
    """Why two records were paired, in words: the evidence stored by the matching, one line per clue."""
    data = json.loads(evidence) if isinstance(evidence, str) else (evidence or {})
    reasons = [f"same {name}: {value}" for name, value in (data.get("same") or {}).items()]
    if data.get("name_score") is not None:
        reasons.append(f"names {data['name_score']:.0f}% alike")
    if data.get("address_score") is not None:
        reasons.append(f"streets {data['address_score']:.0f}% alike")
    if data.get("block"):
        reasons.append(f"same postcode/country ({data['block']})")
    forms = [f for f in data.get("legal_forms") or [] if f]
    if data.get("legal_form_penalty"):
        reasons.append(f"legal forms differ ({' vs '.join(forms)}): score lowered by {data['legal_form_penalty']:.0f}")
    return reasons


def open_suggestions(conn: sa.Connection, systems: dict[str, str]) -> list[RecordPair]:
    """Fuzzy match suggestions awaiting a decision, best first, with both records as last pulled."""
    candidates = T["match_candidates"]
    rows = conn.execute(
        sa.select(candidates).where(candidates.c.status == "suggested").order_by(candidates.c.score.desc(), candidates.c.id)
    ).mappings().all()
    records = _staged(conn, {(r["entity"], "crm", r["crm_remote_id"]) for r in rows}
                      | {(r["entity"], "erp", r["erp_remote_id"]) for r in rows})
    return [
        _pair(r["id"], "match", r["entity"], r["score"], r["evidence"],
              (systems["crm"], r["crm_remote_id"], records.get((r["entity"], "crm", r["crm_remote_id"]))),
              (systems["erp"], r["erp_remote_id"], records.get((r["entity"], "erp", r["erp_remote_id"]))))
        for r in rows
    ]


def open_duplicates(conn: sa.Connection, systems: dict[str, str]) -> list[RecordPair]:
    """Likely duplicates within one system that are not dismissed yet, best first."""
    duplicates = T["duplicate_candidates"]
    side_of = {system: side for side, system in systems.items()}
    rows = [r for r in conn.execute(
        sa.select(duplicates).where(duplicates.c.status == "open").order_by(duplicates.c.score.desc(), duplicates.c.id)
    ).mappings() if r["system"] in side_of]
    records = _staged(conn, {(r["entity"], side_of[r["system"]], r[f"remote_id_{x}"]) for r in rows for x in "ab"})
    return [
        _pair(r["id"], "duplicate", r["entity"], r["score"], r["evidence"],
              *((r["system"], r[f"remote_id_{x}"], records.get((r["entity"], side_of[r["system"]], r[f"remote_id_{x}"])))
                for x in "ab"))
        for r in rows
    ]


def held_back(conn: sa.Connection, systems: dict[str, str]) -> list[HeldGroup]:
    """Records the quality gate holds back now (and warnings: records sent without a field), grouped
    by entity, target system, field, check and severity; held-back groups first."""
    quarantine = T["quarantine"]
    rows = conn.execute(
        sa.select(quarantine).where(quarantine.c.resolved_at.is_(None)).order_by(
            quarantine.c.entity, quarantine.c.target, quarantine.c.field, quarantine.c.check_name,
            quarantine.c.record_label, quarantine.c.id)
    ).mappings()
    groups: dict[tuple[str, str, str, str, str], list[HeldRecord]] = {}
    for r in rows:
        groups.setdefault((r["entity"], r["target"], r["field"], r["check_name"], r["severity"] or "block"), []).append(
            HeldRecord(r["record_key"], r["record_label"] or r["record_key"], r["value"], r["reason"], r["first_seen"]))
    other = {systems["crm"]: systems["erp"], systems["erp"]: systems["crm"]}
    found = [HeldGroup(entity, target, other.get(target, "the source system"), field, check, records, severity)
             for (entity, target, field, check, severity), records in groups.items()]
    return sorted(found, key=lambda g: g.severity == "warn")  # stable: the query's order within each


def still_held(conn: sa.Connection, entity: str, target: str | None = None) -> dict[str, list[str]]:
    """The records the checks hold back now (from `target`, or from any system): hub id -> the
    value-free findings ("field: check") that hold it. The quarantine is the truth here: a record
    stays held run after run until it is fixed, whether or not a run planned it again. Warnings
    (a record sent without a field) hold nothing back."""
    quarantine = T["quarantine"]
    query = sa.select(quarantine.c.record_key, quarantine.c.field, quarantine.c.check_name).where(
        quarantine.c.entity == entity, quarantine.c.resolved_at.is_(None),
        sa.or_(quarantine.c.severity.is_(None), quarantine.c.severity != "warn"))
    if target is not None:
        query = query.where(quarantine.c.target == target)
    held: dict[str, list[str]] = {}
    for row in conn.execute(query.order_by(quarantine.c.record_key, quarantine.c.field)):
        held.setdefault(row.record_key, []).append(f"{row.field}: {row.check_name}")
    return held


def recent_conflicts(conn: sa.Connection, systems: dict[str, str], limit: int = 200) -> list[Conflict]:
    """Fields both systems changed since the last sync, newest first, and which side's value won."""
    conflicts = T["conflicts"]
    rows = conn.execute(
        sa.select(conflicts).order_by(conflicts.c.detected_at.desc(), conflicts.c.id.desc()).limit(limit)
    ).mappings().all()
    labels = _hub_labels(conn, rows)
    return [
        Conflict(r["id"], r["entity"], r["hub_id"], labels.get((r["entity"], r["hub_id"])) or r["hub_id"], r["field"],
                 r["crm_value"], r["erp_value"], systems.get(r["winner"], r["winner"]), r["detected_at"])
        for r in rows
    ]


def _hub_labels(conn: sa.Connection, rows: list) -> dict[tuple[str, str], str]:
    """What a person recognises each (entity, hub id) of `rows` by (number and name)."""
    labels: dict[tuple[str, str], str] = {}
    for entity in {r["entity"] for r in rows}:
        table = hub(entity)
        ids = [r["hub_id"] for r in rows if r["entity"] == entity]
        for start in range(0, len(ids), 500):
            for values in conn.execute(sa.select(table).where(table.c.hub_id.in_(ids[start:start + 500]))).mappings():
                labels[(entity, values["hub_id"])] = record_label(model_entity(entity), dict(values))
    return labels


def _staged(conn: sa.Connection, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Records as last pulled, by (entity, side, remote id)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    wanted: dict[tuple[str, str], list[str]] = {}
    for entity, side, remote_id in keys:
        wanted.setdefault((entity, side), []).append(remote_id)
    for (entity, side), ids in wanted.items():
        table = staging(side, entity)
        for start in range(0, len(ids), 500):
            for values in conn.execute(sa.select(table).where(table.c.remote_id.in_(ids[start:start + 500]))).mappings():
                found[(entity, side, values["remote_id"])] = dict(values)
    return found


def _pair(pair_id: int, kind: str, entity_name: str, score: float, evidence: str | None,
          left: tuple[str, str, dict[str, Any] | None], right: tuple[str, str, dict[str, Any] | None]) -> RecordPair:
    entity = model_entity(entity_name)
    left_values, right_values = left[2] or {}, right[2] or {}
    fields = [FieldPair(name, left_values.get(name), right_values.get(name)) for name in entity.field_names
              if left_values.get(name) not in (None, "") or right_values.get(name) not in (None, "")]
    return RecordPair(pair_id, kind, entity_name, float(score), explain_evidence(evidence), left[0], right[0], left[1],
                      right[1], record_label(entity, left_values) or left[1], record_label(entity, right_values) or right[1],
                      fields, evidence)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
