"""A local Visma e-conomic REST API, built from its documentation (/work/shared/contracts/economic).

What it implements, as documented:
- auth: headers X-AppSecretToken and X-AgreementGrantToken on every call (missing/wrong -> 401);
- collections with `skippages`/`pagesize` (default 20, max 1000) and a `pagination` object
  (maxPageSizeAllowed, skipPages, pageSize, results, resultsWithoutFilter, firstPage, nextPage only when
  there is one, lastPage), `self` links, `filter=` (the $eq/$gt/$and/... language, escapes, parentheses;
  a property that is not filterable -> 400) and `sort=` (sortable properties only);
- /customers (+ /:customerNumber, /:customerNumber/contacts), /suppliers (+ /:supplierNumber; no
  lastUpdated in its docs), /products, /invoices/drafts,
  /invoices/booked, and the reference collections a customer/product/invoice needs, seeded with
  defaults: /currencies, /customer-groups, /supplier-groups, /payment-terms, /vat-zones, /product-groups, /units, /layouts;
- validation: required properties, max/min lengths, types, references that must exist, nulls (e-conomic
  does not accept null: a property is cleared by leaving it out) -> 400 with the documented annotated
  error body; PUT overwrites the whole object;
- answers as the real API gives them: false booleans present, nested self links, the fields the
  server computes (balances, names, exchange rate, pdf link, line cost prices: computed.py);
- numbering: a customer without customerNumber gets the next free number; duplicates -> 400;
  `lastUpdated` (customers, products) is stamped on every write and strictly increases.

Error codes: the docs name only a few (E06000 "does not exist", E04740 scale); the others below
are this emulator's choice, stable so tests can rely on them.
"""

from __future__ import annotations

import json
import time
import collections.abc as abc
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import Emulator, bulk_stamps, iso
from ledgerbridge.systems.economic import mapping
from ledgerbridge.systems.economic.mapping import decode_key, encode_key, get_path
from ledgerbridge.systems.economic.collections import (
    COLLECTIONS, Collection, DEFAULTS, DOMESTIC_VAT_RATE, REFS, REF_KEYS, STAMPED, _Ordered, _money,
)
from ledgerbridge.systems.economic.filters import (
    FilterError, _FilterParser, _NULL, _RESTORE, _comparable, _matches, _predicates,
)
from ledgerbridge.systems.economic.schema import (
    ApiError, CONTACT_SCHEMA, CUSTOMER_SCHEMA, DEFAULT_PAGE_SIZE, DRAFT_SCHEMA, E_BAD_QUERY, E_DUPLICATE, E_MEDIA, E_NOT_FOUND, E_NOT_FOUND_REF, E_NULL, E_RANGE, E_REQUIRED, E_SCALE, E_TOO_LONG, E_TOO_SHORT, E_TYPE, E_UNAUTHORIZED, E_VALIDATION, LINE_SCHEMA, MAX_PAGE_SIZE, PRODUCT_SCHEMA, SUPPLIER_SCHEMA, Prop, WriteSchema, _TYPES, _add_error, _error, _validation_error,
)
from ledgerbridge.systems.economic.emulator_hooks import EconomicHooks
from ledgerbridge.systems.economic.computed import add_computed, customer_balances

COMPUTED_ON = {"customers", "products", "contacts", "invoices/booked"}
SHOWN_NAMES = {"unit", "productGroup"}  # references whose name the answers add (computed.py)


