"""The analyst views as assets, so the UI shows what they are built from."""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from ledgerbridge.analytics import VIEWS, create_views

from assets.lineage import hub_key
from assets.metadata import row_count
from resources import HubStoreResource

VIEW_SOURCES = {
    "sales_lines": ("invoice_lines", "invoices", "debtors", "items"),
    "open_items": ("invoices", "debtors"),
    "customer_sales": ("debtors", "invoices", "invoice_lines"),
}


def view_asset(view: str, entities: list[str]) -> AssetsDefinition:
    @asset(
        key=AssetKey(["analytics", view]),
        deps=[hub_key(e) for e in VIEW_SOURCES[view] if e in entities],
        group_name="analytics",
        kinds={"sql"},
        description=f"SQL view {view} over the hub tables (see docs/analysts.md).",
    )
    def _view(context: AssetExecutionContext, hub: HubStoreResource) -> MaterializeResult:
        store = hub.store
        create_views(store)
        return MaterializeResult(metadata={"dagster/table_name": view, "dagster/row_count": row_count(store, view)})

    return _view


def analytics_assets(entities: list[str]) -> list[AssetsDefinition]:
    """The views whose source entities are all configured."""
    return [view_asset(v, entities) for v in VIEWS if set(VIEW_SOURCES[v]) <= set(entities)]
