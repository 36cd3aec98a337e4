from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from dagster import ConfigurableResource

from ledgerbridge.config import SyncConfig, load_config
from ledgerbridge.leases import held
from ledgerbridge.store import HubStore
from ledgerbridge.tenants.hub import ensure_schema, schema_url


# How long a run waits for an entity someone else syncs (the warm worker's burst: seconds; another run: its length).
RUN_LEASE_WAIT = float(os.environ.get("LEDGERBRIDGE_RUN_LEASE_WAIT_SECONDS", "1800"))


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

    @contextmanager
    def holding(self, entity: str, holder: str) -> Iterator[None]:
        """Hold `entity`'s lease (ledgerbridge.leases) while an asset step syncs it, waiting while
        another run or the warm worker (pipelines/warm_worker.py) has it; `holder` is the run's id,
        or the burst's when the worker, which holds the lease for its whole burst, runs the step."""
        with held(self.store, [entity], holder, wait=RUN_LEASE_WAIT):
            yield


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
