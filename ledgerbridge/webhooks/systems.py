"""Which systems can call us, which entities their hooks cover, and where their secret is named.

A system has webhooks configured when its section of the sync configuration names the environment
variable holding the webhook secret (like every other credential):

    crm: {system: webcrm, secrets: {api_key: WEBCRM_API_KEY, webhook_token: WEBCRM_WEBHOOK_TOKEN}}
    erp: {system: economic, secrets: {..., webhook_secret: ECONOMIC_WEBHOOK_SECRET}}

Entities of a system without a configured hook (or that its hooks do not cover) are watched by
the change-probe sensors instead.
"""

from __future__ import annotations

from ledgerbridge.config import SyncConfig, SystemConfig

SECRET_NAME = {"webcrm": "webhook_token", "economic": "webhook_secret"}
# model entity -> the system's hook resource / event kind
HOOK_RESOURCES = {
    "webcrm": {"debtors": "Organisations", "contacts": "Persons", "items": "Products", "invoices": "Deliveries"},
    "economic": {"debtors": "customer", "items": "product"},
}
ECONOMIC_KINDS = {kind: entity for entity, kind in HOOK_RESOURCES["economic"].items()}


def hooks_configured(system: SystemConfig) -> bool:
    return SECRET_NAME.get(system.system, "") in system.secrets


def hooked_entities(config: SyncConfig) -> dict[str, set[str]]:
    """System name -> the entities whose changes arrive by webhook."""
    return {
        s.system: set(HOOK_RESOURCES.get(s.system, {})) if hooks_configured(s) else set()
        for s in (config.crm, config.erp)
    }


def webhook_secret(system: SystemConfig) -> str | None:
    """The secret's value from the environment; None when not configured (raises when named but unset)."""
    return system.secret(SECRET_NAME[system.system]) if hooks_configured(system) else None
