"""One Dagster instance configuration for the demo and serve: runs queued with at most one run per
entity at a time, telemetry off; an empty dagster.yaml left by an older demo is replaced, one a
person wrote is kept."""

from __future__ import annotations

import yaml
from dagster import DagsterInstance

from ledgerbridge.serve import prepare_dagster_home


def test_the_instance_limits_runs_per_entity_and_sends_no_telemetry(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").touch()  # what `demo --ui` used to leave

    prepare_dagster_home(home)

    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": False}
    [limit] = settings["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert limit == {"key": "ledgerbridge/entity", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    with DagsterInstance.from_config(str(home)) as instance:  # Dagster accepts it as it is
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.get_run_queue_config().tag_concurrency_limits == [limit]


def test_a_dagster_yaml_someone_wrote_is_kept(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
