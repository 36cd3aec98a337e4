"""Which configured systems call us by webhook, for which entities, and with which secret.

A system has webhooks configured when its section of the sync configuration names the environment
variable holding the webhook secret (like every other credential), under the name its package
declares (`System.webhooks.secret_name`):

    crm: {system: webcrm, secrets: {api_key: WEBCRM_API_KEY, webhook_token: WEBCRM_WEBHOOK_TOKEN}}
    erp: {system: economic, secrets: {..., webhook_secret: ECONOMIC_WEBHOOK_SECRET}}

Entities of a system without a configured hook (or that its hooks do not cover) are watched by
change probes or schedules instead (see ledgerbridge.systems.triggers).
"""

from __future__ import annotations

from ledgerbridge.config import SyncConfig, SystemConfig
from ledgerbridge.systems import get


def hooks_configured(system: SystemConfig) -> bool:
    hooks = get(system.system).webhooks
    return hooks is not None and hooks.secret_name in system.secrets


def hooked_entities(config: SyncConfig) -> dict[str, set[str]]:
    """System name -> the entities whose changes arrive by webhook."""
    return {
        s.system: set(get(s.system).webhooks.resources) if hooks_configured(s) else set()
        for s in (config.crm, config.erp)
    }


def webhook_secret(system: SystemConfig) -> str | None:
    """The secret's value from the environment; None when not configured (raises when named but unset)."""
    return system.secret(get(system.system).webhooks.secret_name) if hooks_configured(system) else None
