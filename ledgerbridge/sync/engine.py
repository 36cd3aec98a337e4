"""The whole road for one or more entities, for the CLI and the demo (Dagster runs the same steps
as separate assets, see assets/)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledgerbridge.config import SyncConfig
from ledgerbridge.connectors.base import Connector
from ledgerbridge.model import ENTITIES
from ledgerbridge.model import entity as model_entity
from ledgerbridge.store import HubStore, hub
from ledgerbridge.systems import mapped_fields
from ledgerbridge.sync.gate import GateResult, apply_gate, block_reason
from ledgerbridge.sync.plan import Plan, plan_push
from ledgerbridge.sync.pull import PullResult, pull
from ledgerbridge.sync.outbox import settle_uncertain
from ledgerbridge.sync.pinning import keep_trigger_value
from ledgerbridge.sync.push import PushResult, confirm_found, push
from ledgerbridge.sync.retention import prune
from ledgerbridge.sync.reconcile import ReconcileResult, reconcile

# ERP first: a number the ERP assigns on create is written back to the CRM in the same run.
PUSH_ORDER = ("erp", "crm")


@dataclass
class EntitySummary:
    entity: str
    pulled: int = 0
    matched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    waiting: int = 0  # records whose referenced record is not on the target yet (e.g. its company)
    not_created: dict[str, int] = field(default_factory=dict)  # reason -> records not created by rule
    held_back: list[dict[str, Any]] = field(default_factory=list)
    conflicts: int = 0
    suggestions: int = 0
    duplicates: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    retrying: list[dict[str, Any]] = field(default_factory=list)  # passing failures, sent again later
    uncertain: list[dict[str, Any]] = field(default_factory=list)  # creates without an answer, looked up next
    gone: list[dict[str, Any]] = field(default_factory=list)  # records found deleted in the target
    deferred: int = 0  # writes waiting for their retry time or for a lookup
    deleted_upstream: int = 0  # records found deleted in one system this run
    deletes_followed: list[dict[str, Any]] = field(default_factory=list)  # {hub_id, record, done} in the other
    blocked: list[str] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)  # dry run: what would be written

    def to_dict(self) -> dict[str, Any]:
        return {
            "pulled": self.pulled,
            "matched": self.matched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "waiting": self.waiting,
            "not_created": self.not_created,
            "held_back": len(self.held_back),
            "held_back_records": self.held_back,
            "conflicts": self.conflicts,
            "match_suggestions": self.suggestions,
            "duplicates_reported": self.duplicates,
            "failed": self.failed,
            "retrying": self.retrying,
            "uncertain": self.uncertain,
            "gone": self.gone,
            "deferred": self.deferred,
            "deleted_upstream": self.deleted_upstream,
            "deletes_followed": self.deletes_followed,
            "blocked": self.blocked,
            **({"planned": self.planned} if self.planned else {}),
        }


def enabled_entities(config: SyncConfig) -> list[str]:
    """The configured entities in dependency order (debtors before their contacts and invoices)."""
    return [name for name in ENTITIES if config.entity(name).enabled]


class SyncEngine:
    def __init__(self, config: SyncConfig, store: HubStore, connectors: dict[str, Connector]):
        self.config = config
        self.store = store
        self.connectors = connectors  # side ("crm"/"erp") -> connector

    def pull(self, side: str, entity: str, *, full: bool = False) -> PullResult:
        return pull(self.store, self.connectors[side], side, entity, full=full)

    def reconcile(self, entity: str, run_id: str | None = None) -> ReconcileResult:
        result = reconcile(self.store, self.config, entity, run_id=run_id)
        result.pinned = keep_trigger_value(self.store, self.config, entity)
        return result

    def plan(self, side: str, entity: str, *, run_id: str | None = None, record: bool = True,
             full: bool = False) -> tuple[Plan, GateResult]:
        plan = plan_push(self.store, self.config, entity, side, full=full)
        limits = self.connectors[side].limits(entity)
        gate = apply_gate(
            self.store, plan, limits, threshold=self.config.quality.block_threshold,
            min_records=self.config.quality.block_min_records, run_id=run_id, record=record,
            severity=self.config.entity(entity).severity,
        )
        return plan, gate

    def push(self, side: str, entity: str, *, run_id: str | None = None) -> PushResult:
        systems = {"crm": self.config.crm.system, "erp": self.config.erp.system}
        return push(self.store, self.connectors[side], side, entity, run_id=run_id, retries=self.config.retries,
                    systems=systems)

    def settle(self, side: str, entity: str, *, run_id: str | None = None) -> int:
        """Resolve creates without an answer before planning, so one not carried out is planned again
        in this run; returns how many were found (and confirmed) by their number."""
        found = settle_uncertain(self.store, self.connectors[side], side, entity, model_entity(entity).number_field,
                                 self.config.retries)
        for row, record in found:
            confirm_found(self.store, row, record, side, entity, run_id)
        return len(found)

    def run(
        self, entities: list[str] | None = None, *, dry_run: bool = False, full: bool = False, run_id: str | None = None
    ) -> dict[str, EntitySummary]:
        run_id = run_id or uuid.uuid4().hex
        summaries: dict[str, EntitySummary] = {}
        for entity in entities or enabled_entities(self.config):
            summary = EntitySummary(entity)
            written: set[str] = set()
            held: set[str] = set()
            waiting: set[str] = set()
            not_created: set[str] = set()
            for side in ("crm", "erp"):
                summary.pulled += self.pull(side, entity, full=full).pulled
            reconciled = self.reconcile(entity, run_id)
            summary.matched = sum(reconciled.matched.values())
            summary.deleted_upstream = reconciled.deleted
            summary.conflicts = len(reconciled.conflicts)
            summary.suggestions = reconciled.suggestions
            summary.duplicates = reconciled.duplicates
            sides = list(PUSH_ORDER)
            for side in sides:
                if not dry_run:
                    self.settle(side, entity, run_id=run_id)
                plan, gate = self.plan(side, entity, run_id=run_id, record=not dry_run, full=full)
                waiting.update(plan.waiting)
                summary.deferred += len(plan.deferred)
                not_created.update(plan.not_created)
                for reason, count in plan.not_created_counts().items():
                    summary.not_created[f"{plan.system}: {reason}"] = count
                summary.held_back.extend(h for h in gate.held_back() if h not in summary.held_back)
                held.update(w.hub_id for w in gate.held)
                if gate.blocked:
                    summary.blocked.append(
                        f"{gate.system}: {block_reason(gate, self.config.quality.block_threshold)}; nothing was "
                        f"pushed. Fix the source, or once checked: ledgerbridge gate release --entity {entity} "
                        f"--system {gate.system}"
                    )
                    continue
                if dry_run:
                    summary.planned.extend(_describe(w) for w in gate.planned)
                    continue
                pushed = self.push(side, entity, run_id=run_id)
                if side == "crm" and crm_ids_to_write_back(self.config, entity, pushed.created):
                    sides.append("erp")
                summary.created += pushed.created
                summary.updated += pushed.updated
                summary.failed.extend(pushed.failed)
                summary.retrying.extend(pushed.retrying)
                summary.uncertain.extend(pushed.uncertain)
                summary.gone.extend(pushed.gone)
                summary.deletes_followed.extend(pushed.deleted)
                written.update(w.hub_id for w in gate.planned)
            # plus rows that wait in staging for their parent to reach the hub at all
            summary.waiting = len(waiting - written - held) + reconciled.waiting
            summary.unchanged = max(0, _hub_count(self.store, entity) - len(written | held | waiting | not_created))
            summaries[entity] = summary
        if not dry_run:
            prune(self.store, self.config.retention)
        return summaries


def crm_ids_to_write_back(config: SyncConfig, entity: str, crm_created: int) -> bool:
    """Whether the ERP is planned once more after the CRM pass: when the ERP keeps the CRM's own id
    (model field crm_id, e.g. PowerOffice's ExternalImportReference) and the CRM pass created records,
    their new ids reach the ERP in this run, as an ERP-assigned number reaches the CRM (ERP first)."""
    return crm_created > 0 and "crm_id" in mapped_fields(config.erp.system, entity)


def _describe(write: Any) -> dict[str, Any]:
    return {
        "operation": write.operation,
        "system": write.system,
        "record": write.label or write.hub_id,
        "changes": {name: {"from": before, "to": after} for name, (before, after) in write.diff.items()},
    }


def _hub_count(store: HubStore, entity: str) -> int:
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(hub(entity))).scalar_one()
