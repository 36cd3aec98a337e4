"""The analyst views in Dagster: their definitions carry a column schema (before any run) that names
every column each view has in a real hub, with its meaning, and materialising one creates it."""

from __future__ import annotations

import sqlalchemy as sa
from dagster import AssetKey, materialize

from assets.analytics import analytics_assets
from ledgerbridge.model import ENTITIES
from resources import HubStoreResource


def test_every_view_definition_carries_the_columns_the_view_has(store):
    assets = analytics_assets(list(ENTITIES))
    inspector = sa.inspect(store.engine)
    assert {a.key.path[-1] for a in assets} == set(inspector.get_view_names())
    for asset_def in assets:
        view = asset_def.key.path[-1]
        schema = asset_def.specs_by_key[asset_def.key].metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == [c["name"] for c in inspector.get_columns(view)], view
        assert all(c.description for c in schema.columns), view


def test_only_views_of_configured_entities_are_assets():
    keys = {a.key for a in analytics_assets(["debtors", "contacts"])}
    assert AssetKey(["analytics", "golden_debtors"]) in keys and AssetKey(["analytics", "record_ids"]) in keys
    assert AssetKey(["analytics", "sales_lines"]) not in keys and AssetKey(["analytics", "golden_items"]) not in keys


def test_materialising_a_view_reports_its_rows(sqlite_store):
    [customers] = [a for a in analytics_assets(list(ENTITIES)) if a.key.path[-1] == "customer_sales"]
    result = materialize([customers], resources={"hub": HubStoreResource(url=sqlite_store.url)})
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["dagster/table_name"].value == "customer_sales" and metadata["dagster/row_count"].value == 0
