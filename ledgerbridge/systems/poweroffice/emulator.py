"""A local PowerOffice Go API v2, built from its contract (/work/shared/contracts/poweroffice).

What it implements, as the contract states [V]:
- auth: POST /OAuth/Token with `Authorization: Basic base64(appKey:clientKey)`, the
  `Ocp-Apim-Subscription-Key` header and form `grant_type=client_credentials`; tokens expire after
  20 minutes (`token_lifetime`, so a test can expire them) and are not refreshable. Every /v2 call
  needs `Authorization: Bearer` and the subscription key, else 401.
- throttling: 10 requests per second per subscription key (`rate_per_second`); the 11th within a
  second gets 429 with `Retry-After: 1`.
- /v2/Customers and /v2/Suppliers (GET list, POST, GET/PATCH/DELETE by id), /v2/ContactPersons
  (GET list; GET/POST /{contactId}; GET/PATCH /{contactId}/{id}), /v2/Products (GET, POST, GET/PATCH
  by id), /v2/OutgoingInvoices (GET list, GET by id, GET /{id}/Lines), read-only as in the spec.
- paging through the flattened `ResourceParameters` (PageSize default 5000, max 20000, PageNumber,
  OrderBy "<Property> [asc|desc]", Fields projection), filters `lastChangedDateTimeOffsetGreaterThan`
  (not inclusive), `customerCreatedDateTimeOffsetGreaterThan`, `customerNos`/`supplierNos` ranges
  ("10000-11000, 12000, 13000-"), `externalImportReference`, `externalNos`, `contactIds`,
  `balanceLastChangedDateTimeOffsetGreaterThan`, `invoiceNos`.
- PATCH bodies are RFC 6902 JSON Patch documents (applied with `jsonpatch`); only writable properties.
- errors are ProblemDetails {Type, Title, Status, Detail, Instance}; `ExternalImportReference` (max 50)
  and `Number` are unique per contact class; a contact's `Id` is shared by its customer and supplier.
- `LastChangedDateTimeOffset` of a customer/supplier does NOT move when only its address (MailAddress,
  which carries its own LastChangedDateTimeOffset) or one of its contact persons changes.

Choices where the contract says [?] (see contract.py): PageNumber starts at 1; an empty page is
200 `[]` (the spec also allows 204); the number series are 10000-19999 (customers) and 20000-29999
(suppliers); the token answer is {"access_token", "token_type": "Bearer", "expires_in"}; a 401/429
has no body (the spec declares none); a payment lowers `Balance` and moves only
`BalanceLastChangedDateTimeOffset`, not the invoice's LastChangedDateTimeOffset.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import jsonpatch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import Emulator, utcnow
from ledgerbridge.systems.poweroffice import contract as c


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def problem(status: int, title: str, detail: str, instance: str = "") -> JSONResponse:
    return JSONResponse({"Type": None, "Title": title, "Status": status, "Detail": detail,
                         "Instance": instance or None}, status_code=status)


def stamp(ts: datetime) -> str:
    """DateTimeOffset as Go writes it: ISO 8601 with offset, 7 fraction digits (.NET ticks)."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def parse_stamp(text: str) -> datetime:
    """A DateTimeOffset from a query or a record: ISO 8601 ('T' or space, 'Z' or offset, up to 7 digits)."""
    value = text.strip().replace(" ", "T", 1).replace(" ", "")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if "." in value:
        head, rest = value.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def number_ranges(text: str) -> list[tuple[int, int | None]]:
    """"10000-11000, 12000, 13000-" -> [(10000, 11000), (12000, 12000), (13000, None)]."""
    ranges = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not low.strip().isdigit() or (high.strip() and not high.strip().isdigit()):
            raise Problem(400, "Unable to cast object(s)", f"'{part}' is not a number or a range of numbers.")
        ranges.append((int(low), None if dash and not high.strip() else int(high or low)))
    return ranges


def in_ranges(value: Any, ranges: list[tuple[int, int | None]]) -> bool:
    return value is not None and any(value >= low and (high is None or value <= high) for low, high in ranges)


