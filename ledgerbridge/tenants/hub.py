"""A tenant's hub: its own PostgreSQL schema on a shared server, or its own SQLite file.

On PostgreSQL every connection of a tenant's hub has `search_path` set to the tenant's schema
alone (libpq's `options`, carried in the URL). That covers everything the hub runs, also the
plain-SQL analyst views and the column migrations that a schema_translate_map would not rewrite,
and it isolates: a table that is not in the tenant's schema is not found, and without the schema
nothing can be created at all ("no schema has been selected"), so nothing lands in `public`.
"""

from __future__ import annotations

import re
import sqlalchemy as sa
from sqlalchemy.engine import make_url

SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def schema_url(url: str, schema: str) -> str:
    """`url` (a PostgreSQL database) with every connection confined to `schema`."""
    if not SCHEMA.match(schema):
        raise ValueError(f"hub schema {schema!r} must be lower-case letters, digits and _ (at most 63)")
    if not is_postgresql(url):
        raise ValueError(f"a hub schema needs a PostgreSQL hub, not {make_url(url).drivername}")
    parsed = make_url(url)
    if "options" in parsed.query:
        raise ValueError("the hub URL sets libpq options already; give the schema in hub.schema only")
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def schema_of(url: str) -> str | None:
    """The schema a URL made by schema_url is confined to."""
    if not is_postgresql(url):
        return None
    options = make_url(url).query.get("options", "")
    match = re.search(r"-csearch_path=([a-z0-9_]+)", options if isinstance(options, str) else " ".join(options))
    return match.group(1) if match else None


def _server_engine(url: str) -> sa.Engine:
    """The same database, without the search_path (the schema may not exist yet)."""
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k != "options"}
    return sa.create_engine(parsed.set(query=query), isolation_level="AUTOCOMMIT")


def ensure_schema(url: str) -> None:
    """Create the schema a schema_url names, if missing (idempotent). No-op for other URLs."""
    schema = schema_of(url)
    if schema is None:
        return
    engine = _server_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()


def drop_schema(url: str) -> None:
    """Drop the schema a schema_url names, with everything in it."""
    schema = schema_of(url)
    if schema is None:
        raise ValueError("not a schema-confined PostgreSQL hub URL")
    engine = _server_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def sqlite_url(path) -> str:  # noqa: ANN001 - a Path or str
    return f"sqlite:///{path}"
