"""Nothing lost, nothing twice: the deterministic cases of the convergence promise.

Each test drives the real connectors against the emulators (through the fault-injecting proxy
where a reply must be lost) and checks the remote state, not just the hub.
"""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from conftest import make_config
from ledgerbridge.config import RetryConfig
from ledgerbridge.faults.proxy import FaultPlan, FaultProxy, ScriptedFault
from ledgerbridge.store import T, hub
from sync_helpers import engine_for, writes

DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}
NO_WAIT = RetryConfig(first_delay_seconds=0, lookup_grace_seconds=0)


def org(name: str, **extra) -> dict:
    """A webCRM organisation in webCRM's own shape."""
    return {"OrganisationName": name, "OrganisationType": "Customer", "OrganisationCountry": "Denmark",
            "OrganisationCity": "Aarhus", "OrganisationPostCode": "8000", **extra}


def configured(webcrm_url, economic_url, store, **entities):
    config = make_config(webcrm_url, economic_url, store.url, **(entities or {"debtors": {"erp_defaults": DEFAULTS}}))
    return config.model_copy(update={"retries": NO_WAIT})


def outbox_rows(store, **where):
    outbox = T["outbox"]
    query = sa.select(outbox).where(*(outbox.c[k] == v for k, v in where.items()))
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def test_a_missed_push_is_not_mistaken_for_an_edit(store, webcrm, economic, secrets_env):
    """The ERP sets the phone; the push to the CRM fails; a CRM user then changes only the city.
    The next sync must carry the ERP's phone to the CRM and the CRM's city to the ERP."""
    config = configured(webcrm.base_url, economic.base_url, store)
    [org_id] = [str(webcrm.insert_raw("Organisations", org("Nordlys Consult ApS"))["OrganisationId"])]
    engine_for(config, store).run(["debtors"])
    [customer] = economic.all_raw("customers")
    number = customer["customerNumber"]

    economic.update_raw("customers", number, {"telephoneAndFaxNumber": "+45 86 12 34 56"})
    webcrm.inject_fault(status=500, path_prefix=f"/Organisations/{org_id}", remaining=50)
    summary = engine_for(config, store).run(["debtors"])["debtors"]
    webcrm.faults.clear()
    assert summary.retrying, "the failed push is kept for a retry"
    assert webcrm.get_raw("Organisations", org_id)["OrganisationTelephone"] in ("", None)

    webcrm.update_raw("Organisations", org_id, {"OrganisationCity": "Aalborg"})
    engine_for(config, store).run(["debtors"])

    organisation = webcrm.get_raw("Organisations", org_id)
    [customer] = economic.all_raw("customers")
    assert customer["city"] == "Aalborg"  # the CRM user's edit reached the ERP
    assert "86123456" in customer["telephoneAndFaxNumber"].replace(" ", "")  # the ERP's phone was not overwritten
    assert "86123456" in organisation["OrganisationTelephone"].replace(" ", "")  # and reached the CRM
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(T["conflicts"])).scalar_one() == 0
    assert not [r for r in outbox_rows(store) if r["status"] in ("planned", "sent", "retry")]


@pytest.mark.parametrize("kind", ["lost_reply", "timeout_after", "500_after"])
def test_a_create_whose_answer_was_lost_happens_once(kind, sqlite_store, webcrm, economic, secrets_env):
    store = sqlite_store
    plan = FaultPlan(script=[ScriptedFault("POST", "/customers", kind)], timeout_seconds=2.0)
    with FaultProxy(economic.base_url, plan) as proxy:
        config = configured(webcrm.base_url, proxy.base_url, store)
        config = config.model_copy(update={"erp": config.erp.model_copy(update={"timeout_seconds": 1.0})})
        org_id = str(webcrm.insert_raw("Organisations", org("Bakery Hansen A/S"))["OrganisationId"])

        first = engine_for(config, store).run(["debtors"])["debtors"]
        assert plan.counts[kind] == 1
        assert len(economic.all_raw("customers")) == 1  # the ERP carried the create out...
        assert first.uncertain and not first.failed  # ...and we know we do not know
        [row] = outbox_rows(store, operation="create", system="economic")
        assert row["status"] == "sent" and "looked up" in row["last_error"]
        assert "sent once" in row["last_error"]

        engine_for(config, store).run(["debtors"])
        engine_for(config, store).run(["debtors"])

    [customer] = economic.all_raw("customers")  # still one: recognised as our own, not created again
    assert webcrm.get_raw("Organisations", org_id)["OrganisationExtraCustom1"] == str(customer["customerNumber"])
    assert len(webcrm.all_raw("Organisations")) == 1
    [row] = outbox_rows(store, operation="create", system="economic")
    assert row["status"] == "confirmed" and row["remote_id"] == str(customer["customerNumber"])


def test_a_create_that_never_arrived_is_sent_again_after_a_complete_pull(sqlite_store, webcrm, economic, secrets_env):
    store = sqlite_store
    plan = FaultPlan(script=[ScriptedFault("POST", "/customers", "drop")])  # lost before the ERP saw it
    with FaultProxy(economic.base_url, plan) as proxy:
        config = configured(webcrm.base_url, proxy.base_url, store)
        webcrm.insert_raw("Organisations", org("Toft Consult ApS"))
        first = engine_for(config, store).run(["debtors"])["debtors"]
        assert first.uncertain and economic.all_raw("customers") == []
        engine_for(config, store).run(["debtors"])
    assert [c["name"] for c in economic.all_raw("customers")] == ["Toft Consult ApS"]
    statuses = sorted(r["status"] for r in outbox_rows(store, operation="create", system="economic"))
    assert statuses == ["confirmed", "obsolete"]


