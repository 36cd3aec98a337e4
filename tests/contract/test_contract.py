"""The contract every registered system is held to, through its own emulator on loopback:
its declaration is consistent, its connector reads every readable entity, pages, creates,
updates and reads back what it wrote (the mapping's round trip through the real API), names the
field when a record is refused, and rides out 5xx, 429 with Retry-After and a slow answer.
A new system gets this suite by registering."""

from __future__ import annotations

import os
import uuid

import pytest

from ledgerbridge.config import SystemConfig
from ledgerbridge.connectors.base import RecordRejected
from ledgerbridge.model import ENTITIES
from ledgerbridge.systems import build_connector, systems
from ledgerbridge.systems.base import System

EMULATED = sorted(name for name, system in systems().items() if system.emulation is not None)
# Values every system can hold for a debtor; a system requiring a field not here fails by name.
SAMPLE = {"name": "Kontrakt Test ApS", "city": "Aarhus", "country": "DK", "currency": "DKK",
          "payment_terms": "1", "customer_group": "1", "crm_type": "Customer", "postcode": "8000"}


class Running:
    def __init__(self, system: System, emulator, connector_for):
        self.system, self.emulator, self.connector_for = system, emulator, connector_for
        self.connector = connector_for()


@pytest.fixture(params=EMULATED)
def running(request, monkeypatch, tmp_path):
    system = systems()[request.param]
    emulation = system.emulation
    for env, value in emulation.demo_secrets.values():
        monkeypatch.setenv(env, value)
    secrets = {name: value for name, (_, value) in emulation.demo_secrets.items()}
    emulator = emulation.start(secrets, tmp_path / f"{system.name}.json", 0)
    url = emulator.start()

    def connector_for(**overrides):
        return build_connector(SystemConfig(
            system=system.name, base_url=url,
            secrets={name: env for name, (env, _) in emulation.demo_secrets.items()},
            options=dict(emulation.demo_options), **overrides,
        ))

    state = Running(system, emulator, connector_for)
    yield state
    state.connector.close()
    emulator.stop()


def writable_debtors(running: Running) -> None:
    if not running.system.supports("debtors", "write"):
        pytest.skip(f"{running.system.name} does not take debtors")


def sample_debtor(running: Running) -> dict:
    required = running.connector.limits("debtors").required
    missing = [f for f in required if f not in SAMPLE and f != "number"]
    assert not missing, f"{running.system.name}: requires {missing} for a debtor, which the contract sample lacks"
    mapped = running.system.mapping({}).mapped_fields("debtors")
    values = {k: v for k, v in SAMPLE.items() if k in mapped}
    # The number the other side (or a person) gave; systems that assign numbers accept a given one too.
    if "number" in mapped:
        values["number"] = str(10000 + uuid.uuid4().int % 10000)  # inside the usual customer number series
    return values


def test_the_declaration_is_consistent(running):
    system = running.system
    assert system.roles and system.roles <= {"crm", "erp"}
    assert set(system.entities) <= set(ENTITIES), "entities must be model entities"
    if system.webhooks is not None:
        assert set(system.webhooks.resources) <= set(system.entities)
    assert set(system.secrets) <= set(system.emulation.demo_secrets)
    described = repr(system.describe())
    assert not any(value in described for _, value in system.emulation.demo_secrets.values()), "no secrets listed"
    for entity in system.entities:
        assert set(system.mapping({}).mapped_fields(entity)) <= set(ENTITIES[entity].field_by_name)


def test_every_readable_entity_can_be_read(running):
    for entity, support in running.system.entities.items():
        if "read" not in support.directions:
            continue
        for chunk in running.connector.iter_changed(entity, None, chunk_size=50):
            assert all(isinstance(r.remote_id, str) and r.remote_id for r in chunk.records)


def test_seeded_records_page_and_read_back(running):
    seeded = running.system.emulation.seed(
        running.emulator, "debtors", [{**SAMPLE, "name": f"Paging {i} ApS", "number": str(9000 + i)} for i in range(25)])
    seen = {}
    chunks = list(running.connector.iter_changed("debtors", None, chunk_size=10))
    for chunk in chunks:
        seen.update({r.remote_id: r for r in chunk.records})
    assert set(seeded) <= set(seen), "every seeded record is read exactly once or more, across pages"
    assert len(chunks) >= 3
    some = running.connector.get("debtors", seeded[7])
    assert some is not None and some.values["name"] == "Paging 7 ApS"


def test_create_update_and_read_back(running):
    writable_debtors(running)
    values = sample_debtor(running)
    created = running.connector.create("debtors", values)
    read = running.connector.get("debtors", created.remote_id)
    for field, value in values.items():
        if field != "number":
            assert read.values[field] == value, f"{field}: wrote {value!r}, read back {read.values[field]!r}"
    changed = "city" if "city" in values else "name"
    running.connector.update("debtors", created.remote_id, {changed: "Odense"})
    assert running.connector.get("debtors", created.remote_id).values[changed] == "Odense"


def test_a_refused_record_names_what_is_wrong(running):
    writable_debtors(running)
    limit = running.connector.limits("debtors").max_lengths.get("name")
    if not limit:
        pytest.skip(f"{running.system.name} sets no length on a debtor's name")
    values = {**sample_debtor(running), "name": "x" * (limit + 20)}
    with pytest.raises(RecordRejected) as refused:  # refused for good: no retry, no "outcome unknown"
        running.connector.create("debtors", values)
    assert refused.value.status is None or 400 <= refused.value.status < 500
    assert "name" in str(refused.value).lower() or "name" in refused.value.field_errors


def http_only(running) -> str:
    """A readable entity, read once (so a login is done: faults here hit reads, not the login)."""
    if not hasattr(running.emulator, "inject_fault"):
        pytest.skip(f"{running.system.name}'s emulator serves no HTTP faults")
    entity = next(e for e, s in running.system.entities.items() if "read" in s.directions)
    list(running.connector.iter_changed(entity, None, chunk_size=10))
    return entity


@pytest.mark.parametrize("fault", [dict(status=503), dict(status=429, retry_after=0.2), dict(drop=True)],
                         ids=["5xx", "429", "dropped"])
def test_reads_ride_out_a_passing_fault(running, fault):
    entity = http_only(running)
    running.emulator.inject_fault(**fault)
    list(running.connector.iter_changed(entity, None, chunk_size=10))  # retried, then answered


def test_reads_ride_out_a_slow_answer(running):
    entity = http_only(running)
    patient = running.connector_for(timeout_seconds=0.5)
    try:
        list(patient.iter_changed(entity, None, chunk_size=10))
        running.emulator.inject_fault(delay=1.5)
        list(patient.iter_changed(entity, None, chunk_size=10))  # timed out once, retried
    finally:
        patient.close()


def test_the_minimal_system_is_in_the_suite():
    assert "minicrm" in EMULATED and os.environ.get("MINICRM_API_KEY") is None  # set per test only
