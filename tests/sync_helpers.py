"""Helpers for the sync tests: an engine over live emulators, and counting remote writes."""

from __future__ import annotations

from ledgerbridge.sync.engine import SyncEngine
from ledgerbridge.systems import build_connector

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def engine_for(config, store) -> SyncEngine:
    connectors = {"crm": build_connector(config.crm), "erp": build_connector(config.erp)}
    return SyncEngine(config, store, connectors)


def writes(emulator, since: int = 0) -> list[tuple[str, str]]:
    """Remote writes an emulator received since position `since` of its request log (logins excluded)."""
    return [(m, p) for m, p in emulator.request_log[since:] if m in WRITES and not p.startswith("/Auth")]
