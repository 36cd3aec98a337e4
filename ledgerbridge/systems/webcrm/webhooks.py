"""webCRM's webhooks: /{Resource}/Hooks subscriptions, unsigned deliveries, a token in the URL.

The hook DTO (OrganisationHookDto etc.: Filter, EventType, IsEnabled, TargetUrl) has no secret and
webCRM does not sign deliveries, so the only proof possible is a shared secret inside the registered
TargetUrl: `.../hooks/webcrm/debtors?token=<secret>`. It is as strong as the secrecy of that URL
(use HTTPS; the receiver's access log is off so the token is never written). The delivery body
(as the emulator sends it: {"HookId", "EventType", "Entity", "Id", "UpdatedAt", "Data"}) carries no
delivery id, so the receiver's replay check uses a hash of the body (UpdatedAt changes per write).

Registration is idempotent: one hook per entity; a rotated token updates it in place (PUT), and
duplicates from an earlier crash are deleted. Hooks pointing at other receivers are left alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ledgerbridge.systems.base import Registration, WebhookCall, WebhookEvent
from ledgerbridge.webhooks.signatures import verify_token

# model entity -> webCRM resource with /Hooks
HOOK_RESOURCES = {"debtors": "Organisations", "contacts": "Persons", "items": "Products", "invoices": "Deliveries"}


class WebcrmWebhooks:
    secret_name = "webhook_token"
    resources = HOOK_RESOURCES
    entity_in_path = True

    def verify(self, call: WebhookCall, secret: str, *, tolerance: float) -> None:
        verify_token(call.query.get("token") or call.headers.get("x-ledgerbridge-token"), secret)

    def parse(self, call: WebhookCall, payload: dict[str, Any]) -> WebhookEvent:
        event, remote_id = payload.get("EventType"), payload.get("Id")
        return WebhookEvent(
            entity=call.entity,
            event=str(event)[:80] if event else None,
            remote_id=str(remote_id) if remote_id not in (None, "") else None,
        )

    def register(self, connector: Any, entities: list[str], public_url: str, secret: str) -> list[Registration]:
        return [_register(connector, entity, public_url, secret) for entity in entities]


def _register(connector: Any, entity: str, public_url: str, token: str) -> Registration:
    resource = HOOK_RESOURCES[entity]
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
