"""The tenant registry: a directory holding one sync configuration per tenant, `<dir>/<tenant>.yaml`.

A tenant is one company (a "Mandant") with its own CRM+ERP pair, possibly of other systems than
the next tenant's. A directory of YAML files rather than a table: each tenant's configuration is
reviewed and versioned like any other, and the CLI, the webhook receiver and the code location read
the same files with nothing else running. Adding or removing a file needs no redeploy: the code
location's registry sensor turns the directory into Dagster's dynamic partitions.

What makes a tenant's configuration its own (checked on every load, errors name file and key):
- its secrets live in environment variables named `LEDGERBRIDGE_<TENANT>_<SIDE>_<SECRET>`
  (LEDGERBRIDGE_ACME_CRM_API_KEY), so a configuration cannot name another tenant's secret;
  tenant names are lower-case letters and digits, so no tenant's prefix starts another's;
- its hub is its own: schema `tenant_<name>` on the deployment's PostgreSQL server (the URL in the
  environment variable the file names, LEDGERBRIDGE_HUB_URL by default), or, on the embedded
  default, the SQLite file `<dir>/<tenant>.hub.db`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ledgerbridge.config import ConfigError, SyncConfig, parse_config
from ledgerbridge.store import HubStore
from ledgerbridge.tenants.hub import drop_schema, ensure_schema, sqlite_url

TENANTS_DIR_VARIABLE = "LEDGERBRIDGE_TENANTS_DIR"
HUB_SERVER_VARIABLE = "LEDGERBRIDGE_HUB_URL"  # the deployment's PostgreSQL database for tenant hubs
NAME = re.compile(r"^[a-z][a-z0-9]{0,31}$")


class TenantError(ConfigError):
    pass


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise TenantError(f"tenant name {name!r}: use lower-case letters and digits, starting with a letter "
                          "(at most 32), like 'acme' or 'mandant01'")
    return name


def env_prefix(tenant: str) -> str:
    return f"LEDGERBRIDGE_{check_name(tenant).upper()}_"


def secret_env(tenant: str, side: str, secret: str) -> str:
    """The environment variable holding one of a tenant's secrets."""
    return f"{env_prefix(tenant)}{side.upper()}_{secret.upper()}"


def schema_name(tenant: str) -> str:
    return f"tenant_{check_name(tenant)}"


def tenants_dir_from_environment() -> Path:
    value = os.environ.get(TENANTS_DIR_VARIABLE)
    if not value:
        raise TenantError(f"{TENANTS_DIR_VARIABLE} is not set: set it to the directory holding one sync "
                          "configuration per tenant (ledgerbridge tenants add writes them)")
    return Path(value)


@dataclass(frozen=True)
class Tenant:
    name: str
    config: SyncConfig
    path: Path

    def hub_url(self) -> str:
        """The tenant's hub, confined to its schema on PostgreSQL (may hold a password: never log it)."""
        return self.config.hub.resolved_url("")

    def open_store(self) -> HubStore:
        """The tenant's hub store, its schema and tables created if missing. Dispose it when done."""
        url = self.hub_url()
        ensure_schema(url)
        store = HubStore(url)
        store.create_all()
        return store


