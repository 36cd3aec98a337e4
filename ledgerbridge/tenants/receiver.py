"""The webhook receiver for many tenants: one address, routed by tenant to that tenant's inbox.

    POST /tenants/<tenant>/hooks/<system>[/<entity>]   as ledgerbridge.webhooks.receiver, for one tenant
    GET  /healthz

Each tenant gets the single-tenant receiver over its own hub and with its own webhook secrets
(from its own environment variables), so an event is verified with the secret of the tenant in
its path and lands in that tenant's inbox only; a valid call for tenant A sent to tenant B's path
fails B's signature check. The registry is read on each call's tenant: a tenant added with
`ledgerbridge tenants add` is served without a restart, a removed one answers 404.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.config import ConfigError
from ledgerbridge.store import HubStore
from ledgerbridge.tenants.registry import NAME, TenantRegistry
from ledgerbridge.webhooks.receiver import create_app, problem, settings_from_config

log = logging.getLogger("ledgerbridge.tenants.receiver")


@dataclass
class _Served:
    mtime: float
    app: ASGIApp
    store: HubStore


class TenantReceivers:
    """The per-tenant receivers, built on first use and rebuilt when the tenant's file changes."""

    def __init__(self, registry: TenantRegistry):
        self.registry = registry
        self._served: dict[str, _Served] = {}
        self._lock = threading.Lock()

    def app_for(self, name: str) -> ASGIApp | None:
        path = self.registry.path(name)
        with self._lock:
            served = self._served.get(name)
            mtime = path.stat().st_mtime if path.exists() else None
            if served is not None and served.mtime == mtime:
                return served.app
            if served is not None:
                self._served.pop(name).store.dispose()
            if mtime is None:
                return None
            tenant = self.registry.get(name)
            store = tenant.open_store()
            app = create_app(store, settings_from_config(tenant.config))
            self._served[name] = _Served(mtime, app, store)
            return app

    def close(self) -> None:
        with self._lock:
            for served in self._served.values():
                served.store.dispose()
            self._served.clear()


def create_tenants_app(registry: TenantRegistry) -> tuple[Starlette, TenantReceivers]:
    receivers = TenantReceivers(registry)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path_params"]["tenant"]
        if not NAME.match(name):
            response = problem(404, "unknown_tenant", f"{name!r} is not a tenant name")
            return await response(scope, receive, send)
        try:
            app = await run_in_threadpool(receivers.app_for, name)
        except ConfigError as exc:
            # The tenant's configuration is broken (or a secret unset): the sender retries later.
            log.error("tenant %s: cannot receive webhooks: %s", name, exc)
            app = problem(503, "tenant_unavailable", f"tenant {name!r} cannot receive webhooks now; retry later")
        if app is None:
            app = problem(404, "unknown_tenant", f"no tenant {name!r} on this receiver")
        await app(scope, receive, send)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "tenants": len(registry.names())})

    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), Mount("/tenants/{tenant}", app=dispatch)])
    return app, receivers
