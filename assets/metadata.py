"""What every asset tells the UI: table name, row count, and the column schema from the model."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from ledgerbridge.model import Entity
from ledgerbridge.store import HubStore

EXTRA_COLUMNS = {
    "staging": [("remote_id", "text", "The record's id in its system"), ("remote_updated_at", "timestamp", ""),
                ("content_hash", "text", "Hash of the mapped fields, for diffing and echo suppression"),
                ("pulled_at", "timestamp", "")],
    "hub": [("hub_id", "text", "The hub's id of the record"), ("created_at", "timestamp", ""),
            ("updated_at", "timestamp", "")],
}


def column_schema(entity: Entity, kind: str) -> TableSchema:
    columns = [TableColumn(name, type_, description=description or None) for name, type_, description in EXTRA_COLUMNS[kind][:1]]
    for field in entity.fields:
        other = [f"max length {field.max_length}"] if field.max_length else []
        if field.format:
            other.append(f"format {field.format.value}")
        if field.reference:
            other.append(f"references {field.reference}")
        other.append(f"owner {field.owner.value}")
        columns.append(
            TableColumn(
                field.name,
                field.kind.value,
                description=field.description or None,
                constraints=TableColumnConstraints(nullable=not field.required, other=other),
            )
        )
    columns += [TableColumn(name, type_, description=description or None) for name, type_, description in EXTRA_COLUMNS[kind][1:]]
    return TableSchema(columns=columns)


def row_count(store: HubStore, table: str) -> int:
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def table_metadata(store: HubStore, table: str, entity: Entity, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "dagster/table_name": table,
        "dagster/row_count": row_count(store, table),
        "dagster/column_schema": column_schema(entity, kind),
        **extra,
    }


def markdown_table(rows: list[dict[str, Any]], columns: list[str], limit: int = 20) -> MetadataValue:
    if not rows:
        return MetadataValue.md("_none_")
    escape = lambda v: str(v if v is not None else "").replace("|", "\\|").replace("\n", " ")[:120]  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(escape(r.get(c)) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more")
    return MetadataValue.md("\n".join(lines))
