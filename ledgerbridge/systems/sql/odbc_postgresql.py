"""`postgresql+pyodbc`: SQLAlchemy's PostgreSQL dialect over pyodbc and an ODBC driver.

SQLAlchemy ships `mssql+pyodbc` (production) but no PostgreSQL dialect over pyodbc. The tests run
the SQL connector through pyodbc and unixODBC's PostgreSQL driver (Debian: odbc-postgresql)
against a real PostgreSQL server, so the connector's statements travel the same DBAPI and driver
manager as in production; this dialect is the small bridge for that, usable by installations
whose product database is PostgreSQL too.

Two differences from psycopg matter: the driver must substitute parameters on the client
(`UseServerSidePrepare=0`, added by `odbc_url`), or PostgreSQL cannot type the untyped parameters
of SQLAlchemy's reflection queries; `Protocol=7.4-1` makes an error roll back the transaction
instead of wrapping every statement in a SAVEPOINT (three round trips per statement; the connector
rolls back whole records anyway); and arrays come back as text ('{a,b}', or '0 1' for int2vector), parsed here.
"""

from __future__ import annotations

import csv
from urllib.parse import quote_plus

from sqlalchemy.connectors.pyodbc import PyODBCConnector
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.sql import sqltypes

DRIVER = "PostgreSQL Unicode"


class _TextArray(ARRAY):
    """Arrays as the driver hands them over: '{a,b}', or '0 1' for PostgreSQL's int2vector/oidvector."""

    def result_processor(self, dialect, coltype):
        as_int = isinstance(self.item_type, sqltypes.Integer)

        def process(value):
            if not isinstance(value, str):
                return value
            if value.startswith("{") and value.endswith("}"):
                inner = value[1:-1]
                items = next(csv.reader([inner], escapechar="\\")) if inner else []
            else:
                items = value.split()
            return [int(i) for i in items] if as_int else items

        return process


class PGDialect_pyodbc(PyODBCConnector, PGDialect):
    supports_statement_cache = True
    supports_native_decimal = True
    colspecs = {**PGDialect.colspecs, sqltypes.ARRAY: _TextArray, ARRAY: _TextArray}

    def _get_server_version_info(self, connection):
        number = int(connection.exec_driver_sql("SHOW server_version_num").scalar())
        return number // 10000, number % 10000

    def _get_default_schema_name(self, connection):
        return connection.exec_driver_sql("SELECT current_schema()").scalar()

    def get_isolation_level(self, dbapi_connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SHOW transaction_isolation")
            return cursor.fetchone()[0].upper()
        finally:
            cursor.close()

    def set_isolation_level(self, dbapi_connection, level):
        return PyODBCConnector.set_isolation_level(self, dbapi_connection, level)

    def get_isolation_level_values(self, dbapi_conn):
        return PyODBCConnector.get_isolation_level_values(self, dbapi_conn)


def odbc_url(host: str, port: int, database: str, user: str, driver: str = DRIVER) -> str:
    """A `postgresql+pyodbc` URL for a DSN-less connection through the named ODBC driver."""
    connection_string = (
        f"DRIVER={{{driver}}};SERVER={host};PORT={port};DATABASE={database};UID={user};UseServerSidePrepare=0;Protocol=7.4-1;"
    )
    return "postgresql+pyodbc:///?odbc_connect=" + quote_plus(connection_string)