def test_a_child_waits_for_its_parent_and_is_linked_when_it_arrives(store, webcrm, economic, secrets_env):
    config = configured(webcrm.base_url, economic.base_url, store,
                        debtors={"erp_defaults": DEFAULTS}, contacts={"direction": "both"})
    customer = economic.insert_raw("customers", {
        "name": "Fjord Trading AS", "country": "Norway", "currency": "NOK", "customerGroup": {"customerGroupNumber": 1},
        "paymentTerms": {"paymentTermsNumber": 1}, "vatZone": {"vatZoneNumber": 1}})
    economic.insert_raw("contacts", {"name": "Kari Nordmann", "email": "kari@fjord.example",
                                     "customer": {"customerNumber": customer["customerNumber"]}})

    early = engine_for(config, store).run(["contacts"])["contacts"]  # the customer is not in the hub yet
    assert early.waiting == 1 and webcrm.all_raw("Persons") == []
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(hub("contacts"))).scalar_one() == 0

    engine_for(config, store).run(["debtors", "contacts"])  # the parent arrives: the child follows in the same run

    [organisation] = webcrm.all_raw("Organisations")
    [person] = webcrm.all_raw("Persons")
    assert person["PersonOrganisationId"] == organisation["OrganisationId"]
    with store.connect() as conn:
        assert list(conn.execute(sa.select(hub("contacts").c.debtor_id)).scalars()) != [None]


def test_a_record_deleted_in_the_target_is_reported_once_and_left_alone(store, webcrm, economic, secrets_env):
    """Found by a write between two complete pulls (an incremental pull cannot see a delete)."""
    config = configured(webcrm.base_url, economic.base_url, store)
    org_id = str(webcrm.insert_raw("Organisations", org("Kessler Bygg AG"))["OrganisationId"])
    engine_for(config, store).run(["debtors"])
    engine_for(config, store).run(["debtors"])  # from now on the ERP is pulled from a cursor
    [customer] = economic.all_raw("customers")
    with economic.tables.lock:
        del economic.tables.rows["customers"][str(customer["customerNumber"])]  # deleted in e-conomic

    webcrm.update_raw("Organisations", org_id, {"OrganisationCity": "Odense"})
    first = engine_for(config, store).run(["debtors"])["debtors"]
    assert len(first.gone) == 1 and "deleted in economic" in first.gone[0]["error"]

    webcrm.update_raw("Organisations", org_id, {"OrganisationCity": "Vejle"})
    mark = len(economic.request_log)
    second = engine_for(config, store).run(["debtors"])["debtors"]
    assert second.gone == [] and second.failed == [] and second.retrying == []
    assert writes(economic, mark) == []
    assert economic.all_raw("customers") == []  # not re-created either
    assert any("deleted in economic" in reason for reason in second.not_created)


def test_a_login_that_meets_a_server_error_is_retried(store, webcrm, economic, secrets_env):
    config = configured(webcrm.base_url, economic.base_url, store)
    webcrm.insert_raw("Organisations", org("Alpen Design AG"))
    webcrm.inject_fault(status=500, path_prefix="/Auth/ApiLogin")
    webcrm.inject_fault(drop=True, path_prefix="/Auth/ApiLogin")
    summary = engine_for(config, store).run(["debtors"])["debtors"]
    assert summary.created == 1 and not summary.failed


def test_a_write_does_not_overwrite_a_change_made_meanwhile(store, webcrm, economic, secrets_env):
    """The ERP changes the phone; between our pull and our push a CRM user changes the same phone.
    The push must not overwrite the CRM's newer value; the next sync carries it to the ERP."""
    config = configured(webcrm.base_url, economic.base_url, store)
    org_id = str(webcrm.insert_raw("Organisations", org("Olsen Consult AS"))["OrganisationId"])
    engine = engine_for(config, store)
    engine.run(["debtors"])
    [customer] = economic.all_raw("customers")
    economic.update_raw("customers", customer["customerNumber"], {"telephoneAndFaxNumber": "+45 86 11 11 11"})

    for side in ("crm", "erp"):
        engine.pull(side, "debtors")
    engine.reconcile("debtors")
    webcrm.update_raw("Organisations", org_id, {"OrganisationTelephone": "+45 86 22 22 22"})  # meanwhile
    engine.plan("crm", "debtors")
    pushed = engine.push("crm", "debtors")
    assert pushed.stale == 1 and pushed.updated == 0
    assert webcrm.get_raw("Organisations", org_id)["OrganisationTelephone"] == "+45 86 22 22 22"

    engine.run(["debtors"])
    [customer] = economic.all_raw("customers")
    assert "86222222" in customer["telephoneAndFaxNumber"].replace(" ", "")  # the later edit
    assert "86222222" in webcrm.get_raw("Organisations", org_id)["OrganisationTelephone"].replace(" ", "")
    # The ERP's edit had reached the hub before the CRM user's later one: the later edit wins, both
    # systems end with it, and nothing needed a decision.


def test_writes_planned_by_a_run_that_stopped_before_its_push_are_carried_out(store, webcrm, economic, secrets_env):
    """A run killed between recording its plan and pushing it: the next run plans those records again."""
    config = configured(webcrm.base_url, economic.base_url, store)
    webcrm.insert_raw("Organisations", org("Vestkyst Fisk ApS"))
    engine = engine_for(config, store)
    for side in ("crm", "erp"):
        engine.pull(side, "debtors")
    engine.reconcile("debtors")
    engine.plan("erp", "debtors")  # the plan is recorded (and the record leaves the queue)... then the kill

    engine_for(config, store).run(["debtors"])

    assert [c["name"] for c in economic.all_raw("customers")] == ["Vestkyst Fisk ApS"]
