"""The analyst questions against a hub filled by a real sync (the e-conomic and webCRM emulators), on
SQLite and on PostgreSQL: customers who bought an item, customers with invoices over 5000 since
February, numbers in number order, every golden record's ids in both systems, and foreign keys that
hold for every row the sync wrote."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from conftest import make_config
from ledgerbridge.analytics import EXAMPLE_QUERIES
from sync_helpers import engine_for

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}


@pytest.fixture
def synced(store, webcrm, economic, secrets_env):
    config = make_config(
        webcrm.base_url, economic.base_url, store.url,
        debtors={"direction": "both", "erp_defaults": DEFAULTS},
        items={"direction": "erp_to_crm"},
        invoices={"direction": "erp_to_crm"},
        invoice_lines={"direction": "erp_to_crm"},
    )
    # customer numbers whose text order (100, 11, 2) is not their number order (2, 11, 100)
    for number, name in ((100, "Hundred AS"), (11, "Eleven ApS"), (2, "Two GmbH")):
        economic.insert_raw("customers", {"customerNumber": number, "name": name, "country": "Denmark",
                                          "currency": "DKK", "customerGroup": {"customerGroupNumber": 1},
                                          "paymentTerms": {"paymentTermsNumber": 1}, "vatZone": {"vatZoneNumber": 1}})
    economic.seed("items", [{"number": "P-100", "name": "Widget", "unit_price": "300.00"},
                            {"number": "P-200", "name": "Gadget", "unit_price": "100.00"}])

    def line(item, quantity, price):
        return {"product": {"productNumber": item}, "description": item, "quantity": quantity, "unitNetPrice": price}

    economic.book_invoice(100, [line("P-100", 30, 300.0)], invoice_date="2026-03-01")  # 9000, after 1 Feb
    economic.book_invoice(2, [line("P-100", 1, 300.0), line("P-200", 60, 100.0)], invoice_date="2026-02-10")  # 6300
    economic.book_invoice(11, [line("P-200", 90, 100.0)], invoice_date="2026-01-15")  # 9000, before February
    economic.book_invoice(11, [line("P-200", 10, 100.0)], invoice_date="2026-04-01")  # 1000, too small

    summary = engine_for(config, store).run(["debtors", "items", "invoices", "invoice_lines"])
    assert all(not s.blocked for s in summary.values()), {e: s.blocked for e, s in summary.items()}
    return store


def run(store, sql):
    with store.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def test_the_analyst_questions_answer_from_a_synced_hub(synced):
    assert run(synced, EXAMPLE_QUERIES["customers_who_bought_item"]) == [("2", "Two GmbH"), ("100", "Hundred AS")]
    over = run(synced, EXAMPLE_QUERIES["customers_with_invoices_over_5000_since_february"])
    assert [(r[0], r[1], Decimal(str(r[4]))) for r in over] == [("2", "Two GmbH", Decimal("6300")),
                                                                 ("100", "Hundred AS", Decimal("9000"))]
    assert run(synced, "SELECT debtor_number FROM customer_sales ORDER BY debtor_number_sort") == [
        ("2",), ("11",), ("100",)]


def test_every_synced_golden_record_shows_its_id_in_both_systems(synced, webcrm):
    organisations = {o["OrganisationName"]: str(o["OrganisationId"]) for o in webcrm.all_raw("Organisations")}
    rows = run(synced, "SELECT number, name, system_ids, quality FROM golden_debtors ORDER BY number_sort")
    assert rows == [(n, name, f"economic:{n}; webcrm:{organisations[name]}", "ok")
                    for n, name in (("2", "Two GmbH"), ("11", "Eleven ApS"), ("100", "Hundred AS"))]


def test_the_foreign_keys_hold_for_every_row_the_sync_wrote(synced):
    with synced.connect() as conn:
        if synced.dialect == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        else:  # PostgreSQL checks every write; none of the constraints was added NOT VALID
            assert conn.execute(sa.text("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                        "AND NOT convalidated")).scalar_one() == 0
        orphans = conn.execute(sa.text(
            "SELECT count(*) FROM hub_invoice_lines l LEFT JOIN hub_invoices i ON i.hub_id = l.invoice_id "
            "WHERE i.hub_id IS NULL")).scalar_one()
        lines = conn.execute(sa.text("SELECT count(*) FROM hub_invoice_lines")).scalar_one()
    assert orphans == 0 and lines == 5
