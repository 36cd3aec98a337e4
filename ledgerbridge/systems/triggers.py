"""Every configured direction of every entity has a trigger that picks up its changes, by default.

The side a direction reads from (both: each side; crm_to_erp: the CRM; erp_to_crm: the ERP) must
notice its changes: by webhook when the system's hooks cover the entity and are configured, else
by a change probe when the system can answer "anything new?" cheaply, else by a schedule (the
entity's configured one, or DEFAULT_SCHEDULE). What a system can do is its package's declaration
(System.entities, System.webhooks), so this needs no knowledge of any particular system.
The nightly full reconcile runs besides, for missed events and deletes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerbridge.config import SyncConfig
from ledgerbridge.model import ENTITIES
from ledgerbridge.systems.registry import get

DEFAULT_SCHEDULE = "*/15 * * * *"
SOURCES = {"both": ("crm", "erp"), "crm_to_erp": ("crm",), "erp_to_crm": ("erp",)}


@dataclass(frozen=True)
class Trigger:
    entity: str
    direction: str  # crm_to_erp | erp_to_crm: the changes it carries
    system: str  # the system whose changes it notices
    kind: str  # webhook | probe | schedule
    schedule: str | None = None  # cron, for kind schedule


def _hooks_configured(config: SyncConfig, side: str) -> bool:
    section = config.side(side)
    hooks = get(section.system).webhooks
    return hooks is not None and hooks.secret_name in section.secrets


def triggers(config: SyncConfig) -> list[Trigger]:
    found = []
    for entity in (name for name in ENTITIES if config.entity(name).enabled):
        entity_config = config.entity(entity)
        for side in SOURCES[entity_config.direction]:
            system = get(config.side(side).system)
            direction = f"{side}_to_{'erp' if side == 'crm' else 'crm'}"
            if system.hooked(entity) and _hooks_configured(config, side):
                kind = "webhook"
            elif system.probeable(entity):
                kind = "probe"
            else:
                kind = "schedule"
            cron = (entity_config.schedule or DEFAULT_SCHEDULE) if kind == "schedule" else None
            found.append(Trigger(entity, direction, system.name, kind, cron))
    return found


def entity_schedules(config: SyncConfig) -> dict[str, str]:
    """Entity -> cron of its periodic run: the configured schedule, or the default one where a
    direction has neither webhook nor probe."""
    crons = {e: config.entity(e).schedule for e in ENTITIES if config.entity(e).enabled and config.entity(e).schedule}
    for trigger in triggers(config):
        if trigger.kind == "schedule":
            crons.setdefault(trigger.entity, trigger.schedule)
    return crons
