"""A local Visma e-conomic REST API, built from its documentation (/work/shared/contracts/economic).

What it implements, as documented:
- auth: headers X-AppSecretToken and X-AgreementGrantToken on every call (missing/wrong -> 401);
- collections with `skippages`/`pagesize` (default 20, max 1000) and a `pagination` object
  (maxPageSizeAllowed, skipPages, pageSize, results, resultsWithoutFilter, firstPage, nextPage only when
  there is one, lastPage), `self` links, `filter=` (the $eq/$gt/$and/... language, escapes, parentheses;
  a property that is not filterable -> 400) and `sort=` (sortable properties only);
- /customers (+ /:customerNumber, /:customerNumber/contacts), /products, /invoices/drafts,
  /invoices/booked, and the reference collections a customer/product/invoice needs, seeded with
  defaults: /currencies, /customer-groups, /payment-terms, /vat-zones, /product-groups, /units, /layouts;
- validation: required properties, max/min lengths, types, references that must exist, nulls (e-conomic
  does not accept null: a property is cleared by leaving it out) -> 400 with the documented annotated
  error body; PUT overwrites the whole object; false booleans are omitted from answers;
- numbering: a customer without customerNumber gets the next free number; duplicates -> 400;
  `lastUpdated` (customers, products) is stamped on every write and strictly increases.

Error codes: the docs name only a few (E06000 "does not exist", E04740 scale); the others below
are this emulator's choice, stable so tests can rely on them.
"""

from __future__ import annotations

import bisect
import json
import operator
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from itertools import repeat
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators.base import Emulator, iso, utcnow
from ledgerbridge.emulators.hooks import EconomicHooks
from ledgerbridge.mapping import economic as mapping
from ledgerbridge.mapping.economic import decode_key, encode_key, get_path

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 20

E_UNAUTHORIZED = "E00500"
E_VALIDATION = "E04000"
E_REQUIRED = "E04300"
E_TOO_LONG = "E04100"
E_TOO_SHORT = "E04110"
E_TYPE = "E04200"
E_RANGE = "E04210"
E_NULL = "E04220"
E_SCALE = "E04740"  # documented
E_NOT_FOUND_REF = "E06000"  # documented: "<property> does not exist."
E_DUPLICATE = "E06010"
E_BAD_QUERY = "E07000"
E_NOT_FOUND = "E08000"
E_MEDIA = "E09000"


# -- the filter language ----------------------------------------------------------------------
# REST docs, "Filtering": prop$op:value chained with $and:/$or:, parentheses, escapes
# $$ $( $) $* $, $[ $] and $null:. AND binds tighter than OR (the docs do not say).

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "in", "nin")
_ESCAPES = {"$": "$", "(": "(", ")": ")", "*": "\x00", ",": "\x01", "[": "\x02", "]": "\x03"}
_RESTORE = str.maketrans({"\x00": "*", "\x01": ",", "\x02": "[", "\x03": "]"})
_NULL = object()


class FilterError(ValueError):
    pass


@dataclass
class Predicate:
    prop: str
    op: str
    value: Any  # text, list of texts ($in/$nin) or _NULL


def _filter_tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(("text", "".join(buf)))
            buf.clear()

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                buf.append(_ESCAPES[nxt])
                i += 2
                continue
            match = re.match(r"\$([a-z]+):", text[i:])
            if not match:
                raise FilterError(f"unexpected '$' at position {i}")
            word = match.group(1)
            flush()
            if word in ("and", "or", "null"):
                out.append((word, None))
            elif word in OPERATORS:
                out.append(("op", word))
            else:
                raise FilterError(f"unknown operator ${word}:")
            i += len(match.group(0))
        elif ch in "()":
            flush()
            out.append((ch, None))
            i += 1
        else:
            buf.append(ch)
            i += 1
    flush()
    return out


