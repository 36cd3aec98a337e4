"""Model records <-> TribeCRM OData JSON, in the shared vocabulary.

Tribe keeps parties (Relation_Organization) apart from their roles (relationships), so:
- debtors  = organisations with a customer relationship
  (Relationship_Organization_CommercialRelationship_Customer, read with $expand=Organization);
- creditors = organisations with a supplier relationship (Relationship_Organization_Supplier).
  The remote id of both is the organisation's ID: one company that is customer and supplier is one
  Tribe organisation, as it is one contact in PowerOffice. `number` is the organisation's
  DebtorNumber (creditors: CreditorNumber); `crm_id` is the organisation's own ID (read only);
  `erp_id` is the ERP's id as Tribe keeps it, in the property named by the option `erp_id_property`
  (default ImportId, observed writable and filterable [O]; a tenant may use a custom field).
  The address is the VisitingAddress (Street, HouseNumber, Postalcode, City, Country.Code [?]).
- contacts = Relationship_Person_Contact_Standard: `debtor_id` is Relation.ID (the organisation),
  `name` the Person's FirstName + LastName, e-mail and phones the relationship's own.
- items = Product (Code is the item number, SalesPrice/PurchasePrice, IsInactive as barred).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerbridge.connectors.base import FieldLimits, RemoteRecord
from ledgerbridge.systems.vocabulary import DATE, Converter, Field, as_is, get_path, money, parse_timestamp, set_path, text

TEXT = text()
MONEY = money()
FLAG = as_is()
DEFAULT_ERP_ID_PROPERTY = "ImportId"

CUSTOMER = "Relationship_Organization_CommercialRelationship_Customer"
SUPPLIER = "Relationship_Organization_Supplier"
CONTACT = "Relationship_Person_Contact_Standard"
INVOICE = "Activity_Invoice"
PRODUCT_LINE = "ProductLine"
# An invoice line's place: Tribe's standard SortIndex (a double) holds the model's line number.
LINE_NUMBER = Converter("number", lambda v: None if v is None else float(v), lambda v: None if v is None else int(v))
# Where a PowerOffice payment lands on a Tribe invoice is not published [?]: these properties, by option.
DEFAULT_INVOICE_PROPERTIES = {"invoice_date": "InvoiceDate", "due_date": "DueDate", "paid_amount": "AmountPaid",
                              "paid_date": "PaymentDate"}


def F(model: str, remote: str, convert=TEXT, *, direction: str = "both") -> Field:
    return Field(model, remote, convert, direction=direction)


@dataclass(frozen=True)
class Spec:
    entity_set: str  # what is listed
    fields: tuple[Field, ...]  # remote paths inside the listed record (Organization.* for roles)
    expand: str = ""
    required: tuple[str, ...] = ()
    condition: str = ""  # an OData filter every listed record meets (payments: invoices with money paid)
    limits: Mapping[str, int] = field(default_factory=dict)


def _organization_fields(number_property: str, erp_id_property: str) -> tuple[Field, ...]:
    return (
        F("number", f"Organization.{number_property}"),
        F("name", "Organization.Name"),
        F("street", "Organization.VisitingAddress.Street"),
        F("house_number", "Organization.VisitingAddress.HouseNumber"),
        F("postcode", "Organization.VisitingAddress.Postalcode"),
        F("city", "Organization.VisitingAddress.City"),
        F("country", "Organization.VisitingAddress.Country.Code"),
        F("vat_number", "Organization.VATNumber"),
        F("email", "Organization.EmailAddress"),
        F("phone", "Organization.PhoneNumber"),
        F("website", "Organization.Website"),
        F("erp_id", f"Organization.{erp_id_property}"),
        F("crm_id", "Organization.ID", direction="read"),
    )


ORGANIZATION_EXPAND = "Organization($expand=VisitingAddress)"
# Model fields read from the record's shape rather than a property (never written): a debtor's
# crm_type is "Customer" because it is listed through its customer relationship (an organisation
# without one, a prospect, is no debtor); a contact's name joins its Person's first and last name.
CUSTOMER_TYPE = "Customer"
DERIVED = {"debtors": ("crm_type",), "contacts": ("name",)}


class TribeMapping:
    """The mapping for one tenant's options (which property keeps the ERP's id)."""

    def __init__(self, erp_id_property: str = DEFAULT_ERP_ID_PROPERTY, invoice_properties: Mapping[str, str] | None = None):
        self.erp_id_property = erp_id_property
        props = self.invoice_properties = {**DEFAULT_INVOICE_PROPERTIES, **(invoice_properties or {})}
        relationship = "Relationship($expand=Organization($select=ID))"
        self.specs: dict[str, Spec] = {
            "debtors": Spec(CUSTOMER, _organization_fields("DebtorNumber", erp_id_property), ORGANIZATION_EXPAND, ("name",)),
            "creditors": Spec(SUPPLIER, _organization_fields("CreditorNumber", erp_id_property), ORGANIZATION_EXPAND, ("name",)),
            "contacts": Spec(
                CONTACT,
                (
                    F("debtor_id", "Relation.ID", direction="read"),
                    F("email", "EmailAddress"),
                    F("phone", "PhoneNumber"),
                    F("mobile", "MobilePhoneNumber"),
                ),
                "Relation($select=ID),Person",
                ("debtor_id", "name"),
            ),
            "items": Spec(
                "Product",
                (
                    F("number", "Code"),
                    F("name", "Name"),
                    F("description", "Description"),
                    F("unit_price", "SalesPrice", MONEY),
                    F("cost_price", "PurchasePrice", MONEY),
                    F("barred", "IsInactive", FLAG),
                ),
                required=("name",),
            ),
            "invoices": Spec(
                INVOICE,
                (
                    F("number", "Number"),
                    F("debtor_id", "Relationship.Organization.ID", direction="read"),
                    F("invoice_date", props["invoice_date"], DATE),
                    F("due_date", props["due_date"], DATE),
                    F("currency", "Currency"),
                    F("gross_amount", "Amount", MONEY),
                    F("heading", "Subject"),
                ),
                relationship,
                ("debtor_id", "currency"),
            ),
            "invoice_lines": Spec(
                PRODUCT_LINE,
                (
                    F("invoice_id", "Activity.ID", direction="read"),
                    F("line_number", "SortIndex", LINE_NUMBER),
                    F("item_id", "Product.ID", direction="read"),
                    F("description", "Description"),
                    F("quantity", "Quantity", MONEY),
                    F("unit_price", "Price", MONEY),
                    F("discount_percentage", "DiscountPercentage", MONEY),
                    F("net_amount", "TotalExcludingVat", MONEY),
                ),
                "Activity($select=ID),Product($select=ID)",
                ("invoice_id", "line_number"),
            ),
            "payments": Spec(
                INVOICE,
                (
                    F("invoice_id", "ID", direction="read"),
                    F("debtor_id", "Relationship.Organization.ID", direction="read"),
                    F("payment_date", props["paid_date"], DATE),
                    F("amount", props["paid_amount"], MONEY),
                    F("currency", "Currency", direction="read"),
                ),
                relationship,
                ("invoice_id", "amount"),
                condition=f"{props['paid_amount']} gt 0",
            ),
        }

    def spec(self, entity: str) -> Spec:
        try:
            return self.specs[entity]
        except KeyError:
            raise KeyError(f"tribecrm: {entity} is not mapped; mapped: {', '.join(self.specs)}") from None

    def mapped_fields(self, entity: str) -> tuple[str, ...]:
        names = tuple(f.model for f in self.spec(entity).fields)
        return names + DERIVED.get(entity, ())

    def limits(self, entity: str) -> FieldLimits:
        # Tribe publishes no max lengths ($metadata facets are not public [?]): only what is required.
        spec = self.spec(entity)
        return FieldLimits(max_lengths=dict(spec.limits), required=spec.required)

    def to_remote(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        """Model values -> the JSON to write, for the fields present. Roles: the Organization part."""
        out: dict[str, Any] = {}
        for f in self.spec(entity).fields:
            if f.written and f.model in values:
                set_path(out, f.remote, f.convert.out(values[f.model]))
        if "Organization" in out:
            address = out["Organization"].get("VisitingAddress")
            if address and "Country" in address:
                code = address["Country"].get("Code")
                address["Country"] = {"Code": code} if code else None
        if entity == "contacts" and "name" in values:
            first, _, last = (values["name"] or "").strip().rpartition(" ")
            out["Person"] = {"FirstName": first or None, "LastName": last or None}
        return out

    def from_remote(self, entity: str, record: dict[str, Any]) -> RemoteRecord:
        spec = self.spec(entity)
        values = {f.model: f.convert.into(get_path(record, f.remote)) for f in spec.fields if f.read}
        if entity in ("debtors", "creditors"):
            if entity == "debtors":
                values["crm_type"] = CUSTOMER_TYPE  # a customer relationship is what makes a debtor
            remote_id = get_path(record, "Organization.ID")
            stamps = (record.get("LastMutationDate"), get_path(record, "Organization.LastMutationDate"))
        elif entity == "contacts":
            person = record.get("Person") or {}
            values["name"] = " ".join(p for p in (person.get("FirstName"), person.get("LastName")) if p) or None
            remote_id, stamps = record["ID"], (record.get("LastMutationDate"), person.get("LastMutationDate"))
        else:
            remote_id, stamps = record["ID"], (record.get("LastMutationDate"),)
        if "barred" in values:
            values["barred"] = bool(values["barred"])
        newest = max((parse_timestamp(s) for s in stamps if s), default=None)
        return RemoteRecord(str(remote_id), values, newest)


DEFAULT = TribeMapping()
