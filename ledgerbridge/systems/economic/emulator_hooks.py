"""e-conomic's webhooks for the emulator.

e-conomic's Webhooks API (2026) is not in the contract files, so this is a plausible design, not
the vendor's: POST /webhooks {"name", "url", "events": ["customer.created", "customer.updated",
"customer.deleted", "product.*"...], "secret"} -> 201 with webhookNumber; GET /webhooks; DELETE
/webhooks/{webhookNumber}. Deliveries are thin events {"eventId", "eventType", "occurredAt",
"data": {"customerNumber": 12}} signed with the subscription's secret: header
`X-Economic-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (timestamped, so a
receiver can refuse replays).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import iso, utcnow
from ledgerbridge.emulators.hooks import HookDispatcher
from ledgerbridge.systems.economic.signature import SIGNATURE_HEADER, economic_signature

ECONOMIC_EVENTS = {"customers": "customer", "products": "product"}
class EconomicHooks:
    """/webhooks for the e-conomic emulator (a plausible design; the contract files have none)."""

    TABLE = "webhooks"

    def __init__(self, emulator: Any):
        self.emulator = emulator
        self.dispatcher = HookDispatcher("economic")

    def routes(self) -> list[Route]:
        e = self.emulator._endpoint
        return [
            Route("/webhooks", e(self._list), methods=["GET"]),
            Route("/webhooks", e(self._create), methods=["POST"]),
            Route("/webhooks/{key}", e(self._get), methods=["GET"]),
            Route("/webhooks/{key}", e(self._delete), methods=["DELETE"]),
        ]

    def fire(self, table: str, event: str, record: dict[str, Any]) -> None:
        """`event` is created | updated | deleted; caller may hold the tables lock."""
        kind = ECONOMIC_EVENTS.get(table)
        hooks = list(self.emulator.tables.rows.get(self.TABLE, {}).values())
        if kind is None or not hooks:
            return
        key = "customerNumber" if kind == "customer" else "productNumber"
        event_type = f"{kind}.{event}"
        for hook in hooks:
            if event_type not in hook["events"] and f"{kind}.*" not in hook["events"]:
                continue
            body = {"eventId": str(uuid.uuid4()), "eventType": event_type, "occurredAt": iso(utcnow()),
                    "data": {key: record.get(key)}}
            secret = hook["secret"]
            self.dispatcher.deliver(hook["url"], body, event=event_type,
                                    sign=lambda raw, s=secret: {SIGNATURE_HEADER: economic_signature(s, raw)})

    def _public(self, hook: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in hook.items() if k != "secret"}  # the secret is write-only

    def _list(self, request: Request, body: Any) -> Response:
        hooks = [self._public(h) for h in self.emulator.tables.rows[self.TABLE].values()]
        return JSONResponse({"collection": hooks, "pagination": {"results": len(hooks)}})

    def _get(self, request: Request, body: Any, key: str) -> Response:
        hook = self.emulator.tables.rows[self.TABLE].get(key)
        if hook is None:
            return JSONResponse({"message": f"Webhook {key} was not found.", "httpStatusCode": 404}, status_code=404)
        return JSONResponse(self._public(hook))

    def _create(self, request: Request, body: dict) -> Response:
        problems = []
        if not isinstance(body.get("url"), str) or not body["url"].startswith(("http://", "https://")):
            problems.append("url must be an absolute http(s) URL.")
        events = body.get("events")
        known = {f"{k}.{e}" for k in ECONOMIC_EVENTS.values() for e in ("created", "updated", "deleted", "*")}
        known |= {f"{k}.*" for k in ECONOMIC_EVENTS.values()}
        if not isinstance(events, list) or not events or not set(events) <= known:
            problems.append(f"events must be a non-empty list of {sorted(known)}.")
        if not isinstance(body.get("secret"), str) or len(body["secret"]) < 16:
            problems.append("secret must be a string of at least 16 characters.")
        if problems:
            return JSONResponse({"message": "Validation error: " + " ".join(problems), "httpStatusCode": 400},
                                status_code=400)
        number = self.emulator.tables.next_id(self.TABLE)
        hook = {"webhookNumber": number, "name": str(body.get("name") or f"webhook {number}")[:100], "url": body["url"],
                "events": list(events), "secret": body["secret"], "createdAt": iso(utcnow())}
        self.emulator.tables.rows[self.TABLE][str(number)] = hook
        return JSONResponse(self._public(hook), status_code=201)

    def _delete(self, request: Request, body: Any, key: str) -> Response:
        if self.emulator.tables.rows[self.TABLE].pop(key, None) is None:
            return JSONResponse({"message": f"Webhook {key} was not found.", "httpStatusCode": 404}, status_code=404)
        return Response(status_code=204)


def new_secret() -> str:
    return secrets.token_urlsafe(32)
