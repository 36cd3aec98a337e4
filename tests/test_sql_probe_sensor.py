"""Near-real-time without webhooks: the probe sensor over a SQL system (one aggregate query per
tick), through pyodbc and the ODBC driver, launches one run per change in the product's table."""

from __future__ import annotations

import pytest
import yaml
from dagster import DagsterInstance, build_sensor_context

from sql_systems import product_database
from sync_helpers import engine_for

from ledgerbridge.config import parse_config
from pipelines.jobs import entity_jobs
from pipelines.sensors import probe_sensor
from resources import HubStoreResource, SystemsResource


@pytest.mark.parametrize("crm, erp, strategy", [("cobra", "europa3000", "snapshot"), ("channelcrm", "sage50", "modified")])
def test_a_change_in_the_product_table_launches_one_run(pg_server_url, tmp_path, crm, erp, strategy):
    crm_db, erp_db = product_database(pg_server_url, crm), product_database(pg_server_url, erp)
    assert crm_db.profile.entity("debtors").change.strategy == strategy
    table = crm_db.tables["debtors"].main
    name_column = next(c.column for c in crm_db.profile.entity("debtors").columns if c.field == "name")
    [key] = crm_db.insert(table.name, [{name_column: "Sonnenhof Bio AG"}])
    hub = HubStoreResource(url=f"sqlite:///{tmp_path / 'hub.db'}")
    config = parse_config({
        "crm": {"system": crm, "base_url": crm_db.url, "options": {"snapshot_store": f"sqlite:///{tmp_path / 's.db'}"}},
        "erp": {"system": erp, "base_url": erp_db.url},
        "hub": {"url": hub.url},
        "entities": {"debtors": {"direction": "crm_to_erp", "create_in_erp": "never"}},
    }, "test")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    sensor = probe_sensor(crm, "crm", "debtors", entity_jobs(["debtors"])[0])
    resources = {"hub": hub, "systems": SystemsResource(config_path=str(path))}

    with DagsterInstance.ephemeral() as instance:
        def evaluate(cursor=None):
            return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, resources=resources))

        assert f"No {crm} debtors pull has run yet" in evaluate().skip_message
        engine = engine_for(config, hub.store)
        engine.pull("crm", "debtors")
        assert not evaluate().run_requests
        crm_db.execute(table.update().where(table.c[crm_db.profile.entity("debtors").key.column] == key)
                       .values({name_column: "Sonnenhof Bio AG (Hofladen)"}))
        changed = evaluate()
        [request] = changed.run_requests
        assert request.run_key.startswith(f"probe-{crm}-debtors-") and request.tags["ledgerbridge/trigger"] == "probe"
        assert not evaluate(changed.cursor).run_requests  # the same change never launches twice
        for connector in engine.connectors.values():
            connector.close()
    hub.store.dispose()