class _FilterParser:
    def __init__(self, text: str):
        self.tokens = _filter_tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        if self.peek() != kind:
            raise FilterError(f"expected {kind}, found {self.peek() or 'the end of the filter'}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def parse(self) -> Any:
        node = self.expr()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()} in the filter")
        return node

    def expr(self) -> Any:
        node = self.conj()
        while self.peek() == "or":
            self.take("or")
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Any:
        node = self.term()
        while self.peek() == "and":
            self.take("and")
            node = ("and", node, self.term())
        return node

    def term(self) -> Any:
        if self.peek() == "(":
            self.take("(")
            node = self.expr()
            self.take(")")
            return node
        prop = self.take("text").strip()
        op = self.take("op")
        if self.peek() == "null":
            self.take("null")
            return Predicate(prop, op, _NULL)
        raw = self.take("text") if self.peek() == "text" else ""
        if op in ("in", "nin"):
            if not (raw.startswith("[") and raw.endswith("]")):
                raise FilterError(f"${op}: takes a list in brackets")
            items = [v.translate(_RESTORE) for v in raw[1:-1].split(",") if v != ""]
            if len(items) > 200:
                raise FilterError(f"${op}: takes at most 200 values")
            return Predicate(prop, op, items)
        return Predicate(prop, op, raw)


def _predicates(node: Any) -> list[Predicate]:
    return [node] if isinstance(node, Predicate) else _predicates(node[1]) + _predicates(node[2])


_DATE_PROPS = {"date", "dueDate", "deliveryDate"}
_BOOL_PROPS = {"barred", "deleted", "enabledForCustomer", "enabledForSupplier"}
_NUMBER_PROPS = {"balance", "creditLimit", "costPrice", "salesPrice", "recommendedPrice", "grossAmount",
                 "netAmount", "vatAmount", "remainder", "exchangeRate", "sortKey", "daysOfCredit"}
_TEXT_NUMBERS = {"telephoneAndFaxNumber", "vatNumber", "corporateIdentificationNumber", "publicEntryNumber",
                 "productNumber", "pNumber", "isoNumber"}


def _kind(prop: str) -> str:
    last = prop.split(".")[-1]
    if last == "lastUpdated":
        return "datetime"
    if last in _DATE_PROPS:
        return "date"
    if last in _BOOL_PROPS:
        return "bool"
    if last in _NUMBER_PROPS or (last.endswith("Number") and last not in _TEXT_NUMBERS):
        return "number"
    return "text"


def _comparable(prop: str, value: Any, *, from_filter: bool = False) -> Any:
    kind = _kind(prop)
    if kind == "bool":
        return value.lower() == "true" if from_filter else bool(value)
    if value is None:
        return None
    try:
        if kind == "datetime":
            return mapping.parse_timestamp(str(value))
        if kind == "date":
            return date.fromisoformat(str(value)[:10])
        if kind == "number":
            return float(value)
    except ValueError:
        if from_filter:
            raise FilterError(f"{value!r} is not a valid value for {prop}") from None
        return None
    return str(value).lower()  # string filters are case-insensitive


def _matches(node: Any, record: dict[str, Any]) -> bool:
    if not isinstance(node, Predicate):
        left = _matches(node[1], record)
        return (left and _matches(node[2], record)) if node[0] == "and" else (left or _matches(node[2], record))
    actual = _comparable(node.prop, get_path(record, node.prop))
    if node.value is _NULL:
        is_null = get_path(record, node.prop) is None
        return is_null if node.op == "eq" else (not is_null if node.op == "ne" else False)
    if node.op in ("in", "nin"):
        found = actual in [_comparable(node.prop, v, from_filter=True) for v in node.value]
        return found if node.op == "in" else not found
    if node.op == "like":
        if actual is None:
            return False
        pattern = node.value.lower()
        if "*" not in pattern:
            pattern = f"*{pattern}*"  # without wildcards $like: means "contains"
        regex = ".*".join(re.escape(part.translate(_RESTORE)) for part in pattern.split("*"))
        return re.fullmatch(regex, str(actual), re.S) is not None
    wanted = _comparable(node.prop, node.value.translate(_RESTORE), from_filter=True)
    if node.op == "eq":
        return actual == wanted
    if node.op == "ne":
        return actual != wanted
    if actual is None or wanted is None:
        return False
    try:
        return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[node.op]
    except TypeError:
        return False


