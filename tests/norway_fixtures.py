"""Fixtures for the TribeCRM and PowerOffice Go tests: both emulators on loopback, their credentials
in the environment (as the configuration names them), and a sync configuration over the two."""

from __future__ import annotations

import pytest

from ledgerbridge.config import parse_config
from ledgerbridge.systems.poweroffice.connector import PowerOfficeConnector
from ledgerbridge.systems.poweroffice.emulator import PowerOfficeEmulator
from ledgerbridge.systems.tribecrm.connector import TribeCrmConnector
from ledgerbridge.systems.tribecrm.emulator import TribeCrmEmulator

PO_KEYS = {"application_key": "po-app-key", "client_key": "po-client-key", "subscription_key": "po-subscription-key"}
PO_ENV = {"application_key": "LB_TEST_PO_APPLICATION_KEY", "client_key": "LB_TEST_PO_CLIENT_KEY",
          "subscription_key": "LB_TEST_PO_SUBSCRIPTION_KEY"}
TRIBE_KEYS = {"client_id": "tribe-client", "client_secret": "tribe-client-secret"}
TRIBE_ENV = {"client_id": "LB_TEST_TRIBE_CLIENT_ID", "client_secret": "LB_TEST_TRIBE_CLIENT_SECRET"}
TOKEN_PATHS = ("/OAuth/Token", "/oauth2/token")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def writes(emulator, since: int = 0) -> list[tuple[str, str]]:
    """Data writes an emulator received since position `since` of its request log (token calls excluded)."""
    return [(m, p) for m, p in emulator.request_log[since:] if m in WRITES and p not in TOKEN_PATHS]


@pytest.fixture
def poweroffice():
    emulator = PowerOfficeEmulator(**PO_KEYS)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def tribecrm():
    emulator = TribeCrmEmulator(**TRIBE_KEYS)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def norway_env(monkeypatch):
    for name, env in {**PO_ENV, **TRIBE_ENV}.items():
        monkeypatch.setenv(env, {**PO_KEYS, **TRIBE_KEYS}[name])


def po_connector(emulator, **kw) -> PowerOfficeConnector:
    return PowerOfficeConnector(emulator.base_url, *PO_KEYS.values(), **kw)


def tribe_connector(emulator, **kw) -> TribeCrmConnector:
    return TribeCrmConnector(emulator.base_url, *TRIBE_KEYS.values(), **kw)


def norway_config(tribe_url: str, po_url: str, *, erp_rate: float | None = None, entities=None):
    return parse_config({
        "crm": {"system": "tribecrm", "base_url": tribe_url, "secrets": dict(TRIBE_ENV)},
        "erp": {"system": "poweroffice", "base_url": po_url, "secrets": dict(PO_ENV), "rate_per_second": erp_rate},
        "entities": entities or {"debtors": {}, "creditors": {}, "contacts": {}, "items": {}},
    })
