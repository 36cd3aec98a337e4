"""Model records <-> PowerOffice Go v2 JSON, in the shared vocabulary.

- debtors <-> /Customers, creditors <-> /Suppliers (one contact may be both; its Id is shared).
  `erp_id` is Go's own contact Id (read only); `crm_id` is the CRM's id kept in
  `ExternalImportReference` (max 50, unique per contact class: the cross-system key, which also makes
  a create idempotent: a lost reply is found again by it). street + house_number share
  MailAddress.AddressLine1; CountryCode is ISO alpha-2 already. `vat_number` is Go's
  OrganizationNumber (Norwegian org.nr), `barred` is IsArchived.
- contacts <-> /ContactPersons/{contactId}: the model's one `name` is FirstName + LastName (split at
  the last space; both are required by Go, a one-word name is sent as the last name with "-" first).
- items <-> /Products (Code is the item number; UnitPrice/UnitCost).

Go takes writes as JSON (POST) and JSON Patch (PATCH); `to_remote` gives the nested JSON and
`patch_operations` the "replace" operations for the fields given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledgerbridge.connectors.base import FieldLimits, RemoteRecord
from ledgerbridge.systems.address import join_street, split_street
from decimal import Decimal

from ledgerbridge.systems.vocabulary import (
    DATE, Field, as_is, get_path, money, number, parse_timestamp, set_path, text,
)

TEXT = text()
NUMBER = number()
MONEY = money()
FLAG = as_is()
HOUSE_NUMBER_ROOM = 30  # the model's house number limit, kept free in AddressLine1 (200)


def F(model: str, remote: str, convert=TEXT, *, max_length: int | None = None, direction: str = "both") -> Field:
    return Field(model, remote, convert, direction=direction, max_length=max_length)


def _contact_fields(*extra: Field) -> tuple[Field, ...]:
    return (
        F("number", "Number", NUMBER),
        F("name", "Name"),
        F("postcode", "MailAddress.ZipCode", max_length=50),
        F("city", "MailAddress.City", max_length=100),
        F("country", "MailAddress.CountryCode", max_length=2),
        F("vat_number", "OrganizationNumber"),
        F("email", "EmailAddress"),
        F("phone", "PhoneNumber"),
        F("website", "WebsiteUrl"),
        F("currency", "CurrencyCode", max_length=3),
        F("barred", "IsArchived", FLAG),
        F("erp_id", "Id", NUMBER, direction="read"),
        F("crm_id", "ExternalImportReference", max_length=50),
        *extra,
    )


@dataclass(frozen=True)
class Spec:
    path: str  # the collection under /v2
    fields: tuple[Field, ...]
    required: tuple[str, ...] = ()
    address: bool = False  # street + house_number in MailAddress.AddressLine1


SPECS: dict[str, Spec] = {
    "debtors": Spec("/Customers", _contact_fields(F("payment_terms", "PaymentTermId", NUMBER)), ("name",), True),
    "creditors": Spec("/Suppliers", _contact_fields(), ("name",), True),
    "contacts": Spec(
        "/ContactPersons",
        (
            F("debtor_id", "ContactId", NUMBER, direction="read"),
            F("email", "EmailAddress"),
            F("phone", "PhoneNumber"),
            F("title", "Title"),
        ),
        ("debtor_id", "name"),
    ),
    "items": Spec(
        "/Products",
        (
            F("number", "Code", max_length=100),
            F("name", "Name", max_length=400),
            F("description", "Description"),
            F("unit_price", "UnitPrice", MONEY),
            F("cost_price", "UnitCost", MONEY),
            F("ean", "Gtin"),
            F("barred", "IsArchived", FLAG),
        ),
        ("name",),
    ),
    # Read only: Go books invoices from sales orders; what the CRM needs is a copy, and the payments.
    "invoices": Spec(
        "/OutgoingInvoices",
        (
            F("number", "InvoiceNo", NUMBER, direction="read"),
            F("debtor_id", "CustomerId", NUMBER, direction="read"),
            F("invoice_date", "VoucherDate", DATE, direction="read"),
            F("due_date", "DueDate", DATE, direction="read"),
            F("currency", "CurrencyCode", direction="read"),
            F("net_amount", "NetAmount", MONEY, direction="read"),
            F("gross_amount", "TotalAmount", MONEY, direction="read"),
            F("remainder", "Balance", MONEY, direction="read"),
        ),
    ),
    "invoice_lines": Spec(
        "/OutgoingInvoices/{id}/Lines",
        (
            F("line_number", "SortOrder", as_is(), direction="read"),
            F("item_id", "ProductId", NUMBER, direction="read"),
            F("description", "Description", direction="read"),
            F("quantity", "Quantity", MONEY, direction="read"),
            F("unit_price", "ProductUnitPrice", MONEY, direction="read"),
            F("net_amount", "NetAmount", MONEY, direction="read"),
        ),
    ),
    # A payment is what is paid so far of an invoice (TotalAmount - Balance), dated by the day its
    # balance last changed: one record per invoice, read with balanceLastChangedDateTimeOffsetGreaterThan.
    "payments": Spec(
        "/OutgoingInvoices",
        (
            F("invoice_id", "Id", direction="read"),
            F("debtor_id", "CustomerId", NUMBER, direction="read"),
            F("currency", "CurrencyCode", direction="read"),
        ),
    ),
}
ENTITIES = tuple(SPECS)
# Model fields computed from a record rather than read from one property.
COMPUTED = {"invoices": ("vat_amount", "status"), "invoice_lines": ("invoice_id", "discount_percentage"),
            "payments": ("amount", "payment_date")}


def _spec(entity: str) -> Spec:
    try:
        return SPECS[entity]
    except KeyError:
        raise KeyError(f"poweroffice: {entity} is not mapped; mapped: {', '.join(SPECS)}") from None


def mapped_fields(entity: str) -> tuple[str, ...]:
    spec = _spec(entity)
    extra = ("street", "house_number") if spec.address else ("name",) if entity == "contacts" else ()
    return tuple(f.model for f in spec.fields) + extra + COMPUTED.get(entity, ())


def limits(entity: str) -> FieldLimits:
    spec = _spec(entity)
    lengths = {f.model: f.max_length for f in spec.fields if f.max_length and f.written}
    if spec.address:
        lengths.update(street=200 - 1 - HOUSE_NUMBER_ROOM, house_number=HOUSE_NUMBER_ROOM)
    return FieldLimits(max_lengths=lengths, required=spec.required)


def to_remote(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    """Model values -> Go JSON, only for the fields present in `values` (a partial dict gives a partial body)."""
    spec = _spec(entity)
    out: dict[str, Any] = {}
    for f in spec.fields:
        if f.written and f.model in values:
            set_path(out, f.remote, f.convert.out(values[f.model]))
    if spec.address and ("street" in values or "house_number" in values):
        set_path(out, "MailAddress.AddressLine1", join_street(values.get("street"), values.get("house_number")))
    if entity == "contacts" and "name" in values:
        out["FirstName"], out["LastName"] = split_name(values["name"])
    return out


def patch_operations(entity: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON Patch "replace" operations setting the given model fields (paths like /MailAddress/City)."""
    operations = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}/{key}")
            else:
                operations.append({"op": "replace", "path": f"{prefix}/{key}", "value": value})

    walk(to_remote(entity, values), "")
    return operations


