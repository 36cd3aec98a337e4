"""Uniconta's public contract, as data: the entities ledgerbridge reads and writes, their fields,
keys, webhook table ids and the limits the emulator enforces and the mapping reports.

Source: /work/shared/contracts/uniconta (NOTES.md, entity-fields.json). Field names are Uniconta's
own public property names (the names OData and /api/Entities use, NOTES.md §4). What the notes mark
unknown [?] is chosen here and named as a choice; every choice can be overridden where it is used
(UnicontaEmulator(max_lengths=..., ...), the connector's `max_lengths` option).

Field codes: s<n> text (n = max length, none when unknown), i integer, n number, b boolean,
t timestamp (read-only, stamped by the server), D date (ISO), e:<Enum> one of a closed list of names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # text, integer, number, boolean, timestamp, enum
    max_length: int | None = None
    enum: str | None = None  # name of a closed list in ENUMS

    @property
    def read_only(self) -> bool:
        return self.type == "timestamp"


@dataclass(frozen=True)
class EntitySpec:
    """One Uniconta entity (the `<Table>Client` class the API names)."""

    name: str  # DebtorClient
    table: str  # Debtor: the table name webhooks report
    table_id: int | None  # TableChangeEvent._TableId [O]; None: a transaction table (no webhooks)
    key: tuple[str, ...]  # the business key; RowId is the row's id in every table
    fields: Mapping[str, FieldSpec]
    numbered: bool = False  # the key is assigned by the server when left empty (number series)
    required: tuple[str, ...] = ()
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # field -> (entity, key field)

    @property
    def master_data(self) -> bool:
        """Change-URL webhooks exist for master data only, not transactions (NOTES.md §6)."""
        return self.table_id is not None


_TYPES = {"s": "text", "i": "integer", "n": "number", "b": "boolean", "t": "timestamp", "D": "date"}


def _fields(spec: str) -> Mapping[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for token in spec.split():
        name, code = token.split(":", 1)
        names = [f"{name[:-1]}{i}" for i in (1, 2, 3)] if name.endswith("*") else [name]
        for n in names:
            if code.startswith("e:"):
                out[n] = FieldSpec(n, "enum", enum=code[2:])
            else:
                out[n] = FieldSpec(n, _TYPES[code[0]], int(code[1:]) if code[1:] else None)
    # Every row has its id and, by this emulator's choice [?], the server's change stamp.
    out["RowId"] = FieldSpec("RowId", "integer")
    out["UpdatedAt"] = FieldSpec("UpdatedAt", "timestamp")
    return MappingProxyType(out)


# Max lengths: no vendor table exists [?]. Account 20 and Name 100 are the vendor's documentation as
# quoted in contracts/README.md; the others are the hints of NOTES.md §4 (Uniconta's own prospect
# report and CVR-update helpers: Address 60, ZipCode 10, City 30, Phone 20, ContactEmail/InvoiceEmail
# 40, ContactPerson 30, CompanyRegNo 20). Lengths with no hint at all (Item, Employee Number, Www,
# EAN, Vat, Group, Payment, Title, Email) are this module's choice: generous, so the emulator never
# refuses what the real system might take; they are overridable.
ENTITIES: Mapping[str, EntitySpec] = MappingProxyType({
    e.name: e for e in (
        EntitySpec(
            "DebtorClient", "Debtor", 50, ("Account",),
            _fields("""Account:s20 Name:s100 Address*:s60 ZipCode:s10 City:s30 Country:e:Country
                       Phone:s20 MobilPhone:s20 ContactPerson:s30 ContactEmail:s40 InvoiceEmail:s40 Www:s80
                       CompanyRegNo:s20 VatNumber:s20 EAN:s13 Currency:e:Currency Vat:s10 VatZone:e:VatZone
                       Payment:s10 Group:s10 Employee:s20 Blocked:b Created:t"""),
            numbered=True, required=("Name", "Group"),
            references=MappingProxyType({"Group": ("DebtorGroupClient", "Group"),
                                         "Payment": ("PaymentTermClient", "Payment"),
                                         "Employee": ("EmployeeClient", "Number")}),
        ),
        EntitySpec(
            "ContactClient", "Contact", 60, (),
            _fields("Name:s60 Email:s80 Mobil:s20 Title:s40 DCType:e:DCType DCAccount:s20 ContactType:s20"),
            required=("Name",),
        ),
        EntitySpec(
            "InvItemClient", "InvItem", 23, ("Item",),
            _fields("""Item:s20 Name:s60 ItemType:e:ItemType SalesPrice1:n Currency1:e:Currency CostPrice:n
                       PurchasePrice:n Unit:e:ItemUnit Group:s10 EAN:s20 Blocked:b HideInSales:b"""),
            required=("Item", "Name"),
        ),
        EntitySpec(
            "EmployeeClient", "Employee", 95, ("Number",),
            _fields("Number:s20 Name:s60 Title:s40 Email:s80 Mobil:s20 Blocked:b"),
            required=("Number", "Name"),
        ),
        EntitySpec(
            "DebtorOrderClient", "DebtorOrder", None, ("OrderNumber",),
            _fields("""OrderNumber:i Account:s20 Name:s100 YourRef:s60 OurRef:s60 Requisition:s60
                       Currency:e:Currency Payment:s10 DueDate:D DeliveryDate:D Employee:s20 Remark:s250 Created:t"""),
            numbered=True, required=("Account",),
            references=MappingProxyType({"Account": ("DebtorClient", "Account"),
                                         "Employee": ("EmployeeClient", "Number")}),
        ),
        EntitySpec(
            "DebtorOrderLineClient", "DebtorOrderLine", None, ("OrderNumber", "LineNumber"),
            _fields("""OrderNumber:i LineNumber:i Item:s20 Text:s250 Qty:n Unit:e:ItemUnit Price:n
                       DiscountPct:n Total:n Currency:e:Currency Employee:s20"""),
            required=("OrderNumber",),
            references=MappingProxyType({"OrderNumber": ("DebtorOrderClient", "OrderNumber"),
                                         "Item": ("InvItemClient", "Item"),
                                         "Employee": ("EmployeeClient", "Number")}),
        ),
        # Reference tables the debtor's codes point at (not synced; seeded in the emulator).
        EntitySpec("DebtorGroupClient", "DebtorGroup", None, ("Group",), _fields("Group:s10 Name:s60"),
                   required=("Group",)),
        EntitySpec("PaymentTermClient", "PaymentTerm", None, ("Payment",),
                   _fields("Payment:s10 Name:s60 Days:i"), required=("Payment",)),
        # Change-URL registrations, an entity of their own [O] (wedoio's connector creates them).
        EntitySpec("TableChangeEventClient", "TableChangeEvent", None, (),
                   _fields("TableId:i Url:s500 Post:b Arguments:s200"), required=("TableId", "Url")),
    )
})
# The .NET-wrapper spelling of the registration entity, as observed [O].
ALIASES = MappingProxyType({"TableChangeEvent": "TableChangeEventClient"})
TABLE_IDS = MappingProxyType({e.table_id: e for e in ENTITIES.values() if e.table_id is not None})

# Closed value lists. Uniconta serialises its .NET enums by name [?: no public JSON dump]; these are
# the names this emulator accepts. Countries: Uniconta's CountryCode names are English country
# names without spaces ("Denmark", "UnitedKingdom"); the mapping converts ISO codes with pycountry.
ENUMS: Mapping[str, frozenset[str]] = MappingProxyType({
    "Currency": frozenset({"DKK", "EUR", "USD", "SEK", "NOK", "GBP", "CHF", "PLN", "ISK"}),
    "VatZone": frozenset({"Domestic", "EU", "Abroad"}),
    "DCType": frozenset({"Debtor", "Creditor", "Prospect"}),
    "ItemType": frozenset({"Item", "Service", "BOM"}),
    "ItemUnit": frozenset({"Piece", "Hours", "Kg", "Meter", "Liter", "Box", "Set"}),
    "Country": frozenset(),  # checked against pycountry (see country_enum_names)
})

# Uniconta's ErrorCodes names (NOTES.md §7, seen in Uniconta-Pages), used as error codes.
NOT_FOUND = "CouldNotFind"
KEY_EXISTS = "KeyExists"
BLANK = "FieldCannotBeBlank"
TOO_LONG = "CouldNotSave"  # no dedicated code is known for an over-long value [?]
NO_RIGHTS = "NoRights"
REFERRED = "CouldNotDeleteRecordThatIsReferred"
INVALID = "NoSucces"

# The call budget (NOTES.md §3): calls per user per day before every call is slowed down.
CALLS_PER_DAY = 5000


@cache
def country_enum_names() -> Mapping[str, str]:
    """Uniconta country name -> ISO 3166-1 alpha-2, built once from pycountry."""
    import pycountry

    return MappingProxyType({enum_name(c.name): c.alpha_2 for c in pycountry.countries})


def enum_name(name: str) -> str:
    """An English country name as Uniconta's CountryCode enum spells it: "United Kingdom" -> "UnitedKingdom"."""
    return "".join(ch for ch in name.split(",")[0] if ch.isalnum())


def entity_spec(name: str) -> EntitySpec:
    """The spec of an entity by its API name, accepting the `<Entity>ClientUser` form and aliases."""
    base = ALIASES.get(name, name)
    if base.endswith("ClientUser"):
        base = base[: -len("User")]
    try:
        return ENTITIES[base]
    except KeyError:
        raise KeyError(f"Uniconta has no entity {name!r} here; known: {', '.join(ENTITIES)}") from None
