"""Analyst views over the golden (hub_*) tables: sales_lines, open_items, customer_sales.

The views are plain SQL over the same tables the sync writes, created by `create_views(store)`
on SQLite and on PostgreSQL alike. Re-running it replaces them (DROP VIEW IF EXISTS + CREATE VIEW
in one transaction), so a changed definition is picked up on the next deploy.

References in hub tables hold hub ids: hub_invoice_lines.invoice_id -> hub_invoices.hub_id,
hub_invoice_lines.item_id -> hub_items.hub_id, hub_invoices.debtor_id -> hub_debtors.hub_id.

Draft invoices (status 'draft', created CRM -> ERP and not yet booked) are not sales: every view
leaves them out. An invoice without a status counts as booked (that is all e-conomic delivers).

The example queries analysts start from are kept here, in EXAMPLE_QUERIES, exactly as
docs/analysts.md shows them; tests/test_analytics.py runs them on both databases.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa


class Database(Protocol):
    """What the views need of the hub store (HubStore is one; the store creates the views, so
    this module does not import it)."""

    @property
    def dialect(self) -> str: ...

    def begin(self) -> sa.engine.base.Connection: ...

# Booked (not draft) invoices; `i` is the hub_invoices alias in every view.
_BOOKED = "COALESCE(i.status, 'booked') <> 'draft'"


def _days_overdue(dialect: str) -> str:
    """Whole days from the due date to today (the database's today), 0 while not yet due."""
    if dialect == "postgresql":
        days = "(CURRENT_DATE - i.due_date)"  # date - date is an integer of days
    elif dialect == "sqlite":
        # SQLAlchemy stores a Date as 'YYYY-MM-DD' text on SQLite; date('now') is today (UTC).
        days = "CAST(julianday(date('now')) - julianday(i.due_date) AS INTEGER)"
    else:
        raise NotImplementedError(f"analytics views: unsupported dialect {dialect!r}")
    return f"CASE WHEN i.due_date IS NULL THEN NULL WHEN {days} > 0 THEN {days} ELSE 0 END"


def view_definitions(dialect: str) -> dict[str, str]:
    """View name -> its SELECT, for the given SQLAlchemy dialect name."""
    return {
        "sales_lines": f"""
SELECT
    l.hub_id              AS line_id,
    i.hub_id              AS invoice_id,
    i.number              AS invoice_number,
    i.invoice_date        AS invoice_date,
    d.hub_id              AS debtor_id,
    d.number              AS debtor_number,
    d.name                AS debtor_name,
    it.hub_id             AS item_id,
    it.number             AS item_number,
    it.name               AS item_name,
    l.line_number         AS line_number,
    l.description         AS description,
    l.quantity            AS quantity,
    l.unit_price          AS unit_price,
    l.discount_percentage AS discount_percentage,
    l.net_amount          AS net_amount,
    i.currency            AS currency
FROM hub_invoice_lines l
JOIN hub_invoices i ON i.hub_id = l.invoice_id
LEFT JOIN hub_debtors d ON d.hub_id = i.debtor_id
LEFT JOIN hub_items it ON it.hub_id = l.item_id
WHERE {_BOOKED}""",
        "open_items": f"""
SELECT
    i.hub_id                     AS invoice_id,
    i.number                     AS invoice_number,
    i.invoice_date               AS invoice_date,
    i.due_date                   AS due_date,
    d.hub_id                     AS debtor_id,
    d.number                     AS debtor_number,
    d.name                       AS debtor_name,
    i.currency                   AS currency,
    i.gross_amount               AS gross_amount,
    i.gross_amount - i.remainder AS paid_amount,
    i.remainder                  AS remainder,
    {_days_overdue(dialect)} AS days_overdue
FROM hub_invoices i
LEFT JOIN hub_debtors d ON d.hub_id = i.debtor_id
WHERE i.remainder > 0 AND {_BOOKED}""",
        "customer_sales": f"""
SELECT
    d.hub_id                          AS debtor_id,
    d.number                          AS debtor_number,
    d.name                            AS debtor_name,
    COALESCE(inv.revenue, 0)          AS revenue,
    COALESCE(inv.invoice_count, 0)    AS invoice_count,
    inv.last_invoice_date             AS last_invoice_date,
    COALESCE(bought.distinct_items, 0) AS distinct_items,
    COALESCE(inv.open_amount, 0)      AS open_amount
FROM hub_debtors d
LEFT JOIN (
    SELECT i.debtor_id,
           SUM(i.net_amount)      AS revenue,
           COUNT(*)               AS invoice_count,
           MAX(i.invoice_date)    AS last_invoice_date,
           SUM(CASE WHEN i.remainder > 0 THEN i.remainder ELSE 0 END) AS open_amount
    FROM hub_invoices i
    WHERE {_BOOKED}
    GROUP BY i.debtor_id
) inv ON inv.debtor_id = d.hub_id
LEFT JOIN (
    SELECT i.debtor_id, COUNT(DISTINCT l.item_id) AS distinct_items
    FROM hub_invoice_lines l
    JOIN hub_invoices i ON i.hub_id = l.invoice_id
    WHERE {_BOOKED}
    GROUP BY i.debtor_id
) bought ON bought.debtor_id = d.hub_id""",
    }


VIEWS = tuple(view_definitions("sqlite"))


def create_views(store: Database, *, replace: bool = True) -> list[str]:
    """(Re)create the analyst views; idempotent. Returns the view names.

    With replace=False only missing views are created, so opening a store (every run does) takes no
    lock on views analysts may be reading.
    """
    definitions = view_definitions(store.dialect)
    with store.begin() as conn:
        existing = set(sa.inspect(conn).get_view_names())
        if replace:
            _drop(conn, definitions)
            existing = set()
        for name, select in definitions.items():
            if name not in existing:
                conn.execute(sa.text(f"CREATE VIEW {name} AS{select}"))
    return list(definitions)


def drop_views(store: Database) -> None:
    """Drop the analyst views (PostgreSQL refuses to drop a hub table a view still reads)."""
    with store.begin() as conn:
        _drop(conn, VIEWS)


def _drop(conn: sa.Connection, names) -> None:
    for name in reversed(list(names)):
        conn.execute(sa.text(f"DROP VIEW IF EXISTS {name}"))


# The example queries of docs/analysts.md, verbatim (tests/test_analytics.py checks both agree).
EXAMPLE_QUERIES: dict[str, str] = {
    "customers_who_bought_item": """\
SELECT DISTINCT debtor_number, debtor_name
FROM sales_lines
WHERE item_number = 'P-100'
ORDER BY debtor_number;""",
    "customers_with_invoices_over_5000_since_february": """\
SELECT d.number        AS debtor_number,
       d.name          AS debtor_name,
       i.number        AS invoice_number,
       i.invoice_date,
       i.net_amount,
       i.currency
FROM hub_invoices i
JOIN hub_debtors d ON d.hub_id = i.debtor_id
WHERE i.net_amount > 5000
  AND i.invoice_date >= '2026-02-01'
  AND COALESCE(i.status, 'booked') <> 'draft'
ORDER BY d.number, i.invoice_date;""",
    "overdue_more_than_30_days": """\
SELECT debtor_number, debtor_name, invoice_number, due_date, remainder, days_overdue
FROM open_items
WHERE days_overdue > 30
ORDER BY days_overdue DESC, invoice_number;""",
}
