"""ledgerbridge subscribes to the systems' webhooks itself, at start-up, idempotently.

Each system's package knows how (System.webhooks.register): it compares what the system has
registered with what it should have and changes only the difference, so a second start registers
nothing. Hooks pointing at other receivers are left alone. Nothing returned or logged contains a token.
"""

from __future__ import annotations

import logging

from ledgerbridge.config import SyncConfig
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.systems import build_connector, get
from ledgerbridge.systems.base import Registration
from ledgerbridge.webhooks.systems import webhook_secret

log = logging.getLogger("ledgerbridge.webhooks")

__all__ = ["Registration", "register_hooks"]


def register_hooks(config: SyncConfig, public_url: str) -> list[Registration]:
    public_url = public_url.rstrip("/")
    done: list[Registration] = []
    entities = set(enabled_entities(config))
    for system in (config.crm, config.erp):
        hooks = get(system.system).webhooks
        secret = webhook_secret(system)
        wanted = [e for e in hooks.resources if e in entities] if hooks else []
        if not secret or not wanted:
            continue
        connector = build_connector(system)
        try:
            done += hooks.register(connector, wanted, public_url, secret)
        finally:
            connector.close()
    for r in done:
        log.info("webhook %s/%s: %s (%s)", r.system, r.entity, r.action, r.url)
    return done
