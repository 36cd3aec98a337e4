"""What the lineage calls each asset and what it shows about it: keys, kinds, owners.

Every stage of an entity's road has a last key component of its own that says what it holds and,
where a system is involved, which one, so the UI never shows two nodes of one name:

    pull/debtors_pulled_from_webcrm     pull/debtors_pulled_from_economic
    hub/debtors_golden
    plan/debtors_planned_to_economic -> push/debtors_pushed_to_economic
    plan/debtors_planned_to_webcrm   -> push/debtors_pushed_to_webcrm

Only the directions an entity is configured for get plan and push assets (a one-way entity still
pulls both sides: matching needs what the other side holds). Kinds name the system an asset talks
to, the hub's storage (sqlite, postgres) and greatexpectations where the checks run its suites.

One code location for many tenants (pipelines/tenants.py) names the sides by role (crm, erp): its
tenants' systems differ, and an asset's history must not move when a tenant is added. Its kinds list
every tenant's systems, and its plan and push assets are those any tenant's directions need.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dagster import AssetKey
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledgerbridge.config import ConfigError, SyncConfig
from ledgerbridge.model import ENTITIES, Owner
from ledgerbridge.store import SIDES
from ledgerbridge.sync.engine import enabled_entities
from ledgerbridge.systems.registry import get

GREAT_EXPECTATIONS = "greatexpectations"  # the kind Dagster draws with Great Expectations' icon
PUSH_ORDER = ("erp", "crm")  # the ERP first, so a number it assigns is written back to the CRM in the same run


def pull_key(entity: str, source: str) -> AssetKey:
    return AssetKey(["pull", f"{entity}_pulled_from_{source}"])


def hub_key(entity: str) -> AssetKey:
    return AssetKey(["hub", f"{entity}_golden"])


def plan_key(entity: str, target: str) -> AssetKey:
    return AssetKey(["plan", f"{entity}_planned_to_{target}"])


def push_key(entity: str, target: str) -> AssetKey:
    return AssetKey(["push", f"{entity}_pushed_to_{target}"])


def storage_kind(url: str) -> str:
    """The hub database's kind from its URL: sqlite, postgres, ... (the URL itself is never kept)."""
    backend = make_url(url).get_backend_name()
    return "postgres" if backend == "postgresql" else backend


def hub_storage(config: SyncConfig, default_url: str) -> str | None:
    """The kind of the configured hub; None when its URL is in an environment variable not set here."""
    if config.hub.url_env:
        url = os.environ.get(config.hub.url_env)
        return storage_kind(url) if url else None
    return storage_kind(config.hub.url or default_url)


@dataclass(frozen=True)
class Lineage:
    """How the assets of one code location are named and labelled."""

    entities: tuple[str, ...]  # the enabled ones, in dependency order
    names: dict[str, str]  # side -> its name in the keys: the system's ("webcrm") or the role's ("crm")
    labels: dict[str, str]  # side -> as people write it, for descriptions ("webCRM", "the CRM")
    systems: dict[str, frozenset[str]]  # side -> the systems behind it (kinds)
    storage: frozenset[str] = frozenset()  # the hub's kinds
    owners: tuple[str, ...] = ()
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)  # entity -> sides it writes, in push order
    field_owners: dict[str, dict[str, Owner]] = field(default_factory=dict)  # entity -> field -> configured owner

    @classmethod
    def of_config(cls, config: SyncConfig, storage: str | None = None) -> "Lineage":
        systems = {side: config.side(side).system for side in SIDES}
        # Two sides of one system (a product playing both roles) would share names: name them by role.
        names = systems if systems["crm"] != systems["erp"] else {side: side for side in SIDES}
        entities = tuple(enabled_entities(config))
        return cls(entities=entities, names=names, labels={side: get(name).label for side, name in systems.items()},
                   systems={side: frozenset([name]) for side, name in systems.items()},
                   storage=frozenset([storage]) if storage else frozenset(), owners=tuple(config.dagster.owners),
                   written={entity: _written([config], entity) for entity in entities},
                   field_owners={entity: {f: config.owner_of(entity, f) for f in ENTITIES[entity].field_by_name}
                                 for entity in entities})

    @classmethod
    def of_tenants(cls, configs: Iterable[SyncConfig], entities: Iterable[str],
                   storage: Iterable[str] = ()) -> "Lineage":
        configs, entities = list(configs), tuple(entities)
        return cls(entities=entities, names={side: side for side in SIDES},
                   labels={side: f"the {side.upper()}" for side in SIDES},
                   systems={side: frozenset(c.side(side).system for c in configs) for side in SIDES},
                   storage=frozenset(storage),
                   owners=tuple(dict.fromkeys(owner for c in configs for owner in c.dagster.owners)),
                   # with no tenant yet, the graph shows the whole road
                   written={entity: _written(configs, entity) if configs else PUSH_ORDER for entity in entities})

    def configured(self, entity: str) -> bool:
        return entity in self.entities

    def writes(self, entity: str, side: str) -> bool:
        return side in self.written.get(entity, ())

    def pull(self, entity: str, side: str) -> AssetKey:
        return pull_key(entity, self.names[side])

    def plan(self, entity: str, side: str) -> AssetKey:
        return plan_key(entity, self.names[side])

    def push(self, entity: str, side: str) -> AssetKey:
        return push_key(entity, self.names[side])

    def owner_of(self, entity: str) -> Callable[[str], Owner] | None:
        """The configured owner of each of the entity's fields (None: many tenants, the model's)."""
        owners = self.field_owners.get(entity)
        return owners.__getitem__ if owners else None

    def kinds(self, side: str | None = None, *, checked: bool = False) -> set[str]:
        """The system behind `side` (none for the hub's own assets), the storage, and GE where `checked`."""
        kinds = set(self.storage) | (set(self.systems[side]) if side else set())
        return kinds | {GREAT_EXPECTATIONS} if checked else kinds


def _written(configs: list[SyncConfig], entity: str) -> tuple[str, ...]:
    return tuple(side for side in PUSH_ORDER if any(c.entity(entity).writes(side) for c in configs))


def tenant_storage(configs: Iterable[SyncConfig]) -> set[str]:
    """The kinds of the tenants' hubs (a tenant whose URL variable is not set here is passed over)."""
    kinds = set()
    for config in configs:
        try:
            kinds.add(storage_kind(config.hub.resolved_url("")))
        except (ConfigError, ArgumentError):
            continue
    return kinds
