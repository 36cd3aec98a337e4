"""webCRM's /{Resource}/Hooks for the emulator, as the Swagger spec describes them.

GET list (paged), POST -> assigned id, GET/PUT/DELETE /{id}, body `<Resource>HookDto`: Filter,
EventType, IsEnabled, TargetUrl, Created/Updated At/By. The spec does not describe what webCRM
POSTs to the TargetUrl, and the DTO has no secret: deliveries are unsigned. The body sent here is
{"HookId", "EventType", "Entity", "Id", "UpdatedAt", "Data": the resource DTO}. A hook without
EventType fires on Create, Update and Delete. Filter "All" fires for every record; the owner
filters (Owner, OrganisationOwner, ...) refer to the API user's records, and the emulator has no
users, so such hooks never fire.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import iso, utcnow
from ledgerbridge.emulators.hooks import HookDispatcher
from ledgerbridge.systems.webcrm.contract import RESOURCES, id_field
from ledgerbridge.systems.webcrm.problems import not_found, validation_problem

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
