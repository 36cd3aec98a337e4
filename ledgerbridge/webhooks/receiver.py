"""The webhook receiver: a small ASGI app that checks who is calling and appends to the inbox.

    POST /hooks/webcrm/{entity}?token=...   webCRM (unsigned: shared token in the registered URL)
    POST /hooks/economic                    e-conomic (X-Economic-Signature, HMAC-SHA256)
    GET  /healthz

Answers: 202 accepted (with the inbox id), 401 no credential, 403 wrong credential, 404 unknown
system/entity or webhooks not configured, 413 body over the limit, 400 not a JSON object, 503 the
inbox could not be written (the sender should retry). Errors are JSON {"error": ..., "detail": ...}.
The receiver does no sync work: an accepted event is one INSERT, and the inbox sensor does the rest.
"""

from __future__ import annotations

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
from ledgerbridge.webhooks.signatures import SignatureInvalid, SignatureMissing, verify_economic, verify_token
from ledgerbridge.webhooks.systems import ECONOMIC_KINDS, webhook_secret

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


def append_event(store: HubStore, system: str, entity: str | None, event: str | None, remote_id: str | None,
                 payload: str) -> int:
    with store.begin() as conn:
        result = conn.execute(
            sa.insert(T["inbox"]).values(system=system, entity=entity, event=event, remote_id=remote_id,
                                         payload=payload, received_at=utcnow())
        )
        return int(result.inserted_primary_key[0])


def parse_webcrm(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    event, remote_id = payload.get("EventType"), payload.get("Id")
    return (str(event)[:80] if event else None), (str(remote_id) if remote_id not in (None, "") else None)


def parse_economic(payload: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    event = str(payload.get("eventType") or "")
    kind = event.split(".", 1)[0]
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    number = data.get("customerNumber", data.get("productNumber"))
    return ECONOMIC_KINDS.get(kind), (event[:80] or None), (str(number) if number is not None else None)


def create_app(store: HubStore, settings: ReceiverSettings) -> Starlette:
    async def receive(request: Request, system: str, entity: str | None) -> JSONResponse:
        secret = settings.secrets.get(system)
        if secret is None:
            return problem(404, "not_configured", f"webhooks from {system} are not configured on this receiver")
        try:
            if system == "webcrm":
                verify_token(request.query_params.get("token") or request.headers.get("x-ledgerbridge-token"), secret)
            body = await read_body(request, settings.max_body_bytes)
            if system == "economic":
                verify_economic(request.headers.get("x-economic-signature"), body, secret,
                                tolerance=settings.tolerance_seconds)
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
        if system == "webcrm":
            event, remote_id = parse_webcrm(payload)
        else:
            entity, event, remote_id = parse_economic(payload)
        try:
            inbox_id = await run_in_threadpool(append_event, store, system, entity, event, remote_id,
                                               body.decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - the sender retries; we must answer, not crash
            log.exception("webhook %s: could not write the inbox", system)
            return problem(503, "inbox_unavailable", "the event could not be stored; retry later")
        return JSONResponse({"accepted": True, "inbox_id": inbox_id, "entity": entity, "event": event}, status_code=202)

    async def webcrm(request: Request) -> JSONResponse:
        entity = request.path_params["entity"]
        if entity not in ENTITIES:
            return problem(404, "unknown_entity", f"{entity!r} is not an entity; known: {', '.join(ENTITIES)}")
        return await _guarded(receive, request, "webcrm", entity)

    async def economic(request: Request) -> JSONResponse:
        return await _guarded(receive, request, "economic", None)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "systems": sorted(settings.secrets)})

    return Starlette(routes=[
        Route("/hooks/webcrm/{entity}", webcrm, methods=["POST"]),
        Route("/hooks/economic", economic, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


async def _guarded(handler: Any, request: Request, system: str, entity: str | None) -> JSONResponse:
    try:
        return await handler(request, system, entity)
    except Exception:  # noqa: BLE001 - never let one bad call take the receiver down
        log.exception("webhook %s: unexpected error", system)
        return problem(500, "internal_error", "the receiver failed on this call; it has been logged")


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"
