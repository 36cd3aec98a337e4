"""Model records <-> Uniconta JSON (the public property names of NOTES.md §4), in the shared vocabulary.

Entities and the Uniconta class each is kept in:
- employees   <-> EmployeeClient (key Number): the sellers. remote id = Number.
- debtors     <-> DebtorClient (key Account): remote id = Account, which Uniconta's number series
  assigns on create (written back to the CRM). street + house_number share Address1. email is the
  InvoiceEmail (the sheet's "faktura-e-mail"), vat_number the CompanyRegNo (CVR), vat_group the Vat
  code ("Momsgruppe"), customer_group the Group, payment_terms the Payment code, seller_id the
  Employee number, vat_zone the VatZone (Uniconta's enum names Domestic/EU/Abroad [?] by default,
  the options of ledgerbridge.vat_zones override them; a debtor without a zone gets the one its
  country gives). crm_type is not kept in Uniconta (keep_trigger_while_linked, ledgerbridge.sync.pinning: a debtor means "Customer").
- contacts    <-> ContactClient (DCType Debtor, DCAccount = the debtor's Account): remote id = RowId.
  ContactClient has no telephone besides Mobil: `phone` is not mapped.
- items       <-> InvItemClient (key Item): SalesPrice1 is the sales price, CostPrice the cost price.
- orders      <-> DebtorOrderClient (key OrderNumber, assigned by Uniconta): Account, Employee
  (seller), Currency, DeliveryDate, Requisition (the customer's reference), Remark (heading).
  order_date has no writable field (Uniconta stamps Created): not mapped.
- order_lines <-> DebtorOrderLineClient (OrderNumber + LineNumber): remote id "<order>/<line>";
  Item, Text, Qty, Price, DiscountPct; Total (the line amount) is read, never written.

Countries are Uniconta enum names ("Denmark", "UnitedKingdom") <-> ISO alpha-2 via pycountry;
currencies are ISO codes already. Options (SystemConfig.options, flat keys):
- `user_field:<entity>.<model field>: <Uniconta user field>` keeps a model field in a user-defined
  field (the sheet's set-up); the entity is then read and written as `<Class>User`.
- `max_length:<Class>.<Property>: <n>` overrides a limit of contract.py (limits() reports it).
- `required:debtors: name,vat_number,...` which fields a debtor needs before it is created (default:
  the sheet's synced fields, CREATE_REQUIRED).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledgerbridge.connectors.base import FieldLimits, RemoteRecord
from ledgerbridge.systems.address import join_street, split_street
from ledgerbridge.systems.uniconta import contract
from ledgerbridge.systems.vocabulary import (
    DATE, Composite, Converter, Field, compiled, country_name, money, number, parse_timestamp, text,
)
from ledgerbridge.vat_zones import VatZones

UNICONTA_VAT_ZONES = {"domestic": "Domestic", "eu": "EU", "abroad": "Abroad"}  # contract.ENUMS["VatZone"]

TEXT = text()
MONEY = money()
KEY_NUMBER = number()  # OrderNumber/LineNumber: integers in Uniconta, text in the model
BOOL = Converter("boolean", lambda v: None if v is None else bool(v), lambda v: bool(v))


def _country_out(value: Any) -> Any:
    if not isinstance(value, str) or len(value.strip()) != 2:
        return value
    name = country_name(value.strip().upper())
    return contract.enum_name(name) if name else value


def _country_into(value: Any) -> Any:
    if not value:
        return None
    return contract.country_enum_names().get(value, value)  # unknown: kept, the quality gate names it


COUNTRY = Converter("country", _country_out, _country_into)

# What a debtor must carry before it is created (the sheet: "for oprettelsen ... er det nødvendigt,
# at felterne til synkronisering er udfyldt"); the number is Uniconta's, assigned on create. The
# invoice e-mail is synced too, but webCRM's organisation has no e-mail field to require it from: an
# installation keeping it in a custom field adds "email" through the `required:debtors` option.
CREATE_REQUIRED = ("name", "vat_number", "street", "postcode", "city", "country", "phone", "currency",
                   "vat_group", "customer_group")


@dataclass(frozen=True)
class EntityMap:
    api: str  # the Uniconta class
    fields: tuple[Field, ...]
    composites: tuple[Composite, ...] = ()
    extra_limits: tuple[tuple[str, int], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()  # properties every write carries


def F(model: str, remote: str, convert: Converter = TEXT, direction: str = "both") -> Field:
    return Field(model, remote, convert, direction)  # limits: contract.py's, not repeated here


ADDRESS = Composite(
    ("street", "house_number"), ("Address1",),
    lambda v: {"Address1": join_street(v.get("street"), v.get("house_number"))},
    lambda r: dict(zip(("street", "house_number"), split_street(TEXT.into(r.get("Address1"))))),
)
HOUSE_NUMBER_ROOM = 10  # of Address1's length, what a house number may take (one more for the space)

MAPS: dict[str, EntityMap] = {
    "employees": EntityMap("EmployeeClient", (
        F("number", "Number"), F("name", "Name"), F("email", "Email"), F("mobile", "Mobil"),
        F("title", "Title"), F("barred", "Blocked", BOOL),
    )),
    "debtors": EntityMap("DebtorClient", (
        F("number", "Account"), F("name", "Name"), F("postcode", "ZipCode"), F("city", "City"),
        F("country", "Country", COUNTRY), F("vat_number", "CompanyRegNo"), F("email", "InvoiceEmail"),
        F("phone", "Phone"), F("website", "Www"), F("currency", "Currency"), F("payment_terms", "Payment"),
        F("customer_group", "Group"), F("vat_group", "Vat"), F("ean", "EAN"), F("barred", "Blocked", BOOL),
        F("seller_id", "Employee"),
    ), composites=(ADDRESS,)),
    "contacts": EntityMap("ContactClient", (
        F("debtor_id", "DCAccount"), F("name", "Name"), F("email", "Email"), F("mobile", "Mobil"),
        F("title", "Title"),
    ), fixed=(("DCType", "Debtor"),)),
    "items": EntityMap("InvItemClient", (
        F("number", "Item"), F("name", "Name"), F("unit", "Unit"), F("unit_price", "SalesPrice1", MONEY),
        F("cost_price", "CostPrice", MONEY), F("ean", "EAN"), F("product_group", "Group"),
        F("barred", "Blocked", BOOL),
    )),
    "orders": EntityMap("DebtorOrderClient", (
        F("number", "OrderNumber", KEY_NUMBER), F("debtor_id", "Account"), F("seller_id", "Employee"),
        F("delivery_date", "DeliveryDate", DATE), F("currency", "Currency"), F("reference", "Requisition"),
        F("heading", "Remark"),
    )),
    "order_lines": EntityMap("DebtorOrderLineClient", (
        F("order_id", "OrderNumber", KEY_NUMBER), F("line_number", "LineNumber", KEY_NUMBER),
        F("item_id", "Item"), F("description", "Text"), F("quantity", "Qty", MONEY),
        F("unit_price", "Price", MONEY), F("discount_percentage", "DiscountPct", MONEY),
        F("net_amount", "Total", MONEY, direction="read"),
    )),
}
ENTITIES = tuple(MAPS)
KEYED_BY_ROW = frozenset({"contacts"})  # entities without a business key: remote id = RowId


class UnicontaMapping:
    def __init__(self, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        self.user_fields: dict[str, dict[str, str]] = {}
        self.length_overrides: dict[str, dict[str, int]] = {}
        self.create_required = CREATE_REQUIRED
        for key, value in options.items():
            if key.startswith("user_field:"):
                entity, _, model = key[len("user_field:"):].partition(".")
                if entity not in MAPS or model not in self.mapped_fields(entity):
                    raise ValueError(f"option {key}: {entity}.{model} is not a field Uniconta keeps")
                self.user_fields.setdefault(entity, {})[model] = str(value)
            elif key.startswith("max_length:"):
                api, _, prop = key[len("max_length:"):].partition(".")
                if api not in contract.ENTITIES or prop not in contract.ENTITIES[api].fields:
                    raise ValueError(f"option {key}: {api}.{prop} is not a Uniconta property")
                self.length_overrides.setdefault(api, {})[prop] = int(value)
            elif key == "required:debtors":
                self.create_required = tuple(n.strip() for n in str(value).split(",") if n.strip())
        self.vat_zones = VatZones.from_options(options, UNICONTA_VAT_ZONES)
        self._maps = {entity: self._compile(entity) for entity in MAPS}

    def _compile(self, entity: str) -> tuple[Composite, ...]:
        spec = MAPS[entity]
        moved = self.user_fields.get(entity, {})
        fields = [Field(f.model, moved.get(f.model, f.remote), f.convert, f.direction) for f in spec.fields]
        extra = (self._vat_zone(),) if entity == "debtors" else ()
        return tuple(compiled(f) for f in fields) + spec.composites + extra

    def _vat_zone(self) -> Composite:
        zones = self.vat_zones
        return Composite(
            ("vat_zone",), ("VatZone",),
            lambda v: {"VatZone": zones.code(v.get("vat_zone") or zones.derive(v.get("country")))},
            lambda r: {"vat_zone": zones.zone(r.get("VatZone"))},
        )

    # -- what the engine reads --------------------------------------------------------------------

    def mapped_fields(self, entity: str) -> tuple[str, ...]:
        spec = _map(entity)
        extra = ("vat_zone",) if entity == "debtors" else ()
        return tuple(f.model for f in spec.fields) + tuple(m for c in spec.composites for m in c.model) + extra

    def limits(self, entity: str) -> FieldLimits:
        spec = _map(entity)
        lengths = {**{f.name: f.max_length for f in contract.ENTITIES[spec.api].fields.values() if f.max_length},
                   **self.length_overrides.get(spec.api, {})}
        max_lengths = {f.model: lengths[f.remote] for f in spec.fields if f.remote in lengths
                       and f.model not in self.user_fields.get(entity, {})}
        if entity == "debtors":
            max_lengths["street"] = lengths["Address1"] - 1 - HOUSE_NUMBER_ROOM
            max_lengths["house_number"] = HOUSE_NUMBER_ROOM
        required = {
            "debtors": self.create_required,
            "employees": ("number", "name"),
            "contacts": ("debtor_id", "name"),
            "items": ("number", "name"),
            "orders": ("debtor_id",),
            "order_lines": ("order_id",),
        }[entity]
        return FieldLimits(max_lengths=max_lengths, required=required)

    # -- translation ------------------------------------------------------------------------------

    def api(self, entity: str) -> str:
        """The class to read and write: `<Class>User` when the entity keeps user fields."""
        base = _map(entity).api
        return f"{base}User" if self.user_fields.get(entity) else base

    def remote_field(self, entity: str, model: str) -> str | None:
        for composite in self._maps[entity]:
            if model in composite.model:
                return composite.remote[0]
        return None

    def model_fields_of(self, entity: str, remote: str) -> tuple[str, ...]:
        return tuple(m for c in self._maps[entity] if remote in c.remote for m in c.model)

    def to_remote(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Uniconta properties for the model fields given (fields not given are not touched)."""
        out: dict[str, Any] = {}
        for composite in self._maps[entity]:
            if any(m in values for m in composite.model):
                out.update(composite.out(values))
        out.update(dict(_map(entity).fixed))
        return out

    def from_remote(self, entity: str, record: Mapping[str, Any]) -> RemoteRecord:
        values: dict[str, Any] = {}
        for composite in self._maps[entity]:
            values.update(composite.into(record))
        return RemoteRecord(remote_id(entity, record), values, parse_timestamp(record.get("UpdatedAt")))

    def carries(self, entity: str, record: Mapping[str, Any]) -> bool:
        """Whether a Uniconta row is one of the entity's (contacts: only those of debtors)."""
        return entity != "contacts" or record.get("DCType") in (None, "Debtor")


