from __future__ import annotations

from functools import cached_property

from dagster import ConfigurableResource

from ledgerbridge.config import SyncConfig, load_config
from ledgerbridge.store import HubStore


class HubStoreResource(ConfigurableResource):
    """The hub database (SQLite file by default, PostgreSQL by URL)."""

    url: str

    @cached_property
    def store(self) -> HubStore:
        store = HubStore(self.url)
        store.create_all()
        return store


class SyncConfigResource(ConfigurableResource):
    """The sync configuration file: ownership, number policies, triggers, thresholds."""

    path: str

    @cached_property
    def config(self) -> SyncConfig:
        return load_config(self.path)
