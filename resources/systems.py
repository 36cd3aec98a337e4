from __future__ import annotations

from dagster import ConfigurableResource

from ledgerbridge.config import load_config
from ledgerbridge.connectors.base import Connector
from ledgerbridge.systems import build_connector


class SystemsResource(ConfigurableResource):
    """The connectors to the configured CRM and ERP, whichever systems they are.

    Built by the registry from the same configuration file as the CLI's (base URL, timeouts, rate
    limit, options such as webCRM's field layout), with secrets read from the environment variables
    the file names, so a Dagster run and `ledgerbridge sync` talk to a system the same way.
    """

    config_path: str

    def connector(self, side: str) -> Connector:
        """A new connector to the "crm" or "erp" side; close it when done."""
        return build_connector(load_config(self.config_path).side(side))
