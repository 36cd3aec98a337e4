"""The external systems ledgerbridge speaks to: one package each (webcrm/, economic/, ...) and the
registry that lists them (registry.py). See docs/adding-a-system.md."""

from ledgerbridge.systems.base import EntitySupport, System
from ledgerbridge.systems.registry import build_connector, get, mapped_fields, mapping_for, register, systems

__all__ = ["EntitySupport", "System", "build_connector", "get", "mapped_fields", "mapping_for", "register", "systems"]
