"""webCRM <-> entity model: which model field lives in which webCRM DTO field, and how it converts.

The DTO field tables below are transcribed from webCRM's Swagger 2.0 spec (OrganisationDto,
PersonDto, ProductDto, DeliveryDto, QuotationLineDto(+UpdateDto): names, types, maxLength, and
which endpoints each resource has); the emulator validates against them and
`limits()` derives webCRM's field lengths from them, so they are written once, here.
tests/test_webcrm_emulator.py checks them against the spec file.

Mapped entities:
- debtors  <-> Organisations (OrganisationDto). The ERP customer number has no native field; it
  lives in a configurable custom field (default OrganisationExtraCustom1, maxLength 50).
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

import gettext
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Callable

import pycountry

from ledgerbridge.connectors.base import FieldLimits, RemoteRecord
from ledgerbridge.mapping.address import join_street, split_street
from ledgerbridge.mapping.countries import country_code, country_name

# -- the remote schema ---------------------------------------------------------------------
# Compact notation: Name:code, where code is s[maxLen] string, i int32, n double, b boolean,
# d date-time, e:A|B enum; "Plus1-20" expands to Plus1..Plus20. Names lack the DTO prefix.
_DTO_SPECS = {
    "Organisation": """
        Address:s250 Alert:s50 ApprovalStatus:i City:s50 Comment:s CompareName:s500 Country:s50
        CreatedAt:d CreatedBy:s DivisionName:s200 Domain:s50 ExtraCustom1-8:s50 Fax:s50 Gps:s50 Id:i
        ImageFileExtension:s Industry:s50 LastDisplayedAt:d
        LastItemType:e:Undefined|Activity|Opportunity|Delivery|Meeting|SupportCase
        LastItemUpdatedAt:d MarketDataId:s MarketDataProviderId:i Name:s200 NoAds:b History:s
        OutlookSync:i OverlayUrl:s Owner:i Owner2:i PostCode:s ReportTemp:i Sla:i State:s Status:s
        Telephone:s50 TelephoneSearch:s TerritoryId:i Type:s UpdatedAt:d UpdatedBy:s VatCountry:s10
        VatGroup:s20 VatNumber:s50 VatStatus:s VatVerifiedAt:d Www:s50 XDate1-2:d XInt1-8:i
        XMemo1-2:s XText1-8:s50 Plus1-20:s Custom1-15:s Memo:s
    """,
    "Person": """
        Birthday:d BlockMassEmail:b BlockMassEmail2:b CampaignPassword:s CampaignWrongPasswordCount:i
        CheckMark1-10:b Comment:s CreatedAt:d CreatedBy:s DirectPhone:s Email:s Email2:s
        EmailBounces:b Email2Bounces:b FirstName:s Id:i ImageFileExtension:s LastLoginDateTime:d
        LastName:s LoginLog:s MarketDateId:s MemberGroupId:i MemberLanguageId:i MemberNumber:s
        MemberPassword:s MemberStartDate:d MemberStatusId:i MemberWrongPasswordCount:i MiddleName:s
        MobilePhone:s Name:s History:s OrganisationId:i Password:s Salutation:s Skype:s SortOrder:i
        Status:e:Active|Resigned|Other|Guest SupportLanguageId:i TelephoneSearch:s Title:s
        UpdatedAt:d UpdatedBy:s Plus1-20:s Custom1-15:s Memo:s
    """,
    "Product": """
        Combined:s Comment:s CostPrice:n CreatedAt:d CreatedBy:s Discount:n Id:i ListPrice:n
        History:s OrganisationId:i PersonId:i Price:n ProductYear:i Quantity:n SortOrder:i
        StockStatus:s UpdatedAt:d UpdatedBy:s VatCode:s Plus1-20:s Custom1-15:s Memo:s
    """,
    "Delivery": """
        AssignedTo:i AssignedTo2:i Comment:s CreatedAt:d CreatedBy:s CurrencyName:s Description:s
        Discount:n ErpId:s ErpReadOnly:s
        ErpStatus:e:NotReadyForSynchronization|ReadyForSynchronization|Synchronized
        ErpSyncDateTime:d GmRevenue1-12:n History:s Id:i NextFollowUp:d Note:s Number:s
        OpportunityCustom1-15:s OpportunityMemo:s OpportunityPlus1-20:s OrderDate:d OrderGmValue:n
        OrderValue:n OrganisationId:i Percent:i PersonId:i Product:s ProductId:i
        QuotationLanguageId:i Responsible:i Revenue1-12:n Risk:e:NoRisk|Small|Medium|High|Crises
        Search1-2:s SpentTime:s Status:e:New|Planned|OnGoing|Completed|GeneralDelivery Type:i
        UpdatedAt:d UpdatedBy:s UserGroupId:i WinPercent:i WinPercent2:i WinYesNo:b WonDate:d
        Plus1-20:s Custom1-15:s Memo:s
    """,
    "QuotationLine": """
        Comment:s CostPrice:n CreatedAt:d CreatedBy:s Data1-9:s Discount:n Id:i ListPrice:n Memo:s
        OpportunityId:i OrganisationId:i PersonId:i Price:n Quantity:n SortOrder:i StockStatus:s
        UpdatedAt:d UpdatedBy:s VatPercentage:n
    """,
}
# Request bodies that are not the read DTO: PUT/POST/PATCH /QuotationLines take a
# QuotationLineUpdateDto, which is QuotationLineDto plus these (accepted, never answered).
_WRITE_EXTRA_SPECS = {"QuotationLine": "LinkedDataId:i"}


@dataclass(frozen=True)
class DtoField:
    name: str
    type: str  # "string", "integer", "number", "boolean", "date-time"
    max_length: int | None = None
    enum: tuple[str, ...] | None = None


_TYPES = {"s": "string", "i": "integer", "n": "number", "b": "boolean", "d": "date-time"}


def _parse_dto(prefix: str, spec: str) -> dict[str, DtoField]:
    fields: dict[str, DtoField] = {}
    for token in spec.split():
        name, code = token.split(":", 1)
        ranged = re.fullmatch(r"(\D+)(\d+)-(\d+)", name)
        names = [f"{ranged[1]}{i}" for i in range(int(ranged[2]), int(ranged[3]) + 1)] if ranged else [name]
        for n in names:
            full = prefix + n
            if code.startswith("e:"):
                fields[full] = DtoField(full, "string", enum=tuple(code[2:].split("|")))
            else:
                fields[full] = DtoField(full, _TYPES[code[0]], int(code[1:]) if code[1:] else None)
    return fields


# resource name -> (DTO prefix, field table)
RESOURCES = {
    "Organisations": "Organisation", "Persons": "Person", "Products": "Product",
    "Deliveries": "Delivery", "QuotationLines": "QuotationLine",
}
DTO_FIELDS: dict[str, dict[str, DtoField]] = {
    resource: _parse_dto(prefix, _DTO_SPECS[prefix]) for resource, prefix in RESOURCES.items()
}
# What a write (POST/PUT/PATCH body) may carry: the DTO, plus the extras of an update DTO.
WRITE_DTO_FIELDS: dict[str, dict[str, DtoField]] = {
    resource: {**DTO_FIELDS[resource], **_parse_dto(prefix, _WRITE_EXTRA_SPECS.get(prefix, ""))}
    for resource, prefix in RESOURCES.items()
}
# The endpoints the spec gives each resource (beyond GET/POST/PATCH /{resource}, GET/PUT /{id}).
# Only Organisations have FindByUpdateDates; Deliveries only FindByCreateDates; Persons, Products
# and QuotationLines no date window at all. POST answers the new id (int32) where the spec says so.
FIND_BY_DATES: dict[str, tuple[str, ...]] = {
    "Organisations": ("Update", "Create"), "Persons": (), "Products": (), "Deliveries": ("Create",),
    "QuotationLines": (),
}
DELETABLE = frozenset({"Products", "QuotationLines"})
POST_RETURNS_ID = frozenset({"Persons", "Products", "Deliveries", "QuotationLines"})
# Reference fields webCRM checks on write: (resource, field) -> the resource the id must exist in.
# A quotation line's parent is an opportunity or a delivery (QuotationLineOpportunityId; the DTO
# has no other parent field, and GET /Deliveries/{id}/QuotationLines lists the lines whose parent
# is that delivery). The emulator knows no opportunities, so there it must be a delivery.
REFERENCES: dict[tuple[str, str], str] = {
    ("Persons", "PersonOrganisationId"): "Organisations",
    ("Deliveries", "DeliveryOrganisationId"): "Organisations",
    ("QuotationLines", "QuotationLineOpportunityId"): "Deliveries",
}
# What webCRM itself insists on when writing (beyond the DTO's own `required: [XId]`, which the
# server assigns): an organisation needs a name, a person belongs to an organisation.
REQUIRED: dict[str, tuple[str, ...]] = {
    "Organisations": ("OrganisationName",),
    "Persons": ("PersonOrganisationId",),
    "Products": (),
    "Deliveries": ("DeliveryOrganisationId",),
    "QuotationLines": ("QuotationLineOpportunityId",),
}
# Fields the server stamps; whatever a client sends for them is ignored.
SERVER_FIELDS = ("Id", "CreatedAt", "CreatedBy", "UpdatedAt", "UpdatedBy")

ENTITY_RESOURCE = {
    "debtors": "Organisations", "contacts": "Persons", "items": "Products",
    "invoices": "Deliveries", "invoice_lines": "QuotationLines", "payments": "Deliveries",
}


def id_field(resource: str) -> str:
    return RESOURCES[resource] + "Id"


def updated_field(resource: str) -> str:
    return RESOURCES[resource] + "UpdatedAt"


def parse_timestamp(value: str) -> datetime:
    """webCRM date-times as aware UTC datetimes; a value without offset is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# -- converters ----------------------------------------------------------------------------