# -- write schemas (from the POST/PUT tables of the docs) -----------------------------------------

@dataclass(frozen=True)
class Prop:
    type: str  # string, integer, number, boolean, object, array, date
    max_length: int | None = None
    min_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    ref: tuple[str, str] | None = None  # (table, key property) the object/value must exist in


@dataclass(frozen=True)
class WriteSchema:
    props: dict[str, Prop]
    required: tuple[str, ...]
    required_on_put: tuple[str, ...] = ()

    @property
    def top_level(self) -> set[str]:
        return {p.split(".")[0] for p in self.props}


def _s(n: int | None = None, min_length: int | None = None) -> Prop:
    return Prop("string", max_length=n, min_length=min_length)


def _ref(table: str, key: str) -> Prop:
    return Prop("object", ref=(table, key))


CUSTOMER_SCHEMA = WriteSchema(
    props={
        "address": _s(510), "barred": Prop("boolean"), "city": _s(50), "corporateIdentificationNumber": _s(40),
        "country": _s(50), "creditLimit": Prop("number"),
        "currency": Prop("string", 3, 3, ref=("currencies", "code")),
        "customerGroup": _ref("customer-groups", "customerGroupNumber"),
        "customerGroup.customerGroupNumber": Prop("integer"),
        "customerNumber": Prop("integer", minimum=1, maximum=999_999_999),
        "ean": _s(40), "email": _s(255),
        "layout": _ref("layouts", "layoutNumber"), "layout.layoutNumber": Prop("integer"),
        "mobilePhone": _s(50), "name": _s(255, 1), "pNumber": _s(10, 10),
        "paymentTerms": _ref("payment-terms", "paymentTermsNumber"),
        "paymentTerms.paymentTermsNumber": Prop("integer"),
        "publicEntryNumber": _s(50), "salesPerson": Prop("object"), "telephoneAndFaxNumber": _s(255),
        "vatNumber": _s(50), "vatZone": _ref("vat-zones", "vatZoneNumber"), "vatZone.vatZoneNumber": Prop("integer"),
        "website": _s(255), "zip": _s(30), "attention": Prop("object"), "customerContact": Prop("object"),
        "defaultDeliveryLocation": Prop("object"), "priceGroup": Prop("object"),
    },
    required=("currency", "customerGroup", "name", "paymentTerms", "vatZone"),
)

PRODUCT_SCHEMA = WriteSchema(
    props={
        "barCode": _s(50), "barred": Prop("boolean"), "costPrice": Prop("number"),
        "departmentalDistribution": Prop("object"), "description": _s(500), "inventory": Prop("object"),
        "name": _s(300, 1), "productGroup": _ref("product-groups", "productGroupNumber"),
        "productGroup.productGroupNumber": Prop("integer"), "productNumber": _s(25, 1),
        "recommendedPrice": Prop("number"), "salesPrice": Prop("number"),
        "unit": _ref("units", "unitNumber"), "unit.unitNumber": Prop("integer"),
    },
    required=("name", "productGroup", "productNumber"),
)

CONTACT_SCHEMA = WriteSchema(
    props={
        "customer": Prop("object"), "customerContactNumber": Prop("integer"), "eInvoiceId": _s(50),
        "email": _s(255), "emailNotifications": Prop("array"), "name": _s(255), "notes": _s(2000),
        "phone": _s(50),
    },
    required=("name",),
    required_on_put=("customerContactNumber", "name"),
)