class TenantRegistry:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        # name -> (file's mtime_ns, size, tenant): sensors read every tenant on every tick
        self._loaded: dict[str, tuple[int, int, Tenant]] = {}

    @classmethod
    def from_environment(cls) -> "TenantRegistry":
        return cls(tenants_dir_from_environment())

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.yaml"

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.yaml") if NAME.match(p.stem))

    def get(self, name: str) -> Tenant:
        path = self.path(name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none"
            raise TenantError(f"no tenant {name!r} in {self.directory} (tenants: {known})") from None
        loaded = self._loaded.get(name)
        if loaded is not None and loaded[:2] == (stat.st_mtime_ns, stat.st_size):
            return loaded[2]
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise TenantError(f"{path}: the top level must be a mapping")
        config = parse_config(data, str(path))
        self.check_own(name, config, str(path))
        tenant = Tenant(name, config, path)
        self._loaded[name] = (stat.st_mtime_ns, stat.st_size, tenant)
        return tenant

    def all(self) -> list[Tenant]:
        return [self.get(name) for name in self.names()]

    def sqlite_hub(self, name: str) -> str:
        return sqlite_url((self.directory / f"{check_name(name)}.hub.db").resolve())

    def check_own(self, name: str, config: SyncConfig, source: str) -> None:
        """Refuse a configuration that names another tenant's secrets or hub."""
        prefix = env_prefix(name)
        for side in ("crm", "erp"):
            for secret, env in config.side(side).secrets.items():
                if not env.startswith(prefix):
                    raise TenantError(f"{source}: {side}.secrets.{secret} names {env}; a tenant's secrets are named "
                                      f"{prefix}<SIDE>_<SECRET> (here {secret_env(name, side, secret)})")
        hub = config.hub
        if hub.url_env and hub.schema_name == schema_name(name) and not hub.url:
            return
        if not hub.url_env and hub.schema_name is None and hub.url == self.sqlite_hub(name):
            return
        raise TenantError(f"{source}: hub must be the tenant's own: {{url_env: {HUB_SERVER_VARIABLE}, schema: "
                          f"{schema_name(name)}}} on PostgreSQL, or {{url: {self.sqlite_hub(name)}}}")

    def hub_section(self, name: str, hub_server_env: str | None) -> dict[str, str]:
        if hub_server_env:
            return {"url_env": hub_server_env, "schema": schema_name(name)}
        return {"url": self.sqlite_hub(name)}

    def add(self, name: str, data: dict[str, Any], *, hub_server_env: str | None = None) -> Tenant:
        """Register a tenant from a configuration (crm, erp, entities, ...): its secrets are renamed to the
        tenant's variables, its hub set to the tenant's own and created. Refuses an existing name."""
        from ledgerbridge.systems.registry import get as get_system

        path = self.path(name)
        if path.exists():
            raise TenantError(f"tenant {name!r} exists already ({path}); remove it first")
        data = {key: value for key, value in data.items() if key != "hub"}
        for side in ("crm", "erp"):
            section = dict(data.get(side) or {})
            if "system" not in section:
                raise TenantError(f"tenant {name!r}: {side}.system is missing")
            system = get_system(section["system"])
            wanted = list(section.get("secrets") or system.secrets)
            if system.webhooks is not None and system.webhooks.secret_name not in wanted:
                wanted.append(system.webhooks.secret_name)  # webhooks on: the receiver routes by tenant
            section["secrets"] = {secret: secret_env(name, side, secret) for secret in wanted}
            data[side] = section
        data["hub"] = self.hub_section(name, hub_server_env)
        config = parse_config(data, f"tenant {name}")
        self.check_own(name, config, f"tenant {name}")
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".yaml.tmp")
        temporary.write_text(yaml.safe_dump(config.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                                            sort_keys=False))
        temporary.replace(path)  # a reader sees the whole file or none
        tenant = Tenant(name, config, path)
        tenant.open_store().dispose()
        return tenant

    def remove(self, name: str, *, drop_hub: bool = False) -> Tenant:
        """Unregister a tenant (its partition goes with the registry sensor's next tick); with drop_hub,
        its hub schema or file is deleted too."""
        tenant = self.get(name)
        url = tenant.hub_url() if drop_hub else None
        tenant.path.unlink()
        if url is None:
            return tenant
        if url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        else:
            drop_schema(url)
        return tenant

    def secrets_to_set(self, name: str) -> list[str]:
        """The environment variables a tenant's configuration names (values never shown)."""
        config = self.get(name).config
        names = [env for side in ("crm", "erp") for env in config.side(side).secrets.values()]
        return names + ([config.hub.url_env] if config.hub.url_env else [])
