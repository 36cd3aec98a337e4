"""One road, two drivers: `SyncEngine.run` (the CLI) and the Dagster assets give the same hub tables
and the same remote state on the same data, and a dry run records and writes nothing in either."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
import yaml
from dagster import materialize

from ledgerbridge.model import Kind, entity
from ledgerbridge.store import T, HubStore, hub
from ledgerbridge.systems.economic.emulator import EconomicEmulator
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator
from pipelines.definitions import build_definitions

from conftest import TEST_SECRETS, make_config
from sync_helpers import engine_for, writes

ENTITIES = {
    "debtors": {"create_in_erp": "crm_type == 'Customer'",
                "erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}},
    "contacts": {"direction": "both"},
    "items": {"direction": "erp_to_crm"},
}
CRM_DEBTORS = [
    {"name": "Nordlys Consult ApS", "country": "DK", "vat_number": "DK13585628", "crm_type": "Customer", "city": "Aarhus"},
    {"name": "Broken Vat A/S", "country": "DK", "vat_number": "DK13585629", "crm_type": "Customer"},
    {"name": "Just A Lead GmbH", "country": "DE", "crm_type": "Lead"},
]
ERP_DEBTORS = [{"name": "Fjord Trading AS", "country": "NO", "city": "Bergen"}]
ITEMS = [{"number": "P-1", "name": "Widget", "unit_price": Decimal("12.50")}]
# Server stamps and links differ between two runs by their nature; everything else must not.
VOLATILE = {"lastUpdated", "self", "OrganisationCreatedAt", "OrganisationUpdatedAt", "PersonCreatedAt",
            "PersonUpdatedAt", "ProductCreatedAt", "ProductUpdatedAt"}


@pytest.fixture
def world(tmp_path, secrets_env):
    """A fresh pair of emulators with the same seed, and a configuration pointing at them."""
    made = []

    def make(name: str):
        webcrm = WebcrmEmulator(api_keys=(TEST_SECRETS["LB_TEST_WEBCRM_KEY"],))
        economic = EconomicEmulator(app_secret_token=TEST_SECRETS["LB_TEST_ECONOMIC_SECRET"],
                                    agreement_grant_token=TEST_SECRETS["LB_TEST_ECONOMIC_GRANT"])
        webcrm.start(), economic.start()
        made.extend([webcrm, economic])
        organisations = webcrm.seed("debtors", CRM_DEBTORS)
        webcrm.seed("contacts", [{"debtor_id": organisations[0], "name": "Ane Holm", "email": "ane@nordlys.example"}])
        economic.seed("debtors", ERP_DEBTORS)
        economic.seed("items", ITEMS)
        workdir = tmp_path / name
        workdir.mkdir()
        config = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{workdir / 'hub.db'}", **ENTITIES)
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        return webcrm, economic, config, path

    yield make
    for emulator in made:
        emulator.stop()


def run_cli(config, *, dry_run=False):
    store = HubStore(config.hub.url)
    store.create_all()
    engine = engine_for(config, store)
    try:
        engine.run(list(ENTITIES), dry_run=dry_run)
    finally:
        for connector in engine.connectors.values():
            connector.close()
    return store


def run_dagster(path, *, dry_run=False):
    defs = build_definitions(path)
    run_config = {"resources": {"run_options": {"config": {"dry_run": dry_run}}}}
    result = materialize(list(defs.assets), resources=defs.resources, run_config=run_config)
    assert result.success
    store = HubStore(defs.resources["hub"].url)
    return store


def hub_state(store: HubStore) -> dict[str, list[tuple]]:
    """Each hub table's records by their own values (hub ids and references are random uuids)."""
    state = {}
    with store.connect() as conn:
        for name in ENTITIES:
            fields = [f.name for f in entity(name).fields if f.kind != Kind.REFERENCE]
            table = hub(name)
            rows = conn.execute(sa.select(*(table.c[f] for f in fields))).all()
            state[name] = sorted((tuple(str(v) for v in row) for row in rows))
    return state


def book_state(store: HubStore) -> dict[str, int]:
    with store.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(T[name])).scalar_one()
                for name in ("outbox", "quarantine")}


def remote_state(webcrm, economic) -> dict[str, list]:
    def clean(records):
        return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in records), key=repr)

    return {
        "customers": clean(economic.all_raw("customers")),
        "contacts": clean(economic.all_raw("contacts")),
        "Organisations": clean(webcrm.all_raw("Organisations")),
        "Persons": clean(webcrm.all_raw("Persons")),
        "Products": clean(webcrm.all_raw("Products")),
    }


def test_the_cli_and_dagster_give_the_same_hub_and_remote_state(world):
    cli_crm, cli_erp, cli_config, _ = world("cli")
    dg_crm, dg_erp, _, dg_path = world("dagster")
    assert remote_state(cli_crm, cli_erp) == remote_state(dg_crm, dg_erp)  # the same start

    cli_store = run_cli(cli_config)
    dagster_store = run_dagster(dg_path)

    assert hub_state(cli_store) == hub_state(dagster_store)
    assert remote_state(cli_crm, cli_erp) == remote_state(dg_crm, dg_erp)
    assert book_state(cli_store)["quarantine"] == book_state(dagster_store)["quarantine"] == 1  # the broken VAT number
    assert {c["name"] for c in cli_erp.all_raw("customers")} == {"Fjord Trading AS", "Nordlys Consult ApS"}
    cli_store.dispose(), dagster_store.dispose()


def test_a_dry_run_records_and_writes_nothing_in_either_driver(world):
    cli_crm, cli_erp, cli_config, _ = world("cli")
    dg_crm, dg_erp, _, dg_path = world("dagster")
    before = remote_state(cli_crm, cli_erp)
    marks = [len(e.request_log) for e in (cli_crm, cli_erp, dg_crm, dg_erp)]

    cli_store = run_cli(cli_config, dry_run=True)
    dagster_store = run_dagster(dg_path, dry_run=True)

    for emulator, mark in zip((cli_crm, cli_erp, dg_crm, dg_erp), marks):
        assert writes(emulator, mark) == []
    assert remote_state(cli_crm, cli_erp) == remote_state(dg_crm, dg_erp) == before
    assert book_state(cli_store) == book_state(dagster_store) == {"outbox": 0, "quarantine": 0}
    assert hub_state(cli_store) == hub_state(dagster_store)
    cli_store.dispose(), dagster_store.dispose()
