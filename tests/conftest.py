from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg import TemporaryPostgres, fresh_database  # noqa: E402

from ledgerbridge.store import HubStore  # noqa: E402


@pytest.fixture(scope="session")
def pg_server_url():
    url = os.environ.get("LEDGERBRIDGE_TEST_PG_URL")
    if url:
        yield url
        return
    try:
        server = TemporaryPostgres()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise  # CI installs PostgreSQL: its absence is a failure, not a skip
        pytest.skip(str(exc))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh, empty hub store on each database the hub runs on."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = fresh_database(request.getfixturevalue("pg_server_url"))
    hub_store = HubStore(url)
    hub_store.create_all()
    yield hub_store
    hub_store.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    hub_store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    hub_store.create_all()
    yield hub_store
    hub_store.dispose()
