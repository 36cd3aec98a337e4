"""Dagster resources: the hub store and one connector per external system we speak to."""

from resources.economic import EconomicResource
from resources.hub_store import HubStoreResource, SyncConfigResource
from resources.webcrm import WebcrmResource

__all__ = ["EconomicResource", "HubStoreResource", "SyncConfigResource", "WebcrmResource"]
