"""The declarative entity model: the single description of every entity ledgerbridge moves.

Tables (ledgerbridge.store), Dagster column schemas (assets/), base expectations
(ledgerbridge.quality) and push payloads (ledgerbridge.systems) are all derived from
the `ENTITIES` below; nothing else describes an entity's fields.

Values in a model record are plain Python: str, int, bool, Decimal (money and quantities),
datetime.date. References to other entities carry the *remote id on the side the record came
from* in staging tables, and the *hub id* in golden (hub_*) tables.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from datetime import date


class Kind(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    BOOLEAN = "boolean"
    REFERENCE = "reference"  # id of a record of another entity (see Field.reference)


class Owner(enum.StrEnum):
    """Which side's value wins when both changed a field since the last sync."""

    CRM = "crm"
    ERP = "erp"
    NEWEST = "newest"


class Format(enum.StrEnum):
    """Domain formats, validated by ledgerbridge.quality with the libraries of the field."""

    VAT = "vat"  # VAT / company registration number (python-stdnum, per country)
    EMAIL = "email"
    PHONE = "phone"
    COUNTRY = "country"  # ISO 3166-1 alpha-2
    CURRENCY = "currency"  # ISO 4217
    EAN = "ean"  # EAN/GTIN/GLN
    IBAN = "iban"
    URL = "url"


class Severity(enum.StrEnum):
    """What a failed check on a field does to the record (overridable per entity in the configuration).

    BLOCK holds the whole record back (identity and money: a wrong name, VAT number, country,
    currency or amount must never reach the books). WARN sends the record without that field, so
    the target keeps the value it has, and lists the finding as a warning until the source is fixed
    (contact details: a bad phone number must not keep a customer, its contacts and invoices out).
    """

    BLOCK = "block"
    WARN = "warn"


PYTHON_TYPES: dict[Kind, type] = {
    Kind.TEXT: str,
    Kind.INTEGER: int,
    Kind.DECIMAL: Decimal,
    Kind.DATE: date,
    Kind.BOOLEAN: bool,
    Kind.REFERENCE: str,
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind = Kind.TEXT
    description: str = ""
    max_length: int | None = None
    required: bool = False
    owner: Owner = Owner.CRM
    format: Format | None = None
    reference: str | None = None  # entity name, for Kind.REFERENCE
    minimum: Decimal | int | None = None
    severity: Severity = Severity.BLOCK

    def __post_init__(self) -> None:
        if (self.kind is Kind.REFERENCE) != (self.reference is not None):
            raise ValueError(f"field {self.name!r}: a reference field names its entity, and only it")


DELETE_ACTIONS = ("delete", "bar", "unlink")


@dataclass(frozen=True)
class Entity:
    name: str  # plural, used in table and asset names: debtors -> crm_debtors, hub/debtors
    description: str
    fields: tuple[Field, ...]
    # Natural keys the matching cascade tries, in order, for records not yet in the id map;
    # each key is one field or several that match together (an invoice line: invoice + line number).
    match_keys: tuple[tuple[str, ...], ...] = ()
    # The field that holds the entity's business number (customer number, item number, ...).
    number_field: str | None = None
    # For child entities (invoice lines): the reference field pointing at the parent.
    parent_field: str | None = None
    # Fields that can identify a natural person (a contact, a private customer): removed from the hub
    # and deleted or anonymised in every system when the person is erased (GDPR Art. 17).
    personal_fields: tuple[str, ...] = ()
    # What a delete in one system does to the record in the other, unless configured per entity:
    # "delete", "bar" (kept but blocked for use: accounting keeps records with postings) or "unlink"
    # (left as it is, no longer synced).
    delete_in_erp: str = "unlink"
    delete_in_crm: str = "unlink"
    # A delete in the system that owns the record's name erases the person everywhere.
    erase_on_delete: bool = False
    field_by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {f.name: f for f in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError(f"entity {self.name!r} declares a field twice")
        for action in (self.delete_in_erp, self.delete_in_crm):
            if action not in DELETE_ACTIONS:
                raise ValueError(f"entity {self.name!r}: delete action {action!r} is not one of {DELETE_ACTIONS}")
        for key in (*(k for keys in self.match_keys for k in keys), self.number_field, self.parent_field,
                    *self.personal_fields):
            if key is not None and key not in by_name:
                raise ValueError(f"entity {self.name!r}: {key!r} is not one of its fields")
        object.__setattr__(self, "field_by_name", by_name)

    def __getitem__(self, name: str) -> Field:
        return self.field_by_name[name]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def references(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.kind is Kind.REFERENCE)

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.reference for f in self.references if f.reference))