DRAFT_SCHEMA = WriteSchema(
    props={
        "currency": Prop("string", ref=("currencies", "code")), "customer": _ref("customers", "customerNumber"),
        "customer.customerNumber": Prop("integer", minimum=1, maximum=999_999_999), "date": Prop("date"),
        "delivery": Prop("object"), "delivery.address": _s(255), "delivery.city": _s(50),
        "delivery.country": _s(50), "delivery.zip": _s(30), "dueDate": Prop("date"),
        "exchangeRate": Prop("number"), "layout": _ref("layouts", "layoutNumber"), "lines": Prop("array"),
        "notes": Prop("object"), "notes.heading": _s(250), "notes.textLine1": _s(1000),
        "notes.textLine2": _s(1000), "paymentTerms": _ref("payment-terms", "paymentTermsNumber"),
        "project": Prop("object"), "recipient": Prop("object"), "recipient.name": _s(250),
        "recipient.address": _s(250), "recipient.city": _s(250), "recipient.country": _s(50),
        "recipient.zip": _s(50), "recipient.ean": _s(13),
        "recipient.vatZone": _ref("vat-zones", "vatZoneNumber"), "references": Prop("object"),
        "references.other": _s(250),
    },
    required=("currency", "customer", "date", "layout", "paymentTerms", "recipient", "recipient.name",
              "recipient.vatZone"),
)

LINE_SCHEMA = WriteSchema(
    props={
        "description": _s(2500), "discountPercentage": Prop("number"), "lineNumber": Prop("integer", minimum=1),
        "product": _ref("products", "productNumber"), "product.productNumber": _s(25),
        "quantity": Prop("number"), "sortKey": Prop("integer", minimum=1), "unit": _ref("units", "unitNumber"),
        "unitCostPrice": Prop("number"), "unitNetPrice": Prop("number"),
    },
    required=(),
)

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "date": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) is not None,
}


def _error(code: str, message: str, value: Any = None, hint: str = "Please check your request data.") -> dict:
    err = {"errorCode": code, "message": message, "developerHint": hint}
    if value is not None:
        err["value"] = value
    return err


def _add_error(errors: dict[str, Any], path: str, err: dict) -> None:
    node = errors
    for part in path.split("."):
        node = node.setdefault(part, {})
    node.setdefault("errors", []).append(err)


# -- the emulator -------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, hint: str = "", errors: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.hint, self.errors = status, code, hint, errors

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "message": str(self),
            "errorCode": self.code,
            "developerHint": self.hint,
            "logId": uuid.uuid4().hex,
            "httpStatusCode": self.status,
        }
        if self.errors:
            body["errors"] = self.errors
        body["logTime"] = utcnow().strftime("%Y-%m-%dT%H:%M:%S")
        return JSONResponse(body, status_code=self.status)


def _validation_error(errors: dict) -> ApiError:
    return ApiError(400, "Validation error.", E_VALIDATION, "Inspect validation errors and correct your request.", errors)


@dataclass(frozen=True)
class Collection:
    """A GET-able collection: its table, key property and what may be filtered and sorted."""

    table: str
    key: str
    filterable: frozenset[str]
    sortable: frozenset[str] = frozenset()
    numeric_key: bool = True
    links: dict[str, str] = field(default_factory=dict)  # nested ref object -> collection path


def _fs(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.split(",") if p.strip())


CUSTOMER_FIELDS = ("address, balance, barred, city, corporateIdentificationNumber, country, creditLimit, currency, "
                   "customerNumber, ean, email, lastUpdated, name, publicEntryNumber, telephoneAndFaxNumber, "
                   "vatNumber, website, zip")
PRODUCT_FILTERS = ("barCode, barred, costPrice, departmentalDistribution.departmentalDistributionNumber, description, "
                   "inventory.grossWeight, inventory.netWeight, inventory.packageVolume, "
                   "inventory.recommendedCostPrice, lastUpdated, name, productGroup.productGroupNumber, "
                   "productNumber, recommendedPrice, salesPrice, unit.unitNumber")
PRODUCT_SORTS = ("barCode, barred, costPrice, description, inventory.grossWeight, inventory.netWeight, "
                 "inventory.packageVolume, lastUpdated, name, productNumber, recommendedPrice, salesPrice")
