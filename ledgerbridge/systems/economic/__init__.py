"""Visma e-conomic (REST API): the ERP. Everything ledgerbridge knows about e-conomic lives here.

    mapping.py         model fields <-> e-conomic JSON, in the shared vocabulary
    connector.py       the REST client (keyset paging, cursors, read-ahead, writes)
    emulator.py        a local e-conomic on loopback, built from filters.py (the filter language),
                       schema.py (write schemas, error bodies), collections.py (collections, defaults)
                       and emulator_hooks.py (its webhooks API)
    signature.py       the webhook signature, shared by the emulator and the receiver
    webhooks.py        verify/parse/register e-conomic's webhooks

This module stays light (no HTTP or server imports): the registry imports it to list the system.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledgerbridge.systems.base import READ_ONLY, READ_WRITE, Emulation, EntitySupport, System
from ledgerbridge.systems.economic.webhooks import EconomicWebhooks
from ledgerbridge.vat_zones import OPTIONS as VAT_ZONE_OPTIONS

CENT = Decimal("0.01")


def _mapping(options: Mapping[str, Any]):
    from ledgerbridge.systems.economic import mapping

    return mapping  # one layout: e-conomic's fields are fixed


def _connect(config):
    from ledgerbridge.systems.economic.connector import EconomicConnector
    from ledgerbridge.systems.economic.mapping import ECONOMIC_VAT_ZONES
    from ledgerbridge.vat_zones import VatZones

    return EconomicConnector(
        config.base_url, config.secret("app_secret_token"), config.secret("agreement_grant_token"),
        timeout=config.timeout_seconds, rate_per_second=config.rate_per_second,
        vat_zones=VatZones.from_options(config.options, ECONOMIC_VAT_ZONES),
    )


def _emulator(secrets: Mapping[str, str], state_file: Path | None, port: int):
    from ledgerbridge.systems.economic.emulator import EconomicEmulator

    return EconomicEmulator(state_file, app_secret_token=secrets["app_secret_token"],
                            agreement_grant_token=secrets["agreement_grant_token"], port=port)


def _seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    if entity != "payments":
        return emulator.seed(entity, records)
    # A payment shows in e-conomic only as a lower remainder of its booked invoice.
    booked = {str(i["bookedInvoiceNumber"]): i for i in emulator.all_raw("invoices/booked")}
    for record in records:
        number = str(record["invoice_id"])
        gross = Decimal(str(booked[number]["grossAmount"]))
        emulator.register_payment(int(number), (gross * Decimal(record["share"])).quantize(CENT))
    return [str(r["invoice_id"]) for r in records]


SYSTEM = System(
    name="economic",
    label="e-conomic",
    roles=frozenset({"erp"}),
    entities={
        "debtors": EntitySupport(READ_WRITE, assigns_number=True, probe=True),
        # suppliers: /suppliers has no lastUpdated, so no probe; a schedule reads them all
        "creditors": EntitySupport(READ_WRITE, assigns_number=True),
        # contacts and payments have no change stamp: no probe, a schedule picks them up
        "contacts": EntitySupport(READ_WRITE),
        "items": EntitySupport(READ_WRITE, probe=True),
        # invoices are written as drafts; the booked number is e-conomic's
        "invoices": EntitySupport(READ_WRITE, assigns_number=True, probe=True),
        "invoice_lines": EntitySupport(READ_ONLY),
        "payments": EntitySupport(READ_ONLY),
    },
    connect=_connect,
    mapping=_mapping,
    secrets=("app_secret_token", "agreement_grant_token"),
    options=VAT_ZONE_OPTIONS,  # e-conomic's codes by default: 1 domestic, 2 EU, 3 abroad
    webhooks=EconomicWebhooks(),
    emulation=Emulation(
        start=_emulator,
        seed=_seed,
        demo_secrets={
            "app_secret_token": ("ECONOMIC_APP_SECRET_TOKEN", "demo-app-secret"),
            "agreement_grant_token": ("ECONOMIC_AGREEMENT_GRANT_TOKEN", "demo-agreement-grant"),
        },
        demo_port=18802,
    ),
)
