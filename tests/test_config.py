import pytest

from ledgerbridge.config import ConfigError, load_config, parse_config, trigger_allows

BASE = {
    "crm": {"system": "webcrm", "base_url": "http://127.0.0.1:1", "secrets": {"api_key": "WEBCRM_API_KEY"}},
    "erp": {"system": "economic", "base_url": "http://127.0.0.1:2",
            "secrets": {"app_secret_token": "E_SECRET", "agreement_grant_token": "E_GRANT"}},
}


def test_a_valid_configuration_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("crm: {system: webcrm, base_url: 'http://x', secrets: {api_key: WEBCRM_API_KEY}}\n"
                    "erp: {system: economic, base_url: 'http://y'}\n"
                    "entities: {debtors: {owners: {email: erp}, create_in_erp: \"crm_type == 'Customer'\"}}\n")
    config = load_config(path)
    assert config.owner_of("debtors", "email").value == "erp"
    assert config.owner_of("debtors", "name").value == "crm"  # the model's default


def test_errors_name_the_key_and_the_problem():
    with pytest.raises(ConfigError, match=r"entities\.debtors\.number_policy"):
        parse_config({**BASE, "entities": {"debtors": {"number_policy": "sometimes"}}})
    with pytest.raises(ConfigError, match=r"unknown entity 'custmers'"):
        parse_config({**BASE, "entities": {"custmers": {}}})
    with pytest.raises(ConfigError, match=r"number_range"):
        parse_config({**BASE, "entities": {"debtors": {"number_policy": "hub"}}})


def test_a_secret_written_into_the_file_is_refused_without_echoing_it():
    config = {**BASE, "crm": {**BASE["crm"], "secrets": {"api_key": "sk-live-9f8e7d"}}}
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert "environment variable" in str(info.value)
    assert "sk-live-9f8e7d" not in str(info.value)


def test_secrets_come_from_the_environment_and_a_missing_one_is_named(monkeypatch):
    config = parse_config(BASE)
    monkeypatch.delenv("WEBCRM_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="WEBCRM_API_KEY"):
        config.crm.secret("api_key")
    monkeypatch.setenv("WEBCRM_API_KEY", "value-from-env")
    assert config.crm.secret("api_key") == "value-from-env"


def test_creation_triggers():
    assert trigger_allows("always", {}) is True
    assert trigger_allows("crm_type == 'Customer'", {"crm_type": "customer"}) is True
    assert trigger_allows("crm_type == 'Customer'", {"crm_type": "Prospect"}) is False
    assert trigger_allows("first_invoice", {}) is None
    with pytest.raises(ConfigError, match="create_in_erp"):
        parse_config({**BASE, "entities": {"debtors": {"create_in_erp": "type = customer"}}})
