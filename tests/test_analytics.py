"""The analyst views (ledgerbridge.analytics) and the example queries of docs/analysts.md,
on SQLite and on PostgreSQL: hub rows are inserted directly, then the views are read.

Business numbers are chosen so that text order and number order differ (2, 11, 100, 1000 sort as
"100", "1000", "11", "2" as text): every ordered assertion checks they sort as numbers."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerbridge.analytics import EXAMPLE_QUERIES, VIEWS, create_views, drop_views
from ledgerbridge.store import hub

DOCS = Path(__file__).resolve().parent.parent / "docs" / "analysts.md"
README = DOCS.parent.parent / "README.md"
TODAY = date.today()


def now():
    return datetime.now(timezone.utc)


def stamp(rows):
    return [{**row, "created_at": now(), "updated_at": now()} for row in rows]


DEBTORS = [
    {"hub_id": "d1", "number": "100", "name": "Acme A/S"},
    {"hub_id": "d2", "number": "11", "name": "Beta ApS"},
    {"hub_id": "d3", "number": "2", "name": "Gamma GmbH"},
    {"hub_id": "d4", "number": "1000", "name": "Delta AG (no invoices)"},
]
ITEMS = [
    {"hub_id": "p1", "number": "P-100", "name": "Widget"},
    {"hub_id": "p2", "number": "P-200", "name": "Gadget"},
    {"hub_id": "p3", "number": "S-1", "name": "Service hour"},
]


def invoice(hub_id, number, debtor, invoice_date, net, *, remainder=Decimal(0), due=None, status="booked",
            currency="DKK"):
    return {"hub_id": hub_id, "number": number, "debtor_id": debtor, "invoice_date": invoice_date,
            "due_date": due, "currency": currency, "net_amount": net, "vat_amount": net / 4,
            "gross_amount": net * Decimal("1.25"), "remainder": remainder, "status": status}


INVOICES = [
    # d1: one big invoice after 1 February, fully paid, with P-100 twice; one small, 45 days overdue
    invoice("i1", "9", "d1", date(2026, 3, 1), Decimal("6000.00"), due=date(2026, 3, 15)),
    invoice("i2", "10", "d1", date(2026, 1, 10), Decimal("400.00"), remainder=Decimal("100.00"),
            due=TODAY - timedelta(days=45)),
    # d2: big, but before 1 February, 10 days overdue; a draft with P-100 (not a sale)
    invoice("i3", "100", "d2", date(2026, 1, 15), Decimal("9000.00"), remainder=Decimal("11250.00"),
            due=TODAY - timedelta(days=10)),
    invoice("i4", None, "d2", date(2026, 4, 1), Decimal("7000.00"), remainder=Decimal("8750.00"),
            due=TODAY - timedelta(days=90), status="draft"),
    # d3: exactly 5000 on 1 February (not over), 5000.01 on 1 February (over), partly paid, due in 5 days
    invoice("i5", "20", "d3", date(2026, 2, 1), Decimal("5000.00"), due=date(2026, 2, 15)),
    invoice("i6", "2", "d3", date(2026, 2, 1), Decimal("5000.01"), remainder=Decimal("1000.00"),
            due=TODAY + timedelta(days=5), currency="EUR"),
]


def line(hub_id, invoice_id, line_number, item, quantity, price):
    quantity, price = Decimal(quantity), Decimal(price)
    return {"hub_id": hub_id, "invoice_id": invoice_id, "line_number": line_number, "item_id": item,
            "description": f"line {line_number}", "quantity": quantity, "unit_price": price,
            "discount_percentage": Decimal(0), "net_amount": quantity * price}


LINES = [
    line("l1", "i1", 1, "p1", "10", "300"),
    line("l2", "i1", 2, "p1", "5", "600"),
    line("l3", "i2", 1, "p3", "4", "100"),
    line("l4", "i3", 1, "p2", "90", "100"),
    line("l5", "i4", 1, "p1", "7", "1000"),  # on the draft: not a sale
    line("l6", "i5", 1, "p2", "50", "100"),
    line("l7", "i6", 1, "p1", "1", "5000.01"),
    line("l8", "i6", 2, None, "1", "0"),  # a text line without an item
]


@pytest.fixture
def hub_store(store):
    with store.begin() as conn:
        conn.execute(hub("debtors").insert(), stamp(DEBTORS))
        conn.execute(hub("items").insert(), stamp(ITEMS))
        conn.execute(hub("invoices").insert(), stamp(INVOICES))
        conn.execute(hub("invoice_lines").insert(), stamp(LINES))
    create_views(store)
    yield store
    drop_views(store)


def run(store, sql):
    with store.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def num(value):
    """Numbers as the database gives them back (Decimal on PostgreSQL, float/int on SQLite)."""
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def day(value):
    """Dates read through a view: date on PostgreSQL, ISO text on SQLite."""
    return value if isinstance(value, date) or value is None else date.fromisoformat(str(value)[:10])


def test_views_exist_and_create_views_is_idempotent(hub_store):
    assert create_views(hub_store) == list(VIEWS)  # a second run replaces them
    names = set(sa.inspect(hub_store.engine).get_view_names())
    assert {"sales_lines", "open_items", "customer_sales", "record_ids", "golden_debtors"} <= names


def test_example_customers_who_bought_item(hub_store):
    rows = run(hub_store, EXAMPLE_QUERIES["customers_who_bought_item"])
    # d1 twice on one invoice -> once; d2 only on a draft -> not; d3 yes; number 2 before number 100
    assert rows == [("2", "Gamma GmbH"), ("100", "Acme A/S")]


def test_example_invoices_over_5000_since_february(hub_store):
    rows = run(hub_store, EXAMPLE_QUERIES["customers_with_invoices_over_5000_since_february"])
    got = [(r[0], r[1], r[2], day(r[3]), num(r[4]), r[5]) for r in rows]
    assert got == [
        ("2", "Gamma GmbH", "2", date(2026, 2, 1), Decimal("5000.01"), "EUR"),
        ("100", "Acme A/S", "9", date(2026, 3, 1), Decimal("6000.00"), "DKK"),
    ]


def test_example_overdue_more_than_30_days(hub_store):
    rows = run(hub_store, EXAMPLE_QUERIES["overdue_more_than_30_days"])
    got = [(r[0], r[1], r[2], day(r[3]), num(r[4]), r[5]) for r in rows]
    assert got == [("100", "Acme A/S", "10", TODAY - timedelta(days=45), Decimal("100.00"), 45)]


def test_open_items_lists_every_unpaid_booked_invoice_with_days_overdue(hub_store):
    rows = run(hub_store, "SELECT invoice_number, debtor_number, remainder, paid_amount, days_overdue "
                          "FROM open_items ORDER BY invoice_number_sort")
    got = [(r[0], r[1], num(r[2]), num(r[3]), r[4]) for r in rows]
    assert got == [
        ("2", "2", Decimal("1000.00"), Decimal("5250.01"), 0),  # not yet due
        ("10", "100", Decimal("100.00"), Decimal("400.00"), 45),
        ("100", "11", Decimal("11250.00"), Decimal("0.00"), 10),
    ]


def test_sales_lines_join_invoice_debtor_and_item(hub_store):
    rows = run(hub_store, "SELECT invoice_number, invoice_date, debtor_number, debtor_name, item_number, item_name, "
                          "quantity, unit_price, net_amount, currency FROM sales_lines ORDER BY line_id")
    got = [(r[0], day(r[1]), r[2], r[3], r[4], r[5], num(r[6]), num(r[7]), num(r[8]), r[9]) for r in rows]
    assert len(got) == 7  # every line but the draft's
    assert got[0] == ("9", date(2026, 3, 1), "100", "Acme A/S", "P-100", "Widget",
                      Decimal("10.00"), Decimal("300.00"), Decimal("3000.00"), "DKK")
    assert got[-1] == ("2", date(2026, 2, 1), "2", "Gamma GmbH", None, None,
                       Decimal("1.00"), Decimal("0.00"), Decimal("0.00"), "EUR")  # text line: no item


def test_customer_sales_per_debtor(hub_store):
    rows = run(hub_store, "SELECT debtor_number, revenue, invoice_count, last_invoice_date, distinct_items, "
                          "open_amount FROM customer_sales ORDER BY debtor_number_sort")
    got = [(r[0], num(r[1]), r[2], day(r[3]), r[4], num(r[5])) for r in rows]
    assert got == [
        ("2", Decimal("10000.01"), 2, date(2026, 2, 1), 2, Decimal("1000.00")),
        ("11", Decimal("9000.00"), 1, date(2026, 1, 15), 1, Decimal("11250.00")),  # the draft is left out
        ("100", Decimal("6400.00"), 2, date(2026, 3, 1), 2, Decimal("100.00")),
        ("1000", Decimal("0.00"), 0, None, 0, Decimal("0.00")),
    ]


def test_docs_show_the_example_queries_exactly_as_they_run():
    text = DOCS.read_text(encoding="utf-8")
    for name, sql in EXAMPLE_QUERIES.items():
        assert f"```sql\n{sql}\n```" in text, f"docs/analysts.md does not show {name} as it runs"
    for view in VIEWS:
        assert f"`{view}`" in text or (view.startswith("golden_") and "`golden_<entity>`" in text), view


def test_number_sort_keys_sort_numbers_as_numbers_and_the_rest_as_text(store):
    numbers = ["100", "2", "P-20", "11", "1000", "P-100", "0"]
    with store.begin() as conn:
        conn.execute(hub("items").insert(), stamp([{"hub_id": f"x{i}", "number": n, "name": n}
                                                   for i, n in enumerate(numbers)]))
    rows = run(store, "SELECT number FROM golden_items ORDER BY number_sort")
    assert [r[0] for r in rows] == ["0", "2", "11", "100", "1000", "P-100", "P-20"]


def test_the_readme_shows_the_sales_queries_as_they_run():
    text = README.read_text(encoding="utf-8")
    for name in ("customers_who_bought_item", "customers_with_invoices_over_5000_since_february",
                 "overdue_more_than_30_days"):
        assert f"```sql\n{EXAMPLE_QUERIES[name]}\n```" in text, f"README.md does not show {name} as it runs"