CONTACT_FIELDS = "customer.customerNumber, customerContactNumber, eInvoiceId, email, name, phone, sortKey"
INVOICE_FIELDS = ("bookedInvoiceNumber, currency, customer.customerNumber, date, delivery.address, delivery.city, "
                  "delivery.country, delivery.deliveryDate, delivery.deliveryTerms, delivery.zip, "
                  "deliveryLocation.deliveryLocationNumber, notes.heading, notes.textLine1, notes.textLine2, "
                  "paymentTerms.paymentTermsNumber, recipient.address, recipient.city, recipient.country, "
                  "recipient.ean, recipient.name, recipient.publicEntryNumber, recipient.vatZone.vatZoneNumber, "
                  "recipient.zip, references.customerContact.customer.customerNumber, references.other, "
                  "references.salesPerson.employeeNumber, references.vendorReference.employeeNumber")
DRAFT_FIELDS = "currency, customer.customerNumber, date, draftInvoiceNumber, notes.heading, dueDate"

REFS = {"customerGroup": "customer-groups", "paymentTerms": "payment-terms", "vatZone": "vat-zones",
        "layout": "layouts", "productGroup": "product-groups", "unit": "units", "customer": "customers",
        "product": "products"}
REF_KEYS = {"customerGroup": "customerGroupNumber", "paymentTerms": "paymentTermsNumber",
            "vatZone": "vatZoneNumber", "layout": "layoutNumber", "productGroup": "productGroupNumber",
            "unit": "unitNumber", "customer": "customerNumber", "product": "productNumber"}

COLLECTIONS: dict[str, Collection] = {
    "customers": Collection("customers", "customerNumber", _fs(CUSTOMER_FIELDS), _fs(CUSTOMER_FIELDS)),
    "products": Collection("products", "productNumber", _fs(PRODUCT_FILTERS), _fs(PRODUCT_SORTS), numeric_key=False),
    "contacts": Collection("contacts", "customerContactNumber", _fs(CONTACT_FIELDS), _fs(CONTACT_FIELDS)),
    "invoices/drafts": Collection("invoices/drafts", "draftInvoiceNumber", _fs(DRAFT_FIELDS), _fs(DRAFT_FIELDS)),
    "invoices/booked": Collection("invoices/booked", "bookedInvoiceNumber", _fs(INVOICE_FIELDS), _fs(INVOICE_FIELDS)),
    "currencies": Collection("currencies", "code", _fs("code, name, isoNumber"), _fs("code, name"), numeric_key=False),
    "customer-groups": Collection("customer-groups", "customerGroupNumber", _fs("customerGroupNumber, name"),
                                  _fs("customerGroupNumber, name")),
    "payment-terms": Collection("payment-terms", "paymentTermsNumber", _fs("paymentTermsNumber, name"),
                                _fs("paymentTermsNumber, name")),
    "vat-zones": Collection("vat-zones", "vatZoneNumber", _fs("vatZoneNumber, name"), _fs("vatZoneNumber, name")),
    "product-groups": Collection("product-groups", "productGroupNumber", _fs("productGroupNumber, name"),
                                 _fs("productGroupNumber, name")),
    "units": Collection("units", "unitNumber", _fs("unitNumber, name"), _fs("unitNumber, name")),
    "layouts": Collection("layouts", "layoutNumber", _fs("layoutNumber, name"), _fs("layoutNumber, name")),
}

STAMPED = {"customers", "products"}  # the resources whose docs have lastUpdated