class EconomicEmulator(Emulator):
    system = "economic"

    def __init__(self, state_file=None, app_secret_token: str = "test-app-secret",
                 agreement_grant_token: str = "test-grant", **kw: Any):
        super().__init__(state_file, **kw)
        self._tokens = (app_secret_token, agreement_grant_token)
        self.hooks = EconomicHooks(self)  # /webhooks (not in the contract files; see emulator_hooks.py)
        # (table, sort) -> _Ordered: a collection's sorted order, reused while the table is unchanged
        # (see _ordered). Keeps a page request from re-sorting the whole table every time.
        self._orders: dict[tuple[str, str], _Ordered] = {}
        self._writes = 0  # writes through the API or the helpers below: a sorted order older than that is stale
        # table -> (its record count, the highest number in it) as of the last _insert: numbering a
        # new record does not scan the table while the count says nothing else came or went.
        self._highest: dict[str, tuple[int, int]] = {}
        with self.tables.lock:
            for table, records in DEFAULTS.items():
                if not self.tables.rows[table]:
                    key = COLLECTIONS[table].key
                    for record in records:
                        self.tables.rows[table][str(record[key])] = dict(record)

    # -- in-process helpers (no HTTP; same numbering and stamping as the API) ---------------------

    def insert_raw(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a record as the API would on create (number, lastUpdated), without validation."""
        with self.tables.lock:
            self._writes += 1
            return json.loads(json.dumps(self._insert(resource, json.loads(json.dumps(record)))))

    def insert_many_raw(self, resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store records as a bulk import would: numbered as the API numbers them, stamped 1 ms apart
        ending at now (emulators.base.bulk_stamps), not starting there; without validation."""
        with self.tables.lock:
            self._writes += 1
            stored = [self._insert(resource, json.loads(json.dumps(r)), stamp=False) for r in records]
            if resource in STAMPED:
                now_ms = int(time.time() * 1000)
                stamps = bulk_stamps(self.tables.counters["lastUpdated_ms"], now_ms, len(stored))
                for record, stamp in zip(stored, stamps):
                    record["lastUpdated"] = iso(datetime.fromtimestamp(stamp / 1000, timezone.utc))
                    self.hooks.fire(resource, "created", record)
                if stamps:
                    self.tables.counters["lastUpdated_ms"] = stamps[-1]
            return json.loads(json.dumps(stored))

    def update_raw(self, resource: str, key: Any, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into a stored record (None removes a property) and stamp it like a PUT."""
        with self.tables.lock:
            current = self.tables.rows[resource].get(str(key))
            if current is None:
                raise KeyError(f"{resource}/{key} does not exist")
            self._writes += 1
            for name, value in changes.items():
                if value is None:
                    current.pop(name, None)
                else:
                    current[name] = json.loads(json.dumps(value))
            self._stamp(resource, current)
            return json.loads(json.dumps(current))

    def all_raw(self, resource: str) -> list[dict[str, Any]]:
        with self.tables.lock:
            return json.loads(json.dumps(list(self.tables.rows[resource].values())))

    def seed(self, entity: str, values_list: list[dict[str, Any]]) -> list[str]:
        """Model records -> stored e-conomic records, through the mapping; returns their remote ids.

        A record e-conomic requires fields for gets defaults where the model values leave them out
        (customers: DKK, group 1, payment terms 1, vat zone 1; products: group 1), since every stored
        e-conomic record has them. invoices take `lines` (invoice_lines model dicts) and are booked.
        The others are stored as one bulk import (insert_many_raw): stamped up to now, not from now on.
        """
        ids = []
        bulk: list[dict[str, Any]] = []  # stored in one bulk insert (insert_many_raw)
        for values in values_list:
            if entity == "invoices":
                lines = [mapping.to_remote("invoice_lines", line) for line in values.get("lines", [])]
                remote = mapping.to_remote("invoices", values)
                booked = self.book_invoice(
                    int(values["debtor_id"]), lines, invoice_date=remote.get("date"),
                    number=int(values["number"]) if values.get("number") else None,
                    currency=remote.get("currency"), heading=get_path(remote, "notes.heading"),
                    due_date=remote.get("dueDate"),
                )
                ids.append(str(booked["bookedInvoiceNumber"]))
                continue
            remote = mapping.to_remote(entity, values, create=True)
            if entity == "debtors":
                remote.setdefault("currency", "DKK")
                remote.setdefault("customerGroup", {"customerGroupNumber": 1})
                remote.setdefault("paymentTerms", {"paymentTermsNumber": 1})
            elif entity == "creditors":
                remote.setdefault("currency", "DKK")
                remote.setdefault("supplierGroup", {"supplierGroupNumber": 1})
                remote.setdefault("paymentTerms", {"paymentTermsNumber": 1})
            elif entity == "items":
                remote.setdefault("productGroup", {"productGroupNumber": 1})
            elif entity != "contacts":
                raise KeyError(f"economic emulator: cannot seed {entity!r}")
            bulk.append(remote)
        if bulk:
            table = {"debtors": "customers", "creditors": "suppliers", "items": "products"}.get(entity, entity)
            ids += [mapping.remote_id(entity, stored) for stored in self.insert_many_raw(table, bulk)]
        return ids

    def book_invoice(self, customer_number: int, lines: list[dict[str, Any]], *, invoice_date: str | None = None,
                     number: int | None = None, currency: str | None = None, heading: str | None = None,
                     due_date: str | None = None) -> dict[str, Any]:
        """Book an invoice directly (as drafting and booking through the API would); returns it.

        `lines` are e-conomic line dicts (product.productNumber, description, quantity, unitNetPrice,
        discountPercentage). The remainder starts at the gross amount.
        """
        with self.tables.lock:
            customer = self.tables.rows["customers"].get(str(customer_number))
            if customer is None:
                raise KeyError(f"customer {customer_number} does not exist")
            self._writes += 1
            draft = {
                "date": invoice_date or date.today().isoformat(),
                "currency": currency or customer.get("currency", "DKK"),
                "customer": {"customerNumber": int(customer_number)},
                "paymentTerms": dict(customer.get("paymentTerms") or {"paymentTermsNumber": 1}),
                "layout": {"layoutNumber": 1},
                "recipient": {"name": customer.get("name", ""), "vatZone": dict(customer.get("vatZone") or {"vatZoneNumber": 1})},
                "lines": json.loads(json.dumps(lines)),
            }
            for key, prop in (("address", "address"), ("zip", "zip"), ("city", "city"), ("country", "country")):
                if customer.get(prop):
                    draft["recipient"][key] = customer[prop]
            if heading:
                draft["notes"] = {"heading": heading}
            if due_date:
                draft["dueDate"] = due_date
            return json.loads(json.dumps(self._book(self._price_draft(draft), number)))

    def register_payment(self, invoice_number: int, amount: Any, payment_date: Any = None) -> dict[str, Any]:
        """Record a customer payment against a booked invoice: its `remainder` goes down.

        e-conomic has no payments collection on invoices: a payment (booked through a journal) shows
        on the invoice only as a lower remainder, which is all a reader of the API can see. The
        payment itself is kept in an internal ledger ("payments-ledger", not served over HTTP) so
        tests can compare what was paid with what the connector derives.
        """
        with self.tables.lock:
            invoice = self.tables.rows["invoices/booked"].get(str(invoice_number))
            if invoice is None:
                raise KeyError(f"booked invoice {invoice_number} does not exist")
            self._writes += 1
            paid = _money(amount)
            remainder = _money(invoice.get("remainder")) - paid
            invoice["remainder"] = float(remainder)
            invoice["remainderInBaseCurrency"] = float(remainder)
            entry = {"bookedInvoiceNumber": int(invoice_number), "amount": float(paid),
                     "date": str(payment_date or date.today().isoformat()), "currency": invoice.get("currency")}
            ledger = self.tables.rows["payments-ledger"]
            ledger[str(len(ledger) + 1)] = entry
            return json.loads(json.dumps(invoice))

    # -- storage ---------------------------------------------------------------------------------

    def _stamp(self, table: str, record: dict[str, Any]) -> None:
        """lastUpdated strictly increases across writes (ms resolution, bumped on a tie)."""
        if table not in STAMPED:
            return
        now_ms = int(time.time() * 1000)
        stamp = max(now_ms, self.tables.counters["lastUpdated_ms"] + 1)
        self.tables.counters["lastUpdated_ms"] = stamp
        record["lastUpdated"] = iso(datetime.fromtimestamp(stamp / 1000, timezone.utc))
        known = str(record.get(COLLECTIONS[table].key)) in self.tables.rows[table]
        self.hooks.fire(table, "updated" if known else "created", record)

    def _next_number(self, table: str, key: str) -> int:
        """The next free number: above every number in use and every number handed out before."""
        rows = self.tables.rows[table]
        count, highest = self._highest.get(table, (-1, 0))
        if count != len(rows):  # records came or went other than through _insert: look again
            highest = max((int(r[key]) for r in rows.values() if isinstance(r.get(key), int)), default=0)
            self._highest[table] = (len(rows), highest)
        number = max(highest, self.tables.counters[table]) + 1
        while str(number) in rows:  # a number planted by hand without changing the count
            number += 1
        self.tables.counters[table] = number
        return number

    def _insert(self, table: str, record: dict[str, Any], *, stamp: bool = True) -> dict[str, Any]:
        spec = COLLECTIONS[table]
        rows = self.tables.rows[table]
        if record.get(spec.key) is None:
            if not spec.numeric_key:
                raise ValueError(f"{table}: {spec.key} is required")
            record[spec.key] = self._next_number(table, spec.key)
        elif str(record[spec.key]) in rows:
            raise ValueError(f"{table}: {spec.key} {record[spec.key]} is already in use")
        if table == "contacts":
            record.setdefault("sortKey", record[spec.key])
        if stamp:
            self._stamp(table, record)
        rows[str(record[spec.key])] = record
        count, highest = self._highest.get(table, (-1, 0))
        if count == len(rows) - 1:  # it knew the table before this record: keep it current
            number = record[spec.key]
            self._highest[table] = (len(rows), max(highest, number) if isinstance(number, int) else highest)
        return record

    # -- validation ------------------------------------------------------------------------------

    def _validate(self, schema: WriteSchema, body: dict[str, Any], *, put: bool = False,
                  errors: dict[str, Any] | None = None) -> dict[str, Any]:
        errors = {} if errors is None else errors
        for name, prop in schema.props.items():
            value = get_path(body, name)
            if value is None:
                parent = get_path(body, name.rsplit(".", 1)[0]) if "." in name else body
                present = isinstance(parent, dict) and name.split(".")[-1] in parent
                if present:
                    _add_error(errors, name, _error(E_NULL, f"{name} cannot be null. Leave the property out to clear it."))
                continue
            if not _TYPES[prop.type](value):
                _add_error(errors, name, _error(E_TYPE, f"{name} must be of type {prop.type}.", value))
                continue
            if prop.type == "string":
                if prop.max_length is not None and len(value) > prop.max_length:
                    _add_error(errors, name, _error(E_TOO_LONG, f"{name} cannot be longer than {prop.max_length} characters.", value))
                if prop.min_length is not None and len(value) < prop.min_length:
                    _add_error(errors, name, _error(E_TOO_SHORT, f"{name} must be at least {prop.min_length} characters long.", value))
            if prop.type == "integer" and (
                (prop.minimum is not None and value < prop.minimum) or (prop.maximum is not None and value > prop.maximum)
            ):
                _add_error(errors, name, _error(E_RANGE, f"{name} must be between {prop.minimum} and {prop.maximum}.", value))
            if prop.ref:
                self._check_ref(errors, name, prop, value)
        for name in schema.required_on_put if put else schema.required:
            if get_path(body, name) is None:
                _add_error(errors, name, _error(E_REQUIRED, f"Property {name} is required."))
        return errors

    def _check_ref(self, errors: dict, name: str, prop: Prop, value: Any) -> None:
        table, key = prop.ref
        if isinstance(value, dict):
            number = value.get(key)
            if number is None and isinstance(value.get("self"), str):
                number = value["self"].rstrip("/").rsplit("/", 1)[-1]
            if number is None:
                _add_error(errors, name, _error("E04500", f"No identifiers present on {name}. Please include either a self link or a {key}."))
                return
        else:
            number = value
        if str(number) not in self.tables.rows[table]:
            _add_error(errors, name, _error(E_NOT_FOUND_REF, f"{name} does not exist.", number,
                                            f"Find a list of resources at /{table}."))

    # -- HTTP plumbing ---------------------------------------------------------------------------

    def _check_auth(self, request: Request) -> None:
        secret = request.headers.get("X-AppSecretToken")
        grant = request.headers.get("X-AgreementGrantToken")
        if not secret or not grant:
            missing = "X-AppSecretToken" if not secret else "X-AgreementGrantToken"
            raise ApiError(401, f"Not authorized. Missing {missing} header.", E_UNAUTHORIZED,
                           "Supply the headers X-AppSecretToken and X-AgreementGrantToken with valid tokens.")
        if (secret, grant) != self._tokens:
            raise ApiError(401, "Not authorized. The supplied tokens are not valid for this agreement.",
                           E_UNAUTHORIZED, "Check X-AppSecretToken and X-AgreementGrantToken; the grant may be revoked.")

    def _endpoint(self, handler: Callable[..., Response]) -> Callable:
        async def endpoint(request: Request) -> Response:
            try:
                self._check_auth(request)
                body = None
                if request.method in ("POST", "PUT"):
                    content_type = request.headers.get("content-type", "application/json")
                    if "json" not in content_type:
                        raise ApiError(415, "Unsupported media type: the API only speaks JSON.", E_MEDIA,
                                       "Send Content-Type: application/json.")
                    try:
                        body = json.loads(await request.body() or b"null")
                    except ValueError:
                        raise ApiError(400, "The request body is not valid JSON.", E_BAD_QUERY) from None
                    if not isinstance(body, dict):
                        raise ApiError(400, "The request body must be a JSON object.", E_BAD_QUERY)
                with self.tables.lock:
                    if request.method != "GET":
                        self._writes += 1
                    return handler(request, body, **request.path_params)
            except ApiError as exc:
                return exc.response()

        return endpoint

    def _base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _render(self, request: Request, path: str, record: dict[str, Any], *, detail: bool = True,
                base: str | None = None) -> dict:
        """A stored record as the API shows it: with self links, false booleans and what the server
        computes (computed.py).

        A shallow copy: only the top level and the reference objects that get a `self` link are new
        objects; nested values are shared with the stored record and never modified here. Every
        caller serialises the answer at once, inside the table lock, so the JSON is the same as from
        a deep copy (stored records hold JSON values only), without a JSON round trip per record.
        """
        out = dict(record)
        base = base or self._base(request)
        for name, table in REFS.items():
            ref = out.get(name)
            if isinstance(ref, dict) and ref.get(REF_KEYS[name]) is not None:
                out[name] = {**ref, "self": f"{base}/{table}/{encode_key(ref[REF_KEYS[name]])}"}
        if path == "invoices/booked" and not detail:
            out.pop("lines", None)  # the collection schema has no lines; GET one invoice for them
        table = "contacts" if path.endswith("/contacts") else path
        if table in COMPUTED_ON:
            add_computed(path, out, self.tables.rows, lambda collection, key: f"{base}/{collection}/{encode_key(key)}",
                         lambda: self._balances(request))
        key = COLLECTIONS[table].key
        out["self"] = f"{base}/{path}/{encode_key(out[key])}"
        if path == "customers":
            out["contacts"] = f"{out['self']}/contacts"
        return out

    def _balances(self, request: Request) -> dict[str, tuple[float, float]]:
        """Customers' balances, computed once per request (a page renders many customers)."""
        state = request.scope.setdefault("state", {})  # what request.state reads, without a State object per call
        if "balances" not in state:
            state["balances"] = customer_balances(self.tables.rows, date.today())
        return state["balances"]

    def _collection(self, request: Request, path: str, records: abc.Collection[dict[str, Any]],
                    table: str | None = None) -> JSONResponse:
        """One page of `records`; `table`: they are all of that table, in its order (cacheable).

        With `table`, a page costs O(log N + page) once the table's order is cached: a filter that
        bounds the leading sort term from below (the keyset read `lastUpdated$gt:..&sort=lastUpdated`)
        is a bisection, and the page is a slice of the cached order."""
        spec = COLLECTIONS["contacts" if path.endswith("/contacts") else path]
        query = request.query_params
        skip = self._int_param(query, "skippages", 0)
        size = self._int_param(query, "pagesize", DEFAULT_PAGE_SIZE)
        if size < 1 or size > MAX_PAGE_SIZE:
            raise ApiError(400, f"pagesize must be between 1 and {MAX_PAGE_SIZE}.", E_BAD_QUERY,
                           f"The maximum page size is {MAX_PAGE_SIZE}; use skippages to page.")
        total = len(records)
        node = None
        if query.get("filter"):
            try:
                node = _FilterParser(query["filter"]).parse()
                for predicate in _predicates(node):
                    if predicate.prop not in spec.filterable:
                        raise ApiError(400, f"Filtering on the property '{predicate.prop}' is not allowed.",
                                       E_BAD_QUERY, f"Filterable properties: {', '.join(sorted(spec.filterable))}.")
                    if predicate.value is not _NULL and predicate.op != "like":  # a bad value is 400 even on no rows
                        for value in predicate.value if isinstance(predicate.value, list) else [predicate.value]:
                            _comparable(predicate.prop, value.translate(_RESTORE), from_filter=True)
            except FilterError as exc:
                raise ApiError(400, f"Invalid filter: {exc}", E_BAD_QUERY, "See the filtering section of the docs.") from None
        ordered, picked = None, None
        for stale_allowed in ((True, False) if table is not None else ()):
            ordered = self._ordered(table, records, spec, query.get("sort"), reuse=stale_allowed)
            if ordered is None:
                break
            # Filtering the sorted table keeps the order sorting the filtered records would give
            # (both sorts are stable over the table's order), so one sorted order serves every filter.
            picked = ordered.select(node)
            if ordered.holds(picked[skip * size : (skip + 1) * size], self.tables.rows[table]):
                break
        if ordered is not None:
            records = ordered.rows
        else:
            if node is not None:
                records = [r for r in records if _matches(node, r)]
            records = self._sorted(records, spec, query.get("sort"))
            picked = range(len(records))
        results = len(picked)
        last = max(0, (results - 1) // size)

        def link(page: int) -> str:
            params = {k: v for k, v in query.items() if k not in ("skippages", "pagesize")}
            params.update(skippages=page, pagesize=size)
            return f"{self._base(request)}/{path}?{urlencode(params)}"

        pagination: dict[str, Any] = {
            "maxPageSizeAllowed": MAX_PAGE_SIZE, "skipPages": skip, "pageSize": size, "results": results,
            "resultsWithoutFilter": total, "firstPage": link(0),
        }
        if skip < last:
            pagination["nextPage"] = link(skip + 1)
        if 0 < skip <= last + 1:
            pagination["previousPage"] = link(skip - 1)
        pagination["lastPage"] = link(last)
        base = self._base(request)
        return JSONResponse({
            "collection": [self._render(request, path, records[i], detail=False, base=base)
                           for i in picked[skip * size : (skip + 1) * size]],
            "pagination": pagination,
            "self": str(request.url),
        })

    @staticmethod
    def _int_param(query: Any, name: str, default: int) -> int:
        raw = query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"{name} must be an integer.", E_BAD_QUERY) from None
        if value < 0:
            raise ApiError(400, f"{name} cannot be negative.", E_BAD_QUERY)
        return value

    def _ordered(self, table: str, records: abc.Collection[dict[str, Any]], spec: Collection,
                 sort: str | None, *, reuse: bool = True) -> "_Ordered | None":
        """`records` (all of `table`, in its order) sorted by `sort`, reused while nothing changed.

        Reused (with `reuse`) while no write went through the API or the in-process helpers and the
        table holds as many records: O(1), so a page does not cost O(N). A test editing tables.rows by
        hand is caught by the caller, which checks the records of the page it serves (_Ordered.holds)
        and asks again with reuse=False. None when the order cannot be cached (a nested sort
        property, or a sort that fails): the caller filters and sorts as before.
        """
        terms = [t.strip() for t in (sort or "").split(",") if t.strip()]
        props = [spec.key, *(t.lstrip("-~") for t in terms)]
        for prop in props[1:]:
            if prop not in spec.sortable:  # the 400 comes from _sorted, with its message
                return None
        if any("." in prop for prop in props):
            return None
        props = list(dict.fromkeys(props))
        cache_key = (table, ",".join(terms))
        cached = self._orders.get(cache_key)
        if reuse and cached is not None and cached.current(self.tables.rows[table], self._writes):
            return cached
        try:
            ordered = _Ordered.build(self._sorted(records, spec, sort), props, terms, self._writes)
        except TypeError:  # values that do not compare: leave the error to the uncached path
            self._orders.pop(cache_key, None)
            return None
        self._orders[cache_key] = ordered
        return ordered

    @staticmethod
    def _sorted(records: list[dict[str, Any]], spec: Collection, sort: str | None) -> list[dict[str, Any]]:
        def natural(prop: str, alpha: bool = False) -> Callable[[dict], Any]:
            def key(record: dict) -> Any:
                value = get_path(record, prop)
                if value is None:
                    return (0, "")
                return (1, str(value).lower()) if alpha else (1, _comparable(prop, value))
            return key

        out = sorted(records, key=natural(spec.key, alpha=not spec.numeric_key))
        if not sort:
            return out
        for term in reversed([t.strip() for t in sort.split(",") if t.strip()]):
            descending = term.startswith("-")
            prop = term.lstrip("-~")
            if prop not in spec.sortable:
                raise ApiError(400, f"Sorting on the property '{prop}' is not allowed.", E_BAD_QUERY,
                               f"Sortable properties: {', '.join(sorted(spec.sortable))}.")
            out.sort(key=natural(prop, alpha="~" in term), reverse=descending)
        return out

    def _get(self, table: str, key: str) -> dict[str, Any]:
        record = self.tables.rows[table].get(decode_key(str(key)))
        if record is None:
            raise ApiError(404, f"The {table} resource '{decode_key(str(key))}' was not found.", E_NOT_FOUND,
                           "Use the links the API gives you.")
        return record

    def _created(self, request: Request, path: str, record: dict) -> JSONResponse:
        body = self._render(request, path, record)
        return JSONResponse(body, status_code=201, headers={"Location": body["self"]})

    def _clean(self, schema: WriteSchema, body: dict[str, Any]) -> dict[str, Any]:
        """Keep the writable properties; read-only ones (self, balance, lastUpdated, ...) are ignored.

        References are stored by number: a `self` link sent back is resolved and not kept (links are
        made per answer, from the address the emulator listens on).
        """
        out = {k: json.loads(json.dumps(v)) for k, v in body.items() if k in schema.top_level}
        for name, ref in out.items():
            if name in REF_KEYS and isinstance(ref, dict) and "self" in ref:
                link = ref.pop("self")
                if ref.get(REF_KEYS[name]) is None and isinstance(link, str):
                    number = decode_key(link.rstrip("/").rsplit("/", 1)[-1])
                    ref[REF_KEYS[name]] = int(number) if number.isdigit() and name != "product" else number
            if name in REF_KEYS and isinstance(ref, dict) and name in SHOWN_NAMES:
                ref.pop("name", None)  # the unit's/group's name is shown, never set through a product
        return out

    # -- handlers --------------------------------------------------------------------------------

    def _list_of(self, table: str) -> Callable:
        def handler(request: Request, body: Any) -> Response:
            return self._collection(request, table, self.tables.rows[table].values(), table=table)
        return handler

    def _one_of(self, table: str) -> Callable:
        def handler(request: Request, body: Any, key: str) -> Response:
            return JSONResponse(self._render(request, table, self._get(table, key)))
        return handler

    def _post_customer(self, request: Request, body: dict) -> Response:
        errors = self._validate(CUSTOMER_SCHEMA, body)
        number = body.get("customerNumber")
        if not errors and number is not None and str(number) in self.tables.rows["customers"]:
            _add_error(errors, "customerNumber", _error(E_DUPLICATE, f"Customer number {number} is already in use.", number))
        if errors:
            raise _validation_error(errors)
        return self._created(request, "customers", self._insert("customers", self._clean(CUSTOMER_SCHEMA, body)))

    def _post_supplier(self, request: Request, body: dict) -> Response:
        errors = self._validate(SUPPLIER_SCHEMA, body)
        number = body.get("supplierNumber")
        if not errors and number is not None and str(number) in self.tables.rows["suppliers"]:
            _add_error(errors, "supplierNumber", _error(E_DUPLICATE, f"Supplier number {number} is already in use.", number))
        if errors:
            raise _validation_error(errors)
        return self._created(request, "suppliers", self._insert("suppliers", self._clean(SUPPLIER_SCHEMA, body)))

    def _put_supplier(self, request: Request, body: dict, key: str) -> Response:
        current = self._get("suppliers", key)
        errors = self._validate(SUPPLIER_SCHEMA, body)
        if body.get("supplierNumber") not in (None, current["supplierNumber"]):
            _add_error(errors, "supplierNumber", _error(E_RANGE, "supplierNumber cannot be changed.", body["supplierNumber"]))
        if errors:
            raise _validation_error(errors)
        record = self._clean(SUPPLIER_SCHEMA, body)
        record["supplierNumber"] = current["supplierNumber"]
        self.tables.rows["suppliers"][key] = record
        return JSONResponse(self._render(request, "suppliers", record))

    def _put_customer(self, request: Request, body: dict, key: str) -> Response:
        current = self._get("customers", key)
        errors = self._validate(CUSTOMER_SCHEMA, body)
        if body.get("customerNumber") not in (None, current["customerNumber"]):
            _add_error(errors, "customerNumber", _error(E_RANGE, "customerNumber cannot be changed.", body["customerNumber"]))
        if errors:
            raise _validation_error(errors)
        record = self._clean(CUSTOMER_SCHEMA, body)
        record["customerNumber"] = current["customerNumber"]
        self._stamp("customers", record)
        self.tables.rows["customers"][key] = record
        return JSONResponse(self._render(request, "customers", record))

    def _delete(self, table: str) -> Callable:
        def handler(request: Request, body: Any, key: str, **parent: str) -> Response:
            record = self._get(table, key)
            if table == "customers" and any(
                str(get_path(invoice, "customer.customerNumber")) == str(record["customerNumber"])
                for invoice in self.tables.rows["invoices/booked"].values()
            ):
                # The docs do not describe this answer; accounting keeps a customer with postings
                # (issue 16: "e-conomic and Uniconta say so"). Status and text are our choice.
                raise ApiError(400, f"Customer {record['customerNumber']} has booked invoices and cannot be deleted. "
                                    "Bar the customer instead.", E_VALIDATION)
            del self.tables.rows[table][decode_key(key)]
            self.hooks.fire(table, "deleted", record)
            return Response(status_code=204)
        return handler

    def _contacts_of(self, customer: str) -> list[dict[str, Any]]:
        self._get("customers", customer)
        return [c for c in self.tables.rows["contacts"].values()
                if str(get_path(c, "customer.customerNumber")) == str(customer)]

    def _list_contacts(self, request: Request, body: Any, customer: str) -> Response:
        return self._collection(request, f"customers/{customer}/contacts", self._contacts_of(customer))

    def _contact(self, customer: str, key: str) -> dict[str, Any]:
        self._get("customers", customer)
        contact = self.tables.rows["contacts"].get(key)
        if contact is None or str(get_path(contact, "customer.customerNumber")) != str(customer):
            raise ApiError(404, f"Customer contact {key} of customer {customer} was not found.", E_NOT_FOUND)
        return contact

    def _get_contact(self, request: Request, body: Any, customer: str, key: str) -> Response:
        return JSONResponse(self._render(request, f"customers/{customer}/contacts", self._contact(customer, key)))

    def _post_contact(self, request: Request, body: dict, customer: str) -> Response:
        self._get("customers", customer)
        errors = self._validate(CONTACT_SCHEMA, body)
        if errors:
            raise _validation_error(errors)
        record = self._clean(CONTACT_SCHEMA, body)
        record.pop("customerContactNumber", None)  # assigned by the system
        record["customer"] = {"customerNumber": int(customer)}  # "picked up from the url"
        return self._created(request, f"customers/{customer}/contacts", self._insert("contacts", record))

    def _put_contact(self, request: Request, body: dict, customer: str, key: str) -> Response:
        current = self._contact(customer, key)
        errors = self._validate(CONTACT_SCHEMA, body, put=True)
        if errors:
            raise _validation_error(errors)
        record = self._clean(CONTACT_SCHEMA, body)
        record.update(customerContactNumber=current["customerContactNumber"], customer={"customerNumber": int(customer)})
        record.setdefault("sortKey", current.get("sortKey"))
        self.tables.rows["contacts"][key] = record
        return JSONResponse(self._render(request, f"customers/{customer}/contacts", record))

    def _delete_contact(self, request: Request, body: Any, customer: str, key: str) -> Response:
        self._contact(customer, key)
        del self.tables.rows["contacts"][key]
        return Response(status_code=204)

    def _post_product(self, request: Request, body: dict) -> Response:
        errors = self._validate(PRODUCT_SCHEMA, body)
        number = body.get("productNumber")
        if not errors and str(number) in self.tables.rows["products"]:
            _add_error(errors, "productNumber", _error(E_DUPLICATE, f"Product number {number} is already in use.", number))
        if errors:
            raise _validation_error(errors)
        return self._created(request, "products", self._insert("products", self._clean(PRODUCT_SCHEMA, body)))

    def _put_product(self, request: Request, body: dict, key: str) -> Response:
        current = self._get("products", key)
        body = {**body, "productNumber": body.get("productNumber", current["productNumber"])}
        errors = self._validate(PRODUCT_SCHEMA, body)
        if body["productNumber"] != current["productNumber"]:
            _add_error(errors, "productNumber", _error(E_RANGE, "productNumber must match the URL.", body["productNumber"]))
        if errors:
            raise _validation_error(errors)
        record = self._clean(PRODUCT_SCHEMA, body)
        self._stamp("products", record)
        self.tables.rows["products"][current["productNumber"]] = record
        return JSONResponse(self._render(request, "products", record))

    # -- invoices --------------------------------------------------------------------------------

    def _price_draft(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Line and invoice totals, as e-conomic computes them (read-only on the draft)."""
        zone = get_path(draft, "recipient.vatZone.vatZoneNumber") or 1
        rate = DOMESTIC_VAT_RATE if int(zone) == 1 else Decimal(0)
        net_total = Decimal(0)
        for index, line in enumerate(draft.get("lines") or [], start=1):
            line.setdefault("lineNumber", index)
            line.setdefault("sortKey", line["lineNumber"])
            quantity = Decimal(str(line.get("quantity", 1)))
            line["quantity"] = float(quantity)
            price = Decimal(str(line.get("unitNetPrice", 0)))
            discount = Decimal(str(line.get("discountPercentage", 0)))
            net = _money(quantity * price * (1 - discount / 100))
            line["totalNetAmount"] = float(net)
            line["vatRate"] = float(rate)
            line["vatAmount"] = float(_money(net * rate / 100))
            net_total += net
        vat = _money(net_total * rate / 100)
        draft.update(netAmount=float(net_total), vatAmount=float(vat), grossAmount=float(net_total + vat),
                     netAmountInBaseCurrency=float(net_total), grossAmountInBaseCurrency=float(net_total + vat))
        terms = self.tables.rows["payment-terms"].get(str(get_path(draft, "paymentTerms.paymentTermsNumber")))
        if terms:
            draft["paymentTerms"] = {k: terms[k] for k in ("paymentTermsNumber", "name", "daysOfCredit", "paymentTermsType")}
            if "dueDate" not in draft:
                draft["dueDate"] = (date.fromisoformat(draft["date"]) + timedelta(days=terms["daysOfCredit"])).isoformat()
        return draft

    def _book(self, draft: dict[str, Any], number: int | None) -> dict[str, Any]:
        booked = {k: v for k, v in draft.items() if k != "draftInvoiceNumber"}
        if draft.get("draftInvoiceNumber") is not None:
            booked["orderNumber"] = draft["draftInvoiceNumber"]  # e-conomic keeps the draft's number
        booked["bookedInvoiceNumber"] = number
        booked["remainder"] = booked["grossAmount"]
        booked["remainderInBaseCurrency"] = booked["grossAmount"]
        return self._insert("invoices/booked", booked)

    def _post_draft(self, request: Request, body: dict) -> Response:
        errors = self._validate(DRAFT_SCHEMA, body)
        line_errors = []
        for index, line in enumerate(body.get("lines") or []):
            found = self._validate(LINE_SCHEMA, line) if isinstance(line, dict) else {"errors": [_error(E_TYPE, "A line must be an object.")]}
            price = line.get("unitNetPrice") if isinstance(line, dict) else None
            if isinstance(price, (int, float)) and Decimal(str(price)).as_tuple().exponent < -2:
                _add_error(found, "unitNetPrice", _error(E_SCALE, "unitNetPrice scale cannot be greater then two decimal places.",
                                                         price, "Please check the format of your data."))
            if isinstance(line, dict) and line.get("product") and line.get("quantity") is None:
                _add_error(found, "quantity", _error("E04730", "Property quantity must have a value when product is set."))
            if found:
                line_errors.append({"arrayIndex": index, **found})
        if line_errors:
            errors["lines"] = line_errors
        if errors:
            raise _validation_error(errors)
        record = self._price_draft(self._clean(DRAFT_SCHEMA, body))
        return self._created(request, "invoices/drafts", self._insert("invoices/drafts", record))

    def _post_booked(self, request: Request, body: dict, key: str | None = None) -> Response:
        errors: dict[str, Any] = {}
        number = get_path(body, "draftInvoice.draftInvoiceNumber")
        if number is None and isinstance(get_path(body, "draftInvoice.self"), str):
            number = body["draftInvoice"]["self"].rstrip("/").rsplit("/", 1)[-1]
        draft = self.tables.rows["invoices/drafts"].get(str(number))
        if draft is None:
            _add_error(errors, "draftInvoice", _error(E_NOT_FOUND_REF, "draftInvoice does not exist.", number))
        book_with = body.get("bookWithNumber", int(key) if key else None)
        if key is not None and body.get("bookWithNumber") not in (None, int(key)):
            _add_error(errors, "bookWithNumber", _error(E_RANGE, "bookWithNumber must match the URL.", body["bookWithNumber"]))
        if book_with is not None and str(book_with) in self.tables.rows["invoices/booked"]:
            _add_error(errors, "bookWithNumber", _error(E_DUPLICATE, f"Invoice number {book_with} is already in use.", book_with))
        if errors:
            raise _validation_error(errors)
        del self.tables.rows["invoices/drafts"][str(number)]
        return self._created(request, "invoices/booked", self._book(draft, book_with))

    # -- routes ----------------------------------------------------------------------------------

    def routes(self) -> list:
        e = self._endpoint
        routes = [
            *self.hooks.routes(),
            Route("/customers", e(self._list_of("customers")), methods=["GET"]),
            Route("/customers", e(self._post_customer), methods=["POST"]),
            Route("/customers/{customer}/contacts", e(self._list_contacts), methods=["GET"]),
            Route("/customers/{customer}/contacts", e(self._post_contact), methods=["POST"]),
            Route("/customers/{customer}/contacts/{key}", e(self._get_contact), methods=["GET"]),
            Route("/customers/{customer}/contacts/{key}", e(self._put_contact), methods=["PUT"]),
            Route("/customers/{customer}/contacts/{key}", e(self._delete_contact), methods=["DELETE"]),
            Route("/customers/{key}", e(self._one_of("customers")), methods=["GET"]),
            Route("/customers/{key}", e(self._put_customer), methods=["PUT"]),
            Route("/customers/{key}", e(self._delete("customers")), methods=["DELETE"]),
            Route("/suppliers", e(self._list_of("suppliers")), methods=["GET"]),
            Route("/suppliers", e(self._post_supplier), methods=["POST"]),
            Route("/suppliers/{key}", e(self._one_of("suppliers")), methods=["GET"]),
            Route("/suppliers/{key}", e(self._put_supplier), methods=["PUT"]),
            Route("/suppliers/{key}", e(self._delete("suppliers")), methods=["DELETE"]),
            Route("/products", e(self._list_of("products")), methods=["GET"]),
            Route("/products", e(self._post_product), methods=["POST"]),
            Route("/products/{key}", e(self._one_of("products")), methods=["GET"]),
            Route("/products/{key}", e(self._put_product), methods=["PUT"]),
            Route("/products/{key}", e(self._delete("products")), methods=["DELETE"]),
            Route("/invoices/drafts", e(self._list_of("invoices/drafts")), methods=["GET"]),
            Route("/invoices/drafts", e(self._post_draft), methods=["POST"]),
            Route("/invoices/drafts/{key}", e(self._one_of("invoices/drafts")), methods=["GET"]),
            Route("/invoices/drafts/{key}", e(self._delete("invoices/drafts")), methods=["DELETE"]),
            Route("/invoices/booked", e(self._list_of("invoices/booked")), methods=["GET"]),
            Route("/invoices/booked", e(self._post_booked), methods=["POST"]),
            Route("/invoices/booked/{key}", e(self._one_of("invoices/booked")), methods=["GET"]),
            Route("/invoices/booked/{key}", e(self._post_booked), methods=["PUT"]),
        ]
        for table in DEFAULTS:
            routes.append(Route(f"/{table}", e(self._list_of(table)), methods=["GET"]))
            routes.append(Route(f"/{table}/{{key}}", e(self._one_of(table)), methods=["GET"]))
        return routes
