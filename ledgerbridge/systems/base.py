"""What a system package under ledgerbridge/systems/<name>/ provides: one `System` value.

A package fills in a `System` and registers it (see registry.py and docs/adding-a-system.md).
Everything the rest of ledgerbridge needs to know about a system is read from it: which roles it
can play, which entities it holds and in which directions, how to build its connector and mapping
from the configuration, how to emulate it, how its webhooks are verified, parsed and registered,
whether a cheap change probe exists, and whether it assigns business numbers itself.
Nothing outside ledgerbridge/systems/ switches on a system's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ledgerbridge.connectors.base import Connector, FieldLimits

if TYPE_CHECKING:  # only for annotations: config imports the registry to validate system names
    from ledgerbridge.config import SystemConfig
    from ledgerbridge.emulators.base import Emulator

Role = Literal["crm", "erp"]
Direction = Literal["read", "write"]  # read: ledgerbridge pulls it from the system; write: pushes it there
READ_WRITE: frozenset[Direction] = frozenset({"read", "write"})
READ_ONLY: frozenset[Direction] = frozenset({"read"})


@dataclass(frozen=True)
class EntitySupport:
    """What a system can do with one model entity."""

    directions: frozenset[Direction] = READ_WRITE
    # The system assigns the entity's business number on create (the ERP's customer number,
    # the booked invoice number): number_policy "erp" writes it back to the other side.
    assigns_number: bool = False
    # Changes can be asked for cheaply ("anything after this cursor?": one small call).
    probe: bool = False


class SystemMapping(Protocol):
    """The part of a system's mapping the engine reads (the full mapping stays in the package)."""

    def mapped_fields(self, entity: str) -> tuple[str, ...]:
        """The model fields the system stores for `entity` (the only ones compared and written)."""

    def limits(self, entity: str) -> FieldLimits:
        """The system's max lengths and required fields, in model field names."""


# -- webhooks ----------------------------------------------------------------------------------

class SignatureMissing(Exception):
    """No credential at all: the receiver answers 401."""


class SignatureInvalid(Exception):
    """A credential that does not verify (forged, wrong secret, expired): the receiver answers 403."""


@dataclass(frozen=True)
class WebhookCall:
    """One incoming call, as the receiver read it (the body is read before verification, within its limit)."""

    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: bytes
    entity: str | None  # from the route (/hooks/<system>/<entity>), when the system's route has one


@dataclass(frozen=True)
class WebhookEvent:
    """What the inbox stores of one call."""

    entity: str | None
    event: str | None
    remote_id: str | None
    # The sender's own id of this delivery, when it gives one; else the receiver uses a hash of
    # the body. A second call with the same id is a replay and is dropped.
    event_id: str | None = None


@dataclass(frozen=True)
class Registration:
    system: str
    entity: str
    action: str  # registered | updated | unchanged
    url: str  # without the token


@runtime_checkable
class Webhooks(Protocol):
    """A system's webhooks: which entities they cover, and how calls are proven, read and ordered."""

    # The key in the system's `secrets` naming the environment variable with the webhook secret;
    # hooks are on when the configuration names it.
    secret_name: str
    # model entity -> the system's own name for the hook resource/event kind
    resources: Mapping[str, str]
    # True: the route is /hooks/<system>/{entity}; False: /hooks/<system> (the event names the entity)
    entity_in_path: bool

    def verify(self, call: WebhookCall, secret: str, *, tolerance: float) -> None:
        """Raise SignatureMissing or SignatureInvalid unless the call is the system's own (constant-time)."""

    def parse(self, call: WebhookCall, payload: dict[str, Any]) -> WebhookEvent: ...

    def register(self, connector: Connector, entities: list[str], public_url: str, secret: str) -> list[Registration]:
        """Subscribe the receiver at `public_url` for `entities`, idempotently (a second call changes nothing)."""


# -- emulator and demo ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Emulation:
    """How to run the system's emulator, and how the demo fills it.

    `start(secrets, state_file, port)` builds an emulator (not started) that accepts the given
    credential values (secret name -> value, the same names as the configuration's `secrets`).
    `seed(emulator, entity, records)` stores model records in the system's own shape and returns
    their remote ids, in order. For "payments" a record is {"invoice_id": <remote id>, "share":
    Decimal}: the customer paid that share of the invoice's gross amount (rounded to cents).
    `demo_secrets` are the credential values the demo exports (secret name -> (env var, value)).
    """

    start: Callable[[Mapping[str, str], Path | None, int], "Emulator"]
    seed: Callable[["Emulator", str, list[dict[str, Any]]], list[str]]
    demo_secrets: Mapping[str, tuple[str, str]]
    demo_port: int = 0  # a stable port for the demo's UI (0: any free port)
    demo_options: Mapping[str, Any] = field(default_factory=dict)


PAYMENT_SHARES = (Decimal("1"), Decimal("0.5"))


# -- the system ----------------------------------------------------------------------------------

Probe = Callable[[Connector, str, str], "str | None"]


@dataclass(frozen=True)
class System:
    """One external system. `connect` and `mapping` read the same SystemConfig the CLI and Dagster use."""

    name: str  # the configuration's `system:` value, and the package's folder name
    label: str  # as people write it ("webCRM", "e-conomic"); used in messages and reports
    roles: frozenset[Role]
    entities: Mapping[str, EntitySupport]
    connect: Callable[["SystemConfig"], Connector]
    # Mapping for a system's options (`SystemConfig.options`); {} gives the default layout.
    mapping: Callable[[Mapping[str, Any]], SystemMapping]
    # The secrets a connector needs (names in `SystemConfig.secrets`).
    secrets: tuple[str, ...] = ()
    # Options the system reads from `SystemConfig.options`, with what each means.
    options: Mapping[str, str] = field(default_factory=dict)
    webhooks: Webhooks | None = None
    # The change probe for entities with EntitySupport.probe (default: the generic one in probe.py).
    probe: Probe | None = None
    emulation: Emulation | None = None

    def supports(self, entity: str, direction: Direction) -> bool:
        support = self.entities.get(entity)
        return support is not None and direction in support.directions

    def probeable(self, entity: str) -> bool:
        support = self.entities.get(entity)
        return bool(support and support.probe)

    def hooked(self, entity: str) -> bool:
        """The system's webhooks cover the entity (whether they are configured is the config's business)."""
        return self.webhooks is not None and entity in self.webhooks.resources

    def describe(self) -> dict[str, Any]:
        """What the system can do, for `ledgerbridge systems` (no secrets, no URLs)."""
        return {
            "name": self.name,
            "label": self.label,
            "roles": sorted(self.roles),
            "entities": {
                entity: {
                    "directions": sorted(s.directions),
                    "webhook": self.hooked(entity),
                    "probe": s.probe,
                    "assigns_number": s.assigns_number,
                }
                for entity, s in self.entities.items()
            },
            "secrets": list(self.secrets),
            "options": dict(self.options),
            "webhook_secret": self.webhooks.secret_name if self.webhooks else None,
            "emulator": self.emulation is not None,
        }
