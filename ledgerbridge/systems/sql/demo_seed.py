"""The demo's model records stored in a product's own tables, as the product would hold them.

The demo generator makes model records; here they become rows of the profile's tables. Numbers a
record lacks are given as the product gives them: the ERPs (and cobra, whose users type the address
number) number from their own range, so numbers from both sides never collide in the demo.
Invoices carry their lines (`lines`); amounts a record lacks are computed from its lines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgerbridge.systems.sql.converters import adapt, column_value
from ledgerbridge.systems.sql.emulator import SqlEmulator

# First number per role when the demo record has none (the ERP's customers, the CRM's addresses).
DEMO_NUMBER_START = {"erp": 10001, "crm": 50001}
CENT = Decimal("0.01")
DEMO_VAT_RATE = Decimal("0.081")  # Swiss standard VAT since 2024
DEMO_COMPANY = "DEMO"  # the Mandant booking data go to (Sage 50 needs one)
DEMO_REVENUE_ACCOUNT = "3200"  # a revenue account for each line's booking


def seed(emulator: SqlEmulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    profile = emulator.profile
    if entity not in profile.entities:
        return ["" for _ in records]
    if entity == "invoices":
        return _invoices(emulator, records)
    return _insert(emulator, entity, [_numbered(emulator, entity, r, i) for i, r in enumerate(records)])


def _numbered(emulator: SqlEmulator, entity: str, record: dict[str, Any], index: int) -> dict[str, Any]:
    profile = emulator.profile
    entity_profile = profile.entity(entity)
    if not entity_profile.number:
        return record
    number_field = next(c.field for c in entity_profile.columns if c.column == entity_profile.number)
    if record.get(number_field):
        return record
    taken = len(emulator.rows(entity_profile.table, **entity_profile.where))
    return {**record, number_field: str(DEMO_NUMBER_START[profile.role] + taken + index)}


def _row(emulator: SqlEmulator, entity: str, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    profile = emulator.profile
    entity_profile = profile.entity(entity)
    rows: dict[str, dict[str, Any]] = {entity_profile.table: dict(entity_profile.where)}
    for extension in entity_profile.extensions:
        rows[extension.table] = {}
    for table, column in entity_profile.all_columns():
        if column.read_only:
            continue
        rows[table][column.column] = adapt(column.sql_type, column_value(column, values), profile.codepage)
    if entity_profile.key.generated == "number":
        rows[entity_profile.table][entity_profile.key.column] = rows[entity_profile.table][entity_profile.number]
    return rows


def _insert(emulator: SqlEmulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    entity_profile = emulator.profile.entity(entity)
    keys = []
    for values in records:
        rows = _row(emulator, entity, values)
        key = emulator.insert(entity_profile.table, [rows[entity_profile.table]])[0]
        for extension in entity_profile.extensions:
            if any(v is not None for v in rows[extension.table].values()):
                emulator.insert(extension.table, [{extension.key: key, **rows[extension.table]}])
        keys.append(str(key))
    return keys


def _invoices(emulator: SqlEmulator, records: list[dict[str, Any]]) -> list[str]:
    keys = []
    items = _item_keys(emulator)
    for index, record in enumerate(records):
        lines = record.get("lines", [])
        amounts = [(Decimal(str(l.get("quantity") or 1)) * Decimal(str(l.get("unit_price") or 0))).quantize(CENT)
                   for l in lines]
        net = sum(amounts, Decimal("0"))
        vat = (net * DEMO_VAT_RATE).quantize(CENT)
        invoice = {"net_amount": net, "vat_amount": vat, "gross_amount": net + vat, "remainder": net + vat,
                   "status": "booked", "company": DEMO_COMPANY, **{k: v for k, v in record.items() if k != "lines"}}
        key = _insert(emulator, "invoices", [_numbered(emulator, "invoices", invoice, 0)])[0]
        keys.append(key)
        if "invoice_lines" in emulator.profile.entities and lines:
            _insert(emulator, "invoice_lines", [
                {**line, "invoice_id": key, "item_id": items.get(str(line.get("item_id")), line.get("item_id")),
                 "net_amount": amount, "account": DEMO_REVENUE_ACCOUNT}
                for line, amount in zip(lines, amounts)
            ])
    return keys


def _item_keys(emulator: SqlEmulator) -> dict[str, str]:
    """Item number -> the product's item key (lines reference items by key)."""
    profile = emulator.profile.entities.get("items")
    if profile is None or not profile.number:
        return {}
    return {str(r[profile.number]).strip(): str(r[profile.key.column]) for r in emulator.rows(profile.table)}
