"""Reconcile and plan in chunks (issue 19): with chunks of a few records, a sync gives what one chunk
gives: pairs matched across chunks, both sides' changes of one record merged together (the owner
wins, the conflict recorded), every write planned once, nothing written twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from conftest import make_config
from ledgerbridge.store import T, hub, staging
from ledgerbridge.sync import plan as plan_module
from ledgerbridge.sync import reconcile as reconcile_module
from sync_helpers import engine_for, writes


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(reconcile_module, "CHUNK_SIZE", 2)
    monkeypatch.setattr(reconcile_module, "PAGE", 1)  # scratch pages of 4-10 rows, pairs pages of 10
    monkeypatch.setattr(plan_module, "CHUNK_SIZE", 2)


@pytest.fixture
def setup(store, webcrm, economic, secrets_env, small_chunks):
    return make_config(webcrm.base_url, economic.base_url, store.url), store, webcrm, economic


def _organisation(name: str, number: str | None = None) -> dict:
    return {"name": name, "country": "DK", "city": "Aarhus", "postcode": "8000", "crm_type": "Customer",
            **({"number": number} if number else {})}


def test_pairs_are_matched_and_merged_across_chunks(setup):
    config, store, webcrm, economic = setup
    numbers = economic.seed("debtors", [{"name": f"Firma {i:02d} ApS", "country": "DK"} for i in range(11)])
    webcrm.seed("debtors", [_organisation(f"Firma {i:02d} ApS", number) for i, number in enumerate(numbers)]
                + [_organisation("Only In The CRM ApS")])

    summary = engine_for(config, store).run()["debtors"]

    assert summary.matched == 11
    assert len(economic.all_raw("customers")) == 12  # the unmatched one created once, none twice
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(hub("debtors"))).scalar_one() == 12
        links = conn.execute(sa.select(T["id_map"].c.linked_by, sa.func.count()).where(T["id_map"].c.system == "economic")
                             .group_by(T["id_map"].c.linked_by)).tuples().all()
        scratch = conn.execute(sa.text("SELECT name FROM sqlite_temp_master")).scalars().all() \
            if store.dialect == "sqlite" else []
    assert dict(links) == {"number": 11, "created": 1}
    assert scratch == []  # the scratch tables are gone with the run


def test_both_sides_changes_of_one_record_are_merged_together_in_any_chunk(setup):
    config, store, webcrm, economic = setup
    numbers = economic.seed("debtors", [{"name": f"Firma {i:02d} ApS", "country": "DK", "city": "Aarhus"}
                                        for i in range(7)])
    org_ids = webcrm.seed("debtors", [_organisation(f"Firma {i:02d} ApS", n) for i, n in enumerate(numbers)])
    engine_for(config, store).run()
    engine_for(config, store).run()  # our own writes read back
    for org_id, number in zip(org_ids, numbers):
        webcrm.update_raw("Organisations", org_id, {"OrganisationCity": f"Odense {number}"})
        economic.update_raw("customers", number, {"city": f"Vejle {number}"})
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)

    summary = engine_for(config, store).run()["debtors"]

    assert summary.conflicts == 7  # every record's rows met in one merge: none decided one side at a time
    cities = {str(c["customerNumber"]): c["city"] for c in economic.all_raw("customers")}
    assert cities == {number: f"Odense {number}" for number in numbers}  # the CRM owns the city
    assert len(writes(economic, erp_mark)) == 7 and writes(webcrm, crm_mark) == []
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)
    engine_for(config, store).run()
    engine_for(config, store).run()
    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []


def test_a_full_plan_in_chunks_creates_each_record_once_and_writes_its_number_back(setup):
    config, store, webcrm, economic = setup
    webcrm.seed("debtors", [_organisation(f"Firma {i:02d} ApS") for i in range(5)])

    engine_for(config, store).run()

    created = {c["name"]: str(c["customerNumber"]) for c in economic.all_raw("customers")}
    assert sorted(created) == [f"Firma {i:02d} ApS" for i in range(5)]
    written_back = {o["OrganisationName"]: o["OrganisationExtraCustom1"] for o in webcrm.all_raw("Organisations")}
    assert written_back == created
    crm_mark, erp_mark = len(webcrm.request_log), len(economic.request_log)
    engine_for(config, store).run()
    engine_for(config, store).run()
    assert writes(webcrm, crm_mark) == [] and writes(economic, erp_mark) == []


def test_reconcile_reads_only_rows_that_differ_from_their_shadow(setup):
    config, store, webcrm, economic = setup
    numbers = economic.seed("debtors", [{"name": f"Firma {i:02d} ApS", "country": "DK"} for i in range(5)])
    org_ids = webcrm.seed("debtors", [_organisation(f"Firma {i:02d} ApS", n) for i, n in enumerate(numbers)])
    engine = engine_for(config, store)
    engine.run()
    engine.run()
    assert engine.reconcile("debtors").changed == 0
    # A hub made before staging kept a copy of the shadow's hash: nothing is read, the copies are set.
    with store.begin() as conn:
        for side in ("crm", "erp"):
            conn.execute(staging(side, "debtors").update().values(reconciled_hash=None))
    assert engine.reconcile("debtors").changed == 0
    with store.connect() as conn:
        unset = [conn.execute(sa.select(sa.func.count()).select_from(staging(side, "debtors"))
                              .where(staging(side, "debtors").c.reconciled_hash.is_(None))).scalar_one()
                 for side in ("crm", "erp")]
    assert unset == [0, 0]
    webcrm.update_raw("Organisations", org_ids[3], {"OrganisationCity": "Odense"})
    engine.pull("crm", "debtors")

    assert engine.reconcile("debtors").changed == 1
    assert engine.reconcile("debtors").changed == 0
