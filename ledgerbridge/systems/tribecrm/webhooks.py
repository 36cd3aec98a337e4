"""TribeCRM's webhooks: one subscription per entity type, signed bodies, thin mutation events.

Verification [V order, ? details]: the header (`X-Tribe-Signature` unless the deployment names
another: TribeWebhooks(signature_header=...)) carries Base64(hex(HMAC-SHA512(secret, body))), compared
in constant time. A call without the header is refused as unsigned (401), a wrong one as forged (403);
the receiver logs neither the body nor the header, only the system and the reason.

Routing: each model entity has its own receiver path (/hooks/tribecrm/<entity>), and its
subscriptions cover the role's relationship type and the party's entity type (an organisation
edit concerns its customer and its supplier role alike, so it reaches both paths). The event's id is
Tribe's `entityId`/`relationshipId` plus the mutation type; Tribe sends no delivery id [?], so the
receiver's body hash is the replay key.
"""

from __future__ import annotations

import hashlib
import hmac
import base64
from typing import Any

from ledgerbridge.systems.base import Registration, SignatureInvalid, SignatureMissing, WebhookCall, WebhookEvent

DEFAULT_SIGNATURE_HEADER = "X-Tribe-Signature"
# model entity -> Tribe entity types whose mutations concern it
HOOK_TYPES = {
    "debtors": ("Relationship.Organization.CommercialRelationship.Customer", "Relation.Organization"),
    "creditors": ("Relationship.Organization.Supplier", "Relation.Organization"),
    "contacts": ("Relationship.Person.Contact.Standard", "Relation.Person"),
    "items": ("Product",),
}


def tribe_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha512).hexdigest().encode()).decode()


class TribeWebhooks:
    secret_name = "webhook_secret"
    resources = {entity: types[0] for entity, types in HOOK_TYPES.items()}
    entity_in_path = True

    def __init__(self, signature_header: str = DEFAULT_SIGNATURE_HEADER):
        self.signature_header = signature_header

    def verify(self, call: WebhookCall, secret: str, *, tolerance: float) -> None:
        given = call.headers.get(self.signature_header.lower())
        if not given:
            raise SignatureMissing(f"the call carries no {self.signature_header} header")
        if not hmac.compare_digest(given.strip().encode(), tribe_signature(secret, call.body).encode()):
            raise SignatureInvalid("the signature does not match the body")

    def parse(self, call: WebhookCall, payload: dict[str, Any]) -> WebhookEvent:
        inner = payload.get("payload") if isinstance(payload.get("payload"), dict) else {}
        mutation = str(inner.get("type") or "")[:80] or None
        remote_id = inner.get("entityId") or inner.get("relationshipId")
        return WebhookEvent(entity=call.entity, event=mutation, remote_id=str(remote_id)[:64] if remote_id else None)

    def register(self, connector: Any, entities: list[str], public_url: str, secret: str) -> list[Registration]:
        """One webhook per (entity, type); a second call changes nothing. Tribe never shows a secret
        again, so a subscription whose headers lack our fingerprint of the secret is replaced."""
        fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:12]
        client = connector.client
        root = client.base_url.rsplit("/odata", 1)[0]  # /v1/webhooks sits beside /v1/odata
        hooks = client.request("GET", f"{root}/webhooks", what="list webhooks").json()
        registrations = []
        for entity in entities:
            url = f"{public_url}/hooks/tribecrm/{entity}"
            action = "unchanged"
            for entity_type in HOOK_TYPES[entity]:
                ours = [h for h in hooks if h.get("url") == url and h.get("entityType") == entity_type]
                current = [h for h in ours if (h.get("headers") or {}).get("X-Ledgerbridge-Secret-Id") == fingerprint]
                if not current:
                    client.request("POST", f"{root}/webhooks", what=f"register the {entity_type} webhook", json={
                        "url": url, "entityType": entity_type, "secret": secret,
                        "headers": {"X-Ledgerbridge-Secret-Id": fingerprint}})
                    action = "updated" if ours else "registered"
                for hook in ours:
                    if not current or hook is not current[0]:
                        client.request("DELETE", f"{root}/webhooks/{hook['id']}", what="delete an outdated webhook")
            registrations.append(Registration("tribecrm", entity, action, url))
        return registrations
