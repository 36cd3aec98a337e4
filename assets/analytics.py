"""The analyst views as assets, so the UI shows what they are built from and, before any run, their
columns (the views' own declarations in ledgerbridge.analytics: names, types, meanings)."""

from datetime import date, datetime
from decimal import Decimal

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, TableColumn, TableSchema, asset

from ledgerbridge.analytics import View, create_views, views

from assets.lineage import hub_key
from assets.metadata import row_count
from resources import HubStoreResource

# The kinds the column schema names, by the Python type a column's SQL type gives back.
KINDS = {str: "text", int: "integer", float: "decimal", Decimal: "decimal", bool: "boolean", date: "date",
         datetime: "timestamp"}


def column_schema(view: View) -> TableSchema:
    return TableSchema(columns=[TableColumn(c.name, KINDS.get(c.sql_type.python_type, "text"),
                                            description=c.meaning or None) for c in view.columns])


def view_asset(view: View, entities: list[str]) -> AssetsDefinition:
    @asset(
        key=AssetKey(["analytics", view.name]),
        deps=[hub_key(e) for e in view.entities if e in entities],
        group_name="analytics",
        kinds={"sql"},
        description=f"SQL view {view.name}: {view.description} (docs/analysts.md, docs/data-dictionary.md)",
        metadata={"dagster/column_schema": column_schema(view), "dagster/table_name": view.name},
    )
    def _view(context: AssetExecutionContext, hub: HubStoreResource) -> MaterializeResult:
        store = hub.store
        create_views(store)
        return MaterializeResult(metadata={"dagster/table_name": view.name,
                                           "dagster/row_count": row_count(store, view.name)})

    return _view


def analytics_assets(entities: list[str]) -> list[AssetsDefinition]:
    """The views whose source entities are all configured (the column schemas are the same on both
    databases: they are declared once, not read from one)."""
    return [view_asset(v, entities) for v in views("sqlite").values() if set(v.entities) <= set(entities)]
