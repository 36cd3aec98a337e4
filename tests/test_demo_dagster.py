"""`bin/demo --ui` records a sync_all run in the demo's Dagster instance, so the UI shows runs,
materialisations and check results instead of "never materialized"."""

from __future__ import annotations

import os

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from ledgerbridge.demo.run import DEFAULT_CRM, DEFAULT_ERP, demo_config, demo_secrets, demo_system, emulators
from ledgerbridge.serve import execute_job, prepare_dagster_home

from assets.lineage import plan_key, push_key


@pytest.mark.slow
def test_the_demo_instance_gets_a_successful_sync_all_run_with_its_checks(tmp_path, monkeypatch):
    for system in (demo_system(DEFAULT_CRM, "crm"), demo_system(DEFAULT_ERP, "erp")):
        for name, value in demo_secrets(system).items():
            monkeypatch.setenv(name, value)
    with emulators(tmp_path, 20) as (crm, erp, _fresh):
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(demo_config(tmp_path, crm.base_url, erp.base_url), sort_keys=False))
        home = prepare_dagster_home(tmp_path / "dagster_home")
        env = {**os.environ, "DAGSTER_HOME": str(home), "LEDGERBRIDGE_CONFIG": str(config)}

        assert execute_job(env, "sync_all")

    with DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(filters=RunsFilter(job_name="sync_all"))
        assert run.status == DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(push_key("debtors", "economic")) is not None
        checks = [r.event_log_entry.dagster_event.event_specific_data for r in
                  instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records]
        assert {(c.asset_key, c.check_name) for c in checks} >= {
            (plan_key("debtors", "economic"), "quality_gate"), (plan_key("debtors", "economic"), "held_back")}
