"""Uniconta's Change-URL webhooks: unsigned calls, a token in the URL, the record read back.

Uniconta calls a registered URL on every insert, update and delete of a master-data table (not of
transactions such as orders), with CompanyId, Table, Key, RowId and Operation in the query and,
with the registration's "Post" box ticked, the record as the JSON body (NOTES.md §6). It signs
nothing, so the only proof is a shared secret inside the registered URL:
`.../hooks/uniconta/debtors?token=<secret>` (use HTTPS; the receiver's access log is off). The body
is never trusted either: it only names the record; the sync reads it back from Uniconta's API (the
inbox sensor starts a pull), and `read_back` is that check for one event (a call naming a record
that does not exist there is dropped).

Registrations are the entity TableChangeEventClient (TableId, Url, Post) [O]; registering is
idempotent: one registration per table at our receiver, a rotated token updates it in place,
duplicates are deleted, registrations pointing elsewhere are left alone. The receiver accepts POST
with a JSON body only, so registrations are made with Post.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ledgerbridge.connectors.base import RemoteRecord
from ledgerbridge.systems.base import Registration, WebhookCall, WebhookEvent
from ledgerbridge.systems.uniconta import contract
from ledgerbridge.systems.uniconta.mapping import MAPS
from ledgerbridge.webhooks.signatures import verify_token

# model entity -> Uniconta table with Change URLs (the sheet registers Debtor and InvItem; contacts
# are master data too). Employees and orders have none: they are probed.
HOOK_TABLES = {"debtors": "Debtor", "contacts": "Contact", "items": "InvItem"}
REGISTRATION = "TableChangeEventClient"


class UnicontaWebhooks:
    secret_name = "webhook_token"
    resources = HOOK_TABLES
    entity_in_path = True

    def verify(self, call: WebhookCall, secret: str, *, tolerance: float) -> None:
        verify_token(call.query.get("token") or call.headers.get("x-ledgerbridge-token"), secret)

    def parse(self, call: WebhookCall, payload: dict[str, Any]) -> WebhookEvent:
        table, operation = call.query.get("Table"), call.query.get("Operation")
        entity = next((e for e, t in HOOK_TABLES.items() if t == table), None)
        if call.entity is not None and entity != call.entity:
            entity = call.entity if table is None else None  # a Table that contradicts the URL names nothing
        key = call.query.get("RowId") if entity == "contacts" else call.query.get("Key")
        return WebhookEvent(entity=entity, event=str(operation)[:80] if operation else None,
                            remote_id=str(key)[:200] if key else None)

    def register(self, connector: Any, entities: list[str], public_url: str, secret: str) -> list[Registration]:
        existing = connector._query_api(REGISTRATION)
        return [_register(connector, existing, entity, public_url, secret) for entity in entities]


def _register(connector: Any, existing: list[dict[str, Any]], entity: str, public_url: str, token: str) -> Registration:
    table_id = contract.ENTITIES[MAPS[entity].api].table_id
    base = f"{public_url}/hooks/uniconta/{entity}"
    target = f"{base}?token={quote(token, safe='')}"
    ours = [r for r in existing if r.get("TableId") == table_id and str(r.get("Url", "")).split("?", 1)[0] == base]
    exact = [r for r in ours if r.get("Url") == target and r.get("Post")]
    if exact:
        stale, action = [r for r in ours if r is not exact[0]], "unchanged"
    elif ours:
        connector._write_api("PUT", "Update", REGISTRATION, {**ours[0], "Url": target, "Post": True})
        stale, action = ours[1:], "updated"
    else:
        connector._write_api("POST", "Insert", REGISTRATION, {"TableId": table_id, "Url": target, "Post": True})
        stale, action = [], "registered"
    for registration in stale:
        connector._write_api("DELETE", "Delete", REGISTRATION, {"RowId": registration["RowId"]})
    return Registration("uniconta", entity, action, base)


def read_back(connector: Any, event: WebhookEvent) -> RemoteRecord | None:
    """The record an event names, as Uniconta's API holds it (None: it is not there, e.g. deleted)."""
    if event.entity is None or event.remote_id is None:
        return None
    return connector.get(event.entity, event.remote_id)
