"""The Uniconta connector (system "uniconta", role "erp"): OData reads, /api/Entities writes.

The call budget shapes every choice here: Uniconta allows 5,000 calls per user per day before it
slows every call down (NOTES.md §3). So the connector
- counts every call it makes (`calls`: HttpClient's counter, retries included; `budget` adds them up
  per day across runs when given a file);
- reads in bulk: one OData call returns up to `page_size` (1000) records, filtered on the server;
- never re-reads unchanged records: incremental reads ask only for rows whose UpdatedAt is after the
  cursor, as keyset pages (`UpdatedAt gt T or (UpdatedAt eq T and RowId gt R)`, ordered by UpdatedAt,
  RowId), so a record is read once per change and a page boundary never skips or repeats one;
- writes an update in one call: Uniconta's PUT needs the full record (NOTES.md §5), and the record
  as this connector last read it is what it overlays, when that read is current (reads.py: the
  entity was pulled at most `reuse_read_seconds` ago, so an unread record is unchanged); otherwise
  it is read first (two calls). The write guard is given that same read. The cost: a change made in
  Uniconta in the seconds between the pull and our write is overwritten; `reuse_read_seconds=0`
  reads right before every write.

Cursors: "<UpdatedAt>|<RowId>" of the last record delivered. A table whose rows carry no UpdatedAt
(the filter is refused as an unknown property: an installation where only the order tables are
stamped) is read whole, in RowId pages, with cursor None every time; the engine's content hashes
then find what changed.
Errors: a refused write raises RecordRejected with Uniconta's per-field errors keyed by model field
names; credentials never appear in messages (the user name only as company/user, never the password).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import requests

from ledgerbridge.connectors.base import Chunk, FieldLimits, RecordGone, RecordRejected, RemoteRecord, WriteGuard
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.systems.uniconta import contract
from ledgerbridge.systems.uniconta.mapping import DEFAULT, ENTITIES, UnicontaMapping, key_filter, remote_id
from ledgerbridge.systems.uniconta.reads import LastReads

MAX_PAGE_SIZE = 1000
BUDGET_WARNING = 0.8  # share of the day's calls past which closing the connector warns
log = logging.getLogger("ledgerbridge.uniconta")


class CallBudget:
    """Calls made per day by one Uniconta user, kept in a small JSON file so runs add up."""

    def __init__(self, path: Path | str | None, per_day: int = contract.CALLS_PER_DAY):
        self.path = Path(path) if path else None
        self.per_day = per_day
        self._lock = threading.Lock()
        self._memory: dict[str, int] = {}

    def _load(self) -> dict[str, int]:
        if self.path is None or not self.path.exists():
            return dict(self._memory)
        try:
            return {k: int(v) for k, v in json.loads(self.path.read_text()).items()}
        except (ValueError, OSError):
            return {}

    def add(self, calls: int) -> int:
        """Count `calls` against today; returns today's total."""
        today = date.today().isoformat()
        with self._lock:
            counts = {k: v for k, v in self._load().items() if k == today}
            counts[today] = counts.get(today, 0) + calls
            self._memory = counts
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text(json.dumps(counts))
            return counts[today]

    def today(self) -> int:
        return self._load().get(date.today().isoformat(), 0)


