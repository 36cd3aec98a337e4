"""The data dictionary: every table and view of the hub, every column, its type on SQLite and on
PostgreSQL, its meaning and where its values come from, generated from the model and the store.

Meanings are the model's field descriptions and the store's column comments (a view column shows
the column it reads, or declares its own: ledgerbridge.analytics); nothing is described here.
Sources: a model field's systems are those whose mapping carries it (ledgerbridge.systems), by role;
in a golden table the field's owner wins when both sides changed it. docs/data-dictionary.md is
this module's output (`ledgerbridge dictionary --output docs/data-dictionary.md`);
tests/test_dictionary.py fails when it is stale.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledgerbridge.analytics import DIALECTS, View, views
from ledgerbridge.model import ENTITIES, Entity
from ledgerbridge.schema import METADATA, SIDES, hub_table_name, staging_table_name

DIALECT_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_COMPILERS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
SYNC_STATE = "ledgerbridge (kept by the sync itself)"


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    types: dict[str, str]  # dialect -> the column's SQL type there
    constraints: str  # primary key, not null, -> referenced column
    meaning: str
    source: str


@dataclass(frozen=True)
class RelationEntry:
    name: str
    kind: str  # golden table | staging table | sync table | view
    description: str
    columns: tuple[ColumnEntry, ...]


def sql_type(type_: Any, dialect: str) -> str:
    return type_.compile(dialect=_COMPILERS[dialect])


@functools.lru_cache(maxsize=None)
def _mapped(system: str, entity: str) -> tuple[str, ...]:
    from ledgerbridge.systems import registry

    return registry.mapped_fields(system, entity) if entity in registry.get(system).entities else ()


def shipped_systems() -> tuple[str, ...]:
    """The systems ledgerbridge itself ships (its packages), not plug-ins or systems tests register:
    what the committed docs/data-dictionary.md describes."""
    from ledgerbridge.systems import registry

    return tuple(name for name, system in registry.systems().items()
                 if system.mapping.__module__.startswith("ledgerbridge.systems."))


def _systems_mapping(entity: str, field: str, systems: tuple[str, ...]) -> dict[str, list[str]]:
    """role -> labels of `systems` whose mapping carries the field, for that role."""
    from ledgerbridge.systems import registry

    carried: dict[str, list[str]] = {side: [] for side in SIDES}
    for name in systems:
        system = registry.get(name)
        if field in _mapped(name, entity):
            for side in SIDES:
                if side in system.roles:
                    carried[side].append(system.label)
    return carried


def _source(entity: Entity | None, column: sa.Column, side: str | None, systems: tuple[str, ...]) -> str:
    """Where a table column's values come from."""
    if entity is None or column.name not in entity.field_by_name:
        return SYNC_STATE
    field = entity[column.name]
    carried = _systems_mapping(entity.name, field.name, systems)
    sides = [side] if side else list(SIDES)
    found = "; ".join(f"{s.upper()}: {', '.join(carried[s]) or 'none maps it'}" for s in sides)
    return found if side else f"{found} (owner: {field.owner.value})"


def _constraints(column: sa.Column) -> str:
    found = ["primary key"] if column.primary_key else ([] if column.nullable else ["not null"])
    found += [f"-> {fk.target_fullname}" for fk in column.foreign_keys]
    return ", ".join(found)


def _table(table: sa.Table, kind: str, systems: tuple[str, ...], entity: Entity | None = None,
           side: str | None = None) -> RelationEntry:
    return RelationEntry(table.name, kind, table.comment or "", tuple(
        ColumnEntry(c.name, {d: sql_type(c.type, d) for d in DIALECTS}, _constraints(c), c.comment or "",
                    _source(entity, c, side, systems))
        for c in table.columns))


def _view(name: str) -> RelationEntry:
    by_dialect: dict[str, View] = {d: views(d)[name] for d in DIALECTS}
    view = by_dialect[DIALECTS[0]]
    return RelationEntry(name, "view", view.description, tuple(
        ColumnEntry(c.name, {d: sql_type(c.sql_type, d) for d in DIALECTS}, "", c.meaning,
                    ".".join(c.reads) if c.reads else "computed in the view")
        for c in view.columns))


