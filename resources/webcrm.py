from __future__ import annotations

from dagster import ConfigurableResource

from ledgerbridge.systems.webcrm.connector import WebcrmConnector


class WebcrmResource(ConfigurableResource):
    """webCRM's REST API v1. `api_key` comes from an EnvVar, never from a literal."""

    base_url: str
    api_key: str
    number_field: str = "OrganisationExtraCustom1"
    rate_per_second: float | None = None

    def connector(self) -> WebcrmConnector:
        return WebcrmConnector(
            self.base_url, self.api_key, number_field=self.number_field, rate_per_second=self.rate_per_second
        )
