"""webCRM <-> entity model: which model field lives in which webCRM DTO field, and how it converts.

The DTO field tables are in contract.py (transcribed from webCRM's Swagger spec); `limits()`
derives webCRM's field lengths from them. Fields are declared in the shared vocabulary
(ledgerbridge.systems.vocabulary); webCRM writes "nothing" as "" and 0, so its converters say so.

Mapped entities:
- debtors  <-> Organisations (OrganisationDto). The ERP customer number has no native field; it
  lives in a configurable custom field (default OrganisationExtraCustom1, maxLength 50). The VAT
  zone the ERP gives the customer (domestic, eu, abroad; ledgerbridge.vat_zones) is shown in
  webCRM's own OrganisationVatGroup (maxLength 20), or the field `vat_zone_field` names.
- contacts <-> Persons (PersonDto). PersonOrganisationId is the debtor reference.
- items    <-> Products (ProductDto). The DTO has no native name/number fields; what a
  Product's Plus/Custom fields hold is set up per webCRM installation, so the layout is a
  parameter (`item_fields`) with the default `ITEM_FIELDS`.
- invoices <-> Deliveries (DeliveryDto), remote id DeliveryId. Meant for ERP -> CRM: the booked
  invoice shown to the sales staff on the customer.
  number -> DeliveryErpId (the key find_by_number looks for) and DeliveryNumber (what users see
  and search; written, never read). debtor_id -> DeliveryOrganisationId. invoice_date ->
  DeliveryOrderDate (date-time: written as midnight without offset, read as the date part).
  currency -> DeliveryCurrencyName (the ISO code as is). net_amount -> DeliveryOrderValue: the
  *net* amount, because webCRM's order value feeds its revenue/pipeline figures, which are
  excl. VAT like the ERP's own revenue. heading -> DeliveryDescription. status ->
  DeliveryErpStatus, webCRM's ERP hand-over flag: booked <-> Synchronized, draft <->
  ReadyForSynchronization, None <-> NotReadyForSynchronization (ERP_STATUS).
  due_date, vat_amount, gross_amount, remainder have no native field: they go to text custom
  fields (`invoice_fields`, default INVOICE_FIELDS = DeliveryCustom1-4) as ISO date / plain
  decimal text ("1234.50"); text a user typed that is no date/number is read back as text, so
  the quality gate names it. The layout may also name a number field (DeliveryRevenueN).
- invoice_lines <-> QuotationLines (QuotationLineDto read, QuotationLineUpdateDto written),
  remote id QuotationLineId. invoice_id -> QuotationLineOpportunityId: the DTO's only parent
  field; GET /Deliveries/{id}/QuotationLines lists the lines whose parent is that delivery (an
  assumption: the spec does not say it in words). line_number -> QuotationLineSortOrder (0 reads
  as None). description -> QuotationLineComment, quantity -> QuotationLineQuantity, unit_price
  -> QuotationLinePrice (ListPrice is the product's catalogue price, not the invoiced one),
  discount_percentage -> QuotationLineDiscount. The DTO has no product id and no line total:
  item_id (the webCRM ProductId, as text) and net_amount (the ERP's line total, not recomputed)
  go to free data fields (`line_fields`, default LINE_FIELDS = QuotationLineData9/Data8).
- payments: webCRM has no payments. The ERP side (mapping.economic) gives one payment per
  invoice holding the total paid so far (payment_date None: e-conomic has none). What the sales
  staff need is that total on the invoice, so a payment *is* its invoice's delivery: remote id =
  the DeliveryId (the same as the invoice's; the id map is per entity), amount -> a text custom
  field (`payment_fields`, default PAYMENT_FIELDS: DeliveryCustom5 paid amount, DeliveryCustom6
  payment date, empty while unknown); the remainder is the invoice's own field (DeliveryCustom4).
  invoice_id (= DeliveryId), debtor_id and currency are read from the delivery and never written
  through a payment: creating a payment writes the paid fields onto the delivery named by
  values["invoice_id"], updating one rewrites them. Only deliveries with a paid amount written
  carry a payment (`carries`), so a delivery shows "0" once the ERP reported it unpaid, and
  nothing before. The invoice and payment layouts may not write the same field (checked).
  Both entities write the same record: an invoice update and a payment update of one delivery
  must not run at the same time (PUT replaces the record; webCRM has no ETag).
- None as a number: webCRM has no empty double, so an unset price/quantity/discount/order value
  is written as 0 and read back as 0 (as for items).
The spec declares no maxLength on DeliveryDto or QuotationLineDto: limits() has none for them.
Model fields webCRM has no place for (currency, payment terms, barred, ...) are not mapped.
"""