def remote_id(entity: str, record: Mapping[str, Any]) -> str:
    if entity in KEYED_BY_ROW:
        return str(record["RowId"])
    if entity == "order_lines":
        return f"{record['OrderNumber']}/{record['LineNumber']}"
    key = contract.ENTITIES[_map(entity).api].key[0]
    return str(record[key])


def key_filter(entity: str, remote_id_value: str) -> str:
    """The OData $filter that finds one record by its remote id."""
    if entity in KEYED_BY_ROW:
        return f"RowId eq {int(remote_id_value)}"
    if entity == "order_lines":
        order, line = str(remote_id_value).split("/", 1)
        return f"OrderNumber eq {int(order)} and LineNumber eq {int(line)}"
    key = contract.ENTITIES[_map(entity).api].key[0]
    if contract.ENTITIES[_map(entity).api].fields[key].type == "integer":
        return f"{key} eq {int(remote_id_value)}"
    return f"{key} eq '{str(remote_id_value).replace(chr(39), chr(39) * 2)}'"


def _map(entity: str) -> EntityMap:
    try:
        return MAPS[entity]
    except KeyError:
        raise KeyError(f"uniconta: no mapping for entity {entity!r}; known: {', '.join(MAPS)}") from None


DEFAULT = UnicontaMapping()
