"""The pull's bulk write (ledgerbridge.bulk_upsert) stores exactly what HubStore.upsert stores, on
SQLite and on a real PostgreSQL server (the `store` fixture runs both)."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledgerbridge.bulk_upsert import bulk_upsert
from ledgerbridge.store import staging

STAMP = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc)
AWKWARD_TEXT = 'Tab\there, new\nline, back\\slash, "quotes", \'single\', ÆØÅ æøå €, \\N, emoji 🧾'


def invoice_rows(offset: int = 0) -> list[dict]:
    rows = []
    for n in range(1, 6):
        rows.append({
            "remote_id": f"{1000 + n}", "number": str(1000 + n), "debtor_id": None if n == 3 else str(n),
            "invoice_date": date(2026, 1, n), "due_date": None, "currency": "DKK",
            "net_amount": Decimal("1234.5678") + offset, "vat_amount": Decimal("0.0001"),
            "gross_amount": Decimal("-10.50"), "remainder": Decimal("99999999999999.9999") if n == 5 else Decimal(0),
            "heading": AWKWARD_TEXT if n == 2 else ("" if n == 4 else f"Faktura {n}"), "status": "booked",
            "cost_centre": None, "company": None, "deleted_at": None,
            "remote_updated_at": None if n == 1 else STAMP + timedelta(minutes=n),
            "content_hash": f"hash-{n}-{offset}", "pulled_at": STAMP,
        })
    return rows


def debtor_rows() -> list[dict]:
    return [{"remote_id": str(n), "name": f"Kunde {n}", "barred": (None, True, False)[n % 3],
             "email": AWKWARD_TEXT, "deleted_at": STAMP if n == 2 else None, "remote_updated_at": STAMP,
             "content_hash": f"h{n}", "pulled_at": STAMP} for n in range(1, 5)]


def stored(store, table) -> list[dict]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.remote_id)).mappings()]


def write_both_ways(store, side_a: str, side_b: str, entity: str, batches: list[list[dict]]):
    """The same batches through HubStore.upsert into one side's table and bulk_upsert into the other's."""
    by_dicts, by_tuples = staging(side_a, entity), staging(side_b, entity)
    for rows in batches:
        columns = tuple(rows[0])
        with store.begin() as conn:
            store.upsert(conn, by_dicts, rows, ["remote_id"])
        with store.begin() as conn:
            bulk_upsert(conn, by_tuples, columns, [tuple(r[c] for c in columns) for r in rows], ("remote_id",))
    return stored(store, by_dicts), stored(store, by_tuples)


@pytest.mark.parametrize("entity,batches", [
    ("invoices", [invoice_rows(), invoice_rows(offset=1)[1:4]]),  # inserts, then updates of some rows
    ("debtors", [debtor_rows()]),  # booleans, a deleted_at, awkward text in a second column
])
def test_bulk_upsert_stores_what_upsert_stores(store, entity, batches):
    expected, got = write_both_ways(store, "crm", "erp", entity, batches)
    assert got == expected
    assert len(got) == len(batches[0])


def test_updated_rows_take_every_given_column_and_keep_the_others(store):
    table = staging("erp", "invoices")
    first = invoice_rows()
    columns = tuple(first[0])
    with store.begin() as conn:
        bulk_upsert(conn, table, columns, [tuple(r[c] for c in columns) for r in first], ("remote_id",))
    with store.begin() as conn:  # only some columns: the others keep their values
        bulk_upsert(conn, table, ("remote_id", "heading", "content_hash", "pulled_at"),
                    [("1002", "Ny overskrift", "changed", STAMP)], ("remote_id",))
    rows = {r["remote_id"]: r for r in stored(store, table)}
    assert rows["1002"]["heading"] == "Ny overskrift" and rows["1002"]["content_hash"] == "changed"
    assert rows["1002"]["net_amount"] == Decimal("1234.5678") and rows["1002"]["currency"] == "DKK"
    assert rows["1001"]["heading"] == "Faktura 1"


def test_a_key_given_twice_keeps_its_last_row_and_chunks_share_a_transaction(store):
    table = staging("erp", "debtors")
    columns = ("remote_id", "name", "content_hash", "pulled_at")
    with store.begin() as conn:
        bulk_upsert(conn, table, columns, [("1", "first", "a", STAMP), ("2", "other", "b", STAMP),
                                           ("1", "second", "c", STAMP)], ("remote_id",))
        bulk_upsert(conn, table, columns, [("3", "next chunk", "d", STAMP)], ("remote_id",))
    assert [(r["remote_id"], r["name"], r["content_hash"]) for r in stored(store, table)] == [
        ("1", "second", "c"), ("2", "other", "b"), ("3", "next chunk", "d")]


def test_a_failed_chunk_leaves_nothing_behind(store):
    table = staging("erp", "debtors")
    columns = ("remote_id", "name", "content_hash", "pulled_at")
    with pytest.raises(sa.exc.IntegrityError):
        with store.begin() as conn:
            bulk_upsert(conn, table, columns, [("1", "kept?", "a", STAMP)], ("remote_id",))
            bulk_upsert(conn, table, columns, [("2", "no hash", None, STAMP)], ("remote_id",))  # NOT NULL
    assert stored(store, table) == []
    with store.begin() as conn:  # the connection (and its scratch table) is usable again
        bulk_upsert(conn, table, columns, [("3", "after", "c", STAMP)], ("remote_id",))
    assert [r["remote_id"] for r in stored(store, table)] == ["3"]
