"""Analyst views over the golden (hub_*) tables, on SQLite and on PostgreSQL alike.

- `golden_<entity>` (one per entity): every golden record with its ids in each system it is linked
  in (`system_ids`), a quality flag (`quality`: held / warning / ok, from the quarantine the quality
  gate keeps) and, where the entity has a business number, `number_sort`: the number as a key that
  sorts numbers as numbers (1, 2, 10, 100, not 1, 10, 100, 2).
- `record_ids`: one row per golden record and system it is linked in (the id map, for joins by a
  system's own id).
- `sales_lines`, `open_items`, `customer_sales`: the sales questions, with `*_number_sort` keys.

Every view column is declared once below (ViewColumn): the SELECT list, the data dictionary
(ledgerbridge.dictionary) and the Dagster column schema (assets/analytics.py) all read it. A column
that shows a table's column takes that column's meaning and type (`reads`).

`create_views(store)` creates them; re-running it replaces them (DROP VIEW IF EXISTS + CREATE VIEW in
one transaction), so a changed definition is picked up on the next deploy.

Draft invoices (status 'draft', created CRM -> ERP and not yet booked) are not sales: the sales views
leave them out. An invoice without a status counts as booked (that is all e-conomic delivers).

The example queries analysts start from are kept here, in EXAMPLE_QUERIES, exactly as
docs/analysts.md shows them; tests/test_analytics.py runs them on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from ledgerbridge.model import ENTITIES, Entity
from ledgerbridge.schema import T, hub, hub_table_name

DIALECTS = ("sqlite", "postgresql")


class Database(Protocol):
    """What the views need of the hub store (HubStore is one; the store creates the views, so
    this module does not import it)."""

    @property
    def dialect(self) -> str: ...

    def begin(self) -> sa.engine.base.Connection: ...


@dataclass(frozen=True)
class ViewColumn:
    name: str
    sql: str  # its expression in the view's SELECT list
    reads: tuple[str, str] | None = None  # (table, column) it shows: its meaning and type come from there
    type: Any = None  # a computed column's SQLAlchemy type
    description: str = ""  # a computed column's meaning

    @property
    def source(self) -> sa.Column | None:
        return T[self.reads[0]].c[self.reads[1]] if self.reads else None

    @property
    def sql_type(self) -> Any:
        return self.source.type if self.source is not None else self.type

    @property
    def meaning(self) -> str:
        return self.description or (self.source.comment if self.source is not None else "") or ""


@dataclass(frozen=True)
class View:
    name: str
    description: str
    columns: tuple[ViewColumn, ...]
    body: str  # FROM .. WHERE .. GROUP BY, after the SELECT list
    entities: tuple[str, ...]  # the entities whose golden tables it reads

    def select(self) -> str:
        width = max(len(c.sql) for c in self.columns)
        listed = ",\n".join(f"    {c.sql.ljust(width)} AS {c.name}" for c in self.columns)
        return f"\nSELECT\n{listed}\n{self.body}"


def shows(table: str, column: str, name: str | None = None, alias: str | None = None) -> ViewColumn:
    """A view column that shows `table.column` (under `alias.column` in the view's FROM)."""
    return ViewColumn(name or column, f"{alias}.{column}" if alias else column, reads=(table, column))


# Booked (not draft) invoices; `i` is the hub_invoices alias in every view.
_BOOKED = "COALESCE(i.status, 'booked') <> 'draft'"
_WIDTH = 20  # digits a number sort key pads to (bigint has 19)


def number_sort_key(dialect: str, column: str) -> str:
    """A number of plain digits left-padded with zeros, so it sorts as a number among numbers; other
    numbers ('P-100') unchanged, so they sort as text. One text key sorts alike on both databases."""
    if dialect == "postgresql":
        return f"CASE WHEN {column} ~ '^[0-9]{{1,{_WIDTH}}}$' THEN lpad({column}, {_WIDTH}, '0') ELSE {column} END"
    if dialect == "sqlite":
        return (f"CASE WHEN {column} <> '' AND {column} NOT GLOB '*[^0-9]*' AND length({column}) <= {_WIDTH} "
                f"THEN substr('{'0' * _WIDTH}' || {column}, -{_WIDTH}, {_WIDTH}) ELSE {column} END")
    raise NotImplementedError(f"analytics views: unsupported dialect {dialect!r}")


def _sort_column(dialect: str, name: str, column: str, what: str) -> ViewColumn:
    return ViewColumn(name, number_sort_key(dialect, column), type=sa.Text(),
                      description=f"The {what} as a sort key: ORDER BY it to get numbers in numeric order "
                                  "(1, 2, 10, 100); numbers that are not plain digits sort as text, after them")


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


def _joined(dialect: str, values: str, rows: str) -> str:
    """The text `values` of the (correlated) query `rows`, sorted, joined with '; ' (NULL when none)."""
    if dialect == "postgresql":
        return f"(SELECT string_agg(x.v, '; ' ORDER BY x.v) FROM (SELECT {values} AS v {rows}) x)"
    # SQLite 3.40 has no ORDER BY in group_concat; it keeps the order of an ordered subquery
    return f"(SELECT group_concat(x.v, '; ') FROM (SELECT {values} AS v {rows} ORDER BY 1) x)"


def _findings(entity: str, severity: str | None = None) -> str:
    """The open quarantine findings of golden record `h`: holding it back (block), warnings, or all."""
    only = {"block": " AND COALESCE(q.severity, 'block') <> 'warn'", "warn": " AND q.severity = 'warn'", None: ""}
    return (f"FROM quarantine q WHERE q.entity = '{entity}' AND q.record_key = h.hub_id "
            f"AND q.resolved_at IS NULL{only[severity]}")


def golden_view(dialect: str, entity: Entity) -> View:
    table = hub_table_name(entity.name)
    columns = [shows(table, c.name, alias="h") for c in hub(entity.name).columns]
    if entity.number_field:
        columns.append(_sort_column(dialect, "number_sort", f"h.{entity.number_field}", "record's business number"))
    links = f"FROM id_map m WHERE m.entity = '{entity.name}' AND m.hub_id = h.hub_id"
    columns += [
        ViewColumn("system_ids", _joined(dialect, "m.system || ':' || m.remote_id", links), type=sa.Text(),
                   description="The record's own id in each system it is linked in, as 'system:id; system:id' "
                               "(record_ids has them one per row)"),
        ViewColumn("quality",
                   f"CASE WHEN EXISTS (SELECT 1 {_findings(entity.name, 'block')}) THEN 'held' "
                   f"WHEN EXISTS (SELECT 1 {_findings(entity.name, 'warn')}) THEN 'warning' ELSE 'ok' END",
                   type=sa.Text(),
                   description="held: the quality gate holds the record back from a system until its source is "
                               "fixed; warning: it was sent without a field that failed a check; ok: neither"),
        ViewColumn("findings",
                   _joined(dialect, "q.target || ' ' || q.field || ': ' || q.check_name", _findings(entity.name)),
                   type=sa.Text(),
                   description="What holds or warns about the record now, as 'system field: check; ...' "
                               "(the reasons are in quarantine)"),
    ]
    return View(f"golden_{entity.name}", f"{entity.description} The golden records with their ids in each system "
                f"and their quality flag.", tuple(columns), f"FROM {table} h", (entity.name,))


def _record_ids() -> View:
    return View(
        "record_ids",
        "One row per golden record and system it is linked in: the record's own id in that system.",
        (shows("id_map", "entity"), shows("id_map", "hub_id"), shows("id_map", "system"),
         shows("id_map", "remote_id"), shows("id_map", "linked_by"), shows("id_map", "linked_at"),
         shows("id_map", "gone_at"), shows("id_map", "gone_how")),
        "FROM id_map",
        (),
    )


def _sales_lines(dialect: str) -> View:
    lines, invoices, debtors, items = (hub_table_name(e) for e in ("invoice_lines", "invoices", "debtors", "items"))
    return View(
        "sales_lines",
        "One row per line of a booked invoice, with its invoice, debtor and item.",
        (
            shows(lines, "hub_id", "line_id", "l"),
            shows(invoices, "hub_id", "invoice_id", "i"),
            shows(invoices, "number", "invoice_number", "i"),
            _sort_column(dialect, "invoice_number_sort", "i.number", "invoice number"),
            shows(invoices, "invoice_date", alias="i"),
            shows(debtors, "hub_id", "debtor_id", "d"),
            shows(debtors, "number", "debtor_number", "d"),
            _sort_column(dialect, "debtor_number_sort", "d.number", "customer number"),
            shows(debtors, "name", "debtor_name", "d"),
            shows(items, "hub_id", "item_id", "it"),
            shows(items, "number", "item_number", "it"),
            _sort_column(dialect, "item_number_sort", "it.number", "item number"),
            shows(items, "name", "item_name", "it"),
            shows(lines, "line_number", alias="l"),
            shows(lines, "description", alias="l"),
            shows(lines, "quantity", alias="l"),
            shows(lines, "unit_price", alias="l"),
            shows(lines, "discount_percentage", alias="l"),
            shows(lines, "net_amount", alias="l"),
            shows(invoices, "currency", alias="i"),
        ),
        f"""FROM {lines} l
JOIN {invoices} i ON i.hub_id = l.invoice_id
LEFT JOIN {debtors} d ON d.hub_id = i.debtor_id
LEFT JOIN {items} it ON it.hub_id = l.item_id
WHERE {_BOOKED}""",
        ("invoice_lines", "invoices", "debtors", "items"),
    )


def _open_items(dialect: str) -> View:
    invoices, debtors = hub_table_name("invoices"), hub_table_name("debtors")
    return View(
        "open_items",
        "Booked invoices not fully paid (remainder > 0), with how many days they are overdue.",
        (
            shows(invoices, "hub_id", "invoice_id", "i"),
            shows(invoices, "number", "invoice_number", "i"),
            _sort_column(dialect, "invoice_number_sort", "i.number", "invoice number"),
            shows(invoices, "invoice_date", alias="i"),
            shows(invoices, "due_date", alias="i"),
            shows(debtors, "hub_id", "debtor_id", "d"),
            shows(debtors, "number", "debtor_number", "d"),
            _sort_column(dialect, "debtor_number_sort", "d.number", "customer number"),
            shows(debtors, "name", "debtor_name", "d"),
            shows(invoices, "currency", alias="i"),
            shows(invoices, "gross_amount", alias="i"),
            ViewColumn("paid_amount", "i.gross_amount - i.remainder", type=sa.Numeric(18, 4),
                       description="Paid so far: gross amount minus remainder"),
            shows(invoices, "remainder", alias="i"),
            ViewColumn("days_overdue", _days_overdue(dialect), type=sa.Integer(),
                       description="Whole days from the due date to the database's today (UTC on SQLite), "
                                   "0 while not yet due, NULL without a due date"),
        ),
        f"""FROM {invoices} i
LEFT JOIN {debtors} d ON d.hub_id = i.debtor_id
WHERE i.remainder > 0 AND {_BOOKED}""",
        ("invoices", "debtors"),
    )


def _customer_sales(dialect: str) -> View:
    debtors = hub_table_name("debtors")
    return View(
        "customer_sales",
        "One row per debtor (also those without invoices): what it bought and still owes. Amounts are summed "
        "in each invoice's own currency.",
        (
            shows(debtors, "hub_id", "debtor_id", "d"),
            shows(debtors, "number", "debtor_number", "d"),
            _sort_column(dialect, "debtor_number_sort", "d.number", "customer number"),
            shows(debtors, "name", "debtor_name", "d"),
            ViewColumn("revenue", "COALESCE(inv.revenue, 0)", type=sa.Numeric(18, 4),
                       description="Sum of the net amounts of the debtor's booked invoices"),
            ViewColumn("invoice_count", "COALESCE(inv.invoice_count, 0)", type=sa.BigInteger(),
                       description="Number of booked invoices"),
            ViewColumn("last_invoice_date", "inv.last_invoice_date", type=sa.Date(),
                       description="Date of the newest booked invoice"),
            ViewColumn("distinct_items", "COALESCE(bought.distinct_items, 0)", type=sa.BigInteger(),
                       description="Number of different items bought on booked invoices"),
            ViewColumn("open_amount", "COALESCE(inv.open_amount, 0)", type=sa.Numeric(18, 4),
                       description="Sum of the remainders still unpaid"),
        ),
        f"""FROM {debtors} d
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
        ("debtors", "invoices", "invoice_lines"),
    )


def views(dialect: str) -> dict[str, View]:
    """Every analyst view, for the given SQLAlchemy dialect name, in the order they are created."""
    if dialect not in DIALECTS:
        raise NotImplementedError(f"analytics views: unsupported dialect {dialect!r}")
    found = [golden_view(dialect, e) for e in ENTITIES.values()]
    found += [_record_ids(), _sales_lines(dialect), _open_items(dialect), _customer_sales(dialect)]
    return {v.name: v for v in found}


def view_definitions(dialect: str) -> dict[str, str]:
    """View name -> its SELECT."""
    return {name: view.select() for name, view in views(dialect).items()}


VIEWS = tuple(views("sqlite"))


def create_views(store: Database, *, replace: bool = True) -> list[str]:
    """(Re)create the analyst views; idempotent. Returns the view names.

    With replace=False only missing views are created, and those an earlier version made with other
    columns replaced, so opening a store (every run does) takes no lock on views analysts may be reading.
    """
    declared = views(store.dialect)
    definitions = {name: view.select() for name, view in declared.items()}
    with store.begin() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_view_names())
        if replace:
            _drop(conn, definitions)
            existing = set()
        outdated = [name for name in definitions if name in existing
                    and [c["name"] for c in inspector.get_columns(name)] != [c.name for c in declared[name].columns]]
        _drop(conn, outdated)
        existing -= set(outdated)
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
SELECT debtor_number, debtor_name
FROM sales_lines
WHERE item_number = 'P-100'
GROUP BY debtor_number_sort, debtor_number, debtor_name
ORDER BY debtor_number_sort;""",
    "customers_with_invoices_over_5000_since_february": """\
SELECT d.number        AS debtor_number,
       d.name          AS debtor_name,
       i.number        AS invoice_number,
       i.invoice_date,
       i.net_amount,
       i.currency
FROM golden_invoices i
JOIN golden_debtors d ON d.hub_id = i.debtor_id
WHERE i.net_amount > 5000
  AND i.invoice_date >= '2026-02-01'
  AND COALESCE(i.status, 'booked') <> 'draft'
ORDER BY d.number_sort, i.invoice_date;""",
    "overdue_more_than_30_days": """\
SELECT debtor_number, debtor_name, invoice_number, due_date, remainder, days_overdue
FROM open_items
WHERE days_overdue > 30
ORDER BY days_overdue DESC, invoice_number_sort;""",
    "customers_not_in_sync": """\
SELECT number, name, system_ids, quality, findings
FROM golden_debtors
WHERE quality <> 'ok'
ORDER BY number_sort;""",
}
