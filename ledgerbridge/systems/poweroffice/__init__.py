"""PowerOffice Go (API v2): the Norwegian ERP. Everything ledgerbridge knows about it lives here.

    contract.py    auth, limits, paging, number series, max lengths: the contract as data
    mapping.py     model fields <-> Go JSON (and JSON Patch), in the shared vocabulary
    connector.py   OAuth2 + subscription key, keyset pages, address-change detection, idempotent creates
    emulator.py    a local Go API on loopback
    seed.py        demo records in Go's own shape

Go has no webhooks: debtors, creditors, contacts and items are probed (connector.probe) and pulled
on a schedule. This module stays light: the registry imports it to list the system.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledgerbridge.systems.base import READ_ONLY, READ_WRITE, Emulation, EntitySupport, System

SECRETS = ("application_key", "client_key", "subscription_key")


def _mapping(options: Mapping[str, Any]):
    from ledgerbridge.systems.poweroffice import mapping

    return mapping


def _connect(config):
    from ledgerbridge.systems.poweroffice import contract
    from ledgerbridge.systems.poweroffice.connector import PowerOfficeConnector

    return PowerOfficeConnector(
        config.base_url, *(config.secret(name) for name in SECRETS),
        timeout=config.timeout_seconds,
        rate_per_second=config.rate_per_second or contract.CLIENT_REQUESTS_PER_SECOND,
        page_size=int(config.options.get("page_size", contract.DEFAULT_PAGE_SIZE)),
    )


def _probe(connector, entity: str, cursor: str) -> str | None:
    return connector.probe(entity, cursor)


def _emulator(secrets: Mapping[str, str], state_file: Path | None, port: int):
    from ledgerbridge.systems.poweroffice.emulator import PowerOfficeEmulator

    return PowerOfficeEmulator(state_file, port=port, **{name: secrets[name] for name in SECRETS})


def _seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    from ledgerbridge.systems.poweroffice.seed import seed

    return seed(emulator, entity, records)


SYSTEM = System(
    name="poweroffice",
    label="PowerOffice Go",
    roles=frozenset({"erp"}),
    entities={
        "debtors": EntitySupport(READ_WRITE, assigns_number=True, probe=True),
        "creditors": EntitySupport(READ_WRITE, assigns_number=True, probe=True),
        "contacts": EntitySupport(READ_WRITE, probe=True),
        "items": EntitySupport(READ_WRITE, probe=True),
        # Go books invoices itself (from sales orders): read only, numbered by Go
        "invoices": EntitySupport(READ_ONLY, assigns_number=True, probe=True),
        "invoice_lines": EntitySupport(READ_ONLY),  # one call per invoice: no cheap probe, the invoices' run reads them
        "payments": EntitySupport(READ_ONLY, probe=True),  # BalanceLastChangedDateTimeOffset
    },
    connect=_connect,
    mapping=_mapping,
    secrets=SECRETS,
    options={"page_size": "records per page (Go's default 5000, at most 20000)"},
    probe=_probe,
    emulation=Emulation(
        start=_emulator,
        seed=_seed,
        demo_secrets={
            "application_key": ("POWEROFFICE_APPLICATION_KEY", "demo-application-key"),
            "client_key": ("POWEROFFICE_CLIENT_KEY", "demo-client-key"),
            "subscription_key": ("POWEROFFICE_SUBSCRIPTION_KEY", "demo-subscription-key"),
        },
        demo_port=18804,
    ),
)
