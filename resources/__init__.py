"""Dagster resources: the hub store, the sync configuration, and one resource for every external system."""

from resources.hub_store import HubStoreResource, RunOptionsResource, SyncConfigResource
from resources.systems import SystemsResource

__all__ = ["HubStoreResource", "RunOptionsResource", "SyncConfigResource", "SystemsResource"]
