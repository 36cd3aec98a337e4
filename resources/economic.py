from __future__ import annotations

from dagster import ConfigurableResource

from ledgerbridge.systems.economic.connector import EconomicConnector


class EconomicResource(ConfigurableResource):
    """Visma e-conomic's REST API. Both tokens come from EnvVars, never from literals."""

    base_url: str
    app_secret_token: str
    agreement_grant_token: str
    rate_per_second: float | None = None

    def connector(self) -> EconomicConnector:
        return EconomicConnector(
            self.base_url, self.app_secret_token, self.agreement_grant_token, rate_per_second=self.rate_per_second
        )