MONEY = dict(kind=Kind.DECIMAL, owner=Owner.ERP)
# Contact details: a bad one is left out of the write and reported, the record goes on.
CONTACT_DETAIL = dict(severity=Severity.WARN)

# Each side's own id as the other side keeps it (PowerOffice's contact id in a TribeCRM relation,
# TribeCRM's relation id in PowerOffice's ExternalImportReference): the first, exact match keys.
# A system that keeps no such id does not map them, and the keys are skipped for it.
CROSS_SYSTEM_IDS = (
    Field("erp_id", description="The ERP's own id of the record, as the CRM keeps it", max_length=50, owner=Owner.ERP),
    Field("crm_id", description="The CRM's own id of the record, as the ERP keeps it", max_length=50, owner=Owner.CRM),
)

# What customers and suppliers share: a company, its address and contact details, and its terms.
COMPANY_FIELDS = (
    Field("name", description="Company name", max_length=255, required=True),
    Field("street", description="Street name, without the house number", max_length=255),
    Field("house_number", description="House number, with letter/floor", max_length=30),
    Field("postcode", description="Postal code", max_length=30),
    Field("city", description="City", max_length=100),
    Field("country", description="ISO 3166-1 alpha-2", max_length=2, format=Format.COUNTRY),
    Field("vat_number", description="VAT / company registration number", max_length=40, format=Format.VAT),
    Field("email", description="E-mail address", max_length=255, format=Format.EMAIL, **CONTACT_DETAIL),
    Field("phone", description="Phone number", max_length=50, format=Format.PHONE, **CONTACT_DETAIL),
    Field("website", description="Website address", max_length=255, format=Format.URL, **CONTACT_DETAIL),
    Field("currency", description="ISO 4217", max_length=3, format=Format.CURRENCY, owner=Owner.ERP),
    Field("payment_terms", description="The ERP's payment terms id", max_length=20, owner=Owner.ERP),
)
# A private customer's or sole trader's details are about a person: erased on request.
COMPANY_PERSONAL_FIELDS = ("name", "street", "house_number", "email", "phone")

DEBTORS = Entity(
    name="debtors",
    description="Customers (role=debtor) and suppliers (role=creditor): the companies both systems know.",
    fields=(
        Field("number", description="The ERP's customer number", max_length=20, owner=Owner.ERP),
        *COMPANY_FIELDS,
        Field("customer_group", description="The ERP's customer group number", max_length=20, owner=Owner.ERP),
        Field("role", description="debtor or creditor", max_length=10),
        Field("crm_type", description="The CRM's organisation type (e.g. Customer, Prospect)", max_length=50),
        Field("barred", description="Blocked for new use (the ERP keeps it for its postings)", kind=Kind.BOOLEAN, owner=Owner.ERP),
        *CROSS_SYSTEM_IDS,
        Field("seller_id", kind=Kind.REFERENCE, reference="employees", description="The responsible seller"),
        Field("ean", description="EAN/GLN for electronic invoices", max_length=13, format=Format.EAN, owner=Owner.ERP),
        Field("vat_group", description="The ERP's VAT group (Momsgruppe) code", max_length=20, owner=Owner.ERP),
        Field("mobile", description="Mobile phone number", max_length=50, format=Format.PHONE, **CONTACT_DETAIL),
        Field("vat_zone", description="domestic, eu or abroad: how sales to the customer are taxed, from its "
              "country and the company's own (ledgerbridge.vat_zones); each ERP keeps it as its own code",
              max_length=10, owner=Owner.ERP),
    ),
    match_keys=(("erp_id",), ("crm_id",), ("number",), ("vat_number",)),
    personal_fields=COMPANY_PERSONAL_FIELDS,
    delete_in_erp="bar",  # the ERP keeps a customer with postings; barred, it takes no new ones
    number_field="number",
)

CREDITORS = Entity(
    name="creditors",
    description="Suppliers: the companies we buy from, with the ERP's own supplier number series.",
    fields=(
        Field("number", description="The ERP's supplier number", max_length=20, owner=Owner.ERP),
        *COMPANY_FIELDS,
        Field("supplier_group", description="The ERP's supplier group number", max_length=20, owner=Owner.ERP),
        Field("barred", description="Blocked for new use (the ERP keeps it for its postings)", kind=Kind.BOOLEAN, owner=Owner.ERP),
        *CROSS_SYSTEM_IDS,
    ),
    match_keys=(("erp_id",), ("crm_id",), ("number",), ("vat_number",)),
    personal_fields=COMPANY_PERSONAL_FIELDS,
    delete_in_erp="bar",
    number_field="number",
)

