"""The webhook receiver: a small ASGI app that checks who is calling and appends to the inbox.

One route per registered system with webhooks, as its package declares (System.webhooks):

    POST /hooks/<system>/{entity}   systems whose deliveries do not name the entity (webCRM)
    POST /hooks/<system>            systems whose events do (e-conomic)
    GET  /healthz

The system's package verifies the call (token, signature) and parses it; the receiver only reads
the body within its limit, refuses what does not verify, and stores the event. Replays: an event
whose key (the sender's event id, else a hash of the body) is in the inbox already is not stored
again; the answer is 200 with "duplicate": true, so a sender retrying after a lost answer stops.

Answers: 202 accepted (with the inbox id), 200 duplicate, 401 no credential, 403 wrong credential,
404 unknown system/entity or webhooks not configured, 413 body over the limit, 400 not a JSON
object, 503 the inbox could not be written (the sender should retry). Errors are JSON {"error": ...,
"detail": ...}. The receiver does no sync work: an accepted event is one INSERT, and the inbox
sensor does the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ledgerbridge.config import SyncConfig
from ledgerbridge.model import ENTITIES
from ledgerbridge.store import T, HubStore, utcnow
from ledgerbridge.systems import systems
from ledgerbridge.systems.base import SignatureInvalid, SignatureMissing, WebhookCall, WebhookEvent
from ledgerbridge.webhooks.systems import webhook_secret

log = logging.getLogger("ledgerbridge.webhooks")

MAX_BODY_BYTES = 256 * 1024  # a webCRM DTO is a few KiB; e-conomic events are thin


@dataclass(frozen=True)
class ReceiverSettings:
    secrets: dict[str, str] = field(default_factory=dict)  # system -> webhook secret/token
    max_body_bytes: int = MAX_BODY_BYTES
    tolerance_seconds: float = 300.0

    def __repr__(self) -> str:  # never the secrets
        return f"ReceiverSettings(systems={sorted(self.secrets)}, max_body_bytes={self.max_body_bytes})"


def settings_from_config(config: SyncConfig, **kw: Any) -> ReceiverSettings:
    secrets = {s.system: v for s in (config.crm, config.erp) if (v := webhook_secret(s))}
    return ReceiverSettings(secrets=secrets, **kw)


class BodyTooLarge(Exception):
    pass


def problem(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class Duplicate(Exception):
    def __init__(self, inbox_id: int | None):
        super().__init__("event seen before")
        self.inbox_id = inbox_id


def event_key(system: str, event: WebhookEvent, body: bytes) -> str:
    """What makes an event unique: the sender's id for it, else the exact body."""
    if event.event_id:
        return f"{system}:id:{event.event_id}"[:250]
    return f"{system}:sha256:{hashlib.sha256(body).hexdigest()}"


def append_event(store: HubStore, system: str, event: WebhookEvent, payload: str, key: str) -> int:
    inbox = T["inbox"]
    try:
        with store.begin() as conn:
            result = conn.execute(
                sa.insert(inbox).values(system=system, entity=event.entity, event=event.event,
                                        remote_id=event.remote_id, payload=payload, received_at=utcnow(),
                                        event_key=key)
            )
            return int(result.inserted_primary_key[0])
    except sa.exc.IntegrityError:
        with store.connect() as conn:
            seen = conn.execute(sa.select(inbox.c.id).where(inbox.c.event_key == key)).scalar()
        if seen is None:
            raise  # another constraint: not a replay
        raise Duplicate(seen) from None


def create_app(store: HubStore, settings: ReceiverSettings) -> Starlette:
    hooked = {name: system.webhooks for name, system in systems().items() if system.webhooks is not None}

    async def receive(request: Request, system: str, entity: str | None) -> JSONResponse:
        secret = settings.secrets.get(system)
        if secret is None:
            return problem(404, "not_configured", f"webhooks from {system} are not configured on this receiver")
        hooks = hooked[system]
        try:
            body = await read_body(request, settings.max_body_bytes)
            call = WebhookCall(headers=request.headers, query=request.query_params, body=body, entity=entity)
            hooks.verify(call, secret, tolerance=settings.tolerance_seconds)
        except SignatureMissing as exc:
            log.warning("webhook %s: refused an unsigned call from %s: %s", system, _client(request), exc)
            return problem(401, "unauthenticated", str(exc))
        except SignatureInvalid as exc:
            log.warning("webhook %s: refused a forged or stale call from %s: %s", system, _client(request), exc)
            return problem(403, "forbidden", str(exc))
        except BodyTooLarge:
            log.warning("webhook %s: refused a body over %d bytes from %s", system, settings.max_body_bytes, _client(request))
            return problem(413, "payload_too_large", f"the body exceeds {settings.max_body_bytes} bytes")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("webhook %s: malformed JSON (%d bytes) from %s: %s", system, len(body), _client(request), exc)
            return problem(400, "malformed_json", f"the body is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            log.warning("webhook %s: JSON body is a %s, not an object", system, type(payload).__name__)
            return problem(400, "malformed_json", "the body must be a JSON object")
        event = hooks.parse(call, payload)
        try:
            inbox_id = await run_in_threadpool(append_event, store, system, event, body.decode("utf-8", "replace"),
                                               event_key(system, event, body))
        except Duplicate as seen:
            log.warning("webhook %s: a replayed event (inbox id %s) was dropped", system, seen.inbox_id)
            return JSONResponse({"accepted": True, "duplicate": True, "inbox_id": seen.inbox_id}, status_code=200)
        except Exception:  # noqa: BLE001 - the sender retries; we must answer, not crash
            log.exception("webhook %s: could not write the inbox", system)
            return problem(503, "inbox_unavailable", "the event could not be stored; retry later")
        return JSONResponse({"accepted": True, "inbox_id": inbox_id, "entity": event.entity, "event": event.event},
                            status_code=202)

    def route(name: str, entity_in_path: bool) -> Route:
        async def with_entity(request: Request) -> JSONResponse:
            entity = request.path_params["entity"]
            if entity not in ENTITIES:
                return problem(404, "unknown_entity", f"{entity!r} is not an entity; known: {', '.join(ENTITIES)}")
            return await _guarded(receive, request, name, entity)

        async def without_entity(request: Request) -> JSONResponse:
            return await _guarded(receive, request, name, None)

        if entity_in_path:
            return Route(f"/hooks/{name}/{{entity}}", with_entity, methods=["POST"])
        return Route(f"/hooks/{name}", without_entity, methods=["POST"])

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "systems": sorted(settings.secrets)})

    routes = [route(name, hooks.entity_in_path) for name, hooks in hooked.items()]
    return Starlette(routes=[*routes, Route("/healthz", healthz, methods=["GET"])])


async def _guarded(handler: Any, request: Request, system: str, entity: str | None) -> JSONResponse:
    try:
        return await handler(request, system, entity)
    except Exception:  # noqa: BLE001 - never let one bad call take the receiver down
        log.exception("webhook %s: unexpected error", system)
        return problem(500, "internal_error", "the receiver failed on this call; it has been logged")


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"
