"""What e-conomic shows on a record though nobody sent it: the emulator's answers carry it too.

Recorded from the real API (the public demo agreement) and the contract's read-only properties:

- false booleans are present (`"barred": false`), not left out;
- reference objects carry a `self` link, nested ones too: `lines.product`, `lines.unit`,
  `recipient.vatZone` (the top-level ones are added by the emulator's _render);
- customers: `balance` (what the customer owes: the remainders of its booked invoices) and
  `dueAmount` (the part of it past its due date);
- products: `minimumStock` (0 without the inventory module), the names of its unit and group;
- booked invoices: `exchangeRate` (what 100 units of the invoice currency cost in the base currency:
  100 for the base currency; other currencies use the rates in EXCHANGE_RATES, the emulator's choice),
  `roundingAmount` (0: the emulator never rounds), `orderNumber` (the number of the draft it was
  booked from; the invoice's own number for one booked directly), `pdf` ({"download": link}, as
  the recorded answers have it, where the contract table says pdf.self) and `sent` links, and on
  every line `discountPercentage` (0 when not sent), `unitCostPrice` (the product's cost price) and
  `unit` with its name.

Values are added only where the stored record has none, so a test can plant anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

BASE_CURRENCY = "DKK"
# DKK per 100 units; the emulator's fixed choice (e-conomic takes the day's rate of the agreement).
EXCHANGE_RATES = {"DKK": 100.0, "EUR": 746.0, "CHF": 790.0, "NOK": 64.0, "SEK": 65.0, "USD": 690.0, "GBP": 870.0}

FALSE_BOOLEANS: dict[str, tuple[str, ...]] = {
    "customers": ("barred",),
    "products": ("barred",),
    "contacts": ("deleted",),
}

Tables = Mapping[str, Mapping[str, dict[str, Any]]]
Link = Callable[[str, Any], str]  # (collection, key) -> absolute self link


def customer_balances(tables: Tables, today: date) -> dict[str, tuple[float, float]]:
    """customerNumber -> (balance, dueAmount) over all booked invoices."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for invoice in tables["invoices/booked"].values():
        number = str((invoice.get("customer") or {}).get("customerNumber"))
        remainder = Decimal(str(invoice.get("remainder") or 0))
        due = invoice.get("dueDate")
        overdue = remainder if due and date.fromisoformat(due) < today else Decimal(0)
        balance, due_amount = totals.get(number, (Decimal(0), Decimal(0)))
        totals[number] = (balance + remainder, due_amount + overdue)
    return {k: (float(b), float(d)) for k, (b, d) in totals.items()}


def add_computed(table: str, out: dict[str, Any], tables: Tables, link: Link,
                 balances: Callable[[], dict[str, tuple[float, float]]]) -> None:
    """Add what e-conomic computes to `out`, a shallow copy of a stored record (nested objects
    that change are copied here, never modified in place)."""
    for name in FALSE_BOOLEANS.get("contacts" if table.endswith("/contacts") else table, ()):
        out.setdefault(name, False)
    if table == "customers":
        balance, due = balances().get(str(out.get("customerNumber")), (0.0, 0.0))
        out.setdefault("balance", balance)
        out.setdefault("dueAmount", due)
    elif table == "products":
        out.setdefault("minimumStock", 0.0)
        for name, collection, key in (("unit", "units", "unitNumber"), ("productGroup", "product-groups",
                                                                         "productGroupNumber")):
            ref = out.get(name)
            if isinstance(ref, dict) and ref.get(key) is not None:
                known = tables[collection].get(str(ref[key])) or {}
                out[name] = {**({"name": known["name"]} if "name" in known else {}), **ref}
    elif table == "invoices/booked":
        number = out.get("bookedInvoiceNumber")
        out.setdefault("exchangeRate", EXCHANGE_RATES.get(out.get("currency") or BASE_CURRENCY, 100.0))
        out.setdefault("roundingAmount", 0.0)
        out.setdefault("orderNumber", out.get("draftInvoiceNumber") or number)
        out.setdefault("pdf", {"download": f"{link('invoices/booked', number)}/pdf"})
        out.setdefault("sent", f"{link('invoices/booked', number)}/sent")
        recipient = out.get("recipient")
        zone = (recipient or {}).get("vatZone")
        if isinstance(zone, dict) and zone.get("vatZoneNumber") is not None:
            out["recipient"] = {**recipient, "vatZone": {**zone, "self": link("vat-zones", zone["vatZoneNumber"])}}
        if isinstance(out.get("lines"), list):
            out["lines"] = [_line(line, tables, link) for line in out["lines"]]


def _line(line: dict[str, Any], tables: Tables, link: Link) -> dict[str, Any]:
    line = dict(line)
    line.setdefault("discountPercentage", 0.0)
    product_ref = line.get("product")
    product = None
    if isinstance(product_ref, dict) and product_ref.get("productNumber") is not None:
        product = tables["products"].get(str(product_ref["productNumber"]))
        line["product"] = {**product_ref, "self": link("products", product_ref["productNumber"])}
    if product is not None:
        line.setdefault("unitCostPrice", float(product.get("costPrice") or 0.0))
        if "unit" not in line and isinstance(product.get("unit"), dict):
            line["unit"] = {"unitNumber": product["unit"]["unitNumber"]}
    else:
        line.setdefault("unitCostPrice", 0.0)
    unit = line.get("unit")
    if isinstance(unit, dict) and unit.get("unitNumber") is not None:
        known = tables["units"].get(str(unit["unitNumber"])) or {}
        line["unit"] = {**({"name": known["name"]} if "name" in known else {}), **unit,
                        "self": link("units", unit["unitNumber"])}
    return line
