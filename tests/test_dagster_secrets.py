"""The hub URL named by hub.url_env (it may hold a password) reaches the Dagster code location as an
EnvVar: what the UI shows of the resource is the variable's name, never the URL."""

from __future__ import annotations

import yaml
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value

from conftest import make_config
from pipelines.definitions import build_definitions


def test_the_hub_url_from_an_environment_variable_is_never_in_the_code_locations_snapshot(
        tmp_path, monkeypatch, secrets_env):
    url = f"sqlite:///{tmp_path / 'secret-hub-path.db'}"
    monkeypatch.setenv("LB_TEST_HUB_URL", url)
    data = make_config("http://crm.example", "http://erp.example", "sqlite://").model_dump(mode="json")
    data["hub"] = {"url_env": "LB_TEST_HUB_URL"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))

    definitions = build_definitions(path)
    shown = serialize_value(RepositorySnap.from_def(definitions.get_repository_def()))

    assert "secret-hub-path" not in shown
    assert "LB_TEST_HUB_URL" in shown
