"""The pull's fast content hasher must give the hashes diffing compares against (content_hash)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledgerbridge.sync.records import content_hash, content_hasher

FIELDS = ["name", "amount", "invoice_date", "barred", "lines", "city", "zip", "address"]


def test_the_hasher_gives_content_hash_for_every_kind_of_value():
    hash_of = content_hasher(FIELDS)
    for values in [
        {"name": 'Æble "ApS"\n', "amount": Decimal("10.000"), "invoice_date": date(2024, 1, 2), "barred": True, "lines": 3},
        {"amount": Decimal("-0"), "zip": None, "address": "ü", "unmapped": "left out"},
        {},
    ]:
        assert hash_of(values) == content_hash(values, FIELDS)
    assert hash_of({"name": "A"}) != hash_of({"name": "B"})
