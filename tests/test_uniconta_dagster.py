"""The Dagster layer over webCRM <-> Uniconta: the road materialises for sellers, debtors, orders and lines."""

from __future__ import annotations

import yaml
from dagster import DagsterInstance, materialize

from assets.lineage import pull_key, push_key

from pipelines.definitions import build_definitions
from sync_helpers import writes
from test_uniconta_sync import ENTITIES, PASSWORD, PASSWORD_ENV, config_for, organisation, uniconta  # noqa: F401


def test_materialising_the_uniconta_road(tmp_path, webcrm, uniconta, secrets_env, monkeypatch, sqlite_store):  # noqa: F811
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    config = config_for(webcrm, uniconta, sqlite_store)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    defs = build_definitions(path)
    assert push_key("order_lines", "uniconta") in defs.resolve_asset_graph().get_all_asset_keys()

    user = webcrm.insert_raw("Users", {"UserName": "Anna Berg", "UserEmail": "anna@firma.example", "UserInitials": "AB"})
    org = webcrm.insert_raw("Organisations", organisation(OrganisationOwner=user["UserId"], OrganisationType="Customer"))
    opportunity = webcrm.insert_raw("Opportunities", {
        "OpportunityOrganisationId": org["OrganisationId"], "OpportunityAssignedTo": user["UserId"],
        "OpportunityCurrencyName": "DKK", "OpportunityErpStatus": "ReadyForSynchronization"})
    webcrm.insert_raw("QuotationLines", {"QuotationLineOpportunityId": opportunity["OpportunityId"],
                                         "QuotationLineSortOrder": 1, "QuotationLineQuantity": 3.0,
                                         "QuotationLinePrice": 40.0, "QuotationLineComment": "Service"})
    instance = DagsterInstance.ephemeral()

    result = materialize(list(defs.assets), resources=defs.resources, instance=instance)

    assert result.success
    [debtor] = uniconta.all_raw("DebtorClient")
    [order] = uniconta.all_raw("DebtorOrderClient")
    [line] = uniconta.all_raw("DebtorOrderLineClient")
    assert (debtor["Employee"], order["Account"], order["Employee"]) == ("AB", debtor["Account"], "AB")
    assert (line["OrderNumber"], line["Qty"], line["Text"]) == (order["OrderNumber"], 3.0, "Service")
    pulled = result.asset_materializations_for_node(pull_key("order_lines", "uniconta").to_python_identifier())[0].metadata
    assert pulled["dagster/table_name"].value == "erp_order_lines"

    crm_mark, erp_mark = len(webcrm.request_log), len(uniconta.request_log)
    assert materialize(list(defs.assets), resources=defs.resources, instance=instance).success
    assert writes(webcrm, crm_mark) == [] and writes(uniconta, erp_mark) == []
