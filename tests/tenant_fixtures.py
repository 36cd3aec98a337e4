"""Tenants for the tests and the scale benchmark: each one its own emulated CRM and ERP on loopback,
seeded with companies in the systems' own shapes, its secrets in its own environment variables."""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

from ledgerbridge.demo.data import company
from ledgerbridge.systems.registry import get
from ledgerbridge.tenants import TenantRegistry, secret_env

WEBHOOK_SECRET = "tenant-webhook-secret-0123456789abcdef"
DEBTORS = {"create_in_erp": "crm_type == 'Customer'",
           "erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}}


@dataclass
class TenantSystems:
    name: str
    crm: Any  # the emulators
    erp: Any
    company_names: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # environment variable -> value

    def stop(self) -> None:
        self.crm.stop()
        self.erp.stop()


def companies(tenant: str, count: int, seed: int) -> list[dict[str, Any]]:
    """Customers with names no other tenant's seed gives (the tenant's name is in every one)."""
    rng = random.Random(seed)
    fake = Faker("da_DK")
    fake.seed_instance(seed)
    records = []
    for i in range(count):
        values = company("DK", fake, rng)
        values["name"] = f"{tenant.capitalize()} {i:05d} {values['name']}"
        values["crm_type"] = "Customer"
        records.append(values)
    return records


def start_tenant(name: str, crm: str, erp: str, *, companies_count: int, seed: int,
                 env: MutableMapping[str, str]) -> TenantSystems:
    """Both emulators started and seeded (customers in the CRM); the secrets written to `env`."""
    emulators, secrets = {}, {}
    for side, system_name in (("crm", crm), ("erp", erp)):
        system = get(system_name)
        values = {secret: f"{name}-{side}-{value}" for secret, (_, value) in system.emulation.demo_secrets.items()}
        emulators[side] = system.emulation.start(values, None, 0)
        secrets.update({secret_env(name, side, secret): value for secret, value in values.items()})
        if system.webhooks is not None:
            secrets[secret_env(name, side, system.webhooks.secret_name)] = f"{WEBHOOK_SECRET}-{name}"
    records = companies(name, companies_count, seed)
    get(crm).emulation.seed(emulators["crm"], "debtors", records)
    for emulator in emulators.values():
        emulator.start()
    env.update(secrets)
    return TenantSystems(name, emulators["crm"], emulators["erp"], [r["name"] for r in records], secrets)


def register(registry: TenantRegistry, systems: TenantSystems, crm: str, erp: str, *,
             entities: dict[str, Any] | None = None, hub_server_env: str | None = None):
    return registry.add(systems.name, {
        "crm": {"system": crm, "base_url": systems.crm.base_url},
        "erp": {"system": erp, "base_url": systems.erp.base_url},
        "entities": entities or {"debtors": DEBTORS},
    }, hub_server_env=hub_server_env)
