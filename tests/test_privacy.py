"""Deletes, erasure and retention (issue 16), over the emulators and the real hub databases."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import pytest
import yaml

from conftest import make_config
from ledgerbridge.cli import main
from ledgerbridge.config import RetentionConfig
from ledgerbridge.store import METADATA, T, utcnow
from ledgerbridge.sync.retention import prune
from sync_helpers import engine_for, writes

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}
PERSON = {"name": "Kari Nordmann-Ødegård", "email": "kari.odegard@fjord.example", "phone": "+47 22 33 44 55"}


def org(name: str, **extra) -> dict:
    return {"OrganisationName": name, "OrganisationType": "Customer", "OrganisationCountry": "Norway",
            "OrganisationCity": "Oslo", "OrganisationPostCode": "0150", **extra}


@pytest.fixture
def setup(tmp_path, store, webcrm, economic, secrets_env):
    config = make_config(webcrm.base_url, economic.base_url, store.url,
                         debtors={"erp_defaults": DEFAULTS}, contacts={"direction": "both"})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return config, store, webcrm, economic, str(path)


def hits(store, *needles: str) -> list[str]:
    """Every text cell of every hub table that contains one of the needles: table.column."""
    found = []
    with store.connect() as conn:
        for table in METADATA.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, (sa.Text, sa.String))]
            for column in text_columns:
                for needle in needles:
                    query = sa.select(sa.func.count()).select_from(table).where(column.contains(needle))
                    if conn.execute(query).scalar_one():
                        found.append(f"{table.name}.{column.name} holds {needle!r}")
    return found


def seed_person(webcrm):
    org_id = webcrm.insert_raw("Organisations", org("Fjord Trading AS"))["OrganisationId"]
    first, last = PERSON["name"].split(" ", 1)
    person = webcrm.insert_raw("Persons", {"PersonOrganisationId": org_id, "PersonFirstName": first,
                                           "PersonLastName": last, "PersonEmail": PERSON["email"],
                                           "PersonDirectPhone": PERSON["phone"]})
    return org_id, person["PersonId"]


def test_an_erased_person_leaves_no_trace_in_the_hub(setup, capsys):
    config, store, webcrm, economic, path = setup
    org_id, person_id = seed_person(webcrm)
    engine_for(config, store).run()
    [contact] = economic.all_raw("contacts")
    economic.update_raw("contacts", contact["customerContactNumber"], {"phone": "+47 22 33 44 66"})  # edits, syncs
    engine_for(config, store).run()
    webcrm.update_raw("Persons", person_id, {"PersonTitle": "Innkjøpssjef"})
    engine_for(config, store).run()
    assert hits(store, PERSON["email"]), "the person is in the hub before the erasure"

    assert main(["erase", "--config", path, "--entity", "contacts", "--email", PERSON["email"].upper(),
                 "--reason", "Art. 17 request 2026-118", "--by", "privacy officer"]) == 0

    assert hits(store, PERSON["email"], "Nordmann", "22 33 44", "223344", "Innkjøpssjef") == []
    assert economic.all_raw("contacts") == []  # e-conomic deletes contacts
    person = webcrm.get_raw("Persons", person_id)  # webCRM's API cannot delete a person: anonymised
    assert PERSON["email"] not in str(person) and "Nordmann" not in str(person)
    with store.connect() as conn:
        [entry] = conn.execute(sa.select(T["erasures"])).mappings().all()
    assert entry["reason"] == "Art. 17 request 2026-118" and entry["requested_by"] == "privacy officer"
    assert "economic: deleted" in entry["systems"] and "webcrm: anonymised" in entry["systems"]

    mark = len(economic.request_log), len(webcrm.request_log)
    engine_for(config, store).run(full=True)  # the anonymised person is not imported again
    assert economic.all_raw("contacts") == [] and writes(economic, mark[0]) == [] and writes(webcrm, mark[1]) == []
    assert hits(store, PERSON["email"], "Nordmann") == []


def test_a_person_deleted_in_the_crm_is_erased_everywhere(setup):
    config, store, webcrm, economic, _ = setup
    org_id, person_id = seed_person(webcrm)
    engine_for(config, store).run()
    assert len(economic.all_raw("contacts")) == 1
    with webcrm.tables.lock:
        del webcrm.tables.rows["Persons"][str(person_id)]  # a user deletes the person in webCRM

    summary = engine_for(config, store).run(full=True)["contacts"]  # the nightly full reconcile finds it

    assert summary.deleted_upstream == 1
    assert economic.all_raw("contacts") == []
    assert hits(store, PERSON["email"], "Nordmann") == []
    with store.connect() as conn:
        [entry] = conn.execute(sa.select(T["erasures"])).mappings().all()
    assert "deleted in webcrm" in entry["reason"] and entry["requested_by"] == "ledgerbridge sync"


def test_a_deleted_customer_is_barred_in_the_erp_when_it_has_postings(setup):
    config, store, webcrm, economic, _ = setup
    config = config.model_copy(update={"entities": {**config.entities, "debtors": config.entities["debtors"].model_copy(
        update={"delete_in_erp": "delete"})}})
    kept = webcrm.insert_raw("Organisations", org("Bokført Handel AS"))["OrganisationId"]
    free = webcrm.insert_raw("Organisations", org("Uten Poster AS", OrganisationCity="Bergen"))["OrganisationId"]
    webcrm.insert_raw("Organisations", org("Blir Igjen AS", OrganisationCity="Tromsø"))
    engine_for(config, store).run(["debtors"])
    numbers = {c["name"]: c["customerNumber"] for c in economic.all_raw("customers")}
    economic.book_invoice(numbers["Bokført Handel AS"], [{"description": "Consulting", "quantity": 1, "unitNetPrice": 100}])
    with webcrm.tables.lock:
        for org_id in (kept, free):
            del webcrm.tables.rows["Organisations"][str(org_id)]

    summary = engine_for(config, store).run(["debtors"], full=True)["debtors"]

    customers = {c["name"]: c for c in economic.all_raw("customers")}
    assert "Uten Poster AS" not in customers  # deleted: it had no postings
    assert customers["Bokført Handel AS"]["barred"] is True  # e-conomic keeps it: barred
    assert customers["Blir Igjen AS"].get("barred") in (None, False)
    assert sorted(d["done"] for d in summary.deletes_followed) == ["barred", "deleted"]


def test_a_mass_delete_upstream_is_stopped(setup):
    config, store, webcrm, economic, _ = setup
    for i in range(25):
        economic.insert_raw("customers", {
            "name": f"Kunde {chr(65 + i)}{chr(75 + i % 10)} AS", "country": "Norway", "zip": f"{1000 + 37 * i}",
            "city": f"By {i}", "currency": "NOK", "customerGroup": {"customerGroupNumber": 1},
            "paymentTerms": {"paymentTermsNumber": 1}, "vatZone": {"vatZoneNumber": 1}})
    engine_for(config, store).run(["debtors"])
    assert len(webcrm.all_raw("Organisations")) == 25
    with economic.tables.lock:
        for number in list(economic.tables.rows["customers"])[:22]:
            del economic.tables.rows["customers"][number]

    summary = engine_for(config, store).run(["debtors"], full=True)["debtors"]

    assert any("mass delete" in reason for reason in summary.blocked), summary.blocked
    with store.connect() as conn:
        gone = conn.execute(sa.select(sa.func.count()).select_from(T["id_map"]).where(
            T["id_map"].c.system == "webcrm", T["id_map"].c.gone_at.is_not(None))).scalar_one()
    assert gone == 0  # nothing was followed in the CRM


def test_retention_prunes_old_copies_and_keeps_what_happened(sqlite_store):
    store = sqlite_store
    old, recent = utcnow() - timedelta(days=400), utcnow()
    with store.begin() as conn:
        for at in (old, recent):
            conn.execute(T["audit_log"].insert(), {"entity": "contacts", "hub_id": "h", "system": "economic",
                                                    "operation": "update", "before": '{"email": "a@b.dk"}',
                                                    "after": "{}", "at": at})
            conn.execute(T["outbox"].insert(), {"entity": "contacts", "hub_id": "h", "system": "economic",
                                                 "operation": "update", "payload": '{"values": {"email": "a@b.dk"}}',
                                                 "payload_hash": "x", "status": "confirmed", "attempts": 1,
                                                 "created_at": at, "updated_at": at})
            conn.execute(T["inbox"].insert(), {"system": "webcrm", "entity": "contacts", "event": "updated",
                                                "remote_id": "1", "payload": '{"PersonEmail": "a@b.dk"}',
                                                "received_at": at})
        for n, (status, at) in enumerate((("resolved", old), ("resolved", recent), ("open", old))):
            conn.execute(T["notifications"].insert(), {
                "kind": "check_failure", "about": f"check {n}", "event_key": f"event {n}", "severity": "error",
                "text": "a gate stopped a push", "status": status, "opened_at": at,
                "resolved_at": at if status == "resolved" else None, "delivery": "{}"})

    result = prune(store, RetentionConfig())

    assert result.pruned["audit_log"] == 1 and result.pruned["outbox payloads"] == 1
    assert result.pruned["inbox bodies"] == 1
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(T["audit_log"])).scalar_one() == 1
        assert sorted(conn.execute(sa.select(T["outbox"].c.payload)).scalars()) == sorted(["{}", '{"values": {"email": "a@b.dk"}}'])
        assert conn.execute(sa.select(sa.func.count()).select_from(T["outbox"])).scalar_one() == 2  # what happened stays
        # a resolved notification goes after its period; an open one stays however old
        assert sorted(conn.execute(sa.select(T["notifications"].c.about)).scalars()) == ["check 1", "check 2"]
    assert result.pruned["resolved notifications"] == 1


def test_the_dagster_storage_holds_no_personal_data(tmp_path, sqlite_store, webcrm, economic, secrets_env):
    """Hub ids and counts in metadata, never names, e-mails or phones, also for held-back records."""
    from dagster import DagsterInstance, materialize

    from pipelines.definitions import build_definitions

    config = make_config(webcrm.base_url, economic.base_url, sqlite_store.url,
                         debtors={"erp_defaults": DEFAULTS}, contacts={"direction": "both"})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    seed_person(webcrm)
    webcrm.insert_raw("Organisations", org("Solveig Haugland Enkeltpersonforetak", OrganisationVatNumber="NO123",
                                           OrganisationTelephone="call Solveig"))  # held back, with a reason
    defs = build_definitions(path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        for _ in range(2):
            assert materialize(list(defs.assets), resources=defs.resources, instance=instance).success
    assert len(economic.all_raw("contacts")) == 1  # the road ran

    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    for needle in (PERSON["email"], "Nordmann", "Solveig", "Haugland", "call Solveig"):
        assert needle.encode() not in stored, f"the Dagster storage holds {needle!r}"
