"""ledgerbridge subscribes to the systems' webhooks itself, at start-up, idempotently.

Each run compares what the system has registered with what it should have and changes only the
difference: a second start registers nothing; a rotated secret updates the subscription in place
(webCRM: PUT of the hook; e-conomic: delete and register again, since its secret is write-only and
the subscription's name carries a fingerprint of it). Hooks pointing at other receivers are left
alone. Nothing returned or logged contains a token.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from urllib.parse import quote

from ledgerbridge.config import SyncConfig
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.systems import build_connector
from ledgerbridge.webhooks.systems import HOOK_RESOURCES, webhook_secret

log = logging.getLogger("ledgerbridge.webhooks")

ECONOMIC_EVENTS = ("created", "updated", "deleted")


@dataclass(frozen=True)
class Registration:
    system: str
    entity: str
    action: str  # registered | updated | unchanged
    url: str  # without the token


def register_hooks(config: SyncConfig, public_url: str) -> list[Registration]:
    public_url = public_url.rstrip("/")
    done: list[Registration] = []
    entities = set(enabled_entities(config))
    for system in (config.crm, config.erp):
        secret = webhook_secret(system)
        wanted = [e for e in HOOK_RESOURCES.get(system.system, {}) if e in entities]
        if not secret or not wanted:
            continue
        connector = build_connector(system)
        try:
            if system.system == "webcrm":
                done += [_webcrm(connector, entity, public_url, secret) for entity in wanted]
            elif system.system == "economic":
                done += _economic(connector, wanted, public_url, secret)
        finally:
            connector.close()
    for r in done:
        log.info("webhook %s/%s: %s (%s)", r.system, r.entity, r.action, r.url)
    return done


def _webcrm(connector, entity: str, public_url: str, token: str) -> Registration:
    resource = HOOK_RESOURCES["webcrm"][entity]
    base = f"{public_url}/hooks/webcrm/{entity}"
    target = f"{base}?token={quote(token, safe='')}"
    wanted = {"Filter": ["All"], "IsEnabled": True, "TargetUrl": target}  # no EventType: Create, Update and Delete
    # The connector's authenticated call (login, token refresh, retries); the hook API is not a sync operation.
    hooks = connector._call("GET", f"/{resource}/Hooks", what=f"list {resource} hooks", params={"Size": 1000}).json()
    ours = [h for h in hooks if str(h.get("TargetUrl", "")).split("?", 1)[0] == base]
    exact = [h for h in ours if h.get("TargetUrl") == target and h.get("IsEnabled") and "All" in (h.get("Filter") or [])
             and not h.get("EventType")]
    if exact:
        stale = [h for h in ours if h is not exact[0]]
        action = "unchanged"
    elif ours:
        connector._call("PUT", f"/{resource}/Hooks/{ours[0]['Id']}", what=f"update {resource} hook",
                        json={**wanted, "Id": ours[0]["Id"]})
        stale, action = ours[1:], "updated"
    else:
        connector._call("POST", f"/{resource}/Hooks", what=f"register {resource} hook", json={**wanted, "Id": 0})
        stale, action = [], "registered"
    for hook in stale:  # duplicates from an earlier crash: one subscription per entity
        connector._call("DELETE", f"/{resource}/Hooks/{hook['Id']}", what=f"delete duplicate {resource} hook")
    return Registration("webcrm", entity, action, base)


def _economic(connector, entities: list[str], public_url: str, secret: str) -> list[Registration]:
    url = f"{public_url}/hooks/economic"
    name = f"ledgerbridge {hashlib.sha256(secret.encode()).hexdigest()[:12]}"  # fingerprint, not the secret
    events = sorted(f"{HOOK_RESOURCES['economic'][e]}.{ev}" for e in entities for ev in ECONOMIC_EVENTS)
    client = connector.client
    hooks = client.request("GET", "/webhooks", what="list webhooks").json().get("collection", [])
    ours = [h for h in hooks if h.get("url") == url]
    current = [h for h in ours if h.get("name") == name and sorted(h.get("events") or []) == events]
    action = "unchanged"
    if not current:
        client.request("POST", "/webhooks", what="register webhook",
                       json={"name": name, "url": url, "events": events, "secret": secret})
        action = "updated" if ours else "registered"
    for hook in ours:
        if not current or hook is not current[0]:
            client.request("DELETE", f"/webhooks/{hook['webhookNumber']}", what="delete an outdated webhook")
    return [Registration("economic", e, action, url) for e in entities]
