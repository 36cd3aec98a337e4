from __future__ import annotations

from functools import cached_property

from dagster import ConfigurableResource

from ledgerbridge.config import SyncConfig, load_config
from ledgerbridge.store import HubStore
from ledgerbridge.tenants.hub import ensure_schema, schema_url


class HubStoreResource(ConfigurableResource):
    """The hub database (SQLite file by default, PostgreSQL by URL)."""

    url: str
    # A PostgreSQL hub confined to one schema (a tenant's; see ledgerbridge.tenants.hub), created if missing.
    schema_name: str | None = None

    @cached_property
    def store(self) -> HubStore:
        url = schema_url(self.url, self.schema_name) if self.schema_name else self.url
        ensure_schema(url)
        store = HubStore(url)
        store.create_all()
        return store


class SyncConfigResource(ConfigurableResource):
    """The sync configuration file: ownership, number policies, triggers, thresholds."""

    path: str

    @cached_property
    def config(self) -> SyncConfig:
        return load_config(self.path)


class RunOptionsResource(ConfigurableResource):
    """How this run drives the road. `dry_run` makes the whole run a dry run, as `ledgerbridge sync
    --dry-run`: run config {"resources": {"run_options": {"config": {"dry_run": true}}}}."""

    dry_run: bool = False
