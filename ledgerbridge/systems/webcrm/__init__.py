"""webCRM (REST API v1): the CRM. Everything ledgerbridge knows about webCRM lives in this folder.

    contract.py        the DTO tables and endpoints, transcribed from webCRM's Swagger spec
    mapping.py         model fields <-> DTO fields, in the shared vocabulary
    connector.py       the REST client (login, paging, cursors, writes)
    emulator.py        a local webCRM on loopback (+ emulator_hooks.py: its /Hooks API; problems.py: error bodies)
    webhooks.py        verify/parse/register webCRM's hooks

This module stays light (no HTTP or server imports): the registry imports it to list the system.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledgerbridge.systems.base import READ_WRITE, Emulation, EntitySupport, System
from ledgerbridge.systems.webcrm.webhooks import WebcrmWebhooks

NUMBER_FIELD = "OrganisationExtraCustom1"
VAT_ZONE_FIELD = "OrganisationVatGroup"  # webCRM's own VAT group field shows the ERP's VAT zone


def _mapping(options: Mapping[str, Any]):
    from ledgerbridge.systems.webcrm.mapping import DEFAULT, WebcrmMapping

    number_field = str(options.get("number_field", NUMBER_FIELD))
    sellers = bool(options.get("sellers", False))
    vat_zone_field = str(options.get("vat_zone_field", VAT_ZONE_FIELD))
    if number_field == NUMBER_FIELD and not sellers and vat_zone_field == VAT_ZONE_FIELD:
        return DEFAULT
    return WebcrmMapping(number_field=number_field, sellers=sellers, vat_zone_field=vat_zone_field)


def _connect(config):
    from ledgerbridge.systems.webcrm.connector import WebcrmConnector

    return WebcrmConnector(
        config.base_url, config.secret("api_key"),
        number_field=str(config.options.get("number_field", NUMBER_FIELD)),
        sellers=bool(config.options.get("sellers", False)),
        vat_zone_field=str(config.options.get("vat_zone_field", VAT_ZONE_FIELD)),
        timeout=config.timeout_seconds, rate_per_second=config.rate_per_second,
    )


def _emulator(secrets: Mapping[str, str], state_file: Path | None, port: int):
    from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator

    return WebcrmEmulator(state_file, api_keys=(secrets["api_key"],), port=port)


def _seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    return emulator.seed(entity, records)


SYSTEM = System(
    name="webcrm",
    label="webCRM",
    roles=frozenset({"crm"}),
    entities={
        "debtors": EntitySupport(READ_WRITE, probe=True),
        "contacts": EntitySupport(READ_WRITE, probe=True),
        "items": EntitySupport(READ_WRITE, probe=True),
        "invoices": EntitySupport(READ_WRITE),
        "invoice_lines": EntitySupport(READ_WRITE),
        "payments": EntitySupport(READ_WRITE),
        # Users and Opportunities have no update-date filter: scanned like Products, no probe.
        "employees": EntitySupport(READ_WRITE),
        "orders": EntitySupport(READ_WRITE),
        "order_lines": EntitySupport(READ_WRITE),
    },
    connect=_connect,
    mapping=_mapping,
    secrets=("api_key",),
    options={"number_field": f"the OrganisationDto field holding the ERP customer number (default {NUMBER_FIELD})",
             "sellers": "true: debtors and orders carry their seller (OrganisationOwner, OpportunityAssignedTo "
                        "-> employees); needs the employees entity synced (default false)",
             "vat_zone_field": "the OrganisationDto text field showing the VAT zone the ERP gives the customer "
                               f"(domestic, eu, abroad; default {VAT_ZONE_FIELD})"},
    webhooks=WebcrmWebhooks(),
    emulation=Emulation(
        start=_emulator,
        seed=_seed,
        demo_secrets={"api_key": ("WEBCRM_API_KEY", "demo-webcrm-api-key")},
        demo_port=18801,
    ),
)