from __future__ import annotations

from typing import Any

from ledgerbridge.connectors.base import FieldLimits, RemoteRecord
from ledgerbridge.systems.address import join_street, split_street
from ledgerbridge.systems.vocabulary import (
    DATE_AS_DATETIME, DATE_TEXT, MONEY_TEXT, REFERENCE_INT, REFERENCE_TEXT, Composite, Converter, Field, compiled,
    country, enum, money, parse_timestamp, positive_int, text,
)
from ledgerbridge.systems.webcrm.contract import (
    DTO_FIELDS, ENTITY_RESOURCE, REQUIRED, RESOURCES, id_field, updated_field,
)

# How webCRM writes "nothing": "" in text, 0 in numbers (it has no empty double or int32).
TEXT = text("")
NUMBER = money(0.0)
COUNTRY = country("")
LINE_NUMBER = positive_int(0)

# The ERP status of a delivery: DeliveryErpStatus is webCRM's ERP hand-over flag. A booked invoice
# is "Synchronized"; a draft (made in the CRM, for the ERP to create) is "ReadyForSynchronization";
# a delivery that is no invoice (yet) is "NotReadyForSynchronization", the model's None.
ERP_STATUS = {None: "NotReadyForSynchronization", "draft": "ReadyForSynchronization", "booked": "Synchronized"}
STATUS = enum(ERP_STATUS, default_remote="NotReadyForSynchronization")
# The same flag on an opportunity that is an order: "ready" asks the ERP to create it (the orders'
# creation trigger, `create_in_erp: "status == 'ready'"`), "synchronized" once it is there.
ORDER_STATUS = enum({None: "NotReadyForSynchronization", "ready": "ReadyForSynchronization",
                     "synchronized": "Synchronized"}, default_remote="NotReadyForSynchronization")


def split_person_name(name: str | None) -> tuple[str, str]:
    """The model's one name -> (PersonFirstName, PersonLastName): the last word is the last name."""
    words = (name or "").split()
    if not words:
        return "", ""
    return " ".join(words[:-1]), words[-1]


def person_full_name(record: dict[str, Any]) -> str:
    parts = (record.get("PersonFirstName"), record.get("PersonMiddleName"), record.get("PersonLastName"))
    return " ".join(p.strip() for p in parts if p and p.strip())


# -- the mapping ----------------------------------------------------------------------------
def simple(model: str, remote: str, convert: Converter = TEXT) -> Composite:
    return compiled(Field(model, remote, convert))


ADDRESS = Composite(
    ("street", "house_number"),
    ("OrganisationAddress",),
    lambda v: {"OrganisationAddress": join_street(v.get("street"), v.get("house_number"), v.get("country")) or ""},
    lambda r: dict(zip(("street", "house_number"), split_street(TEXT.into(r.get("OrganisationAddress")),
                                                                 COUNTRY.into(r.get("OrganisationCountry"))))),
)

PERSON_NAME = Composite(
    ("name",),
    ("PersonFirstName", "PersonLastName", "PersonName"),
    lambda v: dict(zip(("PersonFirstName", "PersonLastName"), split_person_name(v.get("name")))),
    # PersonName is webCRM's computed full name; fall back to the parts if it is empty.
    lambda r: {"name": TEXT.into(r.get("PersonName")) or TEXT.into(person_full_name(r))},
)

# Where an organisation shows the ERP's VAT zone: webCRM's own VAT group field.
VAT_ZONE_FIELD = "OrganisationVatGroup"

# The default layout of the item fields in a webCRM product (installation-specific, see above).
ITEM_FIELDS: dict[str, str] = {
    "number": "ProductPlus1",
    "name": "ProductPlus2",
    "unit": "ProductPlus3",
    "ean": "ProductPlus4",
    "product_group": "ProductPlus5",
    "description": "ProductMemo",
    "unit_price": "ProductListPrice",
    "cost_price": "ProductCostPrice",
}