CONTACTS = Entity(
    name="contacts",
    description="Contact persons of a debtor.",
    fields=(
        Field("debtor_id", description="The debtor the person works for", kind=Kind.REFERENCE, reference="debtors", required=True),
        Field("name", description="The person's full name", max_length=255, required=True),
        Field("email", description="E-mail address", max_length=255, format=Format.EMAIL),  # blocks: the contact's match key
        Field("phone", description="Phone number", max_length=50, format=Format.PHONE, **CONTACT_DETAIL),
        Field("mobile", description="Mobile phone number", max_length=50, format=Format.PHONE, **CONTACT_DETAIL),
        Field("title", description="Job title", max_length=100, **CONTACT_DETAIL),
    ),
    match_keys=(("debtor_id", "email"),),
    personal_fields=("name", "email", "phone", "mobile", "title"),
    delete_in_erp="delete",
    delete_in_crm="delete",
    erase_on_delete=True,
)

ITEMS = Entity(
    name="items",
    description="Products and services sold.",
    fields=(
        Field("number", description="The ERP's item (product) number", max_length=25, required=True, owner=Owner.ERP),
        Field("name", description="Item name", max_length=300, required=True, owner=Owner.ERP),
        Field("description", description="Longer description of the item", max_length=500, owner=Owner.ERP),
        Field("unit", description="Unit of measure (pcs, hours, ...)", max_length=20, owner=Owner.ERP),
        Field("unit_price", description="Sales price per unit, excluding VAT", **MONEY),
        Field("cost_price", description="Cost price per unit", **MONEY),
        Field("recommended_price", description="The recommended retail price", **MONEY),
        Field("ean", description="EAN/GTIN barcode", max_length=14, format=Format.EAN, owner=Owner.ERP),
        Field("product_group", description="The ERP's product group number", max_length=20, owner=Owner.ERP),
        Field("barred", description="Blocked for new use (the ERP keeps it for its postings)", kind=Kind.BOOLEAN, owner=Owner.ERP),
    ),
    match_keys=(("number",), ("ean",)),
    delete_in_crm="delete",  # a product the ERP no longer has is not offered in the CRM either
    number_field="number",
)

INVOICES = Entity(
    name="invoices",
    description="Booked (and, CRM->ERP, draft) sales invoices.",
    fields=(
        Field("number", description="The ERP's invoice number (none while a draft)", max_length=20, owner=Owner.ERP),
        Field("debtor_id", description="The customer invoiced", kind=Kind.REFERENCE, reference="debtors", required=True, owner=Owner.ERP),
        Field("invoice_date", description="Invoice date", kind=Kind.DATE, required=True, owner=Owner.ERP),
        Field("due_date", description="Date payment is due", kind=Kind.DATE, owner=Owner.ERP),
        Field("currency", description="ISO 4217 currency of the amounts", max_length=3, format=Format.CURRENCY, required=True, owner=Owner.ERP),
        Field("net_amount", description="Total excluding VAT", **MONEY),
        Field("vat_amount", description="VAT", **MONEY),
        Field("gross_amount", description="Total including VAT", **MONEY),
        Field("remainder", description="Amount still unpaid", **MONEY),
        Field("heading", description="The invoice's heading (subject)", max_length=250, owner=Owner.ERP),
        Field("status", description="draft or booked", max_length=10, owner=Owner.ERP),
        # Booking data an invoice made in the CRM carries to the ERP (cobra Faktura -> Sage 50).
        Field("cost_centre", description="Cost centre (Kostenstelle) the invoice is booked on", max_length=20),
        Field("company", description="The ERP company/ledger (Mandant) the invoice is booked in", max_length=20),
    ),
    match_keys=(("number",),),
    number_field="number",
)

INVOICE_LINES = Entity(
    name="invoice_lines",
    description="Lines of an invoice.",
    fields=(
        Field("invoice_id", description="The invoice the line belongs to", kind=Kind.REFERENCE, reference="invoices", required=True, owner=Owner.ERP),
        Field("line_number", description="Position of the line on its invoice, from 1", kind=Kind.INTEGER, required=True, owner=Owner.ERP, minimum=1),
        Field("item_id", description="The item sold (none on a text line)", kind=Kind.REFERENCE, reference="items", owner=Owner.ERP),
        Field("description", description="The line's text", max_length=2500, owner=Owner.ERP),
        Field("quantity", description="Quantity sold", **MONEY),
        Field("unit_price", description="Price per unit, excluding VAT", **MONEY),
        Field("discount_percentage", description="Discount in percent", **MONEY),
        Field("net_amount", description="Line total excluding VAT, after discount", **MONEY),
        Field("account", description="The ERP booking (revenue) account the line is booked on", max_length=20),
    ),
    match_keys=(("invoice_id", "line_number"),),
    parent_field="invoice_id",
)