def relations(systems: tuple[str, ...] | None = None) -> list[RelationEntry]:
    """Every table and view of a hub: golden, staging, sync state, then the views; sources name
    `systems` (default: every registered one)."""
    from ledgerbridge.systems import registry

    systems = registry.names() if systems is None else tuple(systems)
    found = [_table(METADATA.tables[hub_table_name(e.name)], "golden table", systems, e) for e in ENTITIES.values()]
    found += [_table(METADATA.tables[staging_table_name(side, e.name)], "staging table", systems, e, side)
              for e in ENTITIES.values() for side in SIDES]
    listed = {r.name for r in found}
    found += [_table(t, "sync table", systems) for t in METADATA.sorted_tables if t.name not in listed]
    found += [_view(name) for name in views(DIALECTS[0])]
    return found


SECTIONS = (
    ("golden table", "Golden tables", "The reconciled records, one table per entity: query these (or their "
                                      "`golden_<entity>` views). References hold hub ids and are foreign keys."),
    ("view", "Views", "The analyst views (ledgerbridge/analytics.py, docs/analysts.md)."),
    ("staging table", "Staging tables", "Each system's records as last pulled, unreconciled; references hold "
                                        "that system's own ids."),
    ("sync table", "Sync state", "The sync's own bookkeeping."),
)


def render(dialect: str | None = None, systems: tuple[str, ...] | None = None) -> str:
    """The dictionary as Markdown; with `dialect` only that database's types, else both."""
    dialects = [dialect] if dialect else list(DIALECTS)
    found = relations(systems)
    type_headers = " | ".join(f"type ({DIALECT_NAMES[d]})" for d in dialects)
    lines = [
        "# Data dictionary",
        "",
        "Every table and view of the hub, every column: its type on "
        + " and on ".join(DIALECT_NAMES[d] for d in dialects)
        + ", its meaning and where its values come from.",
        f"Generated from the model by `ledgerbridge dictionary{' --dialect ' + dialect if dialect else ''}`: "
        "do not edit by hand (tests/test_dictionary.py fails when it is stale).",
        "",
        "Source: the systems whose mapping carries a field, by role (CRM, ERP); in a golden table the field's "
        "owner wins when both sides changed it (configurable per entity). A view column names the column it shows.",
        "",
    ]
    for kind, title, text in SECTIONS:
        lines += [f"## {title}", "", text, ""]
        lines += [", ".join(f"[`{r.name}`](#{r.name})" for r in found if r.kind == kind), ""]
    for kind, title, _ in SECTIONS:
        for relation in (r for r in found if r.kind == kind):
            lines += [f"### {relation.name}", "", f"{relation.kind.capitalize()}. {relation.description}".strip(), "",
                      f"| column | {type_headers} | key | meaning | source |",
                      "|---|" + "---|" * len(dialects) + "---|---|---|"]
            for column in relation.columns:
                types = " | ".join(f"`{column.types[d]}`" for d in dialects)
                lines.append(f"| `{column.name}` | {types} | {column.constraints} | {_cell(column.meaning)} | "
                             f"{_cell(column.source)} |")
            lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def add_arguments(commands: Any) -> None:
    parser = commands.add_parser(
        "dictionary", help="print the data dictionary (every table, view and column of the hub)",
        description="Print every table and view of the hub with every column: its SQL type, meaning and source "
                    "system/field, as Markdown, generated from the model.",
        epilog="example: ledgerbridge dictionary --dialect postgresql --output hub-dictionary.md",
    )
    parser.add_argument("--dialect", choices=DIALECTS, help="only this database's types (default: both)")
    parser.add_argument("--output", type=Path, help="write to this file instead of printing")


def run(args: argparse.Namespace) -> int:
    text = render(args.dialect) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
