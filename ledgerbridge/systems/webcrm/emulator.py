"""webCRM REST API v1 emulator, following the Swagger 2.0 spec (api.webcrm.com/swagger).

Implemented: POST /Auth/ApiLogin (multipart authCode -> TokenResponseDto), POST /Auth/ApiRefresh,
and for Organisations, Persons, Products, Deliveries and QuotationLines: GET (paged), POST,
PATCH (upsert, returns ids), GET/PUT /{id} (DELETE for Products and QuotationLines), the date
windows the spec gives (startDate <= date < endDate, paged): FindByUpdateDates and
FindByCreateDates for Organisations, FindByCreateDates for Deliveries, none for the others; and
GET /Organisations/{id}/Persons, GET /Deliveries/{id}/QuotationLines.

Choices where the spec is silent (documented so tests and connector agree):
- A wrong authCode answers 401 with a TokenResponseDto body (IsError=true), so clients that look
  at the status and clients that look at IsError both see it.
- Validation errors answer 400 with an ASP.NET Core ValidationProblemDetails body; its `errors`
  are keyed by DTO field name ("[i].Field" inside a PATCH array). A PATCH is validated whole
  before anything is written.
- POST answers 200 with the assigned id (int32) where the spec declares it (Persons, Products,
  Deliveries, QuotationLines) and with no body where it declares none (Organisations); PUT answers
  200 with no body. No Location header (the spec declares none).
- Quotation lines are written as QuotationLineUpdateDto (QuotationLineLinkedDataId is accepted and
  type-checked, but not stored: the read DTO has no place for it). A line's parent is
  QuotationLineOpportunityId, which must name an existing delivery (the emulator has no
  opportunities); a delivery's DeliveryOrganisationId must name an existing organisation.
- The spec declares no maxLength on DeliveryDto or QuotationLineDto, so none is enforced there.
- PUT replaces the record (fields left out go back to empty); PATCH changes only the fields sent.
- Responses carry the whole DTO: empty text is "", numbers 0, booleans false (as webCRM answers);
  unset date-times are left out, since the spec's schemas do not allow null.
- Timestamps are UTC with milliseconds ("...T10:00:00.123Z") and strictly increasing across all
  writes, so a pull from an update-date cursor never misses a write; naive dates in a path are UTC.
- Paging: Page defaults to 1, Size to 100; values outside the spec's bounds answer 400.
- Paths the connector does not use are not served, though the spec has them (LinkedData,
  LinkedSetup, ByOrganisation, ..., /Organisations/{id}/Events, Budgets, ...): they answer 404 like
  a path the real API lacks, with ASP.NET Core's problem body, so nothing comes to depend on them
  unnoticed. A non-numeric id that is none of the spec's literal segments answers 400, as webCRM's
  int route parameter does.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from ledgerbridge.emulators.base import Emulator, bulk_stamps, iso
from ledgerbridge.systems.webcrm import mapping as webcrm_mapping
from ledgerbridge.systems.webcrm.contract import parse_timestamp
from ledgerbridge.systems.webcrm.emulator_hooks import WebcrmHooks
from ledgerbridge.systems.webcrm.ordered import Order
from ledgerbridge.systems.webcrm.problems import ValidationFailed, not_found, validation_problem
from ledgerbridge.systems.webcrm.contract import (
    DELETABLE, DTO_FIELDS, FIND_BY_DATES, POST_RETURNS_ID, REFERENCES, REQUIRED, RESOURCES, SERVER_FIELDS,
    reference_targets,
    WRITE_DTO_FIELDS, id_field,
)

# The literal path segments after a resource in the spec (/Organisations/LinkedData, ...): another
# route in the real API, never an id; the emulator serves those listed in routes() only.
SPEC_SEGMENTS = frozenset({
    "AllActive", "ByChannel", "ByOrganisation", "ByPipelineLevel", "ByResponsible", "ByResponsible2", "ByStatus",
    "FindByCreateDates", "FindByUpdateDates", "Hooks", "LinkedData", "LinkedSetup",
})

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Distinct id ranges per resource, so a test that mixes up an organisation id and a person id fails.
ID_START = {"Organisations": 1, "Persons": 100_001, "Products": 500_001, "Deliveries": 700_001, "QuotationLines": 900_001,
            "Users": 10_001, "Opportunities": 800_001}
DEFAULT_SIZE = 100
INT32 = (-(2**31), 2**31 - 1)


def _ms_ceil(ts: datetime) -> int:
    """Milliseconds since the epoch, rounded up: with integer-ms stamps, `stamp >= t` iff `stamp >= ceil(t)`."""
    delta = ts - EPOCH
    ms, rest = divmod(delta // timedelta(microseconds=1), 1000)
    return ms + (1 if rest else 0)


def _ms_iso(ms: int) -> str:
    return iso(EPOCH + timedelta(milliseconds=ms))


class WebcrmEmulator(Emulator):
    system = "webcrm"

    def __init__(self, state_file=None, api_keys=("test-api-key",), token_ttl: int = 3600, **kw: Any):
        super().__init__(state_file, **kw)
        self.api_keys = frozenset(api_keys)
        self.token_ttl = token_ttl
        self._tokens: dict[str, float] = {}  # access token -> expiry (time.monotonic); memory only
        self._refresh_tokens: set[str] = set()
        self.hooks = WebcrmHooks(self)  # /{Resource}/Hooks; fires on every write (see emulator_hooks.py)
        self._orders: dict[tuple[str, str | None], Order] = {}  # (resource, date field or None: by id)
        self._writes = 0  # writes through the API or the helpers: an Order older than that is stale

    # -- in-process helpers (no HTTP; same stamping as the API) -------------------------------
    def insert_raw(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a DTO as a POST would, without validation (to plant data the API would refuse)."""
        with self.tables.lock:
            return self._render(resource, self._store(resource, None, dict(record), replace=True))

    def insert_many_raw(self, resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store DTOs as a bulk import would: ids as a POST assigns them, stamped 1 ms apart ending at
        now (emulators.base.bulk_stamps), not starting there; without validation."""
        with self.tables.lock:
            stamps = bulk_stamps(self.tables.counters["_stamp_ms"], time.time_ns() // 1_000_000, len(records))
            stored = [self._render(resource, self._store(resource, None, dict(record), replace=True, stamp=_ms_iso(ms)))
                      for record, ms in zip(records, stamps)]
            if stamps:
                self.tables.counters["_stamp_ms"] = max(self.tables.counters["_stamp_ms"], stamps[-1])
            return stored

    def update_raw(self, resource: str, id: int | str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a stored record as a PATCH would, without validation."""
        with self.tables.lock:
            if str(id) not in self.tables.rows[resource]:
                raise KeyError(f"{resource} {id} does not exist")
            return self._render(resource, self._store(resource, str(id), dict(changes), replace=False))

    def seed(
        self, entity: str, values_list: list[dict[str, Any]], mapping: webcrm_mapping.WebcrmMapping | None = None
    ) -> list[str]:
        """Store model records (model field names) through the mapping (default: the default
        layout, number in OrganisationExtraCustom1) as one bulk import (insert_many_raw: stamped up
        to now, not from now on); returns their remote ids."""
        m = mapping or webcrm_mapping.DEFAULT
        resource = m.resource(entity)
        if entity == "payments":  # a payment is written onto its invoice's delivery (values["invoice_id"])
            return [str(self.update_raw(resource, values["invoice_id"], m.to_remote(entity, values))[id_field(resource)])
                    for values in values_list]
        stored = self.insert_many_raw(resource, [m.to_remote(entity, values) for values in values_list])
        return [str(record[id_field(resource)]) for record in stored]

    def all_raw(self, resource: str) -> list[dict[str, Any]]:
        with self.tables.lock:
            rows = sorted(self.tables.rows[resource].values(), key=lambda r: r[id_field(resource)])
            return [self._render(resource, r) for r in rows]

    def get_raw(self, resource: str, id: int | str) -> dict[str, Any] | None:
        with self.tables.lock:
            stored = self.tables.rows[resource].get(str(id))
            return self._render(resource, stored) if stored else None

    def expire_tokens(self) -> None:
        """Let every issued access token expire now (to exercise a client's token refresh)."""
        self._tokens = dict.fromkeys(self._tokens, 0.0)

    # -- storage ------------------------------------------------------------------------------
    def _stamp(self) -> str:
        """Now, in ms, strictly after the previous write's stamp (persisted with the tables)."""
        now_ms = time.time_ns() // 1_000_000
        ms = max(now_ms, self.tables.counters["_stamp_ms"] + 1)
        self.tables.counters["_stamp_ms"] = ms
        return _ms_iso(ms)

    def _store(self, resource: str, id: str | None, body: dict[str, Any], *, replace: bool,
               stamp: str | None = None) -> dict[str, Any]:
        """Insert (id None) or update; caller holds the lock. Server fields in `body` are ignored.
        `stamp`: the update time to give (a bulk import's); default: the next write's (_stamp)."""
        prefix = RESOURCES[resource]
        server = {prefix + f for f in SERVER_FIELDS}
        current = self.tables.rows[resource].get(id) if id else None
        changes = {k: v for k, v in body.items() if k in DTO_FIELDS[resource] and k not in server}
        if current is None or replace:
            kept = {k: v for k, v in (current or {}).items() if k in server}
            record = {**kept, **changes}
        else:
            record = {**current, **changes}
        record = {k: v for k, v in record.items() if v is not None}
        self._writes += 1
        stamp = stamp or self._stamp()
        if current is None:
            new_id = self.tables.next_id(resource, start=ID_START[resource])
            record.update({prefix + "Id": new_id, prefix + "CreatedAt": stamp, prefix + "CreatedBy": "API"})
        record.update({prefix + "UpdatedAt": stamp, prefix + "UpdatedBy": "API"})
        if resource == "Persons":
            # webCRM computes the full name from its parts.
            full = webcrm_mapping.person_full_name(record)
            if full:
                record["PersonName"] = full
        self.tables.rows[resource][str(record[prefix + "Id"])] = record
        self.hooks.fire(resource, "Create" if current is None else "Update", record)
        return record

    @staticmethod
    def _render(resource: str, stored: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, f in DTO_FIELDS[resource].items():
            if name in stored:
                out[name] = stored[name]
            elif f.enum:
                out[name] = f.enum[0]
            elif f.type != "date-time":
                out[name] = {"string": "", "integer": 0, "number": 0.0, "boolean": False}[f.type]
        return out

    # -- validation ---------------------------------------------------------------------------
    def _field_errors(self, resource: str, body: Any, key: str = "") -> dict[str, list[str]]:
        """Type and maxLength errors of one DTO body, keyed like ASP.NET model state."""
        if not isinstance(body, dict):
            return {key or "$": ["The JSON value could not be converted to a DTO object."]}
        errors: dict[str, list[str]] = {}
        for name, value in body.items():
            f = WRITE_DTO_FIELDS[resource].get(name)
            if f is None or value is None:
                continue  # unknown properties are ignored, null clears, as in ASP.NET Core
            problem = None
            if f.type in ("string", "date-time") and not isinstance(value, str):
                problem = f"The JSON value could not be converted to System.String. Path: $.{name}"
            elif f.type == "integer" and (isinstance(value, bool) or not isinstance(value, int) or not INT32[0] <= value <= INT32[1]):
                problem = f"The JSON value could not be converted to System.Int32. Path: $.{name}"
            elif f.type == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                problem = f"The JSON value could not be converted to System.Double. Path: $.{name}"
            elif f.type == "boolean" and not isinstance(value, bool):
                problem = f"The JSON value could not be converted to System.Boolean. Path: $.{name}"
            elif f.type == "date-time" and not _is_datetime(value):
                problem = f"The JSON value could not be converted to System.DateTime. Path: $.{name}"
            elif f.enum and value not in f.enum:
                problem = f"The value '{value}' is not valid for {name}."
            elif f.max_length is not None and len(value) > f.max_length:
                problem = f"The field {name} must be a string or array type with a maximum length of '{f.max_length}'."
            if problem:
                errors[key + name] = [problem]
        return errors

    def _record_errors(self, resource: str, record: dict[str, Any], key: str = "") -> dict[str, list[str]]:
        """Rules on the record as it would be stored: required fields, the person's organisation."""
        errors: dict[str, list[str]] = {}
        for name in REQUIRED[resource]:
            if record.get(name) in (None, "", 0):
                errors[key + name] = [f"The {name} field is required."]
        for (owner, name), target in REFERENCES.items():
            ref = record.get(name)
            targets = reference_targets(target)
            if owner == resource and ref and not any(str(ref) in self.tables.rows[t] for t in targets):
                errors[key + name] = [f"{' or '.join(RESOURCES[t] for t in targets)} {ref} does not exist."]
        return errors

    def _checked_write(self, resource: str, id: str | None, body: Any, *, replace: bool, key: str = "") -> dict[str, Any]:
        """Validate, then store; caller holds the lock. Raises ValidationFailed."""
        errors = self._field_errors(resource, body, key)
        if not errors:
            current = self.tables.rows[resource].get(id) if id else None
            merged = body if (current is None or replace) else {**current, **body}
            errors = self._record_errors(resource, merged, key)
        if errors:
            raise ValidationFailed(errors)
        return self._store(resource, id, body, replace=replace)

    # -- HTTP ---------------------------------------------------------------------------------
    def routes(self) -> list:
        routes = [
            *self.hooks.routes(RESOURCES),  # before /{resource}/{id}
            Route("/Auth/ApiLogin", self.api_login, methods=["POST"]),
            Route("/Auth/ApiRefresh", self.api_refresh, methods=["POST"]),
            Route("/Organisations/{id}/Persons", self._bind(self.children, "Organisations", "Persons"), methods=["GET"]),
            Route("/Deliveries/{id}/QuotationLines", self._bind(self.children, "Deliveries", "QuotationLines"), methods=["GET"]),
            Route("/Opportunities/{id}/QuotationLines", self._bind(self.children, "Opportunities", "QuotationLines"),
                  methods=["GET"]),
        ]
        for resource in RESOURCES:
            item_methods = ["GET", "PUT"] + (["DELETE"] if resource in DELETABLE else [])
            routes += [
                Route(f"/{resource}", self._bind(self.collection, resource), methods=["GET", "POST", "PATCH"]),
                *(
                    Route(f"/{resource}/FindBy{kind}Dates/{{startDate}}/{{endDate}}",
                          self._bind(self.find_by_dates, resource, f"{kind}dAt"), methods=["GET"])
                    for kind in FIND_BY_DATES[resource]
                ),
                Route(f"/{resource}/{{id}}", self._bind(self.item, resource), methods=item_methods),
            ]
        # Everything else (the spec's other paths, and paths it does not have): 404.
        routes.append(Route("/{path:path}", self.not_served,
                            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]))
        return routes

    async def not_served(self, request: Request) -> Response:
        # A served path asked with another method: 405, as the router answers without this route.
        if any(r.matches(request.scope)[0] is Match.PARTIAL for r in self._served_routes()):
            return Response(status_code=405)
        return not_found()

    def _served_routes(self) -> list:
        return [r for r in self.routes() if isinstance(r, Route) and r.path != "/{path:path}"]

    def _bind(self, handler, *args):
        async def endpoint(request: Request) -> Response:
            if not self._authorized(request):
                return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return await handler(request, *args)

        return endpoint

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self._tokens.get(token, 0.0) > time.monotonic()

    def _issue_token(self) -> JSONResponse:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._tokens[access] = time.monotonic() + self.token_ttl
        self._refresh_tokens.add(refresh)
        return JSONResponse(
            {"AccessToken": access, "RefreshToken": refresh, "ExpiresIn": self.token_ttl, "TokenType": "Bearer", "IsError": False}
        )

    @staticmethod
    def _token_error(description: str) -> JSONResponse:
        body = {"IsError": True, "Error": "invalid_grant", "ErrorDescription": description}
        return JSONResponse(body, status_code=401)

    async def api_login(self, request: Request) -> Response:
        form = _parse_form(request.headers.get("content-type", ""), await request.body())
        if form.get("authCode") not in self.api_keys:
            return self._token_error("The auth code is not valid.")
        return self._issue_token()

    async def api_refresh(self, request: Request) -> Response:
        refresh = request.headers.get("refreshToken", "")
        if refresh not in self._refresh_tokens:
            return self._token_error("The refresh token is not valid.")
        self._refresh_tokens.discard(refresh)
        return self._issue_token()

    async def collection(self, request: Request, resource: str) -> Response:
        if request.method == "GET":
            return self._page(request, resource, lambda order: range(len(order.rows)))
        body, problem = await _json_body(request)
        if problem:
            return problem
        try:
            with self.tables.lock:
                if request.method == "POST":
                    stored = self._checked_write(resource, None, body, replace=True)
                    if resource in POST_RETURNS_ID:  # the spec: 200 with the assigned id (int32)
                        return JSONResponse(stored[id_field(resource)])
                    return Response(status_code=200)
                return JSONResponse(self._upsert(resource, body))
        except ValidationFailed as exc:
            return validation_problem(exc.errors)

    def _upsert(self, resource: str, body: Any) -> list[str]:
        """PATCH: validate every item first, then write; returns ids, or a message per failed item."""
        if not isinstance(body, list):
            raise ValidationFailed({"$": ["The JSON value could not be converted to a DTO array."]})
        key_id = id_field(resource)
        errors: dict[str, list[str]] = {}
        for i, item in enumerate(body):
            item_errors = self._field_errors(resource, item, f"[{i}].")
            current = None if item_errors else self.tables.rows[resource].get(str(item.get(key_id) or ""))
            if not item_errors and (current is not None or not item.get(key_id)):
                # (an update of an unknown id is reported in the results, not validated)
                item_errors = self._record_errors(resource, {**(current or {}), **item}, f"[{i}].")
            errors.update(item_errors)
        if errors:
            raise ValidationFailed(errors)
        results = []
        for item in body:
            wanted = item.get(key_id) or 0
            if wanted and str(wanted) not in self.tables.rows[resource]:
                results.append(f"{RESOURCES[resource]} with id {wanted} not found")
                continue
            results.append(str(self._store(resource, str(wanted) if wanted else None, item, replace=False)[key_id]))
        return results

    async def item(self, request: Request, resource: str) -> Response:
        id = request.path_params["id"]
        if id in SPEC_SEGMENTS:
            return not_found()  # another route of the spec, not served (see the module docstring)
        if not id.lstrip("-").isdigit():
            return validation_problem({"id": [f"The value '{id}' is not valid."]})
        id = str(int(id))
        with self.tables.lock:
            stored = self.tables.rows[resource].get(id)
        if stored is None:
            return not_found()
        if request.method == "GET":
            return JSONResponse(self._render(resource, stored))
        if request.method == "DELETE":
            with self.tables.lock:
                self._writes += 1
                self.tables.rows[resource].pop(id, None)
                self.hooks.fire(resource, "Delete", stored)
            return Response(status_code=200)
        body, problem = await _json_body(request)
        if problem:
            return problem
        try:
            with self.tables.lock:
                self._checked_write(resource, id, body, replace=True)
        except ValidationFailed as exc:
            return validation_problem(exc.errors)
        return Response(status_code=200)

    async def find_by_dates(self, request: Request, resource: str, which: str) -> Response:
        bounds, errors = {}, {}
        for name in ("startDate", "endDate"):
            try:
                bounds[name] = _ms_ceil(parse_timestamp(request.path_params[name]))
            except ValueError:
                errors[name] = [f"The value '{request.path_params[name]}' is not valid."]
        if errors:
            return validation_problem(errors)
        # Stamps share one fixed format, so comparing the strings compares the instants.
        start, end = _ms_iso(bounds["startDate"]), _ms_iso(bounds["endDate"])
        return self._page(request, resource, lambda order: order.window(start, end), RESOURCES[resource] + which)

    async def children(self, request: Request, parent: str, child: str) -> Response:
        """GET /Organisations/{id}/Persons, /Deliveries/{id}/QuotationLines: the records whose
        reference field (REFERENCES) names the parent. Persons come by id; quotation lines in
        their display order (SortOrder, then id), as webCRM shows them on the delivery."""
        id = request.path_params["id"]
        if not id.isdigit():
            return validation_problem({"id": [f"The value '{id}' is not valid."]})
        field = next(f for (owner, f), target in REFERENCES.items() if owner == child and parent in reference_targets(target))
        prefix = RESOURCES[child]
        with self.tables.lock:
            if str(int(id)) not in self.tables.rows[parent]:
                return not_found()
            rows = [r for r in self.tables.rows[child].values() if r.get(field) == int(id)]
        if child == "QuotationLines":
            rows.sort(key=lambda r: (r.get(prefix + "SortOrder", 0), r[prefix + "Id"]))
        else:
            rows.sort(key=lambda r: r[prefix + "Id"])
        return self._page_of(request, child, rows)

    def _ordered(self, resource: str, field: str | None, *, reuse: bool) -> Order:
        """The table's records by (field, id), or by id; caller holds the lock."""
        table = self.tables.rows[resource]
        cached = self._orders.get((resource, field))
        if reuse and cached is not None and cached.current(table, self._writes):
            return cached
        order = self._orders[(resource, field)] = Order.build(table, id_field(resource), field, self._writes)
        return order

    def _page(self, request: Request, resource: str, select, field: str | None = None) -> Response:
        """A page of the records `select(order)` picks (a range of positions) in the table's cached order."""
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        first, size = paging
        with self.tables.lock:
            table = self.tables.rows[resource]
            for reuse in (True, False):
                order = self._ordered(resource, field, reuse=reuse)
                positions = select(order)[first : first + size]
                if order.holds(positions, table):
                    break
            return JSONResponse([self._render(resource, order.rows[i]) for i in positions])

    def _paging(self, request: Request) -> tuple[int, int] | Response:
        """(index of the page's first record, page size) from Page and Size, or the 400 answer."""
        values, errors = {}, {}
        for name, default, high in (("Page", 1, 1_000_000), ("Size", DEFAULT_SIZE, 1000)):
            raw = request.query_params.get(name)
            if raw is None:
                values[name] = default
            elif not raw.strip().lstrip("-").isdigit():
                errors[name] = [f"The value '{raw}' is not valid for {name}."]
            elif not 1 <= int(raw) <= high:
                errors[name] = [f"The field {name} must be between 1 and {high}."]
            else:
                values[name] = int(raw)
        if errors:
            return validation_problem(errors)
        return (values["Page"] - 1) * values["Size"], values["Size"]

    def _page_of(self, request: Request, resource: str, rows: list[dict[str, Any]]) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        first, size = paging
        return JSONResponse([self._render(resource, r) for r in rows[first : first + size]])


def _is_datetime(value: str) -> bool:
    try:
        parse_timestamp(value)
        return True
    except ValueError:
        return False


async def _json_body(request: Request) -> tuple[Any, Response | None]:
    raw = await request.body()
    if not raw.strip():
        return None, validation_problem({"": ["A non-empty request body is required."]})
    try:
        return json.loads(raw), None
    except ValueError:
        return None, validation_problem({"$": ["The request body is not valid JSON."]})


def _parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """multipart/form-data or urlencoded form fields (python-multipart is not a dependency)."""
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        if not message.is_multipart():
            return {}
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                fields[name] = payload.decode("utf-8", "replace")
        return fields
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    return {}