PAYMENTS = Entity(
    name="payments",
    description="Payments received against invoices: what is paid so far, one record per invoice.",
    fields=(
        Field("invoice_id", description="The invoice paid", kind=Kind.REFERENCE, reference="invoices", required=True, owner=Owner.ERP),
        Field("debtor_id", description="The customer who paid", kind=Kind.REFERENCE, reference="debtors", required=True, owner=Owner.ERP),
        # e-conomic shows a payment only as a lower invoice remainder, without a date.
        Field("payment_date", description="When it was paid (unknown where the ERP shows only a lower remainder)", kind=Kind.DATE, owner=Owner.ERP),
        Field("amount", description="Paid so far on the invoice", required=True, **MONEY),
        Field("currency", description="ISO 4217 currency of the amount", max_length=3, format=Format.CURRENCY, owner=Owner.ERP),
    ),
    match_keys=(("invoice_id",),),
)

EMPLOYEES = Entity(
    name="employees",
    description="Users of the CRM and employees of the ERP: the sellers debtors and orders carry.",
    fields=(
        Field("number", description="The ERP's employee number (the CRM user's initials)", max_length=20),
        Field("name", description="The employee's full name", max_length=255, required=True),
        Field("email", description="E-mail address", max_length=255, format=Format.EMAIL, required=True),
        Field("mobile", description="Mobile phone number", max_length=50, format=Format.PHONE, **CONTACT_DETAIL),
        Field("title", description="Job title", max_length=100, **CONTACT_DETAIL),
        Field("barred", description="No longer active (left, or the user is closed)", kind=Kind.BOOLEAN),
    ),
    match_keys=(("email",), ("number",)),
    personal_fields=("name", "email", "mobile", "title"),
    number_field="number",
)

ORDERS = Entity(
    name="orders",
    description="Sales orders entered in the CRM and carried out in the ERP.",
    fields=(
        Field("number", description="The ERP's order number", max_length=20, owner=Owner.ERP),
        Field("debtor_id", description="The customer who ordered", kind=Kind.REFERENCE, reference="debtors", required=True),
        Field("seller_id", kind=Kind.REFERENCE, reference="employees", description="The seller"),
        Field("order_date", description="Order date", kind=Kind.DATE),
        Field("delivery_date", description="Agreed delivery date", kind=Kind.DATE),
        Field("currency", description="ISO 4217 currency of the order", max_length=3, format=Format.CURRENCY),
        Field("reference", description="The customer's reference (requisition)", max_length=60),
        Field("heading", description="The order's heading (subject)", max_length=250),
        Field("status", description="The CRM's hand-over state: ready (to create in the ERP) or synchronized",
              max_length=20),
    ),
    match_keys=(("number",),),
    number_field="number",
)

ORDER_LINES = Entity(
    name="order_lines",
    description="Lines of an order.",
    fields=(
        Field("order_id", description="The order the line belongs to", kind=Kind.REFERENCE, reference="orders", required=True),
        Field("line_number", description="Position of the line on its order, from 1", kind=Kind.INTEGER, required=True, minimum=1),
        Field("item_id", description="The item ordered (none on a text line)", kind=Kind.REFERENCE, reference="items"),
        Field("description", description="The line's text", max_length=250),
        Field("quantity", description="Quantity ordered", kind=Kind.DECIMAL),
        Field("unit_price", description="Price per unit, excluding VAT", kind=Kind.DECIMAL),
        Field("discount_percentage", description="Discount in percent", kind=Kind.DECIMAL),
        Field("net_amount", description="The ERP's line total", **MONEY),
    ),
    match_keys=(("order_id", "line_number"),),
    parent_field="order_id",
)

# In dependency order: a record's references come before it (sellers before debtors and orders).
ENTITIES: dict[str, Entity] = {
    e.name: e for e in (EMPLOYEES, DEBTORS, CREDITORS, CONTACTS, ITEMS, INVOICES, INVOICE_LINES, PAYMENTS,
                        ORDERS, ORDER_LINES)
}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None