# Where a delivery keeps the invoice figures webCRM has no native field for (installation-specific,
# like ITEM_FIELDS; text fields hold ISO dates and plain decimal text "1234.50").
INVOICE_FIELDS: dict[str, str] = {
    "due_date": "DeliveryCustom1",
    "vat_amount": "DeliveryCustom2",
    "gross_amount": "DeliveryCustom3",
    "remainder": "DeliveryCustom4",
}
# The payment shown on the invoice's delivery: paid so far, and when (if the ERP tells).
PAYMENT_FIELDS: dict[str, str] = {
    "amount": "DeliveryCustom5",
    "payment_date": "DeliveryCustom6",
}
# A quotation line has no product id and no line total: the product's webCRM id (ProductId, as
# text) and the ERP's line net amount go to two of the line's free data fields.
LINE_FIELDS: dict[str, str] = {
    "item_id": "QuotationLineData9",
    "net_amount": "QuotationLineData8",
}

INVOICE_NUMBER = Composite(
    ("number",),
    ("DeliveryErpId", "DeliveryNumber"),
    # The ERP's number is the key (DeliveryErpId) and also the number the sales staff see.
    lambda v: dict.fromkeys(("DeliveryErpId", "DeliveryNumber"), TEXT.out(v.get("number"))),
    lambda r: {"number": TEXT.into(r.get("DeliveryErpId"))},
)


# Where an opportunity that is an order keeps what OpportunityDto has no field for (installation-specific).
ORDER_FIELDS: dict[str, str] = {"reference": "OpportunityCustom1", "delivery_date": "OpportunityCustom2"}


def seller(model: str, remote: str, on: bool) -> Composite:
    """A seller reference (a webCRM user id). Off (the default), it is neither read nor written: a
    debtor's owner must not wait for, or be cleared by, an employees sync that is not configured."""
    if on:
        return simple(model, remote, REFERENCE_INT)
    return Composite((model,), (remote,), lambda v: {}, lambda r: {})


def read_only(model: str, remote: str, convert: Converter = TEXT) -> Composite:
    """A field read from the record but never written through this entity (another entity owns it)."""
    return compiled(Field(model, remote, convert, direction="read"))


def layout_map(entity: str, model: str, remote: str) -> Composite:
    """A model field kept in a configurable DTO field; the conversion follows both types."""
    from ledgerbridge.model import Kind, entity as model_entity

    resource = ENTITY_RESOURCE[entity]
    dto = DTO_FIELDS[resource].get(remote)
    if dto is None or dto.enum:
        raise ValueError(f"{entity} field {model!r}: {remote!r} is not a free {RESOURCES[resource]}Dto field")
    kind = model_entity(entity)[model].kind
    converters = {
        ("number", Kind.DECIMAL): NUMBER,
        ("string", Kind.DECIMAL): MONEY_TEXT,
        ("string", Kind.DATE): DATE_TEXT,
        ("string", Kind.REFERENCE): REFERENCE_TEXT,
        ("string", Kind.TEXT): TEXT,
        ("date-time", Kind.DATE): DATE_AS_DATETIME,
        ("integer", Kind.REFERENCE): REFERENCE_INT,
    }.get((dto.type, kind))
    if converters is None:
        raise ValueError(f"{entity} field {model!r} ({kind}) cannot be kept in {remote!r} ({dto.type})")
    return simple(model, remote, converters)


def quotation_lines(parent: str, layout: tuple[Composite, ...]) -> tuple[Composite, ...]:
    """Invoice lines and order lines are both quotation lines of their delivery or opportunity."""
    return (
        simple(parent, "QuotationLineOpportunityId", REFERENCE_INT),
        simple("line_number", "QuotationLineSortOrder", LINE_NUMBER),
        simple("description", "QuotationLineComment"),
        simple("quantity", "QuotationLineQuantity", NUMBER),
        simple("unit_price", "QuotationLinePrice", NUMBER),
        simple("discount_percentage", "QuotationLineDiscount", NUMBER),
        *layout,
    )