class UnicontaConnector:
    system = "uniconta"
    role = "erp"

    def __init__(self, base_url: str, company_id: int | str, user: str, password: str, *,
                 mapping: UnicontaMapping | None = None, timeout: float = 30, max_attempts: int = 5,
                 backoff_base: float = 0.2, rate_per_second: float | None = None, page_size: int = MAX_PAGE_SIZE,
                 reuse_read_seconds: float = 60.0, budget: CallBudget | None = None,
                 read_cache: Path | str | None = None):
        self.company_id = str(int(company_id))
        self.client = HttpClient(base_url, system=self.system, headers={"Accept": "application/json"},
                                 timeout=timeout, max_attempts=max_attempts, backoff_base=backoff_base,
                                 rate_per_second=rate_per_second)
        self.client.session.auth = (f"00{self.company_id}/{user}", password)
        self.mapping = mapping or DEFAULT
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.budget = budget or CallBudget(None)
        self.reads = LastReads(read_cache, fresh_seconds=reuse_read_seconds)
        self._unstamped: set[str] = set()
        self._counted = 0

    def __repr__(self) -> str:  # never the password
        return f"UnicontaConnector({self.client.base_url!r}, company {self.company_id})"

    # -- protocol ---------------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        return self.client.calls

    def entities(self) -> tuple[str, ...]:
        return ENTITIES

    def limits(self, entity: str) -> FieldLimits:
        return self.mapping.limits(entity)

    def close(self) -> None:
        run = self.client.calls
        today = self.count_calls()
        # The figures a person watching the budget needs; no records, no credentials.
        level = logging.WARNING if today >= BUDGET_WARNING * self.budget.per_day else logging.INFO
        log.log(level, "uniconta company %s: %d calls in this run, %d today (%d a day before Uniconta slows down)",
                self.company_id, run, today, self.budget.per_day)
        self.reads.close()
        self.client.close()

    def count_calls(self) -> int:
        """Add the calls made since the last count to the day's budget; today's total."""
        new, self._counted = self.client.calls - self._counted, self.client.calls
        return self.budget.add(new)

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        size = max(1, min(chunk_size, self.page_size))
        if entity not in self._unstamped:
            try:
                yield from self._iter_stamped(entity, cursor, size)
                self.reads.pulled(entity)
                return
            except _Unstamped:
                self._unstamped.add(entity)
        yield from self._iter_all(entity, size)
        self.reads.pulled(entity)

    def get(self, entity: str, remote_id_value: str) -> RemoteRecord | None:
        raw = self._get_raw(entity, remote_id_value)
        return self._remember(entity, raw) if raw is not None else None

    def _get_raw(self, entity: str, remote_id_value: str) -> dict[str, Any] | None:
        rows = self._query(entity, {"$filter": key_filter(entity, remote_id_value)}, what=f"get {entity} {remote_id_value}")
        rows = [r for r in rows if self.mapping.carries(entity, r)]
        return rows[0] if rows else None

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        if entity not in ("debtors", "items", "employees", "orders"):
            raise KeyError(f"uniconta: {entity} has no business number")
        if entity == "orders" and not str(number).strip().isdigit():
            return None  # order numbers are integers: no order can carry this one
        return self.get(entity, str(number).strip())

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        payload = {k: v for k, v in self.mapping.to_remote(entity, values).items() if v is not None}
        stored = self._write("POST", "Insert", entity, payload, what=f"create {entity} {_label(values)}".strip())
        return self._remember(entity, stored)

    def update(self, entity: str, remote_id_value: str, values: dict[str, Any], *, guard: WriteGuard | None = None) -> RemoteRecord:
        current = self.reads.current(entity, str(remote_id_value)) or self._get_raw(entity, remote_id_value)
        if current is None:
            raise RecordGone(f"uniconta: update {entity} {remote_id_value}: the record does not exist (deleted in Uniconta)",
                             status=404)
        if guard is not None:
            guard(self.mapping.from_remote(entity, current))
        payload = {**current, **self.mapping.to_remote(entity, values)}
        for read_only in ("UpdatedAt", "Created"):
            payload.pop(read_only, None)
        stored = self._write("PUT", "Update", entity, payload, what=f"update {entity} {remote_id_value}")
        return self._remember(entity, stored)

    def delete(self, entity: str, remote_id_value: str) -> None:
        """Delete by key (RowId for contacts). A debtor with activity is refused by Uniconta
        (CouldNotDeleteRecordThatIsReferred): RecordRejected; one already gone: RecordGone."""
        current = self.reads.current(entity, str(remote_id_value)) or self._get_raw(entity, remote_id_value)
        if current is None:
            raise RecordGone(f"uniconta: delete {entity} {remote_id_value}: the record does not exist", status=404)
        self._write("DELETE", "Delete", entity, {"RowId": current["RowId"]}, what=f"delete {entity} {remote_id_value}")

    # -- reads ------------------------------------------------------------------------------------

    def _odata_path(self, entity: str) -> str:
        return f"/odata/{self.company_id}/{self.mapping.api(entity)}"

    def _query(self, entity: str, params: dict[str, Any], *, what: str) -> list[dict[str, Any]]:
        """Every row of one query, following @odata.nextLink (a server page may be smaller than $top)."""
        url, rows = self._odata_path(entity), []
        while url:
            body = self.client.request("GET", url, what=what, params=params).json()
            rows += body.get("value", [])
            url, params = body.get("@odata.nextLink"), None
        return rows

    def _iter_stamped(self, entity: str, cursor: str | None, size: int) -> Iterator[Chunk]:
        bound = _parse_cursor(cursor)
        while True:
            params = {"$orderby": "UpdatedAt,RowId", "$top": size}
            if bound:
                stamp, row = bound
                params["$filter"] = f"UpdatedAt gt {stamp} or (UpdatedAt eq {stamp} and RowId gt {row})"
            try:
                rows = self._query(entity, params, what=f"list changed {entity}")
            except RecordRejected as exc:
                if exc.status == 400 and "UpdatedAt" in str(exc):
                    raise _Unstamped from None
                raise
            if not rows:
                return
            last = rows[-1]
            if "UpdatedAt" not in last:
                raise _Unstamped
            bound = (last["UpdatedAt"], last["RowId"])
            records = [self._remember(entity, r) for r in rows if self.mapping.carries(entity, r)]
            yield Chunk(records, f"{bound[0]}|{bound[1]}")
            if len(rows) < size:
                return

    def _iter_all(self, entity: str, size: int) -> Iterator[Chunk]:
        skip = 0
        while True:
            rows = self._query(entity, {"$orderby": "RowId", "$top": size, "$skip": skip}, what=f"list {entity}")
            records = [self._remember(entity, r) for r in rows if self.mapping.carries(entity, r)]
            if records:
                yield Chunk(records, None)
            if len(rows) < size:
                return
            skip += len(rows)

    def _remember(self, entity: str, raw: dict[str, Any]) -> RemoteRecord:
        record = self.mapping.from_remote(entity, raw)
        self.reads.remember(entity, record.remote_id, raw)
        return record

    # -- writes -----------------------------------------------------------------------------------

    # Uniconta's own entities that are no model entity (Change-URL registrations), by class name.
    def _query_api(self, api: str) -> list[dict[str, Any]]:
        return self.client.request("GET", f"/api/Entities/Read/{api}", what=f"list {api}").json()

    def _write_api(self, method: str, action: str, api: str, payload: dict[str, Any]) -> Any:
        return self.client.request(method, f"/api/Entities/{action}/{api}", what=f"{action.lower()} {api}",
                                   json=payload).json()

    def _write(self, method: str, action: str, entity: str, payload: dict[str, Any], *, what: str) -> dict[str, Any]:
        captured: list[requests.Response] = []
        try:
            response = self.client.request(method, f"/api/Entities/{action}/{self.mapping.api(entity)}", what=what,
                                           json=payload, hooks={"response": lambda r, *a, **k: captured.append(r)})
        except RecordRejected as exc:
            field_errors = self._field_errors(entity, captured[-1]) if captured else {}
            if exc.status == 404:
                raise RecordGone(f"uniconta: {what}: the record does not exist (deleted in Uniconta)", status=404) from None
            named = "; ".join(f"{k}: {v}" for k, v in field_errors.items())
            raise RecordRejected(f"uniconta: {what} was refused (HTTP {exc.status})" + (f": {named}" if named else f": {exc}"),
                                 status=exc.status, field_errors=field_errors) from None
        return response.json()

    def _field_errors(self, entity: str, response: requests.Response) -> dict[str, str]:
        """Uniconta's errors (Errors[].Field) keyed by model field name (Uniconta's name if unmapped)."""
        try:
            errors = response.json().get("Errors") or []
        except (ValueError, AttributeError):
            return {}
        found: dict[str, list[str]] = {}
        for error in errors:
            remote = str(error.get("Field") or "(record)")
            for name in self.mapping.model_fields_of(entity, remote) or (remote,):
                found.setdefault(name, []).append(f"{error.get('Message', '')} [{error.get('ErrorCode', '')}]".strip())
        return {name: "; ".join(messages) for name, messages in found.items()}


class _Unstamped(Exception):
    """The table's rows carry no UpdatedAt here: read it whole."""


def _parse_cursor(cursor: str | None) -> tuple[str, int] | None:
    if not cursor:
        return None
    stamp, _, row = cursor.partition("|")
    return stamp, int(row or 0)


def _label(values: dict[str, Any]) -> str:
    """What an error names a record by: its number, or a company's name (never a person's e-mail)."""
    return str(values.get("number") or values.get("name") or "")


__all__ = ["CallBudget", "UnicontaConnector", "remote_id"]
