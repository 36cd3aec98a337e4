"""A local Uniconta: its REST entity routes, its OData feed and its Change-URL webhooks, on loopback.

Built from /work/shared/contracts/uniconta/NOTES.md; the entities and fields are contract.py's.

What it implements as documented [V]:
- HTTP Basic with the normal login, user name `00<CompanyId>/<user>` (NOTES.md §2); no API key.
- `/api/Entities/{Read|Insert|Update|Delete}/<Entity>` (GET also without `Read/`), JSON bodies; POST
  inserts, PUT updates and needs the *full* record, DELETE deletes; `?Name=<field>&Value=<v>` filters
  a read. Properties whose value is null are left out of every answer.
- The OData feed `/odata/<CompanyId>/<Entity>` with `$filter`, `$orderby`, `$top` (and `$skip`); without
  an entity it lists the entity sets.
- `<Entity>ClientUser` variants carry the entity's user-defined fields as top-level properties.
- Change-URL webhooks for master-data tables only (Debtor, Contact, InvItem, Employee; no orders),
  called with CompanyId, Table, Key, RowId and Operation in the query, configured Arguments echoed,
  and the record as a JSON body when the registration's "Post" box is ticked; registrations are the
  entity `TableChangeEventClient` (alias `TableChangeEvent`), created through the API [O].
- The call budget: 5,000 calls per user per day; past each 5,000 every call of that user is slowed
  by one more second (`slow_down_seconds`, small in tests). The counter resets at midnight, the
  slow-down lasts 24 hours from when it began (as documented).

Choices where the notes say unknown [?] (each a constructor argument):
- Error bodies: `{"ErrorCode": <Uniconta ErrorCodes name>, "Message", "Entity", "Errors": [{"Field",
  "ErrorCode", "Message"}]}`; 400 for a refused write, 404 CouldNotFind, 401 bad login, 403 a login of
  another company (NoRights). OData errors use OData v4's `{"error": {"code", "message"}}` with 400.
  The budget never answers 429 (the notes document slowing down, not refusing); the fault knobs can.
- Server-driven paging: at most `server_page_size` (1000) rows per OData answer, then
  `@odata.nextLink` with `$skip` advanced; `$top` caps the total as usual.
- Change stamp: every row carries `UpdatedAt` (set on every write, strictly increasing), not only the
  order tables where the notes observed it; `stamped_tables` narrows this (then a `$filter` on
  UpdatedAt of an unstamped table is refused as an unknown property, as OData would).
- Numbering: a debtor inserted without `Account` gets the next number of its number series
  (`debtor_number_start`, None: Account is required); orders always get the next OrderNumber and
  lines the next LineNumber of their order when left empty.
- Webhook: `Operation` is Insert/Update/Delete; with Post a POST with the JSON record, without it a
  GET; TableId 0 registers every master-data table. No signature and no retry (none documented).
- Values: enums by name (Currency "DKK", VatZone "Domestic", Country "Denmark"/"UnitedKingdom"),
  numbers as JSON numbers, dates as "YYYY-MM-DD", stamps as ISO 8601 UTC. Unknown properties are
  ignored; user fields are refused on the plain entity.
- Max lengths: contract.py's (hints from the notes, choices elsewhere), overridable per entity.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlencode

import requests
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import Emulator, iso, utcnow
from ledgerbridge.systems.uniconta import contract
from ledgerbridge.systems.uniconta.contract import EntitySpec, entity_spec
from ledgerbridge.emulators.odata import ODataDialect, ODataError, matches, non_negative, order_key, parse_filter, parse_orderby

DEFAULT_USER = "ledgerbridge"
DEFAULT_PASSWORD = "test-uniconta-password"
# A fresh company's reference tables (codes are free text in Uniconta; numbered here like e-conomic's).
SEEDED_REFERENCES = {
    "DebtorGroupClient": [{"Group": "1", "Name": "Domestic"}, {"Group": "2", "Name": "EU"},
                          {"Group": "3", "Name": "Abroad"}],
    "PaymentTermClient": [{"Payment": "1", "Name": "Net 14 days", "Days": 14},
                          {"Payment": "2", "Name": "Net 30 days", "Days": 30},
                          {"Payment": "3", "Name": "Net 8 days", "Days": 8}],
}


class UnicontaError(Exception):
    def __init__(self, status: int, code: str, message: str, entity: str = "", errors: list[dict] | None = None):
        super().__init__(message)
        self.status, self.code, self.entity, self.errors = status, code, entity, errors or []

    def response(self) -> JSONResponse:
        body = {"ErrorCode": self.code, "Message": str(self), "Entity": self.entity, "Errors": self.errors}
        headers = {"WWW-Authenticate": 'Basic realm="Uniconta"'} if self.status == 401 else {}
        return JSONResponse(body, status_code=self.status, headers=headers)


class ChangeUrlCaller:
    """Calls registered Change URLs from one background thread; a failing receiver never reaches a write."""

    def __init__(self, timeout: float = 5.0):
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uniconta-change-url")
        self.session = requests.Session()
        self.calls: list[tuple[str, str, int | None]] = []  # (method, url, status or None)
        self._pending: list[Future] = []
        self._lock = threading.Lock()

    def call(self, method: str, url: str, body: dict[str, Any] | None) -> None:
        future = self.pool.submit(self._send, method, url, body)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()] + [future]

    def _send(self, method: str, url: str, body: dict[str, Any] | None) -> None:
        status = None
        try:
            data = json.dumps(body, default=str).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            status = self.session.request(method, url, data=data, headers=headers, timeout=self.timeout).status_code
        except requests.RequestException:
            status = None
        finally:
            with self._lock:
                self.calls.append((method, url, status))

    def flush(self, timeout: float = 10.0) -> bool:
        with self._lock:
            pending = list(self._pending)
        deadline = time.monotonic() + timeout
        for future in pending:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - a timeout here only means "not flushed"
                return False
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.session.close()


class UnicontaEmulator(Emulator):
    system = "uniconta"

    def __init__(
        self,
        state_file=None,
        *,
        company_id: int = 4415,
        users: Mapping[str, str] | None = None,
        max_lengths: Mapping[str, Mapping[str, int]] | None = None,
        server_page_size: int = 1000,
        stamped_tables: set[str] | None = None,
        debtor_number_start: int | None = 10001,
        user_fields: Mapping[str, tuple[str, ...]] | None = None,
        calls_per_day: int = contract.CALLS_PER_DAY,
        slow_down_seconds: float = 1.0,
        post_body_default: bool = True,
        **kw: Any,
    ):
        super().__init__(state_file, **kw)
        self.company_id = int(company_id)
        self.users = dict(users or {DEFAULT_USER: DEFAULT_PASSWORD})
        self.max_lengths = {name: {**{f.name: f.max_length for f in spec.fields.values() if f.max_length},
                                   **dict((max_lengths or {}).get(name, {}))}
                            for name, spec in contract.ENTITIES.items()}
        self.server_page_size = server_page_size
        self.stamped_tables = set(contract.ENTITIES) if stamped_tables is None else set(stamped_tables)
        self.debtor_number_start = debtor_number_start
        self.user_fields = {name: tuple(fields) for name, fields in (user_fields or {}).items()}
        self.calls_per_day = calls_per_day
        self.slow_down_seconds = slow_down_seconds
        self.post_body_default = post_body_default
        self.change_urls = ChangeUrlCaller()
        self._budget: dict[str, int] = {}
        self._budget_day = date.today()
        self._budget_lock = threading.Lock()
        self._slowed: dict[str, tuple[int, float]] = {}  # user -> (seconds per call, until when)
        with self.tables.lock:
            for name, records in SEEDED_REFERENCES.items():
                if not self.tables.rows[name]:
                    for record in records:
                        self._store(entity_spec(name), dict(record), fire=False)

    def stop(self) -> None:
        super().stop()
        self.change_urls.close()
        self.change_urls = ChangeUrlCaller()

    # -- in-process helpers: seeding and inspection in Uniconta's own shape ------------------------

    def insert_raw(self, entity: str, record: dict[str, Any], *, validate: bool = True) -> dict[str, Any]:
        """Store a record as an Insert would (validation, numbering, stamps, webhooks); returns it.

        validate=False stores what a company's history may hold although the API would refuse it
        today (a name longer than a later limit): numbered and stamped, not checked."""
        spec = entity_spec(entity)
        with self.tables.lock:
            if validate:
                return _copy(self._insert(spec, _copy(record), user_form=entity.endswith("ClientUser")))
            stored = {k: v for k, v in _copy(record).items() if v is not None}
            self._number(spec, stored, [])
            if "Created" in spec.fields:
                stored["Created"] = iso(utcnow())
            return _copy(self._store(spec, stored))

    def update_raw(self, entity: str, key: Any, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` (None clears) into the record with this key (or RowId) and store it as an Update."""
        spec = entity_spec(entity)
        with self.tables.lock:
            current = self._find(spec, {spec.key[0]: key} if spec.key else {"RowId": key})
            merged = {**current, **changes}
            return _copy(self._update(spec, merged, user_form=True))

    def all_raw(self, entity: str) -> list[dict[str, Any]]:
        with self.tables.lock:
            return [_visible(r) for r in self.tables.rows[entity_spec(entity).name].values()]

    def calls_used(self, user: str = DEFAULT_USER) -> int:
        with self._budget_lock:
            return self._budget.get(user, 0)

    # -- storage ----------------------------------------------------------------------------------

    def _rows(self, spec: EntitySpec) -> dict[str, dict[str, Any]]:
        return self.tables.rows[spec.name]

    def _store(self, spec: EntitySpec, record: dict[str, Any], *, fire: bool = True, operation: str = "Insert") -> dict[str, Any]:
        if "RowId" not in record:
            record["RowId"] = self.tables.next_id(spec.name)
        if spec.name in self.stamped_tables:
            now_ms = max(int(time.time() * 1000), self.tables.counters["UpdatedAt_ms"] + 1)
            self.tables.counters["UpdatedAt_ms"] = now_ms
            record["UpdatedAt"] = iso(datetime.fromtimestamp(now_ms / 1000, timezone.utc))
        else:
            record.pop("UpdatedAt", None)
        self._rows(spec)[str(record["RowId"])] = record
        if fire:
            self._fire(spec, record, operation)
        return record

    def _key_of(self, spec: EntitySpec, record: Mapping[str, Any]) -> str:
        return "/".join(str(record.get(k)) for k in spec.key) if spec.key else str(record.get("RowId"))

    def _find(self, spec: EntitySpec, record: Mapping[str, Any]) -> dict[str, Any]:
        rows = self._rows(spec)
        if record.get("RowId") is not None and str(record["RowId"]) in rows:
            return rows[str(record["RowId"])]
        if spec.key and all(record.get(k) not in (None, "") for k in spec.key):
            wanted = self._key_of(spec, record)
            for row in rows.values():
                if self._key_of(spec, row) == wanted:
                    return row
        raise UnicontaError(404, contract.NOT_FOUND, f"{spec.name} {self._key_of(spec, record)} was not found.", spec.name)

    def _exists(self, entity: str, key_field: str, value: Any) -> bool:
        return any(str(r.get(key_field)) == str(value) for r in self.tables.rows[entity].values())

    # -- validation -------------------------------------------------------------------------------

    def _clean(self, spec: EntitySpec, body: Mapping[str, Any], *, user_form: bool) -> tuple[dict[str, Any], list[dict]]:
        """The writable properties of `body`, checked; unknown properties are dropped (see docstring)."""
        errors: list[dict] = []
        out: dict[str, Any] = {}
        table = spec.table
        user_fields = self.user_fields.get(table, ())
        countries = _countries()
        for name, value in body.items():
            field = spec.fields.get(name)
            if field is None:
                if name in user_fields:
                    if not user_form:
                        errors.append(_err(name, contract.INVALID, f"{name} is a user field: write {spec.name}User."))
                    elif value is not None:
                        out[name] = value
                continue
            if field.read_only or name == "RowId" or value is None:
                continue
            problem = _type_problem(field, value, countries)
            if problem:
                errors.append(_err(name, contract.INVALID, f"{name}: {problem}"))
                continue
            limit = self.max_lengths[spec.name].get(name)
            if limit and isinstance(value, str) and len(value) > limit:
                errors.append(_err(name, contract.TOO_LONG, f"{name} is longer than {limit} characters ({len(value)})"))
            out[name] = value
        return out, errors

    def _check_record(self, spec: EntitySpec, record: dict[str, Any], errors: list[dict]) -> None:
        for name in spec.required:
            if record.get(name) in (None, ""):
                errors.append(_err(name, contract.BLANK, f"{name} cannot be blank."))
        for name, (entity, key_field) in spec.references.items():
            value = record.get(name)
            if value not in (None, "") and not self._exists(entity, key_field, value):
                errors.append(_err(name, contract.NOT_FOUND, f"{name} '{value}' does not exist in {entity}."))
        if spec.name == "ContactClient" and record.get("DCType", "Debtor") == "Debtor" and record.get("DCAccount"):
            if not self._exists("DebtorClient", "Account", record["DCAccount"]):
                errors.append(_err("DCAccount", contract.NOT_FOUND, f"DCAccount '{record['DCAccount']}' does not exist."))

    def _refuse(self, spec: EntitySpec, errors: list[dict]) -> None:
        if errors:
            first = errors[0]
            raise UnicontaError(400, first["ErrorCode"], "; ".join(e["Message"].rstrip(".") for e in errors), spec.name, errors)

    # -- writes -----------------------------------------------------------------------------------

    def _insert(self, spec: EntitySpec, body: dict[str, Any], *, user_form: bool) -> dict[str, Any]:
        record, errors = self._clean(spec, body, user_form=user_form)
        self._number(spec, record, errors)
        self._check_record(spec, record, errors)
        if not errors and spec.key and any(self._key_of(spec, r) == self._key_of(spec, record) for r in self._rows(spec).values()):
            errors.append(_err(spec.key[-1], contract.KEY_EXISTS, f"{spec.name} {self._key_of(spec, record)} exists already."))
        self._refuse(spec, errors)
        if "Created" in spec.fields:
            record["Created"] = iso(utcnow())
        return self._store(spec, record)

    def _number(self, spec: EntitySpec, record: dict[str, Any], errors: list[dict]) -> None:
        if spec.name == "DebtorClient" and not record.get("Account") and self.debtor_number_start is not None:
            used = {str(r.get("Account")) for r in self._rows(spec).values()}
            number = max(self.tables.counters["DebtorAccount"], self.debtor_number_start - 1) + 1
            while str(number) in used:
                number += 1
            self.tables.counters["DebtorAccount"] = number
            record["Account"] = str(number)
        elif spec.name == "DebtorOrderClient" and not record.get("OrderNumber"):
            record["OrderNumber"] = self.tables.next_id("OrderNumber")
        elif spec.name == "DebtorOrderLineClient" and record.get("OrderNumber") and not record.get("LineNumber"):
            numbers = [r.get("LineNumber") or 0 for r in self._rows(spec).values()
                       if str(r.get("OrderNumber")) == str(record["OrderNumber"])]
            record["LineNumber"] = max(numbers, default=0) + 1
        elif spec.name == "DebtorClient" and not record.get("Account"):
            errors.append(_err("Account", contract.BLANK, "Account cannot be blank (no number series is set up)."))

    def _update(self, spec: EntitySpec, body: dict[str, Any], *, user_form: bool) -> dict[str, Any]:
        current = self._find(spec, body)
        record, errors = self._clean(spec, body, user_form=user_form)
        for name in spec.key:
            if record.get(name) not in (None, "") and str(record[name]) != str(current.get(name)):
                errors.append(_err(name, contract.INVALID, f"{name} is the key and cannot be changed ({current.get(name)})."))
            record[name] = current.get(name)
        self._check_record(spec, record, errors)
        self._refuse(spec, errors)
        if not user_form:  # the plain entity does not carry user fields: they stay as they are
            record.update({k: v for k, v in current.items() if k in self.user_fields.get(spec.table, ())})
        for name in ("RowId", "Created"):
            if name in current:
                record[name] = current[name]
        return self._store(spec, record, operation="Update")

    def _delete(self, spec: EntitySpec, body: dict[str, Any]) -> dict[str, Any]:
        current = self._find(spec, body)
        if spec.name == "DebtorClient" and any(
                str(o.get("Account")) == str(current.get("Account")) for o in self.tables.rows["DebtorOrderClient"].values()):
            raise UnicontaError(400, contract.REFERRED, f"Debtor {current.get('Account')} has activity and cannot be deleted.",
                                spec.name, [_err("Account", contract.REFERRED, "The debtor is referred to by orders.")])
        del self._rows(spec)[str(current["RowId"])]
        if spec.name == "DebtorOrderClient":
            lines = self.tables.rows["DebtorOrderLineClient"]
            for row_id in [k for k, r in lines.items() if str(r.get("OrderNumber")) == str(current["OrderNumber"])]:
                del lines[row_id]
        self._fire(spec, current, "Delete")
        return current

    # -- webhooks ---------------------------------------------------------------------------------

    def _fire(self, spec: EntitySpec, record: dict[str, Any], operation: str) -> None:
        if not spec.master_data:
            return
        for registration in list(self.tables.rows["TableChangeEventClient"].values()):
            if registration.get("TableId") not in (0, spec.table_id):
                continue
            query = {"CompanyId": self.company_id, "Table": spec.table, "Key": self._key_of(spec, record),
                     "RowId": record.get("RowId"), "Operation": operation}
            url = registration["Url"]
            url += ("&" if "?" in url else "?") + urlencode(query)
            if registration.get("Arguments"):
                url += "&" + registration["Arguments"]
            post = registration.get("Post", self.post_body_default)
            self.change_urls.call("POST" if post else "GET", url, _visible(record) if post else None)

    # -- HTTP -------------------------------------------------------------------------------------

    def _login(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            raise UnicontaError(401, contract.NO_RIGHTS, "Log in with HTTP Basic: 00<CompanyId>/<user> and password.")
        try:
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            raise UnicontaError(401, contract.NO_RIGHTS, "The Basic credentials cannot be read.") from None
        company, _, user = name.partition("/")
        if not company.startswith("00") or not company[2:].isdigit() or self.users.get(user) != password:
            raise UnicontaError(401, contract.NO_RIGHTS, "Wrong user name or password.")
        if int(company[2:]) != self.company_id:
            raise UnicontaError(403, contract.NO_RIGHTS, f"The user has no rights in company {company[2:]}.")
        return user

    def _spend(self, user: str) -> float:
        """Count the call against the user's daily budget; the delay it is served with."""
        now = time.time()
        with self._budget_lock:
            today = date.today()
            if today != self._budget_day:
                self._budget, self._budget_day = {}, today
            self._budget[user] = used = self._budget.get(user, 0) + 1
            steps = (used - 1) // self.calls_per_day
            kept_steps, until = self._slowed.get(user, (0, 0.0))
            if steps > kept_steps or now >= until:
                kept_steps, until = (steps, now + 24 * 3600) if steps else (0, 0.0)
                self._slowed[user] = (kept_steps, until)
        return self.slow_down_seconds * max(steps, kept_steps if now < until else 0)

    def _endpoint(self, handler):
        async def endpoint(request: Request) -> Response:
            try:
                user = self._login(request)
                delay = self._spend(user)
                if delay:
                    await asyncio.sleep(delay)
                raw = await request.body()
                body = None
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise UnicontaError(400, contract.INVALID, "The body is not JSON.") from None
                with self.tables.lock:
                    return handler(request, body, **request.path_params)
            except UnicontaError as exc:
                return exc.response()
            except ODataError as exc:
                return JSONResponse({"error": {"code": "", "message": str(exc)}}, status_code=400)
        return endpoint

    def _entity(self, name: str) -> EntitySpec:
        try:
            return entity_spec(name)
        except KeyError as exc:
            raise UnicontaError(404, contract.NOT_FOUND, str(exc.args[0]), name) from None

    def _properties(self, spec: EntitySpec, user_form: bool) -> set[str]:
        props = set(spec.fields)
        if spec.name not in self.stamped_tables:
            props.discard("UpdatedAt")
        if user_form:
            props |= set(self.user_fields.get(spec.table, ()))
        return props

    def _shape(self, spec: EntitySpec, record: dict[str, Any], user_form: bool) -> dict[str, Any]:
        visible = _visible(record)
        if not user_form:
            for name in self.user_fields.get(spec.table, ()):
                visible.pop(name, None)
        return visible

    def read(self, request: Request, body: Any, entity: str) -> Response:
        spec, user_form = self._entity(entity), entity.endswith("ClientUser")
        rows = list(self._rows(spec).values())
        name, value = request.query_params.get("Name"), request.query_params.get("Value")
        if name is not None:
            if name not in self._properties(spec, user_form):
                raise UnicontaError(400, contract.INVALID, f"{spec.name} has no field {name}.", spec.name)
            rows = [r for r in rows if str(r.get(name)) == value]
        return JSONResponse([self._shape(spec, r, user_form) for r in rows])

    def _write(self, request: Request, body: Any, entity: str, action) -> Response:
        spec, user_form = self._entity(entity), entity.endswith("ClientUser")
        if not isinstance(body, (dict, list)) or (isinstance(body, list) and not all(isinstance(b, dict) for b in body)):
            raise UnicontaError(400, contract.INVALID, "The body must be a JSON object or a list of objects.", spec.name)
        results = [self._shape(spec, action(spec, dict(item), user_form), user_form)
                   for item in (body if isinstance(body, list) else [body])]
        return JSONResponse(results if isinstance(body, list) else results[0])

    def insert(self, request: Request, body: Any, entity: str) -> Response:
        return self._write(request, body, entity, lambda spec, item, user: self._insert(spec, item, user_form=user))

    def update(self, request: Request, body: Any, entity: str) -> Response:
        return self._write(request, body, entity, lambda spec, item, user: self._update(spec, item, user_form=user))

    def delete(self, request: Request, body: Any, entity: str) -> Response:
        return self._write(request, body, entity, lambda spec, item, user: self._delete(spec, item))

    def odata_root(self, request: Request, body: Any, company: str) -> Response:
        self._company(company)
        names = [n for n in contract.ENTITIES if n != "TableChangeEventClient"]
        return JSONResponse({"@odata.context": f"{self.base_url}/odata/{company}/$metadata",
                             "value": [{"name": n, "kind": "EntitySet", "url": n} for n in names]})

    def _company(self, company: str) -> None:
        if company != str(self.company_id):
            raise UnicontaError(403, contract.NO_RIGHTS, f"The user has no rights in company {company}.")

    def odata(self, request: Request, body: Any, company: str, entity: str) -> Response:
        self._company(company)
        spec, user_form = self._entity(entity), entity.endswith("ClientUser")
        props = self._properties(spec, user_form)
        params = request.query_params
        rows = list(self._rows(spec).values())
        dialect = ODataDialect(entity=spec.name, properties=props)  # case-sensitive, unknown properties refused
        if params.get("$filter"):
            node = parse_filter(params["$filter"], dialect)
            rows = [r for r in rows if matches(node, r, dialect)]
        terms = parse_orderby(params["$orderby"], dialect) if params.get("$orderby") else [("RowId", False)]
        rows.sort(key=order_key(terms))
        skip = non_negative("$skip", params.get("$skip")) or 0
        top = non_negative("$top", params.get("$top"))
        wanted = rows[skip:] if top is None else rows[skip: skip + top]
        page = wanted[: self.server_page_size]
        answer: dict[str, Any] = {"@odata.context": f"{self.base_url}/odata/{company}/$metadata#{entity}",
                                  "value": [self._shape(spec, r, user_form) for r in page]}
        if len(wanted) > len(page):
            following = dict(params)
            following["$skip"] = str(skip + len(page))
            if top is not None:
                following["$top"] = str(top - len(page))
            answer["@odata.nextLink"] = f"{self.base_url}/odata/{company}/{entity}?{urlencode(following)}"
        return JSONResponse(answer)

    def routes(self) -> list:
        e = self._endpoint
        return [
            Route("/odata/{company}", e(self.odata_root), methods=["GET"]),
            Route("/odata/{company}/{entity}", e(self.odata), methods=["GET"]),
            Route("/api/Entities/Read/{entity}", e(self.read), methods=["GET"]),
            Route("/api/Entities/Insert/{entity}", e(self.insert), methods=["POST"]),
            Route("/api/Entities/Update/{entity}", e(self.update), methods=["PUT"]),
            Route("/api/Entities/Delete/{entity}", e(self.delete), methods=["DELETE"]),
            Route("/api/Entities/{entity}", e(self.read), methods=["GET"]),
            Route("/api/Entities/{entity}", e(self.insert), methods=["POST"]),
            Route("/api/Entities/{entity}", e(self.update), methods=["PUT"]),
            Route("/api/Entities/{entity}", e(self.delete), methods=["DELETE"]),
        ]


# -- helpers --------------------------------------------------------------------------------------

def _err(field: str, code: str, message: str) -> dict[str, str]:
    return {"Field": field, "ErrorCode": code, "Message": message}


def _copy(record: Any) -> Any:
    return json.loads(json.dumps(record, default=str))


def _visible(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the API answers it: properties whose value is null are left out [V]."""
    return {k: v for k, v in _copy(dict(record)).items() if v is not None}


def _countries() -> Mapping[str, str]:
    return contract.country_enum_names()


def _type_problem(field: contract.FieldSpec, value: Any, countries: Mapping[str, str]) -> str | None:
    if field.type in ("text",) and not isinstance(value, str):
        return "must be text"
    if field.type == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be a whole number"
    if field.type == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "must be a number"
    if field.type == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    if field.type == "date":
        try:
            date.fromisoformat(str(value)[:10])
        except ValueError:
            return f"'{value}' is not a date (YYYY-MM-DD)"
    if field.type == "enum":
        allowed = countries if field.enum == "Country" else contract.ENUMS[field.enum]
        if value not in allowed:
            return f"'{value}' is not a {field.enum}"
    return None
