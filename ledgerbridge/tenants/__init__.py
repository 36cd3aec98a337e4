"""Many companies on one deployment: the tenant registry, each tenant's hub, the receiver routing by tenant."""

from ledgerbridge.tenants.registry import (
    HUB_SERVER_VARIABLE,
    TENANTS_DIR_VARIABLE,
    Tenant,
    TenantError,
    TenantRegistry,
    env_prefix,
    schema_name,
    secret_env,
)

__all__ = ["HUB_SERVER_VARIABLE", "TENANTS_DIR_VARIABLE", "Tenant", "TenantError", "TenantRegistry", "env_prefix",
           "schema_name", "secret_env"]
