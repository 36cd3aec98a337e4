"""The systems ledgerbridge speaks to: how to build each connector and what each can hold."""

from __future__ import annotations

from types import ModuleType

from ledgerbridge.config import SystemConfig
from ledgerbridge.connectors.base import Connector


def mapping_module(system: str) -> ModuleType:
    if system == "webcrm":
        from ledgerbridge.mapping import webcrm as module
    elif system == "economic":
        from ledgerbridge.mapping import economic as module
    else:
        raise ValueError(f"unknown system {system!r}")
    return module


def mapped_fields(system: str, entity: str) -> tuple[str, ...]:
    """The model fields this system stores for `entity` (the only ones compared and written)."""
    return tuple(mapping_module(system).mapped_fields(entity))


def build_connector(config: SystemConfig) -> Connector:
    common = dict(timeout=config.timeout_seconds, rate_per_second=config.rate_per_second)
    if config.system == "webcrm":
        from ledgerbridge.connectors.webcrm import WebcrmConnector

        options = {k: v for k, v in config.options.items() if k in ("number_field",)}
        return WebcrmConnector(config.base_url, config.secret("api_key"), **options, **common)
    if config.system == "economic":
        from ledgerbridge.connectors.economic import EconomicConnector

        return EconomicConnector(
            config.base_url,
            config.secret("app_secret_token"),
            config.secret("agreement_grant_token"),
            **common,
        )
    raise ValueError(f"unknown system {config.system!r}")
