"""Systems whose data sits in a local SQL database: cobra CRM, europa3000, Sage 50 (CH), ChannelCRM.

One generic connector (SQLAlchemy Core; `mssql+pyodbc` in production) is driven by one profile per
product (profiles/<system>.yaml, overridable per installation with the option `profile`):

    profile.py         the profile's shape (tables, keys, columns, change detection, writes, numbering)
    profiles/*.yaml    the shipped profiles; comments say which names are public and which are placeholders
    schema.py          SQLAlchemy tables built from a profile (SQL Server types on SQL Server)
    converters.py      column values <-> model values, and fitting a value into its column
    validate.py        a record checked against its columns before any write; limits for the quality gate
    changes.py         rowversion / modified-at / snapshot-hash change detection and their cursors
    numbers.py         drawing a number: counter table, MAX+1 under a lock
    connector.py       the Connector protocol over all of that, plus the one-query change probe
    check.py, cli.py   `ledgerbridge profile check`: a profile held against a live database
    emulator.py        a product database created from its profile (tests: PostgreSQL via ODBC; demo: SQLite)
    odbc_postgresql.py the `postgresql+pyodbc` dialect the tests reach PostgreSQL through
    demo_seed.py       the demo's model records stored in a product's own tables

Each shipped profile becomes one registered System (`cobra`, `europa3000`, `sage50`, `channelcrm`).
Configuration: `base_url` is the SQLAlchemy URL without a password (e.g.
`mssql+pyodbc://lb@sqlhost/cobra?driver=ODBC+Driver+18+for+SQL+Server`); `secrets.password` names the
environment variable holding the password.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import dialects

from ledgerbridge.systems.base import READ_ONLY, READ_WRITE, Emulation, EntitySupport, System
from ledgerbridge.systems.registry import register
from ledgerbridge.systems.sql.profile import Profile, load_profile, shipped_profiles

OPTIONS = {
    "profile": "path of a YAML file laid over the shipped profile (this installation's tables and columns)",
    "snapshot_store": "SQLAlchemy URL of a small database keeping row hashes, for tables without a change "
                      "column (required for them; an embedded product database keeps them beside itself)",
    "output_clause": "SQL Server: read new identity keys with OUTPUT inserted.<key> instead of SCOPE_IDENTITY() "
                     "(only for tables without triggers)",
}


class ProfileMapping:
    """The part of a profile the engine reads: which model fields a system holds, and its limits."""

    def __init__(self, profile: Profile):
        self.profile = profile

    def mapped_fields(self, entity: str) -> tuple[str, ...]:
        found = self.profile.entities.get(entity)
        return found.mapped_fields if found else ()

    def limits(self, entity: str):
        from ledgerbridge.systems.sql.validate import limits

        return limits(self.profile, entity)


def _profile_for(system: str, options: Mapping[str, Any]) -> Profile:
    return load_profile(system, options.get("profile") or None)


def database_url(config) -> Any:
    """The configuration's database URL with the password from its environment variable."""
    import sqlalchemy as sa

    url = sa.make_url(config.base_url)
    if "password" not in config.secrets:
        return url
    password = config.secret("password")
    if "odbc_connect" in url.query:  # a raw ODBC connection string: the password goes into it
        return url.update_query_dict({"odbc_connect": url.query["odbc_connect"] + f";PWD={{{password}}}"})
    return url.set(password=password)


def _snapshot_store(options: Mapping[str, Any], url: Any) -> str | None:
    if options.get("snapshot_store"):
        return str(options["snapshot_store"])
    if url.get_backend_name() == "sqlite" and url.database:
        return f"sqlite:///{url.database}.snapshots"
    return None


def _connect_for(system: str):
    def connect(config):
        from ledgerbridge.systems.sql.connector import SqlConnector

        url = database_url(config)
        return SqlConnector(
            _profile_for(system, config.options),
            url,
            snapshot_store=_snapshot_store(config.options, url),
            output_clause=bool(config.options.get("output_clause", False)),
        )

    return connect


def _probe(connector, entity: str, cursor: str | None) -> str | None:
    return connector.probe(entity, cursor)


def _emulator_for(system: str):
    def start(secrets: Mapping[str, str], state_file: Path | None, port: int):
        from ledgerbridge.systems.sql.emulator import SqlEmulator

        if state_file is None:
            state_file = Path(tempfile.mkdtemp(prefix=f"ledgerbridge-{system}-")) / f"{system}.json"
        state_file = Path(state_file)
        database = state_file.with_suffix(".db")
        if not state_file.exists():  # never finished a session (a seed that failed halfway): start afresh
            for leftover in (database, Path(f"{database}.snapshots")):
                leftover.unlink(missing_ok=True)
        emulator = SqlEmulator(load_profile(system), f"sqlite:///{database.resolve()}", state_file=state_file)
        emulator.start()  # the tables exist before the demo seeds them
        return emulator

    return start


def _seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    from ledgerbridge.systems.sql.demo_seed import seed

    return seed(emulator, entity, records)


def _support(profile: Profile) -> dict[str, EntitySupport]:
    support = {}
    for name, entity in profile.entities.items():
        support[name] = EntitySupport(
            READ_ONLY if entity.write == "read_only" else READ_WRITE,
            assigns_number=entity.numbering.assigned_here,
            probe=True,  # one aggregate query per tick (connector.probe)
        )
    return support


def system_of(profile: Profile) -> System:
    return System(
        name=profile.system,
        label=profile.label,
        roles=frozenset({profile.role}),
        entities=_support(profile),
        connect=_connect_for(profile.system),
        mapping=lambda options, system=profile.system: ProfileMapping(_profile_for(system, options)),
        secrets=(),
        options=OPTIONS,
        probe=_probe,
        emulation=Emulation(start=_emulator_for(profile.system), seed=_seed, demo_secrets={}),
    )


# `postgresql+pyodbc` (odbc_postgresql.py), loaded by SQLAlchemy when a URL names it.
dialects.registry.register("postgresql.pyodbc", "ledgerbridge.systems.sql.odbc_postgresql", "PGDialect_pyodbc")

SYSTEMS = tuple(system_of(load_profile(name)) for name in shipped_profiles())
for _system in SYSTEMS:
    register(_system)
