"""The one registry of systems ledgerbridge speaks to.

Where systems come from, in this order:
1. every package under ledgerbridge/systems/ whose __init__ defines `SYSTEM` (a base.System);
2. the `ledgerbridge.systems` entry point group, for systems shipped as separate distributions
   (a consultant's connector for a customer's in-house system): an entry point names a System,
   or a module holding `SYSTEM`;
3. `register(system)` at run time (tests register their own minimal system this way).

Everything else asks here: `get("webcrm")`, `build_connector(config)`, `mapped_fields(...)`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING

from ledgerbridge.connectors.base import Connector
from ledgerbridge.systems.base import System, SystemMapping

if TYPE_CHECKING:
    from ledgerbridge.config import SystemConfig

log = logging.getLogger("ledgerbridge.systems")

ENTRY_POINT_GROUP = "ledgerbridge.systems"

_systems: dict[str, System] = {}
_loaded = False
_lock = threading.RLock()


class UnknownSystem(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register(system: System) -> System:
    """Add a system (or replace the one of the same name: a test's, a newer third-party version)."""
    if not isinstance(system, System):
        raise TypeError(f"register() takes a ledgerbridge.systems.base.System, not {type(system).__name__}")
    with _lock:
        _systems[system.name] = system
        _default_mapping.cache_clear()
    return system


def unregister(name: str) -> None:
    with _lock:
        _systems.pop(name, None)
        _default_mapping.cache_clear()


def _system_of(obj: object, source: str) -> System:
    found = getattr(obj, "SYSTEM", obj) if isinstance(obj, ModuleType) else obj
    if not isinstance(found, System):
        raise TypeError(f"{source} gives no ledgerbridge System (a module needs SYSTEM = System(...))")
    return found


def _load() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        package = importlib.import_module("ledgerbridge.systems")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.ispkg:
                continue
            try:
                module = importlib.import_module(f"ledgerbridge.systems.{info.name}")
                if hasattr(module, "SYSTEM"):
                    _systems.setdefault(module.SYSTEM.name, _system_of(module, module.__name__))
            except Exception as exc:  # noqa: BLE001 - a half-built package must not hide the others
                log.error("system package ledgerbridge.systems.%s could not be loaded: %s", info.name, exc)
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                system = _system_of(point.load(), f"entry point {point.name} ({point.value})")
            except Exception as exc:  # noqa: BLE001 - one broken plug-in must not take down the others
                log.error("system plug-in %s (%s) could not be loaded: %s", point.name, point.value, exc)
                continue
            _systems.setdefault(system.name, system)


def systems() -> dict[str, System]:
    """Every registered system, by name, sorted."""
    _load()
    with _lock:
        return dict(sorted(_systems.items()))


def names() -> tuple[str, ...]:
    return tuple(systems())


def get(name: str) -> System:
    _load()
    try:
        return _systems[name]
    except KeyError:
        raise UnknownSystem(f"unknown system {name!r}; registered: {', '.join(names()) or 'none'}") from None


@lru_cache(maxsize=None)
def _default_mapping(name: str) -> SystemMapping:
    return get(name).mapping({})


def mapping_for(config: SystemConfig) -> SystemMapping:
    return get(config.system).mapping(config.options)


def mapped_fields(system: str, entity: str) -> tuple[str, ...]:
    """The model fields this system stores for `entity` (the only ones compared and written)."""
    return tuple(_default_mapping(system).mapped_fields(entity))


def build_connector(config: SystemConfig) -> Connector:
    return get(config.system).connect(config)
