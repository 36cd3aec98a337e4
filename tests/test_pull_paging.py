"""Invoice lines pulled from a live e-conomic emulator: read ahead on several threads, in chunks of
about chunk_size lines; every line arrives, once per pull, across page and chunk boundaries, also when
invoices are booked while the pull runs or a pull stops half-way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledgerbridge.store import staging
from ledgerbridge.sync.pull import pull, read_cursor
from ledgerbridge.systems.economic.connector import EconomicConnector
from ledgerbridge.systems.economic.emulator import EconomicEmulator

SECRET, GRANT = "s3cret-app-token", "s3cret-grant-token"
PAGE = 4  # invoices per page, and lines per chunk


@pytest.fixture
def emu():
    with EconomicEmulator(app_secret_token=SECRET, agreement_grant_token=GRANT) as emulator:
        emulator.seed("debtors", [{"name": "Kunde"}])
        emulator.seed("items", [{"number": f"P{n}", "name": f"Vare {n}"} for n in range(1, 4)])
        yield emulator


@pytest.fixture
def erp(emu):
    connector = EconomicConnector(emu.base_url, SECRET, GRANT, backoff_base=0.01, timeout=10)
    yield connector
    connector.close()


def book(emu, count: int, lines_each: int) -> dict[str, int]:
    """`count` invoices with `lines_each` lines; returns invoice number -> its line count."""
    numbers = emu.seed("invoices", [
        {"debtor_id": "1", "invoice_date": date(2026, 1, 1 + n % 28), "currency": "DKK", "lines": [
            {"line_number": line, "item_id": f"P{1 + line % 3}", "description": f"Linje {line}",
             "quantity": Decimal(line), "unit_price": Decimal("12.50")} for line in range(1, lines_each + 1)]}
        for n in range(count)])
    return {number: lines_each for number in numbers}


def line_ids(invoices: dict[str, int]) -> list[str]:
    return [f"{number}/{line}" for number, count in invoices.items() for line in range(1, count + 1)]


def test_every_line_once_across_pages_and_chunks(emu, erp):
    invoices = {**book(emu, 5, 3), **book(emu, 2, 7), **book(emu, 3, 1)}  # lines cross chunk and page ends
    chunks = list(erp.iter_changed("invoice_lines", None, PAGE))
    ids = [record.remote_id for chunk in chunks for record in chunk.records]
    assert ids == line_ids(invoices)
    numbers = list(invoices)
    # a cursor only where a page of invoices ends: the last invoice of each page of PAGE
    assert [c.cursor for c in chunks if c.cursor is not None] == numbers[PAGE - 1 :: PAGE] + (
        [numbers[-1]] if len(numbers) % PAGE else [])
    for chunk in chunks:  # an invoice's lines stay together, and a chunk stops once it holds PAGE lines
        assert len({r.remote_id.split("/")[0] for r in chunk.records[: -1]}) <= PAGE
        assert len(chunk.records) < PAGE + 7


def test_a_pull_stopped_half_way_reads_on_from_its_cursor(emu, erp):
    invoices = book(emu, 9, 3)
    delivered, cursor = [], None
    for chunk in erp.iter_changed("invoice_lines", None, PAGE):
        delivered += [r.remote_id for r in chunk.records]
        cursor = chunk.cursor or cursor
        if cursor is not None and len(delivered) > 15:
            break  # stopped (a crash) after the cursor of the first page was saved, mid second page
    later = [r.remote_id for chunk in erp.iter_changed("invoice_lines", cursor, PAGE) for r in chunk.records]
    everything = line_ids(invoices)
    assert sorted(set(delivered) | set(later)) == sorted(everything)
    assert len(later) == len(set(later))  # no line twice within a pull
    upto = everything.index(f"{cursor}/3")
    assert not set(later) & set(everything[: upto + 1])  # what the cursor covers is not read again


class BooksWhilePulled:
    """The connector, with invoices booked in e-conomic right after the pull took its first chunk."""

    def __init__(self, connector, emu):
        self.connector, self.emu, self.booked = connector, emu, {}

    def __getattr__(self, name):
        return getattr(self.connector, name)

    def iter_changed(self, entity, cursor, chunk_size):
        for index, chunk in enumerate(self.connector.iter_changed(entity, cursor, chunk_size)):
            yield chunk
            if index == 0:
                self.booked = book(self.emu, 3, 2)


def test_invoices_booked_during_a_pull_arrive_exactly_once_over_two_pulls(store, emu, erp):
    before = book(emu, 6, 2)
    booking = BooksWhilePulled(erp, emu)
    first = pull(store, booking, "erp", "invoice_lines", chunk_size=PAGE)
    second = pull(store, erp, "erp", "invoice_lines", chunk_size=PAGE)  # from the first one's cursor
    everything = line_ids({**before, **booking.booked})
    assert first.pulled + second.pulled == len(everything) == 18  # none lost, none read twice
    assert read_cursor(store, "economic", "invoice_lines") == list(booking.booked)[-1]
    table = staging("erp", "invoice_lines")
    with store.connect() as conn:
        rows = conn.execute(sa.select(table.c.remote_id, table.c.invoice_id, table.c.net_amount)).all()
    assert sorted(r.remote_id for r in rows) == sorted(everything)
    assert all(r.remote_id.startswith(f"{r.invoice_id}/") for r in rows)
    assert {r.net_amount for r in rows if r.remote_id.endswith("/2")} == {Decimal("25.00")}