def _text_out(value: Any) -> str:
    return "" if value is None else str(value)


def _text_in(value: Any) -> str | None:
    # webCRM returns "" for an empty text field; the model says None.
    return None if value in (None, "") else str(value)


def _ref_out(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _ref_in(value: Any) -> str | None:
    return None if value in (None, 0, "") else str(value)


def _int_in(value: Any) -> int | None:
    # An int32 webCRM answers as 0 when unset; the model's positive numbers say None.
    return None if value in (None, 0, "") else int(value)


def _decimal_out(value: Any) -> float:
    # DTO prices are doubles; webCRM has no "no price", so None is written as 0.
    return float(value) if value is not None else 0.0


def _decimal_in(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _decimal_text_out(value: Any) -> str:
    # Money in a text (custom) field: plain notation with a point, never an exponent.
    return "" if value is None else format(Decimal(str(value)), "f")


def _decimal_text_in(value: Any) -> Decimal | str | None:
    """Decimal text -> Decimal; text that is no number (typed by a user) stays text, so the
    quality gate names it instead of the sync guessing."""
    text = _text_in(value)
    if text is None:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return text


def _date_text_out(value: Any) -> str:
    return "" if value is None else (value.isoformat() if isinstance(value, date) else str(value))


def _date_text_in(value: Any) -> date | str | None:
    text = _text_in(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return text


def _date_time_out(value: Any) -> str | None:
    """A model date in a DTO date-time: midnight, without offset (a calendar date, not an instant;
    None leaves the date-time unset, as webCRM has no empty date-time)."""
    if value is None:
        return None
    return f"{value.isoformat()}T00:00:00" if isinstance(value, date) else str(value)


def _date_time_in(value: Any) -> date | None:
    # The calendar date as written; an offset is not applied (the date part is the date).
    return date.fromisoformat(value[:10]) if value else None


def _ref_text_out(value: Any) -> str:
    return "" if value in (None, "") else str(value)


# The ERP status of a delivery: DeliveryErpStatus is webCRM's ERP hand-over flag. A booked invoice
# is "Synchronized"; a draft (made in the CRM, for the ERP to create) is "ReadyForSynchronization";
# a delivery that is no invoice (yet) is "NotReadyForSynchronization", the model's None.
ERP_STATUS = {None: "NotReadyForSynchronization", "draft": "ReadyForSynchronization", "booked": "Synchronized"}
_ERP_STATUS_BACK = {remote: model for model, remote in ERP_STATUS.items()}


def _status_out(value: Any) -> str:
    return ERP_STATUS.get(value, value)  # an unknown status is sent as is: webCRM names it in a 400


def _status_in(value: Any) -> str | None:
    return _ERP_STATUS_BACK.get(value or "NotReadyForSynchronization", value)


@cache
def _country_names() -> dict[str, str]:
    """Lower-cased country names -> alpha-2: English names plus the languages webCRM users write in."""
    names: dict[str, str] = {}
    locales = ("da", "de", "sv", "nb", "nn", "fi", "nl", "fr")
    translations = []
    for lang in locales:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue
    english = [
        (name, country.alpha_2)
        for country in pycountry.countries
        for name in (country.name, getattr(country, "common_name", None), getattr(country, "official_name", None))
        if name
    ]
    # English names first, so a translation never shadows another country's English name.
    for name, code in english:
        names.setdefault(name.lower(), code)
    for t in translations:
        for name, code in english:
            names.setdefault(t.gettext(name).lower(), code)
    return names


def country_to_remote(value: Any) -> str:
    """ISO alpha-2 -> the English short name webCRM users see; anything else is passed on as it is."""
    if value is None:
        return ""
    name = country_name(str(value).upper()) if len(str(value)) == 2 else None
    return name if name else str(value)


def country_from_remote(value: Any) -> str | None:
    """Free-text country -> ISO alpha-2; unknown text stays as it is so the quality gate flags it."""
    text = _text_in(value)
    if text is None:
        return None
    key = " ".join(text.split()).lower()
    if key in _country_names():
        return _country_names()[key]
    return country_code(key) or text


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
@dataclass(frozen=True)
class FieldMap:
    """Model fields <-> remote fields, with the two conversions. Most are 1:1; the address line
    (street + house number) and the person's name are the composite ones."""

    model: tuple[str, ...]
    remote: tuple[str, ...]
    out: Callable[[dict[str, Any]], dict[str, Any]]  # model values -> remote fields
    into: Callable[[dict[str, Any]], dict[str, Any]]  # remote record -> model values


def simple(model: str, remote: str, out: Callable = _text_out, into: Callable = _text_in) -> FieldMap:
    return FieldMap((model,), (remote,), lambda v: {remote: out(v.get(model))}, lambda r: {model: into(r.get(remote))})


ADDRESS = FieldMap(
    ("street", "house_number"),
    ("OrganisationAddress",),
    lambda v: {"OrganisationAddress": join_street(v.get("street"), v.get("house_number")) or ""},
    lambda r: dict(zip(("street", "house_number"), split_street(_text_in(r.get("OrganisationAddress"))))),
)

PERSON_NAME = FieldMap(
    ("name",),
    ("PersonFirstName", "PersonLastName", "PersonName"),
    lambda v: dict(zip(("PersonFirstName", "PersonLastName"), split_person_name(v.get("name")))),
    # PersonName is webCRM's computed full name; fall back to the parts if it is empty.
    lambda r: {"name": _text_in(r.get("PersonName")) or _text_in(person_full_name(r))},
)

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

INVOICE_NUMBER = FieldMap(
    ("number",),
    ("DeliveryErpId", "DeliveryNumber"),
    # The ERP's number is the key (DeliveryErpId) and also the number the sales staff see.
    lambda v: dict.fromkeys(("DeliveryErpId", "DeliveryNumber"), _text_out(v.get("number"))),
    lambda r: {"number": _text_in(r.get("DeliveryErpId"))},
)


def read_only(model: str, remote: str, into: Callable = _text_in) -> FieldMap:
    """A field read from the record but never written through this entity (another entity owns it)."""
    return FieldMap((model,), (remote,), lambda v: {}, lambda r: {model: into(r.get(remote))})


def layout_map(entity: str, model: str, remote: str) -> FieldMap:
    """A model field kept in a configurable DTO field; the conversion follows both types."""
    from ledgerbridge.model import Kind, entity as model_entity

    resource = ENTITY_RESOURCE[entity]
    dto = DTO_FIELDS[resource].get(remote)
    if dto is None or dto.enum:
        raise ValueError(f"{entity} field {model!r}: {remote!r} is not a free {RESOURCES[resource]}Dto field")
    kind = model_entity(entity)[model].kind
    converters = {
        ("number", Kind.DECIMAL): (_decimal_out, _decimal_in),
        ("string", Kind.DECIMAL): (_decimal_text_out, _decimal_text_in),
        ("string", Kind.DATE): (_date_text_out, _date_text_in),
        ("string", Kind.REFERENCE): (_ref_text_out, _text_in),
        ("string", Kind.TEXT): (_text_out, _text_in),
        ("date-time", Kind.DATE): (_date_time_out, _date_time_in),
        ("integer", Kind.REFERENCE): (_ref_out, _ref_in),
    }.get((dto.type, kind))
    if converters is None:
        raise ValueError(f"{entity} field {model!r} ({kind}) cannot be kept in {remote!r} ({dto.type})")
    return simple(model, remote, *converters)


class WebcrmMapping:
    def __init__(
        self,
        number_field: str = "OrganisationExtraCustom1",
        item_fields: dict[str, str] | None = None,
        invoice_fields: dict[str, str] | None = None,
        payment_fields: dict[str, str] | None = None,
        line_fields: dict[str, str] | None = None,
    ):
        if number_field not in DTO_FIELDS["Organisations"]:
            raise ValueError(f"number_field {number_field!r} is not an OrganisationDto field")
        item_fields = dict(item_fields or ITEM_FIELDS)
        for remote in item_fields.values():
            if remote not in DTO_FIELDS["Products"]:
                raise ValueError(f"item field {remote!r} is not a ProductDto field")
        self.number_field = number_field
        self.payment_fields = dict(payment_fields or PAYMENT_FIELDS)
        invoice_layout = tuple(layout_map("invoices", m, r) for m, r in (invoice_fields or INVOICE_FIELDS).items())
        payment_layout = tuple(layout_map("payments", m, r) for m, r in self.payment_fields.items())
        line_layout = tuple(layout_map("invoice_lines", m, r) for m, r in (line_fields or LINE_FIELDS).items())
        self.maps: dict[str, tuple[FieldMap, ...]] = {
            "debtors": (
                simple("number", number_field),
                simple("name", "OrganisationName"),
                ADDRESS,
                simple("postcode", "OrganisationPostCode"),
                simple("city", "OrganisationCity"),
                simple("country", "OrganisationCountry", country_to_remote, country_from_remote),
                simple("vat_number", "OrganisationVatNumber"),
                simple("phone", "OrganisationTelephone"),
                simple("website", "OrganisationWww"),
                simple("crm_type", "OrganisationType"),
            ),
            "contacts": (
                simple("debtor_id", "PersonOrganisationId", _ref_out, _ref_in),
                PERSON_NAME,
                simple("email", "PersonEmail"),
                simple("phone", "PersonDirectPhone"),
                simple("mobile", "PersonMobilePhone"),
                simple("title", "PersonTitle"),
            ),
            "items": tuple(
                simple(model, remote, _decimal_out, _decimal_in)
                if DTO_FIELDS["Products"][remote].type == "number"
                else simple(model, remote)
                for model, remote in item_fields.items()
            ),
            "invoices": (
                INVOICE_NUMBER,
                simple("debtor_id", "DeliveryOrganisationId", _ref_out, _ref_in),
                simple("invoice_date", "DeliveryOrderDate", _date_time_out, _date_time_in),
                simple("currency", "DeliveryCurrencyName"),
                simple("net_amount", "DeliveryOrderValue", _decimal_out, _decimal_in),
                simple("heading", "DeliveryDescription"),
                simple("status", "DeliveryErpStatus", _status_out, _status_in),
                *invoice_layout,
            ),
            "invoice_lines": (
                simple("invoice_id", "QuotationLineOpportunityId", _ref_out, _ref_in),
                simple("line_number", "QuotationLineSortOrder", _ref_out, _int_in),
                simple("description", "QuotationLineComment"),
                simple("quantity", "QuotationLineQuantity", _decimal_out, _decimal_in),
                simple("unit_price", "QuotationLinePrice", _decimal_out, _decimal_in),
                simple("discount_percentage", "QuotationLineDiscount", _decimal_out, _decimal_in),
                *line_layout,
            ),
            # A payment is the paid part of its invoice's delivery: same record, same remote id.
            # Invoice, debtor and currency are read from the delivery and never written from here.
            "payments": (
                read_only("invoice_id", "DeliveryId", _ref_in),
                read_only("debtor_id", "DeliveryOrganisationId", _ref_in),
                read_only("currency", "DeliveryCurrencyName"),
                *payment_layout,
            ),
        }
        # Invoices and payments write the same delivery: no field may be written by both.
        written = [r for e in ("invoices", "payments") for m in self.maps[e] for r in m.out({})]
        twice = {r for r in written if written.count(r) > 1}
        if twice:
            raise ValueError(f"delivery fields used twice by the invoice and payment layouts: {sorted(twice)}")

    def _maps(self, entity: str) -> tuple[FieldMap, ...]:
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
