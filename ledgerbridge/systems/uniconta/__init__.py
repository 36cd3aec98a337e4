"""Uniconta (REST entities + OData feed): the ERP of the webCRM <-> Uniconta integration.

    contract.py        the entities, fields, keys, table ids and limits, from contracts/uniconta
    (OData $filter/$orderby: ledgerbridge/emulators/odata.py, the shared module, case-sensitive dialect)
    mapping.py         model fields <-> Uniconta properties, in the shared vocabulary
    connector.py       OData reads (keyset by UpdatedAt), /api/Entities writes, the call budget
    emulator.py        a local Uniconta on loopback (Basic auth, routes, OData, Change-URL webhooks)
    webhooks.py        verify (URL token) / parse / register Change URLs, and the read-back
    demo.py            the demo's records in Uniconta's own shape

This module stays light (no HTTP or server imports): the registry imports it to list the system.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledgerbridge.systems.base import READ_WRITE, Emulation, EntitySupport, System
from ledgerbridge.systems.uniconta.webhooks import UnicontaWebhooks
from ledgerbridge.vat_zones import OPTIONS as VAT_ZONE_OPTIONS

DEFAULT_USER = "ledgerbridge"


def _mapping(options: Mapping[str, Any]):
    from ledgerbridge.systems.uniconta.mapping import DEFAULT, UnicontaMapping

    return UnicontaMapping(options) if options else DEFAULT


def _connect(config):
    from ledgerbridge.systems.uniconta.connector import CallBudget, UnicontaConnector

    options = config.options
    budget_file = options.get("budget_file")
    return UnicontaConnector(
        config.base_url, options.get("company_id", 0), str(options.get("user", DEFAULT_USER)), config.secret("password"),
        mapping=_mapping(options),
        timeout=config.timeout_seconds, rate_per_second=config.rate_per_second,
        reuse_read_seconds=float(options.get("reuse_read_seconds", 60)),
        budget=CallBudget(str(budget_file)) if budget_file else None,
        read_cache=options.get("read_cache") or None,
    )


def _emulator(secrets: Mapping[str, str], state_file: Path | None, port: int):
    from ledgerbridge.systems.uniconta.emulator import UnicontaEmulator

    return UnicontaEmulator(state_file, users={DEFAULT_USER: secrets["password"]}, port=port)


def _seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    from ledgerbridge.systems.uniconta.demo import seed

    return seed(emulator, entity, records)


SYSTEM = System(
    name="uniconta",
    label="Uniconta",
    roles=frozenset({"erp"}),
    entities={
        # Every table is read by UpdatedAt after the cursor: one small call answers "anything new?".
        "employees": EntitySupport(READ_WRITE, probe=True),
        "debtors": EntitySupport(READ_WRITE, assigns_number=True, probe=True),
        "contacts": EntitySupport(READ_WRITE, probe=True),
        "items": EntitySupport(READ_WRITE, probe=True),
        "orders": EntitySupport(READ_WRITE, assigns_number=True, probe=True),
        "order_lines": EntitySupport(READ_WRITE, probe=True),
    },
    connect=_connect,
    mapping=_mapping,
    secrets=("password",),
    options={
        "company_id": "the Uniconta company id (the login is 00<company_id>/<user>)",
        "user": f"the Uniconta user, a server user for unattended use (default {DEFAULT_USER})",
        "budget_file": "a JSON file adding up the calls made per day across runs (the 5,000/day budget)",
        "reuse_read_seconds": "how long after a pull an update may overlay the last read instead of reading first "
                              "(default 60; 0: always read)",
        "read_cache": "a SQLite file keeping the last reads between runs, so updates need no read (one call each)",
        "user_field:<entity>.<field>": "keep a model field in a Uniconta user-defined field of that name",
        "max_length:<Class>.<Property>": "override a field limit of contract.py",
        "required:debtors": "comma-separated fields a debtor needs before it is created (default: the sheet's)",
        **VAT_ZONE_OPTIONS,
    },
    webhooks=UnicontaWebhooks(),
    emulation=Emulation(
        start=_emulator,
        seed=_seed,
        demo_secrets={"password": ("UNICONTA_PASSWORD", "demo-uniconta-password")},
        demo_port=18803,
        # The demo's companies come without a VAT group or invoice e-mail: the demo creates debtors
        # with what Uniconta itself needs; the sheet's stricter list is the default elsewhere.
        demo_options={"company_id": 4415, "required:debtors": "name,country,currency,customer_group"},
    ),
)
