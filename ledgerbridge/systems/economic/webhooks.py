"""e-conomic's webhooks: one subscription for all entities, thin signed events.

Verification: X-Economic-Signature (signature.py), timestamped; the event's own `eventId` is the
replay key the receiver stores. Registration is idempotent: the subscription's name carries a
fingerprint of the secret (e-conomic's secret is write-only), so a rotated secret deletes and
registers again; a second start changes nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ledgerbridge.systems.base import Registration, WebhookCall, WebhookEvent
from ledgerbridge.systems.economic.signature import verify_economic

HOOK_RESOURCES = {"debtors": "customer", "items": "product"}  # model entity -> event kind
KINDS = {kind: entity for entity, kind in HOOK_RESOURCES.items()}
EVENTS = ("created", "updated", "deleted")


class EconomicWebhooks:
    secret_name = "webhook_secret"
    resources = HOOK_RESOURCES
    entity_in_path = False

    def verify(self, call: WebhookCall, secret: str, *, tolerance: float) -> None:
        verify_economic(call.headers.get("x-economic-signature"), call.body, secret, tolerance=tolerance)

    def parse(self, call: WebhookCall, payload: dict[str, Any]) -> WebhookEvent:
        event = str(payload.get("eventType") or "")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        number = data.get("customerNumber", data.get("productNumber"))
        event_id = payload.get("eventId")
        return WebhookEvent(
            entity=KINDS.get(event.split(".", 1)[0]),
            event=event[:80] or None,
            remote_id=str(number) if number is not None else None,
            event_id=str(event_id)[:200] if event_id else None,
        )

    def register(self, connector: Any, entities: list[str], public_url: str, secret: str) -> list[Registration]:
        url = f"{public_url}/hooks/economic"
        name = f"ledgerbridge {hashlib.sha256(secret.encode()).hexdigest()[:12]}"  # fingerprint, not the secret
        events = sorted(f"{HOOK_RESOURCES[e]}.{ev}" for e in entities for ev in EVENTS)
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
