"""TribeCRM (Efficy), OData v1 with webhooks: the CRM. Everything ledgerbridge knows about it lives here.

    odata.py       the OData subset Tribe serves (operators that work, $expand), for the emulator
    mapping.py     model fields <-> Tribe's relations and relationships, in the shared vocabulary
    connector.py   OAuth2, keyset streams per change stamp, writes to organisations and roles
    webhooks.py    signature (Base64 of hex HMAC-SHA512), parsing, idempotent registration
    emulator.py    a local Tribe on loopback, firing signed webhooks
    seed.py        demo records in Tribe's own shape

Options (SystemConfig.options): `token_url`, `scope`, `page_size`, `erp_id_property`; see OPTIONS.
This module stays light: the registry imports it to list the system.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledgerbridge.systems.base import READ_WRITE, Emulation, EntitySupport, System
from ledgerbridge.systems.tribecrm.webhooks import TribeWebhooks

OPTIONS = {
    "token_url": "the OAuth2 token endpoint (default <base_url>/oauth2/token; Tribe's: https://auth.tribecrm.nl/oauth2/token)",
    "scope": "OAuth2 scopes asked for (default 'read write')",
    "page_size": "records per OData page ($top; default 100)",
    "erp_id_property": "the organisation property keeping the ERP's id (default ImportId)",
    **{f"{name}_property": f"the invoice property holding the {name.replace('_', ' ')} (default {default})"
       for name, default in (("invoice_date", "InvoiceDate"), ("due_date", "DueDate"), ("paid_amount", "AmountPaid"),
                             ("paid_date", "PaymentDate"))},
}


def _invoice_properties(options: Mapping[str, Any]) -> dict[str, str]:
    names = ("invoice_date", "due_date", "paid_amount", "paid_date")
    return {name: str(options[f"{name}_property"]) for name in names if options.get(f"{name}_property")}


def _mapping(options: Mapping[str, Any]):
    from ledgerbridge.systems.tribecrm.mapping import DEFAULT, TribeMapping

    prop, invoice_properties = options.get("erp_id_property"), _invoice_properties(options)
    if not prop and not invoice_properties:
        return DEFAULT
    return TribeMapping(str(prop or DEFAULT.erp_id_property), invoice_properties)


def _connect(config):
    from ledgerbridge.systems.tribecrm.connector import DEFAULT_PAGE_SIZE, TribeCrmConnector
    from ledgerbridge.systems.tribecrm.mapping import DEFAULT_ERP_ID_PROPERTY

    options = config.options
    return TribeCrmConnector(
        config.base_url, config.secret("client_id"), config.secret("client_secret"),
        token_url=str(options["token_url"]) if options.get("token_url") else None,
        scope=str(options.get("scope", "read write")),
        page_size=int(options.get("page_size", DEFAULT_PAGE_SIZE)),
        erp_id_property=str(options.get("erp_id_property", DEFAULT_ERP_ID_PROPERTY)),
        invoice_properties=_invoice_properties(options),
        timeout=config.timeout_seconds, rate_per_second=config.rate_per_second,
    )


def _emulator(secrets: Mapping[str, str], state_file: Path | None, port: int):
    from ledgerbridge.systems.tribecrm.emulator import TribeCrmEmulator

    return TribeCrmEmulator(state_file, client_id=secrets["client_id"], client_secret=secrets["client_secret"], port=port)


def _seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    from ledgerbridge.systems.tribecrm.seed import seed

    return seed(emulator, entity, records)


SYSTEM = System(
    name="tribecrm",
    label="TribeCRM",
    roles=frozenset({"crm"}),
    entities={
        "debtors": EntitySupport(READ_WRITE),
        "creditors": EntitySupport(READ_WRITE),
        "contacts": EntitySupport(READ_WRITE),
        "items": EntitySupport(READ_WRITE),
        # invoices and payments come from the ERP (PowerOffice books them); Tribe keeps a copy
        "invoices": EntitySupport(READ_WRITE),
        "invoice_lines": EntitySupport(READ_WRITE),
        "payments": EntitySupport(READ_WRITE),
    },
    connect=_connect,
    mapping=_mapping,
    secrets=("client_id", "client_secret"),
    options=OPTIONS,
    webhooks=TribeWebhooks(),
    emulation=Emulation(
        start=_emulator,
        seed=_seed,
        demo_secrets={
            "client_id": ("TRIBECRM_CLIENT_ID", "demo-client"),
            "client_secret": ("TRIBECRM_CLIENT_SECRET", "demo-secret"),
        },
        demo_port=18803,
    ),
)