DEFAULTS: dict[str, list[dict[str, Any]]] = {
    "currencies": [
        {"code": "DKK", "isoNumber": "208", "name": "Danish krone"},
        {"code": "EUR", "isoNumber": "978", "name": "Euro"},
        {"code": "CHF", "isoNumber": "756", "name": "Swiss franc"},
        {"code": "NOK", "isoNumber": "578", "name": "Norwegian krone"},
    ],
    "customer-groups": [{"customerGroupNumber": 1, "name": "Domestic"}, {"customerGroupNumber": 2, "name": "Foreign"}],
    "payment-terms": [
        {"paymentTermsNumber": 1, "name": "Net 14 days", "daysOfCredit": 14, "paymentTermsType": "net"},
        {"paymentTermsNumber": 2, "name": "Net 30 days", "daysOfCredit": 30, "paymentTermsType": "net"},
    ],
    "vat-zones": [
        {"vatZoneNumber": 1, "name": "Domestic", "enabledForCustomer": True, "enabledForSupplier": True},
        {"vatZoneNumber": 2, "name": "EU", "enabledForCustomer": True, "enabledForSupplier": True},
        {"vatZoneNumber": 3, "name": "Abroad", "enabledForCustomer": True, "enabledForSupplier": True},
    ],
    "product-groups": [{"productGroupNumber": 1, "name": "Goods"}, {"productGroupNumber": 2, "name": "Services"}],
    "units": [{"unitNumber": 1, "name": "pcs."}, {"unitNumber": 2, "name": "hours"}],
    "layouts": [{"layoutNumber": 1, "name": "Standard"}],
}
DOMESTIC_VAT_RATE = Decimal("25")  # Danish VAT on vat zone 1; EU and abroad invoices carry none
CENT = Decimal("0.01")


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, ROUND_HALF_UP)


@dataclass
class _Ordered:
    """A table's records in the order of one `sort`, as of a snapshot of the table.

    `records`/`leaves` are the snapshot (the table's records in table order, and the values of the
    properties the order depends on); `rows` the sorted records. `keys` are the sort keys of the
    leading ascending sort term in `rows` order, for bisecting a `$gt`/`$gte` filter on it.
    """

    records: list[dict[str, Any]]
    leaves: dict[str, list[Any]]
    rows: list[dict[str, Any]]
    lead: str | None = None
    keys: list[Any] | None = None

    @classmethod
    def build(cls, records: list[dict[str, Any]], props: list[str], rows: list[dict[str, Any]],
              terms: list[str]) -> "_Ordered":
        leaves = {prop: list(map(dict.get, records, repeat(prop))) for prop in props}
        ordered = cls(list(records), leaves, rows)
        term = terms[0] if terms else None
        # Bisect only where the order is plainly ascending by _comparable and a record without the
        # value can never match $gt/$gte: the four kinds whose _comparable(None) is None.
        if term and not term.startswith(("-", "~")) and _kind(term) in ("datetime", "date", "number", "text"):
            keys = []
            for record in rows:
                value = record.get(term)
                keys.append((0, "") if value is None else (1, _comparable(term, value)))
            if all(k[0] == 0 or k[1] is not None for k in keys):
                ordered.lead, ordered.keys = term, keys
        return ordered

    def still_valid(self, records: list[dict[str, Any]]) -> bool:
        if len(records) != len(self.records) or not all(map(operator.is_, records, self.records)):
            return False
        return all(list(map(dict.get, records, repeat(prop))) == values for prop, values in self.leaves.items())

    def select(self, node: Any) -> list[dict[str, Any]]:
        """The sorted records that match the filter `node` (all when None)."""
        if node is None:
            return self.rows
        if (isinstance(node, Predicate) and node.prop == self.lead and node.op in ("gt", "gte")
                and node.value is not _NULL and self.keys is not None):
            wanted = (1, _comparable(node.prop, node.value.translate(_RESTORE), from_filter=True))
            find = bisect.bisect_right if node.op == "gt" else bisect.bisect_left
            return self.rows[find(self.keys, wanted):]
        return [r for r in self.rows if _matches(node, r)]


