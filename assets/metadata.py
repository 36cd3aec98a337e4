"""What every asset tells the UI: table name, row count, and the column schema from the store's layout and the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from ledgerbridge.model import Entity, Owner
from ledgerbridge.store import T, HubStore

# The kind a column the model does not declare is shown with, by its Python type.
KINDS_BY_TYPE = {str: "text", int: "integer", float: "decimal", Decimal: "decimal", bool: "boolean", date: "date",
                 datetime: "timestamp"}


def column_schema(table: str, entity: Entity | None = None,
                  owner_of: Callable[[str], Owner] | None = None) -> TableSchema:
    """The columns of one of the hub store's tables (its layout: ledgerbridge.store), those of `entity`
    described by the model (kind, length, format, reference and the field's owner: `owner_of`, the
    configuration's, or else the model's)."""
    fields = entity.field_by_name if entity else {}
    columns = []
    for column in T[table].columns:
        field = fields.get(column.name)
        if field is None:
            columns.append(TableColumn(column.name, _kind(column),
                                       description=column.comment or None,
                                       constraints=TableColumnConstraints(nullable=column.nullable)))
            continue
        other = [f"max length {field.max_length}"] if field.max_length else []
        if field.format:
            other.append(f"format {field.format.value}")
        if field.reference:
            other.append(f"references {field.reference}")
        other.append(f"owner {(owner_of(field.name) if owner_of else field.owner).value}")
        columns.append(TableColumn(field.name, field.kind.value, description=field.description or None,
                                   constraints=TableColumnConstraints(nullable=not field.required, other=other)))
    return TableSchema(columns=columns)


def _kind(column: sa.Column) -> str:
    try:
        return KINDS_BY_TYPE.get(column.type.python_type, "text")
    except NotImplementedError:  # a type without a Python equivalent
        return str(column.type).lower()


def row_count(store: HubStore, table: str) -> int:
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def table_metadata(store: HubStore, table: str, **extra: Any) -> dict[str, Any]:
    """What a materialisation says about its table (its column schema is on the asset's definition)."""
    return {"dagster/table_name": table, "dagster/row_count": row_count(store, table), **extra}


def markdown_table(rows: list[dict[str, Any]], columns: list[str], limit: int = 20) -> MetadataValue:
    if not rows:
        return MetadataValue.md("_none_")
    escape = lambda v: str(v if v is not None else "").replace("|", "\\|").replace("\n", " ")[:120]  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(escape(r.get(c)) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more")
    return MetadataValue.md("\n".join(lines))
