"""Webhook firing for the emulators: subscriptions kept with the emulated data, deliveries from a
background thread.

A write to the emulated system never waits for a receiver: `HookDispatcher.deliver` only puts the
call on a bounded queue (a full queue drops the event and counts it, as a real system sheds load),
and one worker thread per emulator POSTs it with a short timeout. A receiver that is down, slow or
answering 5xx is counted in `failed` and never raises into the emulator. The worker starts on the
first delivery and ends after a quiet minute, so idle emulators in tests hold no thread.

Two subscription APIs live here:

- `WebcrmHooks`: webCRM's /{Resource}/Hooks endpoints as the Swagger spec describes them (GET list
  paged, POST -> assigned id, GET/PUT/DELETE /{id}, body `<Resource>HookDto`: Filter, EventType,
  IsEnabled, TargetUrl, Created/Updated At/By). The spec does not describe what webCRM POSTs to the
  TargetUrl, and the DTO has no secret: deliveries are unsigned. The body sent here is
  {"HookId", "EventType", "Entity", "Id", "UpdatedAt", "Data": the resource DTO}. A hook without
  EventType fires on Create, Update and Delete. Filter "All" fires for every record; the owner
  filters (Owner, OrganisationOwner, ...) refer to the API user's records, and the emulator has no
  users, so such hooks never fire.
- `EconomicHooks`: e-conomic's Webhooks API (2026) is not in the contract files, so this is a
  plausible design, not the vendor's: POST /webhooks {"name", "url", "events": ["customer.created",
  "customer.updated", "customer.deleted", "product.*"...], "secret"} -> 201 with webhookNumber;
  GET /webhooks; DELETE /webhooks/{webhookNumber}. Deliveries are thin events
  {"eventId", "eventType", "occurredAt", "data": {"customerNumber": 12}} signed with the
  subscription's secret: header `X-Economic-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>.<body>">` (timestamped, so a receiver can refuse replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import iso, utcnow

IDLE_SECONDS = 60.0


@dataclass
class Delivery:
    url: str
    status: int | None  # None: no answer (connection refused, timeout)
    event: str
    at: float


class HookDispatcher:
    """Delivers webhook calls from a background thread; never blocks or fails the caller."""

    def __init__(self, system: str, *, max_queue: int = 10_000, timeout: float = 5.0, keep: int = 1000):
        self.system = system
        self.timeout = timeout
        self.queue: queue.Queue[tuple[str, bytes, dict[str, str], str]] = queue.Queue(maxsize=max_queue)
        self.deliveries: list[Delivery] = []  # the last `keep` attempts, for tests and the benchmark
        self.keep = keep
        self.delivered = self.failed = self.dropped = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def deliver(self, url: str, body: dict[str, Any], *, event: str = "", headers: dict[str, str] | None = None,
                sign: Callable[[bytes], dict[str, str]] | None = None) -> bool:
        """Queue one POST of `body` to `url`; False when the queue is full (the event is dropped)."""
        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        all_headers = {"Content-Type": "application/json", "User-Agent": f"{self.system}-webhooks (ledgerbridge emulator)"}
        all_headers.update(headers or {})
        if sign is not None:
            all_headers.update(sign(raw))
        try:
            self.queue.put_nowait((url, raw, all_headers, event))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        self._ensure_worker()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued call has been attempted (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=f"{self.system}-webhooks", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                url, raw, headers, event = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self.queue.empty():
                        self._thread = None
                        return
                continue
            status: int | None = None
            try:
                status = self._session.post(url, data=raw, headers=headers, timeout=self.timeout).status_code
            except Exception:  # noqa: BLE001 - a receiver's failure must never reach the emulator
                status = None
            finally:
                with self._lock:
                    ok = status is not None and status < 300
                    self.delivered += ok
                    self.failed += not ok
                    self.deliveries.append(Delivery(url, status, event, time.time()))
                    del self.deliveries[: -self.keep]
                self.queue.task_done()


# -- webCRM ------------------------------------------------------------------------------------

HOOK_FIELDS = ("Filter", "EventType", "IsEnabled", "TargetUrl")
EVENT_TYPES = ("Create", "Update", "Delete")


class WebcrmHooks:
    """/{Resource}/Hooks for the webCRM emulator; subscriptions are stored in its tables."""

    def __init__(self, emulator: Any):
        self.emulator = emulator
        self.dispatcher = HookDispatcher("webcrm")

    @staticmethod
    def table(resource: str) -> str:
        return f"{resource}/Hooks"

    def routes(self, resources: Any) -> list[Route]:
        """Routes to list before /{resource}/{id} (which would otherwise take "Hooks" as an id)."""
        bind = self.emulator._bind
        out = []
        for resource in resources:
            out += [
                Route(f"/{resource}/Hooks", bind(self.collection, resource), methods=["GET", "POST"]),
                Route(f"/{resource}/Hooks/{{id}}", bind(self.item, resource), methods=["GET", "PUT", "DELETE"]),
            ]
        return out

    def fire(self, resource: str, event: str, record: dict[str, Any]) -> None:
        """Queue a delivery to every enabled hook of `resource` that wants `event` (caller may hold the lock)."""
        hooks = list(self.emulator.tables.rows.get(self.table(resource), {}).values())
        if not hooks:
            return
        from ledgerbridge.mapping.webcrm import RESOURCES, id_field

        entity = RESOURCES[resource]
        data = self.emulator._render(resource, record)
        for hook in hooks:
            if not hook.get("IsEnabled") or "All" not in (hook.get("Filter") or []):
                continue
            if hook.get("EventType") not in (None, event):
                continue
            body = {
                "HookId": hook["Id"], "EventType": event, "Entity": entity, "Id": record.get(id_field(resource)),
                "UpdatedAt": record.get(f"{entity}UpdatedAt"), "Data": data,
            }
            self.dispatcher.deliver(hook["TargetUrl"], body, event=f"{entity}.{event}")

    async def collection(self, request: Request, resource: str) -> Response:
        from ledgerbridge.emulators.webcrm import validation_problem

        rows = self.emulator.tables.rows[self.table(resource)]
        if request.method == "GET":
            with self.emulator.tables.lock:
                hooks = sorted(rows.values(), key=lambda h: h["Id"])
            return _page(request, hooks)
        body, errors = await self._valid_body(request)
        if errors:
            return validation_problem(errors)
        with self.emulator.tables.lock:
            hook_id = self.emulator.tables.next_id(self.table(resource))
            stamp = iso(utcnow())
            rows[str(hook_id)] = {**body, "Id": hook_id, "CreatedAt": stamp, "CreatedBy": "API", "UpdatedAt": stamp, "UpdatedBy": "API"}
        return JSONResponse(hook_id)

    async def item(self, request: Request, resource: str) -> Response:
        from ledgerbridge.emulators.webcrm import not_found, validation_problem

        rows = self.emulator.tables.rows[self.table(resource)]
        hook_id = request.path_params["id"]
        if not hook_id.isdigit():
            return validation_problem({"id": [f"The value '{hook_id}' is not valid."]})
        hook_id = str(int(hook_id))
        with self.emulator.tables.lock:
            current = rows.get(hook_id)
            if current is None:
                return not_found()
            if request.method == "GET":
                return JSONResponse(current)
            if request.method == "DELETE":
                del rows[hook_id]
                return Response(status_code=200)
        body, errors = await self._valid_body(request)
        if errors:
            return validation_problem(errors)
        with self.emulator.tables.lock:
            kept = {k: current[k] for k in ("Id", "CreatedAt", "CreatedBy")}
            rows[hook_id] = {**body, **kept, "UpdatedAt": iso(utcnow()), "UpdatedBy": "API"}
        return Response(status_code=200)

    @staticmethod
    async def _valid_body(request: Request) -> tuple[dict[str, Any], dict[str, list[str]]]:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return {}, {"$": ["The request body is not valid JSON."]}
        if not isinstance(body, dict):
            return {}, {"$": ["The JSON value could not be converted to a hook DTO."]}
        errors: dict[str, list[str]] = {}
        url = body.get("TargetUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            errors["TargetUrl"] = ["The TargetUrl field is required and must be an absolute http(s) URL."]
        filters = body.get("Filter")
        if not isinstance(filters, list) or not filters or not all(isinstance(f, str) for f in filters):
            errors["Filter"] = ["The Filter field is required."]
        if body.get("EventType") not in (None, *EVENT_TYPES):
            errors["EventType"] = [f"The value '{body.get('EventType')}' is not valid for EventType."]
        if not isinstance(body.get("IsEnabled", True), bool):
            errors["IsEnabled"] = ["The JSON value could not be converted to System.Boolean. Path: $.IsEnabled"]
        clean = {k: body[k] for k in HOOK_FIELDS if body.get(k) is not None}
        clean.setdefault("IsEnabled", True)
        return clean, errors


def _page(request: Request, rows: list[dict[str, Any]]) -> Response:
    try:
        page = int(request.query_params.get("Page", 1))
        size = int(request.query_params.get("Size", 100))
    except ValueError:
        page, size = 1, 100
    first = (max(page, 1) - 1) * max(size, 1)
    return JSONResponse(rows[first : first + max(size, 1)])


# -- e-conomic ---------------------------------------------------------------------------------

ECONOMIC_EVENTS = {"customers": "customer", "products": "product"}
SIGNATURE_HEADER = "X-Economic-Signature"


def economic_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>`: the header an e-conomic delivery carries."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


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
