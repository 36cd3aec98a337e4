"""e-conomic's write schemas (the POST/PUT tables of the docs) and its error bodies, for the emulator."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from ledgerbridge.emulators.base import utcnow


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

SUPPLIER_SCHEMA = WriteSchema(  # POST/PUT /suppliers (contracts/economic/_suppliers.md)
    props={
        "address": _s(255), "attention": Prop("object"), "bankAccount": _s(50), "barred": Prop("boolean"),
        "city": _s(50), "corporateIdentificationNumber": _s(40), "costAccount": Prop("object"), "country": _s(50),
        "currency": Prop("string", 3, 3, ref=("currencies", "code")), "defaultInvoiceText": _s(100),
        "email": _s(100), "layout": _ref("layouts", "layoutNumber"), "layout.layoutNumber": Prop("integer"),
        "name": _s(255, 1), "paymentTerms": _ref("payment-terms", "paymentTermsNumber"),
        "paymentTerms.paymentTermsNumber": Prop("integer"), "phone": _s(20), "remittanceAdvice": Prop("object"),
        "salesPerson": Prop("object"), "supplierContact": Prop("object"),
        "supplierGroup": _ref("supplier-groups", "supplierGroupNumber"),
        "supplierGroup.supplierGroupNumber": Prop("integer"),
        "supplierNumber": Prop("integer", minimum=1, maximum=999_999_999),
        "vatZone": _ref("vat-zones", "vatZoneNumber"), "vatZone.vatZoneNumber": Prop("integer"), "zip": _s(10),
    },
    required=("currency", "name", "paymentTerms", "supplierGroup", "vatZone"),
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