class PowerOfficeEmulator(Emulator):
    system = "poweroffice"

    def __init__(self, state_file=None, *, application_key: str = "demo-application-key",
                 client_key: str = "demo-client-key", subscription_key: str = "demo-subscription-key",
                 token_lifetime: float = c.TOKEN_LIFETIME_SECONDS, rate_per_second: int | None = c.REQUESTS_PER_SECOND,
                 customer_series: tuple[int, int] = c.CUSTOMER_SERIES,
                 supplier_series: tuple[int, int] = c.SUPPLIER_SERIES, **kw: Any):
        super().__init__(state_file, **kw)
        self.application_key, self.client_key, self.subscription_key = application_key, client_key, subscription_key
        self.token_lifetime = token_lifetime
        self.rate_per_second = rate_per_second
        self.series = {"Customers": customer_series, "Suppliers": supplier_series}
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.throttled = 0  # 429s answered, for tests
        # Fault knob: the next n customer/supplier creates are stored but answered 504 (a reply lost
        # after the work was done: the case that duplicates records when a client simply retries).
        self.lose_create_replies = 0
        self.tokens_issued = 0
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._rate_lock = threading.Lock()
        self._last_stamp = utcnow() - timedelta(days=1)

    # -- helpers for tests and the demo (the system's own shape) ----------------------------------

    def next_stamp(self) -> str:
        """A LastChangedDateTimeOffset that is later than every one handed out before."""
        with self.tables.lock:
            now = utcnow()
            self._last_stamp = max(now, self._last_stamp + timedelta(microseconds=1))
            return stamp(self._last_stamp)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def insert_contact(self, kind: str, record: dict[str, Any], contact_id: int | None = None) -> dict[str, Any]:
        """Store a Customer or Supplier DTO as Go would after a create; kind is 'Customers' or 'Suppliers'."""
        with self.tables.lock:
            return self._create_contact(kind, dict(record), contact_id)

    def change_address(self, kind: str, contact_id: int, **fields: Any) -> None:
        """Edit a MailAddress as the Go GUI does: the address's own stamp moves, the contact's does not."""
        with self.tables.lock:
            row = self.tables.rows[kind][str(contact_id)]
            row["MailAddress"].update(fields)
            row["MailAddress"]["LastChangedDateTimeOffset"] = self.next_stamp()

    def insert_product(self, record: dict[str, Any]) -> dict[str, Any]:
        with self.tables.lock:
            return self._create_product(dict(record))

    def insert_invoice(self, customer_id: int, lines: list[dict[str, Any]], *, voucher_date: str,
                       due_date: str | None = None, currency: str = "NOK", vat_rate: Decimal = Decimal("0.25")) -> dict:
        """Book an outgoing invoice (Go creates them from sales orders; the emulator books directly)."""
        with self.tables.lock:
            customer = self.tables.rows["Customers"][str(customer_id)]
            number = self.tables.next_id("invoice_no", 100001)
            invoice_id = str(uuid.uuid4())  # OutgoingInvoiceDto.Id is a uuid
            rendered_lines, net = [], Decimal("0")
            for sort, line in enumerate(lines, start=1):
                qty, price = Decimal(str(line.get("Quantity", 1))), Decimal(str(line["ProductUnitPrice"]))
                allowance = Decimal(str(line.get("Allowance") or 0))
                line_net = (qty * price * (1 - allowance)).quantize(Decimal("0.01"))
                vat = (line_net * vat_rate).quantize(Decimal("0.01"))
                net += line_net
                product = self.tables.rows["Products"].get(str(line.get("ProductId")), {})
                rendered_lines.append({
                    "Id": self.tables.next_id("invoice_line"), "SortOrder": sort, "LineType": "Normal",
                    "ProductId": line.get("ProductId"), "ProductCode": product.get("Code"),
                    "Description": line.get("Description") or product.get("Name"), "Quantity": float(qty),
                    "ProductUnitPrice": float(price), "Allowance": float(allowance), "NetAmount": float(line_net),
                    "NetPostedAmount": float(line_net), "VatAmount": float(vat), "VatRate": float(vat_rate),
                    "TotalAmount": float(line_net + vat), "TotalPostedAmount": float(line_net + vat),
                    "UnitOfMeasureCode": "EA", "AgricultureDepartment": "None", "VatReturnSpecification": "None",
                })
            total = (net * (1 + vat_rate)).quantize(Decimal("0.01"))
            now = self.next_stamp()
            invoice = {
                "Id": invoice_id, "InvoiceNo": number, "VoucherNo": number, "VoucherDate": voucher_date,
                "DueDate": due_date or voucher_date, "CustomerId": customer["Id"], "CustomerNo": customer["Number"],
                "CurrencyCode": currency, "CurrencyExchangeRate": 1.0, "NetAmount": float(net),
                "NetPostedAmount": float(net), "TotalAmount": float(total), "TotalPostedAmount": float(total),
                "Balance": float(total), "BalanceLastChangedDateTimeOffset": now, "CreatedDateTimeOffset": now,
                "LastChangedDateTimeOffset": now, "SentDateTimeOffset": now, "IsReversed": False,
                "VoucherType": "OutgoingInvoice", "InvoiceDeliveryType": "PdfByEmail",
                "Cid": f"{number:0>9}", "ExternalImportReference": None,
            }
            self.tables.rows["OutgoingInvoices"][invoice_id] = invoice
            self.tables.rows["OutgoingInvoiceLines"][invoice_id] = rendered_lines
            return invoice

    def pay(self, invoice_id: str, amount: Decimal) -> None:
        """An incoming payment matched to the invoice: its Balance drops, BalanceLastChanged moves."""
        with self.tables.lock:
            invoice = self.tables.rows["OutgoingInvoices"][invoice_id]
            invoice["Balance"] = float(Decimal(str(invoice["Balance"])) - amount)
            invoice["BalanceLastChangedDateTimeOffset"] = self.next_stamp()

    def all_raw(self, table: str) -> list[dict[str, Any]]:
        with self.tables.lock:
            return [dict(r) for r in self.tables.rows[table].values()]

    # -- routes -------------------------------------------------------------------------------------

    def routes(self) -> list:
        api = c.API_PREFIX
        routes = [Route(c.TOKEN_PATH, self.token, methods=["POST"])]
        for kind in c.CONTACT_CLASSES:
            routes += [
                Route(f"{api}/{kind}", self._guard(self.list_contacts, kind), methods=["GET", "POST"]),
                Route(f"{api}/{kind}/{{id}}", self._guard(self.contact_item, kind), methods=["GET", "PATCH", "DELETE"]),
            ]
        routes += [
            Route(f"{api}/ContactPersons", self._guard(self.list_persons), methods=["GET"]),
            Route(f"{api}/ContactPersons/{{contactId}}", self._guard(self.persons_of), methods=["GET", "POST"]),
            Route(f"{api}/ContactPersons/{{contactId}}/{{id}}", self._guard(self.person_item), methods=["GET", "PATCH"]),
            Route(f"{api}/Products", self._guard(self.products), methods=["GET", "POST"]),
            Route(f"{api}/Products/{{id}}", self._guard(self.product_item), methods=["GET", "PATCH"]),
            Route(f"{api}/OutgoingInvoices", self._guard(self.invoices), methods=["GET"]),
            Route(f"{api}/OutgoingInvoices/{{id}}", self._guard(self.invoice_item), methods=["GET"]),
            Route(f"{api}/OutgoingInvoices/{{id}}/Lines", self._guard(self.invoice_lines), methods=["GET"]),
        ]
        return routes

    def _guard(self, handler, *args):
        async def endpoint(request: Request) -> Response:
            key = request.headers.get(c.SUBSCRIPTION_HEADER)
            if not key or not secrets.compare_digest(key, self.subscription_key):
                return Response(status_code=401)
            if self._throttle(key):
                self.throttled += 1
                return Response(status_code=429, headers={"Retry-After": str(c.RETRY_AFTER_SECONDS)})
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            if self.tokens.get(token, 0) <= time.time():
                return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            try:
                with self.tables.lock:
                    return await handler(request, *args)
            except Problem as exc:
                return problem(exc.status, exc.title, exc.detail, request.url.path)

        return endpoint

    def _throttle(self, key: str) -> bool:
        if not self.rate_per_second:
            return False
        now = time.monotonic()
        with self._rate_lock:
            recent = self._recent[key]
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.rate_per_second:
                return True
            recent.append(now)
            return False

    async def token(self, request: Request) -> Response:
        key = request.headers.get(c.SUBSCRIPTION_HEADER)
        if not key or not secrets.compare_digest(key, self.subscription_key):
            return Response(status_code=401)
        expected = base64.b64encode(f"{self.application_key}:{self.client_key}".encode()).decode()
        given = request.headers.get("authorization", "")
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not secrets.compare_digest(given, f"Basic {expected}"):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.time() + self.token_lifetime
        self.tokens_issued += 1
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_lifetime)})

    # -- paging -------------------------------------------------------------------------------------

    def _page(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        q = request.query_params
        size = _int(q.get("PageSize"), c.DEFAULT_PAGE_SIZE, "PageSize")
        if not 1 <= size <= c.MAX_PAGE_SIZE:
            raise Problem(400, "Invalid resource parameters", f"PageSize must be between 1 and {c.MAX_PAGE_SIZE}.")
        page = _int(q.get("PageNumber"), c.FIRST_PAGE, "PageNumber")
        order = (q.get("OrderBy") or "Id").split()
        prop, desc = order[0], len(order) > 1 and order[1].lower() == "desc"
        rows = sorted(rows, key=lambda r: (r.get(prop) is None, r.get(prop) if r.get(prop) is not None else 0),
                      reverse=desc)
        start = (page - c.FIRST_PAGE) * size
        chosen = rows[start:start + size]
        fields = [f.strip() for f in (q.get("Fields") or "").split(",") if f.strip()]
        if fields:
            chosen = [{k: v for k, v in r.items() if k in fields} for r in chosen]
        return JSONResponse(chosen)

    # -- customers and suppliers --------------------------------------------------------------------

    async def list_contacts(self, request: Request, kind: str) -> Response:
        if request.method == "POST":
            body = await _json(request)
            created = self._create_contact(kind, body)
            if self.lose_create_replies > 0:  # stored, but the answer is lost on the way back
                self.lose_create_replies -= 1
                return problem(504, "Gateway timeout", "The backend did not answer in time.", request.url.path)
            return JSONResponse(created, status_code=201)
        q = request.query_params
        rows = list(self.tables.rows[kind].values())
        prefix = c.CONTACT_CLASSES[kind].lower()
        for name, key in (("lastChangedDateTimeOffsetGreaterThan", "LastChangedDateTimeOffset"),
                          (f"{prefix}CreatedDateTimeOffsetGreaterThan", f"{c.CONTACT_CLASSES[kind]}CreatedDateTimeOffset")):
            if q.get(name):
                bound = _query_stamp(q[name], name)
                rows = [r for r in rows if parse_stamp(r[key]) > bound]
        if q.get(f"{prefix}Nos"):
            ranges = number_ranges(q[f"{prefix}Nos"])
            rows = [r for r in rows if in_ranges(r.get("Number"), ranges)]
        if q.get("externalNos"):
            ranges = number_ranges(q["externalNos"])
            rows = [r for r in rows if in_ranges(r.get("ExternalNumber"), ranges)]
        if q.get("externalImportReference", "").strip():
            rows = [r for r in rows if r.get("ExternalImportReference") == q["externalImportReference"].strip()]
        return self._page(request, [self._render_contact(kind, r) for r in rows])

    async def contact_item(self, request: Request, kind: str) -> Response:
        row = self._contact(kind, request.path_params["id"])
        if request.method == "GET":
            return JSONResponse(self._render_contact(kind, row))
        if request.method == "DELETE":
            if kind == "Customers" and any(i["CustomerId"] == row["Id"] for i in self.tables.rows["OutgoingInvoices"].values()):
                raise Problem(409, "Customer conflict error(s)", f"Customer with id = {row['Id']} has ledger entries and cannot be deleted.")
            del self.tables.rows[kind][str(row["Id"])]
            return Response(status_code=200)
        operations = await _json(request)
        writable = set(c.CUSTOMER_WRITABLE if kind == "Customers" else c.SUPPLIER_WRITABLE)
        updated = _patched(row, operations, writable | {f"MailAddress/{f}" for f in c.ADDRESS_FIELDS})
        self._validate_contact(kind, updated, own_id=row["Id"])
        contact_changed = any(updated.get(k) != row.get(k) for k in writable)
        address_changed = updated["MailAddress"] != row["MailAddress"]
        if address_changed:
            updated["MailAddress"]["LastChangedDateTimeOffset"] = self.next_stamp()
        if contact_changed:  # the contact's own stamp ignores its address (and contact persons)
            updated["LastChangedDateTimeOffset"] = self.next_stamp()
        self.tables.rows[kind][str(row["Id"])] = updated
        return JSONResponse(self._render_contact(kind, updated))

    def _contact(self, kind: str, raw_id: str) -> dict[str, Any]:
        row = self.tables.rows[kind].get(str(raw_id).strip())
        if row is None:
            raise Problem(404, "Object(s) not found", f"{c.CONTACT_CLASSES[kind]} with id = {raw_id} not found.")
        return row

    def _create_contact(self, kind: str, body: dict[str, Any], contact_id: int | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Problem(400, f"{c.CONTACT_CLASSES[kind]} validation error(s)", "The body must be a JSON object.")
        writable = c.CUSTOMER_WRITABLE if kind == "Customers" else c.SUPPLIER_WRITABLE
        row: dict[str, Any] = {k: body.get(k) for k in writable}
        address = body.get("MailAddress") or {}
        row["MailAddress"] = {f: address.get(f) for f in c.ADDRESS_FIELDS}
        row["MailAddress"]["CountryCode"] = row["MailAddress"]["CountryCode"] or "NO"
        row["CurrencyCode"] = row.get("CurrencyCode") or "NOK"
        self._validate_contact(kind, row)
        low, high = self.series[kind]
        if row.get("Number") is None:
            used = {r.get("Number") for r in self.tables.rows[kind].values()}
            row["Number"] = next((n for n in range(low, high + 1) if n not in used), None)
            if row["Number"] is None:
                raise Problem(400, f"{c.CONTACT_CLASSES[kind]} validation error(s)", f"The number series {low}-{high} is used up.")
        # One contact may be customer and supplier at once: it keeps its id in both classes.
        other = "Suppliers" if kind == "Customers" else "Customers"
        same = [r for r in self.tables.rows[other].values()
                if contact_id is None and row.get("OrganizationNumber") and r.get("OrganizationNumber") == row["OrganizationNumber"]]
        row["Id"] = contact_id or (same[0]["Id"] if same else self.tables.next_id("contact", 5_000_001))
        now = self.next_stamp()
        created = same[0]["ContactCreatedDateTimeOffset"] if same else now
        row.update({"ContactCreatedDateTimeOffset": created, f"{c.CONTACT_CLASSES[kind]}CreatedDateTimeOffset": now,
                    "LastChangedDateTimeOffset": now, "SubledgerAccountId": self.tables.next_id("subledger", 900_001),
                    "IsArchived": bool(row.get("IsArchived")), "IsPerson": bool(row.get("IsPerson"))})
        row["MailAddress"].update({"Id": self.tables.next_id("address", 700_001), "LastChangedDateTimeOffset": now})
        self.tables.rows[kind][str(row["Id"])] = row
        return self._render_contact(kind, row)

    def _validate_contact(self, kind: str, row: dict[str, Any], own_id: int | None = None) -> None:
        title = f"{c.CONTACT_CLASSES[kind]} validation error(s)"
        errors = []
        if not row.get("IsPerson") and not (row.get("Name") or "").strip():
            errors.append("Name is required when IsPerson is false.")
        if row.get("IsPerson") and not (row.get("FirstName") and row.get("LastName")):
            errors.append("FirstName and LastName are required when IsPerson is true.")
        for name in ("ExternalImportReference",):
            if row.get(name) and len(row[name]) > c.MAX_LENGTHS[name]:
                errors.append(f"{name} can be at most {c.MAX_LENGTHS[name]} characters.")
        for name, value in (row.get("MailAddress") or {}).items():
            limit = c.MAX_LENGTHS.get(name)
            if limit and isinstance(value, str) and len(value) > limit:
                errors.append(f"MailAddress.{name} can be at most {limit} characters.")
        country = (row.get("MailAddress") or {}).get("CountryCode")
        if country is not None and (len(country) != 2 or not country.isalpha()):
            errors.append(f"MailAddress.CountryCode '{country}' is not an ISO 3166-1 alpha-2 code.")
        number = row.get("Number")
        if number is not None:
            low, high = self.series[kind]
            if not isinstance(number, int) or not low <= number <= high:
                errors.append(f"Number {number} is not within the range of the ledger's number series ({low}-{high}).")
        for other in self.tables.rows[kind].values():
            if other["Id"] == own_id:
                continue
            reference = row.get("ExternalImportReference")
            if reference and other.get("ExternalImportReference") == reference:
                errors.append(f"ExternalImportReference is already in use. '{reference}' is used on (contact) Id = {other['Id']}.")
            if number is not None and other.get("Number") == number:
                errors.append(f"Number {number} is already in use on (contact) Id = {other['Id']}.")
        if errors:
            raise Problem(400, title, " ".join(errors))

    def _render_contact(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k != "MailAddress"}
        out["MailAddress"] = {**row["MailAddress"], "ExternalCode": None}
        out["IsActive"] = not row.get("IsArchived")
        if kind == "Customers":
            out.update({"InvoiceDeliveryType": "PdfByEmail", "ReminderDeliveryType": "PdfByEmail",
                        "NoticeOfDebtCollectionDeliveryType": "PdfByEmail", "IsVatFree": bool(row.get("IsVatFree"))})
        else:
            out.pop("InvoiceEmailAddress", None)
            out.pop("IsVatFree", None)
            out.pop("PaymentTermId", None)
        return out

    # -- contact persons ----------------------------------------------------------------------------

    async def list_persons(self, request: Request) -> Response:
        q = request.query_params
        rows = list(self.tables.rows["ContactPersons"].values())
        if q.get("contactIds"):
            wanted = {int(p) for p in q["contactIds"].split(",") if p.strip().isdigit()}
            rows = [r for r in rows if r["ContactId"] in wanted]
        for name, key in (("lastChangedDateTimeOffsetGreaterThan", "LastChangedDateTimeOffset"),
                          ("createdDateTimeOffsetGreaterThan", "CreatedDateTimeOffset")):
            if q.get(name):
                bound = _query_stamp(q[name], name)
                rows = [r for r in rows if parse_stamp(r[key]) > bound]
        if q.get("externalCodes"):
            codes = {p.strip() for p in q["externalCodes"].split(",")}
            rows = [r for r in rows if r.get("ExternalCode") in codes]
        return self._page(request, rows)

    async def persons_of(self, request: Request) -> Response:
        contact_id = int(_digits(request.path_params["contactId"], "contactId"))
        if not any(str(contact_id) in self.tables.rows[k] for k in c.CONTACT_CLASSES):
            raise Problem(404, "Object(s) not found", f"Contact with id = {contact_id} not found.")
        if request.method == "GET":
            return self._page(request, [r for r in self.tables.rows["ContactPersons"].values() if r["ContactId"] == contact_id])
        body = await _json(request)
        return JSONResponse(self.create_person(contact_id, body), status_code=201)

    def create_person(self, contact_id: int, body: dict[str, Any]) -> dict[str, Any]:
        row = {k: body.get(k) for k in c.CONTACT_PERSON_WRITABLE}
        self._validate_person(row)
        now = self.next_stamp()
        row.update({"Id": self.tables.next_id("contact_person", 3_000_001), "ContactId": contact_id,
                    "CreatedDateTimeOffset": now, "LastChangedDateTimeOffset": now,
                    "IsActive": row.get("IsActive") is not False, "IsDefault": bool(row.get("IsDefault")),
                    "MailAddress": {f: None for f in c.ADDRESS_FIELDS} | {"CountryCode": "NO"}})
        self.tables.rows["ContactPersons"][str(row["Id"])] = row
        return row

    def _validate_person(self, row: dict[str, Any]) -> None:
        errors = [f"{n} is required." for n in ("FirstName", "LastName") if not (row.get(n) or "").strip()]
        if row.get("ExternalCode") and len(row["ExternalCode"]) > c.MAX_LENGTHS["ExternalCode"]:
            errors.append("ExternalCode can be at most 50 characters.")
        if errors:
            raise Problem(400, "Contact person validation error(s)", " ".join(errors))

    async def person_item(self, request: Request) -> Response:
        contact_id = int(_digits(request.path_params["contactId"], "contactId"))
        row = self.tables.rows["ContactPersons"].get(request.path_params["id"])
        if row is None or row["ContactId"] != contact_id:
            raise Problem(404, "Object(s) not found", f"Contact person with id = {request.path_params['id']} not found on contact {contact_id}.")
        if request.method == "GET":
            return JSONResponse(row)
        updated = _patched(row, await _json(request), set(c.CONTACT_PERSON_WRITABLE))
        self._validate_person(updated)
        if updated != row:
            updated["LastChangedDateTimeOffset"] = self.next_stamp()
        self.tables.rows["ContactPersons"][str(row["Id"])] = updated
        return JSONResponse(updated)

    # -- products -----------------------------------------------------------------------------------

    async def products(self, request: Request) -> Response:
        if request.method == "POST":
            return JSONResponse(self._create_product(await _json(request)))  # the spec declares 200, not 201
        q = request.query_params
        rows = list(self.tables.rows["Products"].values())
        if q.get("lastChangedDateTimeOffsetGreaterThan"):
            bound = _query_stamp(q["lastChangedDateTimeOffsetGreaterThan"], "lastChangedDateTimeOffsetGreaterThan")
            rows = [r for r in rows if parse_stamp(r["LastChangedDateTimeOffset"]) > bound]
        if q.get("productCodes"):
            codes = {p.strip() for p in q["productCodes"].split(",")}
            rows = [r for r in rows if r.get("Code") in codes]
        return self._page(request, rows)

    def _create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        row = {k: body.get(k) for k in c.PRODUCT_WRITABLE}
        self._validate_product(row)
        now = self.next_stamp()
        row.update({"Id": self.tables.next_id("product", 8_000_001), "CreatedDateTimeOffset": now,
                    "LastChangedDateTimeOffset": now, "IsArchived": bool(row.get("IsArchived")),
                    "IsStockItem": bool(row.get("IsStockItem")), "ProductType": row.get("ProductType") or "Product",
                    "UnitOfMeasureCode": row.get("UnitOfMeasureCode") or "EA",
                    "StandardSalesAccountAgricultureDepartment": "None",
                    "OptionalSalesAccountAgricultureDepartment": "None"})
        self.tables.rows["Products"][str(row["Id"])] = row
        return row

    def _validate_product(self, row: dict[str, Any], own_id: int | None = None) -> None:
        errors = []
        if not (row.get("Name") or "").strip():
            errors.append("Name is required.")
        for name, limit_key in (("Name", "ProductName"), ("Code", "ProductCode")):
            if isinstance(row.get(name), str) and len(row[name]) > c.MAX_LENGTHS[limit_key]:
                errors.append(f"{name} can be at most {c.MAX_LENGTHS[limit_key]} characters.")
        if row.get("Code") and any(p["Code"] == row["Code"] and p["Id"] != own_id for p in self.tables.rows["Products"].values()):
            errors.append(f"Code '{row['Code']}' is already in use.")
        if errors:
            raise Problem(400, "Product validation error(s)", " ".join(errors))

    async def product_item(self, request: Request) -> Response:
        row = self.tables.rows["Products"].get(request.path_params["id"])
        if row is None:
            raise Problem(404, "Object(s) not found", f"Product with id = {request.path_params['id']} not found.")
        if request.method == "GET":
            return JSONResponse(row)
        updated = _patched(row, await _json(request), set(c.PRODUCT_WRITABLE))
        self._validate_product(updated, own_id=row["Id"])
        if updated != row:
            updated["LastChangedDateTimeOffset"] = self.next_stamp()
        self.tables.rows["Products"][str(row["Id"])] = updated
        return JSONResponse(updated)

    # -- outgoing invoices (read-only) ------------------------------------------------------------

    async def invoices(self, request: Request) -> Response:
        q = request.query_params
        rows = list(self.tables.rows["OutgoingInvoices"].values())
        for name, key in (("lastChangedDateTimeOffsetGreaterThan", "LastChangedDateTimeOffset"),
                          ("balanceLastChangedDateTimeOffsetGreaterThan", "BalanceLastChangedDateTimeOffset"),
                          ("sentDateTimeOffsetGreaterThan", "SentDateTimeOffset")):
            if q.get(name):
                bound = _query_stamp(q[name], name)
                rows = [r for r in rows if r.get(key) and parse_stamp(r[key]) > bound]
        for name, key in (("invoiceNos", "InvoiceNo"), ("customerNos", "CustomerNo")):
            if q.get(name):
                ranges = number_ranges(q[name])
                rows = [r for r in rows if in_ranges(r.get(key), ranges)]
        if q.get("onlyUnpaidInvoices", "").lower() == "true":
            rows = [r for r in rows if r["Balance"] != 0]
        return self._page(request, rows)

    async def invoice_item(self, request: Request) -> Response:
        return JSONResponse(self._invoice(request.path_params["id"]))

    async def invoice_lines(self, request: Request) -> Response:
        invoice = self._invoice(request.path_params["id"])
        return self._page(request, list(self.tables.rows["OutgoingInvoiceLines"].get(invoice["Id"], [])))

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        row = self.tables.rows["OutgoingInvoices"].get(invoice_id)
        if row is None:
            raise Problem(404, "Object(s) not found", f"Outgoing invoice with id = {invoice_id} not found.")
        return row


def _int(value: str | None, default: int, name: str) -> int:
    return default if value in (None, "") else int(_digits(value, name))


def _digits(value: str, name: str) -> str:
    if not value.strip().isdigit():
        raise Problem(400, "Unable to cast object(s)", f"{name} '{value}' is not a whole number.")
    return value.strip()


def _query_stamp(value: str, name: str) -> datetime:
    try:
        return parse_stamp(value)
    except ValueError:
        raise Problem(400, "Unable to cast object(s)", f"{name} '{value}' is not a valid DateTimeOffset.") from None


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise Problem(400, "Invalid request body", "The request body is not valid JSON.") from None


def _patched(row: dict[str, Any], operations: Any, writable: set[str]) -> dict[str, Any]:
    """Apply a JSON Patch to a copy of `row`; only writable properties (paths like /Name, /MailAddress/City)."""
    if not isinstance(operations, list):
        raise Problem(400, "Invalid patch document", "The body must be a JSON Patch document (a list of operations).")
    for op in operations:
        path = str(op.get("path", "")) if isinstance(op, dict) else ""
        if path.strip("/") not in writable:
            raise Problem(400, "Invalid patch document", f"The property at '{path}' cannot be changed.")
    try:
        return jsonpatch.apply_patch(row, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise Problem(400, "Invalid patch document", str(exc)) from None
