"""Model records <-> Visma e-conomic REST JSON, one declarative table per entity.

Source: the e-conomic REST documentation (/work/shared/contracts/economic). Choices made here:

- debtors <-> /customers. `vat_number` goes to `corporateIdentificationNumber` (max 40, every
  agreement: CVR in Denmark), not `vatNumber`, which e-conomic only offers to SE/UK/DE/PL/FI agreements.
  `street` + `house_number` are joined into the single `address` line (and split on the way back).
  `country` is free text (max 50) in e-conomic: the shared country translation (vocabulary.py) writes
  the English name and reads names in the users' languages; an unknown name passes unchanged, so the
  quality gate can flag it.
  `vat_zone` <-> `vatZone.vatZoneNumber` through the agreement's VAT zone codes (ECONOMIC_VAT_ZONES,
  the options of ledgerbridge.vat_zones override them): e-conomic requires a zone on create, so a
  new customer without one gets the zone of its country seen from the company's country (a Swiss
  customer of a Danish company: abroad, 3), and a customer whose country is unknown: domestic.
  `mobile` <-> `mobilePhone` (max 50).
- contacts <-> /customers/:customerNumber/contacts. e-conomic contacts have no mobile and no title:
  those model fields are not mapped. remote_id is "<customerNumber>/<customerContactNumber>" because
  every contact URL needs both.
- items <-> /products (productNumber is a string key); `recommended_price` <-> `recommendedPrice`. `unit` and `product_group` hold e-conomic's
  unit and product group *numbers* (as strings), like payment terms and customer group on debtors.
- invoices <-> /invoices/booked (read) and /invoices/drafts (create); invoice_lines are the `lines`
  of a booked invoice, remote_id "<bookedInvoiceNumber>/<lineNumber>".
- payments: e-conomic has no payments on invoices; a payment shows only as a lower `remainder`.
  One payment record per invoice carries what has been paid so far (grossAmount - remainder),
  remote_id "<bookedInvoiceNumber>". The API gives no payment date: payment_date stays None.

Writes never send None: e-conomic rejects nulls, a property is cleared by leaving it out.
A false boolean is written by leaving it out (e-conomic reads a missing boolean as false); answers carry it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ledgerbridge.connectors.base import FieldLimits, RemoteRecord
from ledgerbridge.systems.address import join_street, split_street
from ledgerbridge.systems.vocabulary import (
    DATE, FLAG, Field, as_is, country, get_path, money, number, parse_timestamp, set_path, text,
)
from ledgerbridge.vat_zones import DOMESTIC, VatZones

# e-conomic's own vat zones (GET /vat-zones): 1 Domestic, 2 EU, 3 Abroad (4, Domestic exempt, has
# no derived zone: it is only ever kept as set in e-conomic).
ECONOMIC_VAT_ZONES = {"domestic": 1, "eu": 2, "abroad": 3}
VAT_ZONES = VatZones.from_options({}, ECONOMIC_VAT_ZONES)
DEFAULT_VAT_ZONE = ECONOMIC_VAT_ZONES[DOMESTIC]  # a draft invoice's customer without one
DEFAULT_LAYOUT = 1  # required on draft invoices, not in the model

# e-conomic writes "nothing" by leaving the property out (it rejects nulls): converters give None.
TEXT = text()
INT = number()
MONEY = money()
COUNTRY = country()


def F(model: str, remote: str, convert=TEXT, *, max_length: int | None = None) -> Field:
    return Field(model, remote, convert, max_length=max_length)


@dataclass(frozen=True)
class Spec:
    fields: tuple[Field, ...]
    required: tuple[str, ...] = ()  # model fields e-conomic requires on create
    extra_limits: tuple[tuple[str, int], ...] = ()  # limits of fields mapped by hand (address)
    extra_fields: tuple[str, ...] = ()  # model fields mapped by hand


ADDRESSED = ("debtors", "creditors")  # street + house number in the one `address` line

SPECS: dict[str, Spec] = {
    "debtors": Spec(
        fields=(
            F("number", "customerNumber", INT, max_length=9),  # integer 1..999999999
            F("name", "name", max_length=255),
            F("postcode", "zip", max_length=30),
            F("city", "city", max_length=50),
            F("country", "country", COUNTRY, max_length=50),
            F("vat_number", "corporateIdentificationNumber", max_length=40),
            F("email", "email", max_length=255),
            F("phone", "telephoneAndFaxNumber", max_length=255),
            F("mobile", "mobilePhone", max_length=50),
            F("website", "website", max_length=255),
            F("currency", "currency", max_length=3),
            F("payment_terms", "paymentTerms.paymentTermsNumber", INT),
            F("customer_group", "customerGroup.customerGroupNumber", INT),
            F("barred", "barred", FLAG),
        ),
        required=("name", "currency", "payment_terms", "customer_group"),
        # address is one line of 510: leave the model's 30 to the house number, one for the space
        extra_limits=(("street", 510 - 1 - 30), ("house_number", 30)),
        extra_fields=("street", "house_number", "vat_zone"),
    ),
    # Suppliers (/suppliers): the customer's layout, with e-conomic's supplier limits (phone 20, zip 10).
    "creditors": Spec(
        fields=(
            F("number", "supplierNumber", INT, max_length=9),
            F("name", "name", max_length=255),
            F("postcode", "zip", max_length=10),
            F("city", "city", max_length=50),
            F("country", "country", COUNTRY, max_length=50),
            F("vat_number", "corporateIdentificationNumber", max_length=40),
            F("email", "email", max_length=100),
            F("phone", "phone", max_length=20),
            F("currency", "currency", max_length=3),
            F("payment_terms", "paymentTerms.paymentTermsNumber", INT),
            F("supplier_group", "supplierGroup.supplierGroupNumber", INT),
            F("barred", "barred", FLAG),
        ),
        required=("name", "currency", "payment_terms", "supplier_group"),
        extra_limits=(("street", 255 - 1 - 30), ("house_number", 30)),
        extra_fields=("street", "house_number"),
    ),
    "contacts": Spec(
        fields=(
            F("debtor_id", "customer.customerNumber", INT),
            F("name", "name", max_length=255),
            F("email", "email", max_length=255),
            F("phone", "phone", max_length=50),
        ),
        required=("debtor_id", "name"),
    ),
    "items": Spec(
        fields=(
            F("number", "productNumber", max_length=25),
            F("name", "name", max_length=300),
            F("description", "description", max_length=500),
            F("unit", "unit.unitNumber", INT),
            F("unit_price", "salesPrice", MONEY),
            F("cost_price", "costPrice", MONEY),
            F("recommended_price", "recommendedPrice", MONEY),
            F("ean", "barCode", max_length=50),
            F("product_group", "productGroup.productGroupNumber", INT),
            F("barred", "barred", FLAG),
        ),
        required=("number", "name", "product_group"),
    ),
    "invoices": Spec(
        fields=(
            F("number", "bookedInvoiceNumber", INT),
            F("debtor_id", "customer.customerNumber", INT),
            F("invoice_date", "date", DATE),
            F("due_date", "dueDate", DATE),
            F("currency", "currency", max_length=3),
            F("net_amount", "netAmount", MONEY),
            F("vat_amount", "vatAmount", MONEY),
            F("gross_amount", "grossAmount", MONEY),
            F("remainder", "remainder", MONEY),
            F("heading", "notes.heading", max_length=250),
        ),
        required=("debtor_id", "invoice_date", "currency"),
        extra_fields=("status",),
    ),
    "invoice_lines": Spec(
        fields=(
            F("line_number", "lineNumber", as_is()),
            F("item_id", "product.productNumber", max_length=25),
            F("description", "description", max_length=2500),
            F("quantity", "quantity", MONEY),
            F("unit_price", "unitNetPrice", MONEY),
            F("discount_percentage", "discountPercentage", MONEY),
            F("net_amount", "totalNetAmount", MONEY),
        ),
        required=("invoice_id", "line_number"),
        extra_fields=("invoice_id",),
    ),
    "payments": Spec(fields=(), extra_fields=("invoice_id", "debtor_id", "payment_date", "amount", "currency")),
}


def _spec(entity: str) -> Spec:
    try:
        return SPECS[entity]
    except KeyError:
        raise KeyError(f"economic: no mapping for entity {entity!r}; known: {', '.join(SPECS)}") from None


# -- public API --------------------------------------------------------------------------------

def mapped_fields(entity: str) -> tuple[str, ...]:
    spec = _spec(entity)
    return tuple(f.model for f in spec.fields) + spec.extra_fields


def remote_top_keys(entity: str, fields: Iterable[str] | None = None) -> tuple[str, ...]:
    """The top-level remote properties the mapping owns (replaced wholesale on update), or those
    that carry the given model fields."""
    wanted = None if fields is None else set(fields)
    keys = [f.remote.split(".")[0] for f in _spec(entity).fields if wanted is None or f.model in wanted]
    if entity in ADDRESSED:
        if wanted is None or wanted & {"street", "house_number"}:
            keys.append("address")
        if wanted is None or "vat_zone" in wanted:
            keys.append("vatZone")
    return tuple(dict.fromkeys(keys))


def remote_to_model_field(entity: str, remote_key: str) -> str:
    """The model field a remote (top-level or dotted) property belongs to, for error messages."""
    if entity in ADDRESSED and remote_key == "address":
        return "street"
    top = remote_key.split(".")[0]
    for f in _spec(entity).fields:
        if f.remote == remote_key or f.remote.split(".")[0] == top:
            return f.model
    return remote_key  # e.g. vatZone, layout: no model field, keep e-conomic's name


def limits(entity: str) -> FieldLimits:
    spec = _spec(entity)
    max_lengths = {f.model: f.max_length for f in spec.fields if f.max_length}
    max_lengths.update(dict(spec.extra_limits))
    return FieldLimits(max_lengths=max_lengths, required=spec.required)


def to_remote(entity: str, values: dict[str, Any], *, create: bool = False,
              vat_zones: VatZones = VAT_ZONES) -> dict[str, Any]:
    """The e-conomic JSON for the model fields given (None and unmapped fields are left out).

    create=True adds what e-conomic requires on create and the record may lack: the vat zone
    (derived from the country), a draft invoice's layout.
    For invoices the result is a draft invoice (POST /invoices/drafts); `values["lines"]` may hold
    invoice_lines model dicts.
    """
    spec = _spec(entity)
    out: dict[str, Any] = {}
    for f in spec.fields:
        if f.model not in values or values[f.model] is None:
            continue
        value = f.convert.out(values[f.model])
        if value is not None:
            set_path(out, f.remote, value)
    if entity in ADDRESSED:
        address = join_street(values.get("street"), values.get("house_number"), values.get("country"))
        if address:
            out["address"] = address
        zone = values.get("vat_zone")
        if zone is None and create:
            zone = vat_zones.derive(values.get("country")) or DOMESTIC
        if zone is not None:
            code = vat_zones.code(zone)
            out["vatZone"] = {"vatZoneNumber": int(code) if str(code).isdigit() else code}
    elif entity == "invoices":
        out.pop("bookedInvoiceNumber", None)  # booked numbers are given when booking, not on a draft
        for key in ("netAmount", "vatAmount", "grossAmount", "remainder"):
            out.pop(key, None)  # read-only: computed by e-conomic from the lines
        if create:
            out.setdefault("layout", {"layoutNumber": DEFAULT_LAYOUT})
        lines = values.get("lines")
        if lines:
            out["lines"] = [to_remote("invoice_lines", line) for line in lines]
            for line in out["lines"]:
                line.pop("totalNetAmount", None)
    return out


def remote_id(entity: str, record: dict[str, Any], parent: dict[str, Any] | None = None) -> str:
    if entity == "debtors":
        return str(record["customerNumber"])
    if entity == "creditors":
        return str(record["supplierNumber"])
    if entity == "contacts":
        return f"{get_path(record, 'customer.customerNumber')}/{record['customerContactNumber']}"
    if entity == "items":
        return str(record["productNumber"])
    if entity in ("invoices", "payments"):
        return str(record["bookedInvoiceNumber"])
    if entity == "invoice_lines":
        assert parent is not None, "an invoice line's id needs its invoice"
        return f"{parent['bookedInvoiceNumber']}/{record['lineNumber']}"
    raise KeyError(entity)


def from_remote(entity: str, record: dict[str, Any], parent: dict[str, Any] | None = None, *,
                vat_zones: VatZones = VAT_ZONES) -> RemoteRecord:
    """One e-conomic record as a model record. invoice_lines need their invoice as `parent`."""
    spec = _spec(entity)
    values: dict[str, Any] = {}
    for f in spec.fields:
        values[f.model] = f.convert.into(get_path(record, f.remote))
    if entity in ADDRESSED:
        values["street"], values["house_number"] = split_street(record.get("address"), values.get("country"))
        if entity == "debtors":
            values["vat_zone"] = vat_zones.zone(get_path(record, "vatZone.vatZoneNumber"))
    elif entity == "invoices":
        values["status"] = "booked"
    elif entity == "invoice_lines":
        values["invoice_id"] = str(parent["bookedInvoiceNumber"]) if parent else None
    elif entity == "payments":
        gross = MONEY.into(record.get("grossAmount")) or Decimal(0)
        remainder = MONEY.into(record.get("remainder")) or Decimal(0)
        values = {
            "invoice_id": str(record["bookedInvoiceNumber"]),
            "debtor_id": INT.into(get_path(record, "customer.customerNumber")),
            "payment_date": None,  # not in the API: see the module docstring
            "amount": gross - remainder,
            "currency": record.get("currency"),
        }
    return RemoteRecord(
        remote_id=remote_id(entity, record, parent),
        values=values,
        updated_at=parse_timestamp(record.get("lastUpdated")),
    )


# -- product numbers in URLs -----------------------------------------------------------------
# e-conomic's own replacement scheme for non-alphanumeric characters in resource URLs
# ("Custom resource self-link encoding"); everything else is percent-encoded as usual.
_URL_CODES = {"<": "_0_", ">": "_1_", "*": "_2_", "%": "_3_", ":": "_4_", "&": "_5_", "/": "_6_",
              "\\": "_7_", "_": "_8_", " ": "_9_", "?": "_10_", ".": "_11_", "#": "_12_", "+": "_13_"}
_URL_DECODE = {code: char for char, code in _URL_CODES.items()}


@lru_cache(maxsize=65536)  # a product number is encoded for every line and link that names it
def encode_key(key: str) -> str:
    text = str(key)
    if text.isascii() and text.isalnum():
        return text  # nothing to replace or escape (the common case: numbers); skips a call per character
    from urllib.parse import quote

    return "".join(_URL_CODES.get(ch) or quote(ch, safe="") for ch in text)


def decode_key(text: str) -> str:
    import re

    return re.sub(r"_(1[0-3]|[0-9])_", lambda m: _URL_DECODE[m.group(0)], text)
