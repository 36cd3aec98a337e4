"""e-conomic's collections for the emulator: what each may filter and sort on, the seeded reference
data, and the cached sorted order of a collection."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import repeat
from typing import Any


from ledgerbridge.systems.economic.filters import (
    Predicate, _NULL, _RESTORE, _comparable, _kind, _matches,
)


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
# The suppliers page names no filterable/sortable properties: the scalar ones, as for customers.
SUPPLIER_FIELDS = ("address, bankAccount, barred, city, corporateIdentificationNumber, country, currency, email, "
                   "name, phone, supplierNumber, zip")

REFS = {"customerGroup": "customer-groups", "paymentTerms": "payment-terms", "vatZone": "vat-zones",
        "layout": "layouts", "productGroup": "product-groups", "unit": "units", "customer": "customers",
        "product": "products", "supplierGroup": "supplier-groups"}
REF_KEYS = {"customerGroup": "customerGroupNumber", "paymentTerms": "paymentTermsNumber",
            "vatZone": "vatZoneNumber", "layout": "layoutNumber", "productGroup": "productGroupNumber",
            "unit": "unitNumber", "customer": "customerNumber", "product": "productNumber",
            "supplierGroup": "supplierGroupNumber"}

COLLECTIONS: dict[str, Collection] = {
    "customers": Collection("customers", "customerNumber", _fs(CUSTOMER_FIELDS), _fs(CUSTOMER_FIELDS)),
    "products": Collection("products", "productNumber", _fs(PRODUCT_FILTERS), _fs(PRODUCT_SORTS), numeric_key=False),
    "suppliers": Collection("suppliers", "supplierNumber", _fs(SUPPLIER_FIELDS), _fs(SUPPLIER_FIELDS)),
    "supplier-groups": Collection("supplier-groups", "supplierGroupNumber", _fs("supplierGroupNumber, name"),
                                  _fs("supplierGroupNumber, name")),
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
    "supplier-groups": [{"supplierGroupNumber": 1, "name": "Domestic suppliers"},
                        {"supplierGroupNumber": 2, "name": "Foreign suppliers"}],
    "payment-terms": [
        {"paymentTermsNumber": 1, "name": "Net 14 days", "daysOfCredit": 14, "paymentTermsType": "net"},
        {"paymentTermsNumber": 2, "name": "Net 30 days", "daysOfCredit": 30, "paymentTermsType": "net"},
    ],
    "vat-zones": [
        {"vatZoneNumber": 1, "name": "Domestic", "enabledForCustomer": True, "enabledForSupplier": True},
        {"vatZoneNumber": 2, "name": "EU", "enabledForCustomer": True, "enabledForSupplier": True},
        {"vatZoneNumber": 3, "name": "Abroad", "enabledForCustomer": True, "enabledForSupplier": True},
        # the fourth zone of a Danish agreement: domestic sales without VAT
        {"vatZoneNumber": 4, "name": "Domestic exempt", "enabledForCustomer": True, "enabledForSupplier": True},
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
    """A table's records in the order of one `sort`, as of the emulator's write count `writes`.

    `rows` are the sorted records and `leaves` the values of the properties the order depends on
    (the key first), in `rows` order, as they were when sorted. `keys` are the sort keys of the
    leading ascending sort term in `rows` order, for bisecting a `$gt`/`$gte` filter on it.
    """

    rows: list[dict[str, Any]]
    leaves: dict[str, list[Any]]
    writes: int
    lead: str | None = None
    keys: list[Any] | None = None

    @classmethod
    def build(cls, rows: list[dict[str, Any]], props: list[str], terms: list[str], writes: int) -> "_Ordered":
        leaves = {prop: list(map(dict.get, rows, repeat(prop))) for prop in props}
        ordered = cls(rows, leaves, writes)
        term = terms[0] if terms else None
        # Bisect only where the order is plainly ascending by _comparable and a record without the
        # value can never match $gt/$gte: the four kinds whose _comparable(None) is None.
        if term and not term.startswith(("-", "~")) and _kind(term) in ("datetime", "date", "number", "text"):
            keys = []
            for value in leaves[term]:
                keys.append((0, "") if value is None else (1, _comparable(term, value)))
            if all(k[0] == 0 or k[1] is not None for k in keys):
                ordered.lead, ordered.keys = term, keys
        return ordered

    def current(self, table: dict[str, dict[str, Any]], writes: int) -> bool:
        """No write through the emulator since the sort, and as many records: O(1)."""
        return writes == self.writes and len(table) == len(self.rows)

    def holds(self, positions: Sequence[int], table: dict[str, dict[str, Any]]) -> bool:
        """The records at `positions` are still the table's, with the values they were sorted by:
        catches a test's hand edit of tables.rows on the records a page shows, in O(page)."""
        key, *props = self.leaves
        keys = self.leaves[key]
        for i in positions:
            record = self.rows[i]
            if table.get(str(keys[i])) is not record or record.get(key) != keys[i]:
                return False
            if any(record.get(prop) != self.leaves[prop][i] for prop in props):
                return False
        return True

    def select(self, node: Any) -> Sequence[int]:
        """The positions in `rows` of the sorted records that match the filter `node` (all when None):
        a range when the filter is none or a bound on the leading sort term (O(log N)), else a list."""
        if node is None:
            return range(len(self.rows))
        if (isinstance(node, Predicate) and node.prop == self.lead and node.op in ("gt", "gte")
                and node.value is not _NULL and self.keys is not None):
            wanted = (1, _comparable(node.prop, node.value.translate(_RESTORE), from_filter=True))
            find = bisect.bisect_right if node.op == "gt" else bisect.bisect_left
            return range(find(self.keys, wanted), len(self.rows))
        return [i for i, r in enumerate(self.rows) if _matches(node, r)]
