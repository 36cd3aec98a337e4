"""Helpers for the SQL-system tests: product databases built from the shipped profiles on the test
PostgreSQL server, reached through pyodbc and unixODBC's PostgreSQL driver (a real ODBC driver)."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from pg import fresh_database

from ledgerbridge.systems.sql.emulator import SqlEmulator
from ledgerbridge.systems.sql.odbc_postgresql import DRIVER, odbc_url
from ledgerbridge.systems.sql.profile import load_profile


def require_odbc_driver() -> None:
    """The ODBC driver manager and PostgreSQL's driver; missing is a skip locally, a failure in CI."""
    try:
        import pyodbc
    except ImportError as exc:  # pyodbc needs unixODBC's libodbc
        problem = f"pyodbc cannot load unixODBC ({exc}); install unixodbc and odbc-postgresql"
    else:
        if DRIVER in pyodbc.drivers():
            return
        problem = f"the ODBC driver {DRIVER!r} is not registered with unixODBC (odbcinst -q -d); install odbc-postgresql"
    if os.environ.get("CI"):
        pytest.fail(problem + " (.ci/run does)")
    pytest.skip(problem)


def odbc_database(pg_server_url: str) -> str:
    """A fresh, empty database on the test server, as a postgresql+pyodbc URL."""
    require_odbc_driver()
    url = sa.make_url(fresh_database(pg_server_url))
    return odbc_url(url.host, url.port, url.database, url.username)


def product_database(pg_server_url: str, system: str) -> SqlEmulator:
    emulator = SqlEmulator(load_profile(system), odbc_database(pg_server_url))
    emulator.start()
    return emulator
