"""Every configured entity direction has a trigger by default, derived from what the systems can do."""

from __future__ import annotations

from ledgerbridge.config import parse_config
from ledgerbridge.systems.triggers import DEFAULT_SCHEDULE, entity_schedules, triggers
from pipelines.jobs import schedules

from conftest import make_config

EVERYTHING = {
    "debtors": {"direction": "both"},
    "contacts": {"direction": "both"},
    "items": {"direction": "erp_to_crm"},
    "payments": {"direction": "erp_to_crm"},
}


def by_key(config):
    return {(t.entity, t.direction): t for t in triggers(config)}


def test_economic_contacts_and_payments_get_a_schedule_without_any_configured():
    config = make_config("http://127.0.0.1:1", "http://127.0.0.1:2", "sqlite://", **EVERYTHING)
    found = by_key(config)
    assert set(found) == {("debtors", "crm_to_erp"), ("debtors", "erp_to_crm"), ("contacts", "crm_to_erp"),
                          ("contacts", "erp_to_crm"), ("items", "erp_to_crm"), ("payments", "erp_to_crm")}
    assert found["contacts", "erp_to_crm"].kind == "schedule"  # e-conomic contacts: no webhook, no stamp
    assert found["payments", "erp_to_crm"].kind == "schedule"
    assert found["debtors", "erp_to_crm"].kind == "probe"
    assert entity_schedules(config) == {"contacts": DEFAULT_SCHEDULE, "payments": DEFAULT_SCHEDULE}
    names = {s.name for s in schedules(config, list(EVERYTHING))}
    assert {"sync_contacts_schedule", "sync_payments_schedule"} <= names


def test_configured_webhooks_replace_probes_and_a_configured_schedule_is_kept():
    data = make_config("http://127.0.0.1:1", "http://127.0.0.1:2", "sqlite://", **EVERYTHING).model_dump(mode="json")
    data["crm"]["secrets"]["webhook_token"] = "WEBCRM_WEBHOOK_TOKEN"
    data["entities"]["payments"]["schedule"] = "0 */4 * * *"
    config = parse_config(data)
    found = by_key(config)
    assert found["debtors", "crm_to_erp"].kind == "webhook"
    assert found["contacts", "crm_to_erp"].kind == "webhook"
    assert found["debtors", "erp_to_crm"].kind == "probe"  # e-conomic's hooks are not configured
    assert found["payments", "erp_to_crm"].schedule == "0 */4 * * *"
