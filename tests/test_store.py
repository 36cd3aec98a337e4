"""The hub store on SQLite and on a real PostgreSQL server."""

from datetime import date, datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from ledgerbridge.store import T, hub, staging


def now():
    return datetime.now(timezone.utc)


def test_all_tables_exist(store):
    names = set(sa.inspect(store.engine).get_table_names())
    for required in ("id_map", "sync_state", "outbox", "quarantine", "conflicts", "audit_log", "cursors", "inbox",
                     "match_candidates", "crm_debtors", "erp_debtors", "hub_debtors", "hub_invoice_lines"):
        assert required in names


def test_upsert_inserts_then_updates_in_one_statement(store):
    table = staging("crm", "debtors")
    row = {"remote_id": "1", "name": "Acme A/S", "content_hash": "a", "pulled_at": now()}
    with store.begin() as conn:
        store.upsert(conn, table, [row, {**row, "remote_id": "2", "name": "Beta"}], ["remote_id"])
    with store.begin() as conn:
        store.upsert(conn, table, [{**row, "name": "Acme Danmark A/S", "content_hash": "b"}], ["remote_id"])
    with store.connect() as conn:
        rows = dict(conn.execute(sa.select(table.c.remote_id, table.c.name).order_by(table.c.remote_id)).tuples().all())
    assert rows == {"1": "Acme Danmark A/S", "2": "Beta"}


def test_values_round_trip_with_their_types(store):
    table = hub("invoices")
    with store.begin() as conn:
        conn.execute(table.insert(), {"hub_id": "h1", "number": "1001", "invoice_date": date(2026, 2, 3),
                                      "gross_amount": Decimal("5250.50"), "created_at": now(), "updated_at": now()})
    with store.connect() as conn:
        record = conn.execute(sa.select(table)).mappings().one()
    assert record["invoice_date"] == date(2026, 2, 3)
    assert record["gross_amount"] == Decimal("5250.50")


def test_id_map_refuses_a_remote_id_linked_twice(store):
    id_map = T["id_map"]
    link = {"entity": "debtors", "hub_id": "h1", "system": "economic", "remote_id": "7", "linked_at": now(), "linked_by": "test"}
    with store.begin() as conn:
        conn.execute(id_map.insert(), link)
    try:
        with store.begin() as conn:
            conn.execute(id_map.insert(), {**link, "hub_id": "h2"})
    except sa.exc.IntegrityError:
        pass
    else:
        raise AssertionError("a remote record was linked to two hub records")


def test_long_text_is_stored_untruncated(store):
    """Staging holds what the source sent; the quality gate, not the database, judges lengths."""
    table = staging("crm", "debtors")
    long_name = "N" * 1000
    with store.begin() as conn:
        store.upsert(conn, table, [{"remote_id": "1", "name": long_name, "content_hash": "x", "pulled_at": now()}], ["remote_id"])
    with store.connect() as conn:
        assert conn.execute(sa.select(table.c.name)).scalar_one() == long_name


def test_writes_are_transactional(store):
    table = staging("erp", "debtors")
    try:
        with store.begin() as conn:
            store.upsert(conn, table, [{"remote_id": "1", "name": "A", "content_hash": "x", "pulled_at": now()}], ["remote_id"])
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