def from_remote(entity: str, record: dict[str, Any], invoice: dict[str, Any] | None = None) -> RemoteRecord:
    """Go JSON -> a model record; an invoice line needs its `invoice` (Go's lines do not name it)."""
    spec = _spec(entity)
    values = {f.model: f.convert.into(get_path(record, f.remote)) for f in spec.fields if f.read}
    if entity == "invoices":
        values["vat_amount"] = _difference(record.get("TotalAmount"), record.get("NetAmount"))
        values["status"] = "booked"
        return RemoteRecord(str(record["Id"]), values, parse_timestamp(record.get("LastChangedDateTimeOffset")))
    if entity == "invoice_lines":
        values["invoice_id"] = str(invoice["Id"])
        allowance = record.get("Allowance")  # a share of the line (0.1 = 10 %) [?]
        values["discount_percentage"] = None if allowance in (None, 0) else Decimal(str(allowance)) * 100
        return RemoteRecord(f"{invoice['Id']}/{record['Id']}", values, parse_timestamp(invoice.get("LastChangedDateTimeOffset")))
    if entity == "payments":
        values["amount"] = _difference(record.get("TotalAmount"), record.get("Balance"))
        stamp = record.get("BalanceLastChangedDateTimeOffset")
        values["payment_date"] = parse_timestamp(stamp).date() if stamp and values["amount"] else None
        return RemoteRecord(str(record["Id"]), values, parse_timestamp(stamp))
    if spec.address:
        values["street"], values["house_number"] = split_street(get_path(record, "MailAddress.AddressLine1"))
    if entity == "contacts":
        values["name"] = join_name(record.get("FirstName"), record.get("LastName"))
        remote_id = f"{record['ContactId']}/{record['Id']}"
    else:
        remote_id = str(record["Id"])
    for name in ("barred",):
        if name in values:
            values[name] = bool(values[name])
    return RemoteRecord(remote_id, values, parse_timestamp(changed_at(record)))


def changed_at(record: dict[str, Any]) -> str | None:
    """The newest of the record's own stamp and its address's stamp (Go keeps them apart)."""
    stamps = [s for s in (record.get("LastChangedDateTimeOffset"), get_path(record, "MailAddress.LastChangedDateTimeOffset")) if s]
    return max(stamps, key=parse_timestamp) if stamps else None


def split_name(name: str | None) -> tuple[str, str]:
    parts = (name or "").strip().rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else ("-", parts[0])


def join_name(first: str | None, last: str | None) -> str | None:
    parts = [p for p in (first, last) if p and p != "-"]
    return " ".join(parts) or None


def _difference(total: Any, part: Any) -> Decimal | None:
    if total is None or part is None:
        return None
    return Decimal(str(total)) - Decimal(str(part))
