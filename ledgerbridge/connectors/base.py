"""The one protocol every external system is spoken to through.

Connectors deal in model records (ledgerbridge.model field names); the translation to and from
the system's own JSON lives in the system's mapping module, in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


class ConnectorError(Exception):
    """A remote call failed for good. The message names the system, the call and the record."""

    def __init__(self, message: str, *, status: int | None = None, field_errors: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.field_errors = dict(field_errors or {})


class RecordRejected(ConnectorError):
    """The system refused a record (validation error, 4xx). Retrying the same payload is pointless."""


class RecordGone(RecordRejected):
    """The record to write no longer exists in the system (deleted there): stop writing to it."""


class OutcomeUnknown(ConnectorError):
    """A write was sent but its outcome is unknown (timeout, dropped connection or 5xx after the
    request left): the system may have carried it out. A create must be looked up before any retry."""


class StaleWrite(ConnectorError):
    """The record changed in the system since we last read it, on a field we were about to write:
    the write is dropped so that change is not overwritten; the next sync merges it first."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = fields


# Called by a connector's update with the record as it is in the system right before the write;
# raises StaleWrite to stop a write that would overwrite a change made there since our last read.
WriteGuard = Callable[["RemoteRecord"], None]


@dataclass(frozen=True)
class RemoteRecord:
    remote_id: str
    values: dict[str, Any]  # model field name -> value; references hold this system's remote ids
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Chunk:
    records: list[RemoteRecord]
    cursor: str | None  # the position to store once these records are safely written


@dataclass(frozen=True)
class FieldLimits:
    """What the target system accepts for an entity, in model field names."""

    max_lengths: dict[str, int] = field(default_factory=dict)
    required: tuple[str, ...] = ()


@runtime_checkable
class Connector(Protocol):
    system: str  # "webcrm", "economic", ...
    role: str  # "crm" or "erp"

    def entities(self) -> tuple[str, ...]:
        """The model entities this connector can read and write."""

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        """Records changed since `cursor` (all records when None), in chunks, oldest first."""

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None: ...

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        """Lookup before create: the record carrying this business number, if any."""

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        """Create and return the record as the system stored it (with its id and assigned number)."""

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *, guard: WriteGuard | None = None) -> RemoteRecord:
        """Write the given fields (others stay as they are) and return the stored record.

        Read-modify-write: the connector reads the record, calls `guard(current)` when given (which
        may raise StaleWrite), then writes. Raises RecordGone when the record no longer exists."""

    def delete(self, entity: str, remote_id: str) -> None:
        """Delete the record. RecordGone if it is already gone, RecordRejected if the system refuses
        (an ERP keeps a customer with postings), NotImplementedError where the API cannot delete it."""

    def limits(self, entity: str) -> FieldLimits: ...

    def close(self) -> None: ...