class EconomicEmulator(Emulator):
    system = "economic"

    def __init__(self, state_file=None, app_secret_token: str = "test-app-secret",
                 agreement_grant_token: str = "test-grant", **kw: Any):
        super().__init__(state_file, **kw)
        self._tokens = (app_secret_token, agreement_grant_token)
        self.hooks = EconomicHooks(self)  # /webhooks (not in the contract files; see emulators/hooks.py)
        # (table, sort) -> _Ordered: a collection's sorted order, reused while the table is unchanged
        # (see _ordered). Keeps a page request from re-sorting the whole table every time.
        self._orders: dict[tuple[str, str], _Ordered] = {}
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
            return json.loads(json.dumps(self._insert(resource, json.loads(json.dumps(record)))))

    def update_raw(self, resource: str, key: Any, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into a stored record (None removes a property) and stamp it like a PUT."""
        with self.tables.lock:
            current = self.tables.rows[resource].get(str(key))
            if current is None:
                raise KeyError(f"{resource}/{key} does not exist")
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
        """
        ids = []
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
                stored = self.insert_raw("customers", remote)
            elif entity == "items":
                remote.setdefault("productGroup", {"productGroupNumber": 1})
                stored = self.insert_raw("products", remote)
            elif entity == "contacts":
                stored = self.insert_raw("contacts", remote)
            else:
                raise KeyError(f"economic emulator: cannot seed {entity!r}")
            ids.append(mapping.remote_id(entity, stored))
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
        highest = max((int(r[key]) for r in rows.values() if isinstance(r.get(key), int)), default=0)
        number = max(highest, self.tables.counters[table]) + 1
        self.tables.counters[table] = number
        return number

    def _insert(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
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
        self._stamp(table, record)
        rows[str(record[spec.key])] = record
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
                    return handler(request, body, **request.path_params)
            except ApiError as exc:
                return exc.response()

        return endpoint

    def _base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _render(self, request: Request, path: str, record: dict[str, Any], *, detail: bool = True) -> dict:
        """A stored record as the API shows it: with self links, false booleans left out.

        A shallow copy: only the top level and the reference objects that get a `self` link are new
        objects; nested values are shared with the stored record and never modified here. Every
        caller serialises the answer at once, inside the table lock, so the JSON is the same as from
        a deep copy (stored records hold JSON values only), without a JSON round trip per record.
        """
        out = {k: v for k, v in record.items() if v is not False}
        base = self._base(request)
        for name, table in REFS.items():
            ref = out.get(name)
            if isinstance(ref, dict) and ref.get(REF_KEYS[name]) is not None:
                out[name] = {**ref, "self": f"{base}/{table}/{encode_key(ref[REF_KEYS[name]])}"}
        if path == "invoices/booked" and not detail:
            out.pop("lines", None)  # the collection schema has no lines; GET one invoice for them
        key = COLLECTIONS["contacts" if path.endswith("/contacts") else path].key
        out["self"] = f"{base}/{path}/{encode_key(out[key])}"
        if path == "customers":
            out["contacts"] = f"{out['self']}/contacts"
        return out

    def _collection(self, request: Request, path: str, records: list[dict[str, Any]],
                    table: str | None = None) -> JSONResponse:
        """One page of `records`; `table`: they are all of that table, in its order (cacheable)."""
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
        ordered = self._ordered(table, records, spec, query.get("sort")) if table is not None else None
        if ordered is not None:
            # Filtering the sorted table keeps the order sorting the filtered records would give
            # (both sorts are stable over the table's order), so one sorted order serves every filter.
            records = ordered.select(node)
        else:
            if node is not None:
                records = [r for r in records if _matches(node, r)]
            records = self._sorted(records, spec, query.get("sort"))
        results = len(records)
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
        page = records[skip * size : (skip + 1) * size]
        return JSONResponse({
            "collection": [self._render(request, path, r, detail=False) for r in page],
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

    def _ordered(self, table: str, records: list[dict[str, Any]], spec: Collection,
                 sort: str | None) -> "_Ordered | None":
        """`records` (all of `table`, in its order) sorted by `sort`, reused while nothing changed.

        Checked on every call, so any write counts, also a test editing tables.rows by hand: the
        same record objects in the same order (a C-speed identity scan), and the same values of the
        properties the order depends on. None when the order cannot be cached (a nested sort
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
        if cached is not None and cached.still_valid(records):
            return cached
        try:
            ordered = _Ordered.build(records, props, self._sorted(records, spec, sort), terms)
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
        return out

    # -- handlers --------------------------------------------------------------------------------

    def _list_of(self, table: str) -> Callable:
        def handler(request: Request, body: Any) -> Response:
            return self._collection(request, table, list(self.tables.rows[table].values()), table=table)
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
