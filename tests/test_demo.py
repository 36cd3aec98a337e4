"""`ledgerbridge demo`: every entity moves, a second run writes nothing, the analyst queries return rows."""

from __future__ import annotations

import json

import sqlalchemy as sa

from ledgerbridge.analytics import EXAMPLE_QUERIES
from ledgerbridge.demo.run import run_demo

ENTITIES = {"debtors", "contacts", "items", "invoices", "invoice_lines", "payments"}


def demo_json(workdir, capsys) -> dict:
    assert run_demo(workdir, companies=100, as_json=True) == 0
    return json.loads(capsys.readouterr().out)


def test_the_demo_syncs_every_entity_and_reuses_its_state(tmp_path, capsys):
    first = demo_json(tmp_path, capsys)

    assert first["seeded"] is True
    assert set(first["entities"]) == ENTITIES
    for name, counts in first["entities"].items():
        assert counts["created"] > 0, name
    debtors = first["entities"]["debtors"]
    assert debtors["matched"] > 0 and debtors["match_suggestions"] > 0
    assert debtors["held_back"] == len(debtors["held_back_records"]) > 0
    assert all(record["reasons"] for record in debtors["held_back_records"])

    second = demo_json(tmp_path, capsys)

    assert second["seeded"] is False
    for name, counts in second["entities"].items():
        assert (counts["created"], counts["updated"]) == (0, 0), name

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.connect() as conn:
        for name, query in EXAMPLE_QUERIES.items():
            assert conn.execute(sa.text(query)).first() is not None, f"{name} returned no rows"
    engine.dispose()