class WebcrmMapping:
    def __init__(
        self,
        number_field: str = "OrganisationExtraCustom1",
        item_fields: dict[str, str] | None = None,
        invoice_fields: dict[str, str] | None = None,
        payment_fields: dict[str, str] | None = None,
        line_fields: dict[str, str] | None = None,
        sellers: bool = False,
        vat_zone_field: str = VAT_ZONE_FIELD,
    ):
        if number_field not in DTO_FIELDS["Organisations"]:
            raise ValueError(f"number_field {number_field!r} is not an OrganisationDto field")
        if vat_zone_field == number_field:
            raise ValueError(f"vat_zone_field {vat_zone_field!r} already holds the customer number")
        vat_zone = layout_map("debtors", "vat_zone", vat_zone_field)
        item_fields = dict(item_fields or ITEM_FIELDS)
        for remote in item_fields.values():
            if remote not in DTO_FIELDS["Products"]:
                raise ValueError(f"item field {remote!r} is not a ProductDto field")
        self.number_field = number_field
        self.payment_fields = dict(payment_fields or PAYMENT_FIELDS)
        invoice_layout = tuple(layout_map("invoices", m, r) for m, r in (invoice_fields or INVOICE_FIELDS).items())
        payment_layout = tuple(layout_map("payments", m, r) for m, r in self.payment_fields.items())
        line_layout = tuple(layout_map("invoice_lines", m, r) for m, r in (line_fields or LINE_FIELDS).items())
        order_line_layout = tuple(layout_map("order_lines", m, r) for m, r in (line_fields or LINE_FIELDS).items())
        order_layout = tuple(layout_map("orders", m, r) for m, r in ORDER_FIELDS.items())
        self.sellers = sellers
        self.maps: dict[str, tuple[Composite, ...]] = {
            "debtors": (
                simple("number", number_field),
                simple("name", "OrganisationName"),
                ADDRESS,
                simple("postcode", "OrganisationPostCode"),
                simple("city", "OrganisationCity"),
                simple("country", "OrganisationCountry", COUNTRY),
                simple("vat_number", "OrganisationVatNumber"),
                simple("phone", "OrganisationTelephone"),
                simple("website", "OrganisationWww"),
                simple("crm_type", "OrganisationType"),
                seller("seller_id", "OrganisationOwner", sellers),
                vat_zone,
            ),
            "contacts": (
                simple("debtor_id", "PersonOrganisationId", REFERENCE_INT),
                PERSON_NAME,
                simple("email", "PersonEmail"),
                simple("phone", "PersonDirectPhone"),
                simple("mobile", "PersonMobilePhone"),
                simple("title", "PersonTitle"),
            ),
            "items": tuple(
                simple(model, remote, NUMBER)
                if DTO_FIELDS["Products"][remote].type == "number"
                else simple(model, remote)
                for model, remote in item_fields.items()
            ),
            "invoices": (
                INVOICE_NUMBER,
                simple("debtor_id", "DeliveryOrganisationId", REFERENCE_INT),
                simple("invoice_date", "DeliveryOrderDate", DATE_AS_DATETIME),
                simple("currency", "DeliveryCurrencyName"),
                simple("net_amount", "DeliveryOrderValue", NUMBER),
                simple("heading", "DeliveryDescription"),
                simple("status", "DeliveryErpStatus", STATUS),
                *invoice_layout,
            ),
            "invoice_lines": quotation_lines("invoice_id", line_layout),
            # Users are the sellers, matched by e-mail; the initials are the ERP's employee number.
            "employees": (
                simple("number", "UserInitials"),
                simple("name", "UserName"),
                simple("email", "UserEmail"),
                simple("mobile", "UserMobilePhone"),
                simple("title", "UserTitle"),
            ),
            # An order is an opportunity handed over to the ERP (OpportunityErpStatus), its lines the
            # opportunity's quotation lines; the ERP's order number comes back in OpportunityErpId.
            "orders": (
                simple("number", "OpportunityErpId"),
                simple("debtor_id", "OpportunityOrganisationId", REFERENCE_INT),
                seller("seller_id", "OpportunityAssignedTo", sellers),
                simple("order_date", "OpportunityOrderDate", DATE_AS_DATETIME),
                simple("currency", "OpportunityCurrencyName"),
                simple("heading", "OpportunityDescription"),
                simple("status", "OpportunityErpStatus", ORDER_STATUS),
                *order_layout,
            ),
            "order_lines": quotation_lines("order_id", order_line_layout),
            # A payment is the paid part of its invoice's delivery: same record, same remote id.
            # Invoice, debtor and currency are read from the delivery and never written from here.
            "payments": (
                read_only("invoice_id", "DeliveryId", REFERENCE_INT),
                read_only("debtor_id", "DeliveryOrganisationId", REFERENCE_INT),
                read_only("currency", "DeliveryCurrencyName"),
                *payment_layout,
            ),
        }
        # Invoices and payments write the same delivery: no field may be written by both.
        written = [r for e in ("invoices", "payments") for m in self.maps[e] for r in m.out({})]
        twice = {r for r in written if written.count(r) > 1}
        if twice:
            raise ValueError(f"delivery fields used twice by the invoice and payment layouts: {sorted(twice)}")

    def _maps(self, entity: str) -> tuple[Composite, ...]:
        try:
            return self.maps[entity]
        except KeyError:
            raise KeyError(f"webcrm maps no entity {entity!r}; it maps {', '.join(self.maps)}") from None

    def resource(self, entity: str) -> str:
        self._maps(entity)
        return ENTITY_RESOURCE[entity]

    def mapped_fields(self, entity: str) -> tuple[str, ...]:
        return tuple(f for m in self._maps(entity) for f in m.model)

    def to_remote(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        """Model values -> DTO fields. Only maps whose model fields appear in `values` are written,
        so a partial dict gives a partial DTO; a composite is written from all of its fields."""
        out: dict[str, Any] = {}
        for m in self._maps(entity):
            if any(f in values for f in m.model):
                out.update(m.out(values))
        return out

    def from_remote(self, entity: str, record: dict[str, Any]) -> RemoteRecord:
        resource = self.resource(entity)
        values: dict[str, Any] = {}
        for m in self._maps(entity):
            values.update(m.into(record))
        updated = record.get(updated_field(resource))
        return RemoteRecord(
            remote_id=str(record[id_field(resource)]),
            values=values,
            updated_at=parse_timestamp(updated) if updated else None,
        )

    def expand(self, entity: str, fields: Any) -> set[str]:
        """The given model fields plus the other parts of any composite they belong to."""
        return {f for m in self._maps(entity) if any(x in fields for x in m.model) for f in m.model}

    def number_remote_field(self, entity: str) -> str | None:
        """The DTO field holding the entity's business number (None: the entity has none)."""
        maps = [m for m in self._maps(entity) if m.model == ("number",)]
        return maps[0].remote[0] if maps else None

    def model_fields_of(self, entity: str, remote_field: str) -> tuple[str, ...]:
        """Which model fields a remote field carries (to name them in validation errors)."""
        return tuple(f for m in self._maps(entity) if remote_field in m.remote for f in m.model)

    def limits(self, entity: str) -> FieldLimits:
        """webCRM's max lengths in model field names. A composite (the address line) limits each of
        its parts by the whole line's length; the joined line is checked by webCRM itself."""
        dto = DTO_FIELDS[self.resource(entity)]
        lengths: dict[str, int] = {}
        for m in self._maps(entity):
            limits = [dto[r].max_length for r in m.remote if dto[r].max_length]
            if limits:
                for f in m.model:
                    if f != "country":  # the model's alpha-2 becomes a name well within the limit
                        lengths[f] = min(limits)
        required = tuple(
            f for r in REQUIRED[self.resource(entity)] for f in self.model_fields_of(entity, r)
        )
        if entity == "payments":
            required = ("invoice_id",)  # the delivery it is shown on; the debtor is the delivery's
        return FieldLimits(max_lengths=lengths, required=required)

    def carries(self, entity: str, record: dict[str, Any]) -> bool:
        """Whether a record of the entity's resource holds one of the entity's records: every
        delivery is an invoice, but only one with a paid amount written shows a payment."""
        if entity == "payments":
            return record.get(self.payment_fields["amount"]) not in (None, "")
        return True


DEFAULT = WebcrmMapping()


def to_remote(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    return DEFAULT.to_remote(entity, values)


def from_remote(entity: str, record: dict[str, Any]) -> RemoteRecord:
    return DEFAULT.from_remote(entity, record)


def mapped_fields(entity: str) -> tuple[str, ...]:
    return DEFAULT.mapped_fields(entity)


def limits(entity: str) -> FieldLimits:
    return DEFAULT.limits(entity)
