"""The data dictionary (ledgerbridge.dictionary): it names every table, view and column a real hub has,
on SQLite and on PostgreSQL, with that database's type and a meaning for each, and the committed
docs/data-dictionary.md is what the generator prints today."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ledgerbridge.cli import main
from ledgerbridge.dictionary import relations, render, shipped_systems

DOCS = Path(__file__).resolve().parent.parent / "docs" / "data-dictionary.md"
# What the database reports for a type the store declares otherwise (same type, other spelling).
REFLECTED_AS = {"postgresql": {"FLOAT": "DOUBLE PRECISION"}, "sqlite": {}}


def test_the_dictionary_covers_every_column_of_every_table_and_view_of_a_real_hub(store):
    inspector = sa.inspect(store.engine)
    documented = {r.name: r for r in relations()}
    present = set(inspector.get_table_names()) | set(inspector.get_view_names())
    assert present == set(documented)
    for name in inspector.get_table_names():
        columns = {c.name: c for c in documented[name].columns}
        for column in inspector.get_columns(name):
            entry = columns.pop(column["name"])
            declared = entry.types[store.dialect]
            reflected = column["type"].compile(dialect=store.engine.dialect)
            assert REFLECTED_AS[store.dialect].get(declared, declared) == reflected, (name, column["name"])
        assert not columns, f"{name}: documented but not in the database: {sorted(columns)}"
    for name in inspector.get_view_names():
        assert [c.name for c in documented[name].columns] == [c["name"] for c in inspector.get_columns(name)], name


def test_every_column_has_a_meaning_and_a_source():
    for relation in relations():
        assert relation.description, relation.name
        for column in relation.columns:
            assert column.meaning and column.source, (relation.name, column.name)


def test_types_are_given_per_database():
    hub_debtors = {c.name: c for c in next(r for r in relations() if r.name == "hub_debtors").columns}
    assert hub_debtors["created_at"].types == {"sqlite": "DATETIME", "postgresql": "TIMESTAMP WITH TIME ZONE"}
    assert hub_debtors["seller_id"].constraints == "-> hub_employees.hub_id"
    assert "TIMESTAMP WITH TIME ZONE" not in render("sqlite") and "DATETIME" not in render("postgresql")


def test_the_committed_dictionary_is_current():
    # the systems ledgerbridge ships (the contract suite registers a test-only system in this process)
    assert "webcrm" in shipped_systems() and "minicrm" not in shipped_systems()
    assert DOCS.read_text(encoding="utf-8") == render(systems=shipped_systems()) + "\n", (
        "docs/data-dictionary.md is stale: run `ledgerbridge dictionary --output docs/data-dictionary.md`")


def test_the_command_prints_one_databases_dictionary(capsys, tmp_path):
    assert main(["dictionary", "--dialect", "postgresql"]) == 0
    out = capsys.readouterr().out
    assert "| `created_at` | `TIMESTAMP WITH TIME ZONE` |" in out and "type (SQLite)" not in out
    assert main(["dictionary", "--output", str(tmp_path / "d.md")]) == 0
    assert (tmp_path / "d.md").read_text(encoding="utf-8") == render() + "\n"
