"""Retention: what the hub keeps only for a while is pruned after the configured period.

The audit log (before/after of every write), the payloads of finished outbox rows, webhook bodies,
the values of resolved quarantine findings and the values of old conflicts all hold copies of
records, personal data among them. They serve a person looking into a recent problem; after
`retention.*_days` they go. The rows that say *that* something happened stay where they are
needed (outbox status and reason, the quarantine finding, the conflict's field and winner).
Resolved notifications hold no record data; they go after their period so the table stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from ledgerbridge.config import RetentionConfig
from ledgerbridge.store import T, HubStore, utcnow
from ledgerbridge.sync.outbox import OPEN


@dataclass
class PruneResult:
    pruned: dict[str, int] = field(default_factory=dict)  # what -> rows

    @property
    def total(self) -> int:
        return sum(self.pruned.values())


def prune(store: HubStore, retention: RetentionConfig, now: datetime | None = None) -> PruneResult:
    now = now or utcnow()
    before = lambda days: now - timedelta(days=days)  # noqa: E731
    audit, outbox, inbox, quarantine, conflicts, notifications = (
        T[n] for n in ("audit_log", "outbox", "inbox", "quarantine", "conflicts", "notifications"))
    result = PruneResult()
    with store.begin() as conn:
        result.pruned["audit_log"] = conn.execute(
            audit.delete().where(audit.c.at < before(retention.audit_log_days))).rowcount
        result.pruned["outbox payloads"] = conn.execute(
            outbox.update()
            .where(outbox.c.status.not_in(OPEN), outbox.c.updated_at < before(retention.outbox_payload_days),
                   outbox.c.payload != "{}")
            .values(payload="{}")
        ).rowcount
        # Bodies only: the rows keep the event keys that drop replays, and their ids the sensor's cursor.
        result.pruned["inbox bodies"] = conn.execute(
            inbox.update().where(inbox.c.received_at < before(retention.inbox_days), inbox.c.payload.is_not(None))
            .values(payload=None)).rowcount
        result.pruned["quarantine values"] = conn.execute(
            quarantine.update()
            .where(quarantine.c.resolved_at.is_not(None), quarantine.c.resolved_at < before(retention.quarantine_resolved_days),
                   sa.or_(quarantine.c.value.is_not(None), quarantine.c.record_label.is_not(None)))
            .values(value=None, record_label=None)
        ).rowcount
        result.pruned["conflict values"] = conn.execute(
            conflicts.update()
            .where(conflicts.c.detected_at < before(retention.conflict_values_days),
                   sa.or_(conflicts.c.crm_value.is_not(None), conflicts.c.erp_value.is_not(None)))
            .values(crm_value=None, erp_value=None)
        ).rowcount
        result.pruned["resolved notifications"] = conn.execute(
            notifications.delete().where(
                notifications.c.status == "resolved",
                notifications.c.resolved_at < before(retention.notifications_resolved_days))
        ).rowcount
    return result
