from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg import TemporaryPostgres, fresh_database  # noqa: E402


def contract_file(relative: str) -> Path | None:
    """A file of the systems' public contracts (../shared/contracts beside the checkout, where CI puts
    it, or the workplace's /work/shared), or None when neither holds it."""
    for root in (Path(__file__).resolve().parents[2] / "shared" / "contracts", Path("/work/shared/contracts")):
        if (root / relative).exists():
            return root / relative
    return None

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


# -- the two emulated systems and a configuration pointing at them ---------------------------

from ledgerbridge.config import parse_config  # noqa: E402
from ledgerbridge.systems.economic.emulator import EconomicEmulator  # noqa: E402
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator  # noqa: E402

TEST_SECRETS = {
    "LB_TEST_WEBCRM_KEY": "test-webcrm-key",
    "LB_TEST_ECONOMIC_SECRET": "test-economic-secret",
    "LB_TEST_ECONOMIC_GRANT": "test-economic-grant",
}


@pytest.fixture
def webcrm():
    emulator = WebcrmEmulator(api_keys=(TEST_SECRETS["LB_TEST_WEBCRM_KEY"],))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def economic():
    emulator = EconomicEmulator(
        app_secret_token=TEST_SECRETS["LB_TEST_ECONOMIC_SECRET"],
        agreement_grant_token=TEST_SECRETS["LB_TEST_ECONOMIC_GRANT"],
    )
    emulator.start()
    yield emulator
    emulator.stop()


def make_config(webcrm_url: str, economic_url: str, hub_url: str, **entities):
    return parse_config(
        {
            "crm": {"system": "webcrm", "base_url": webcrm_url, "secrets": {"api_key": "LB_TEST_WEBCRM_KEY"}},
            "erp": {
                "system": "economic",
                "base_url": economic_url,
                "secrets": {"app_secret_token": "LB_TEST_ECONOMIC_SECRET", "agreement_grant_token": "LB_TEST_ECONOMIC_GRANT"},
            },
            "hub": {"url": hub_url},
            "entities": entities
            or {
                "debtors": {
                    "create_in_erp": "crm_type == 'Customer'",
                    "erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"},
                }
            },
        },
        "test",
    )


@pytest.fixture
def secrets_env(monkeypatch):
    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
