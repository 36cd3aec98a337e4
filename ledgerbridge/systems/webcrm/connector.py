"""webCRM connector (REST API v1): debtors <-> Organisations, contacts <-> Persons, items <-> Products,
invoices <-> Deliveries, invoice_lines <-> QuotationLines, payments <-> the paid fields of the
invoice's Delivery (see mapping.py for what lives where).

Auth: POST /Auth/ApiLogin with the API key as the multipart field authCode gives a bearer token.
The login is lazy (first call), renewed before the announced expiry, and again on any 401 (the
token may be revoked early). The key and tokens never appear in messages or exceptions.

Calls per operation (what the fair-use budget pays):
- iter_changed: one GET per page (page size = chunk_size, at most 1000; scanned resources: 1000).
- get: 1. create: 2 (PATCH upsert, which returns the assigned id, then GET the stored record:
  POST /Organisations answers 200 without a body or Location header, so it cannot tell the new
  id; PATCH serves every resource the same way).
- create of a payment: 3, as an update of the invoice's delivery (values["invoice_id"]).
- update: 3 (GET, PUT of the whole merged DTO, GET). PUT replaces the record, so unmapped fields
  are carried over from the GET; a write by someone else between GET and PUT is lost (webCRM has
  no ETag). Only the fields being written (and the other parts of a composite such as the address
  line) are re-encoded, so an unchanged "Danmark" is not rewritten as "Denmark".
- find_by_number: pages through the whole resource, ceil(N/1000) GETs per lookup: the REST
  resources have no filter on custom fields. Fine for lookup-before-create of a few records; a
  bulk matcher should use a full pull instead.

Cursors (iter_changed). Only Organisations have FindByUpdateDates in webCRM's spec; Persons,
Products, Deliveries and QuotationLines have no update-date filter (Deliveries only
FindByCreateDates, which misses updates), so those are scanned:
- scanned resources (contacts, items, invoices, invoice_lines, payments), any cursor: page
  through GET /{resource} (by id), ceil(N/1000) GETs whatever the chunk size (so a "has anything
  changed?" probe costs as much as a pull: no cheap probe exists), and keep the records whose
  XUpdatedAt >= cursor (all when None). Only the last chunk carries a cursor: the server time
  (Date header) of the first page minus WATERMARK_MARGIN, so a write made while the scan ran
  comes again next time (a duplicate, a no-op downstream). Intermediate chunks carry None. The
  cursor is a time, so it is the same kind as the Organisations' one. A record deleted in the
  UI during a scan shifts the id-ordered pages and can make one other record skip this scan; it
  is not re-read later unless it changes again: the nightly full reconcile (cursor None) catches it.
  invoice_lines first list the delivery ids (GET /Deliveries, ceil(D/1000) calls), because GET
  /QuotationLines also holds lines of opportunities; a line whose parent is no delivery is skipped.
  payments yield only deliveries that show a paid amount; every delivery is an invoice.
  Webhooks (/Deliveries/Hooks, /QuotationLines/Hooks) can trigger the scan sooner; they do not
  make it cheaper.
- Organisations, cursor None: a full paged GET /Organisations (by id). Only its last chunk carries
  a cursor: the server time (Date header) of the first page minus WATERMARK_MARGIN, so every write
  made while the pull ran is picked up by the next incremental pull. Earlier chunks carry None (not resumable:
  the listing is by id, not by time, so a position inside it is no time cursor).
- Organisations, cursor set: FindByUpdateDates/{cursor}/{far future}. The start is inclusive
  (startDate <= updateDate), and the cursor is the newest update time seen so far, *not* one tick later: the
  record(s) stamped exactly at the cursor are delivered again on resume. That duplicate is a no-op
  downstream (its hash equals what was seen), whereas "cursor + 1 ms" would lose a record stamped
  in the same instant but committed after the read (possible on the real webCRM, whose stamps
  are not guaranteed unique). Pages are walked by keyset: each request starts at the newest time
  seen, so a record updated during the pull moves to the end of the window instead of shifting
  the pages and making another record skip a page. This relies on webCRM returning the window
  ordered by update time (the emulator does); the connector checks this and fails loudly rather
  than skip records.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from ledgerbridge.connectors.base import Chunk, ConnectorError, FieldLimits, RecordGone, RecordRejected, RemoteRecord, WriteGuard
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.systems.webcrm.contract import DELETABLE, FIND_BY_DATES, LINE_PARENTS, id_field, parse_timestamp
from ledgerbridge.systems.webcrm.mapping import VAT_ZONE_FIELD, WebcrmMapping

FAR_FUTURE = "3000-01-01T00:00:00.000Z"
MAX_PAGE_SIZE = 1000  # the spec's maximum for Size


def format_timestamp(ts: datetime) -> str:
    ts = ts.astimezone(timezone.utc)
    spec = "milliseconds" if ts.microsecond % 1000 == 0 else "microseconds"
    return ts.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


class WebcrmConnector:
    system = "webcrm"
    role = "crm"
    WATERMARK_MARGIN = timedelta(seconds=5)  # server Date has 1 s resolution, plus clock skew

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        number_field: str = "OrganisationExtraCustom1",
        item_fields: dict[str, str] | None = None,
        invoice_fields: dict[str, str] | None = None,
        payment_fields: dict[str, str] | None = None,
        line_fields: dict[str, str] | None = None,
        sellers: bool = False,
        vat_zone_field: str = VAT_ZONE_FIELD,
        timeout: float = 30,
        max_attempts: int = 5,
        backoff_base: float = 0.2,
        rate_per_second: float | None = None,
    ):
        self.mapping = WebcrmMapping(
            number_field=number_field, item_fields=item_fields, invoice_fields=invoice_fields,
            payment_fields=payment_fields, line_fields=line_fields, sellers=sellers, vat_zone_field=vat_zone_field,
        )
        self._api_key = api_key
        options = dict(system=self.system, timeout=timeout, max_attempts=max_attempts, backoff_base=backoff_base)
        self.http = HttpClient(
            base_url, headers={"Accept": "application/json"}, rate_per_second=rate_per_second,
            auth_refresh=self._login, **options,
        )
        # Logins go through their own client: a 401 there must not trigger another login.
        self._auth_http = HttpClient(base_url, headers={"Accept": "application/json"}, **options)
        self._auth_http.limiter = self.http.limiter
        self._token_valid_until = 0.0  # time.monotonic(); 0 = not logged in

    def __repr__(self) -> str:
        return f"WebcrmConnector({self.http.base_url!r})"

    # -- auth ---------------------------------------------------------------------------------
    def _login(self) -> dict[str, str]:
        """Log in with the API key; returns the Authorization header (also used as auth_refresh)."""
        try:
            response = self._auth_http.request(
                "POST", "/Auth/ApiLogin", what="login (POST /Auth/ApiLogin)", safe=True,
                files={"authCode": (None, self._api_key)},
            )
            body = response.json()
        except ConnectorError as exc:
            hint = "; check the API key" if exc.status in (401, 403) else ""
            raise ConnectorError(f"webcrm: login failed: {exc}{hint}", status=exc.status) from None
        except ValueError:
            raise ConnectorError("webcrm: login answered no JSON") from None
        if body.get("IsError") or not body.get("AccessToken"):
            raise ConnectorError(f"webcrm: login refused ({body.get('Error') or 'no token'}); check the API key", status=401)
        expires_in = float(body.get("ExpiresIn") or 0)
        # Renew a little early so a token does not expire between our check and the server's.
        self._token_valid_until = time.monotonic() + expires_in - min(30.0, expires_in / 10)
        header = {"Authorization": f"Bearer {body['AccessToken']}"}
        self.http.session.headers.update(header)
        return header

    def _call(self, method: str, path: str, *, what: str, entity: str | None = None, **kwargs: Any) -> requests.Response:
        if time.monotonic() >= self._token_valid_until:
            self._login()
        last: list[requests.Response] = []
        kwargs["hooks"] = {"response": lambda r, *a, **k: last.append(r)}  # to read a 400's body
        try:
            return self.http.request(method, path, what=what, **kwargs)
        except RecordRejected as exc:
            if exc.status == 401:
                raise ConnectorError(f"webcrm: {what}: unauthorized even after a new login", status=401) from None
            if exc.status == 400 and entity and last:
                raise self._rejected(entity, what, last[-1]) from None
            raise

    def _rejected(self, entity: str, what: str, response: requests.Response) -> RecordRejected:
        """A validation 400 as RecordRejected, its field errors keyed by model field names."""
        try:
            errors = response.json().get("errors") or {}
        except (ValueError, AttributeError):
            errors = {}
        field_errors: dict[str, str] = {}
        for key, messages in errors.items():
            remote = key.rsplit(".", 1)[-1]  # "[0].OrganisationName" / "$.X" -> the DTO field
            text = "; ".join(messages) if isinstance(messages, list) else str(messages)
            for field in self.mapping.model_fields_of(entity, remote) or (remote,):
                field_errors[field] = f"{remote}: {text}"
        summary = "; ".join(f"{f}: {m}" for f, m in field_errors.items()) or response.text[:300]
        return RecordRejected(f"webcrm: {what} was refused: {summary}", status=400, field_errors=field_errors)

    # -- protocol -----------------------------------------------------------------------------
    def entities(self) -> tuple[str, ...]:
        return tuple(self.mapping.maps)

    def limits(self, entity: str) -> FieldLimits:
        return self.mapping.limits(entity)

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        resource = self.mapping.resource(entity)
        size = max(1, min(chunk_size, MAX_PAGE_SIZE))
        if "Update" not in FIND_BY_DATES[resource]:
            yield from self._scan(entity, resource, parse_timestamp(cursor) if cursor else None, size)
        elif cursor is None:
            yield from self._full_pull(entity, resource, size)
        else:
            yield from self._pull_since(entity, resource, parse_timestamp(cursor), size)

    def _scan(self, entity: str, resource: str, since: datetime | None, size: int) -> Iterator[Chunk]:
        """A resource without FindByUpdateDates: page through all of it (by id) and keep what was
        updated at or after `since` (everything when None). API pages are always MAX_PAGE_SIZE
        (most rows are filtered out, so the chunk size must not multiply the calls); the kept
        records come in chunks of `size`. Only the last chunk carries a cursor: the server time of
        the first page minus WATERMARK_MARGIN (see the module docstring)."""
        parents = self._parent_ids(LINE_PARENTS[entity]) if entity in LINE_PARENTS else None
        watermark: str | None = None
        pending: list[RemoteRecord] = []
        page = 1
        while True:
            response = self._call(
                "GET", f"/{resource}", what=f"GET /{resource} page {page}", params={"Page": page, "Size": MAX_PAGE_SIZE}
            )
            if watermark is None:
                watermark = format_timestamp(_server_time(response) - self.WATERMARK_MARGIN)
            rows = response.json()
            for row in rows:
                if not self.mapping.carries(entity, row):
                    continue
                if parents is not None and row.get("QuotationLineOpportunityId") not in parents:
                    continue  # a line of the other parent (an opportunity's line is no invoice line)
                record = self.mapping.from_remote(entity, row)
                if since is None or record.updated_at is None or record.updated_at >= since:
                    pending.append(record)
            if len(rows) < MAX_PAGE_SIZE:
                break
            while len(pending) > size:  # keep at least one back: the last chunk carries the cursor
                yield Chunk(pending[:size], None)
                pending = pending[size:]
            page += 1
        while len(pending) > size:
            yield Chunk(pending[:size], None)
            pending = pending[size:]
        yield Chunk(pending, watermark)

    def _parent_ids(self, resource: str) -> set[int]:
        """Every delivery's (or opportunity's) id: GET /QuotationLines lists the lines of both, and
        an invoice line is a delivery's, an order line an opportunity's (ceil(parents/1000) calls)."""
        ids: set[int] = set()
        page = 1
        while True:
            rows = self._call(
                "GET", f"/{resource}", what=f"GET /{resource} page {page} (parent ids)",
                params={"Page": page, "Size": MAX_PAGE_SIZE},
            ).json()
            ids.update(r[id_field(resource)] for r in rows)
            if len(rows) < MAX_PAGE_SIZE:
                return ids
            page += 1

    def _full_pull(self, entity: str, resource: str, size: int) -> Iterator[Chunk]:
        watermark: str | None = None
        page = 1
        while True:
            response = self._call("GET", f"/{resource}", what=f"GET /{resource} page {page}", params={"Page": page, "Size": size})
            if watermark is None:
                watermark = format_timestamp(_server_time(response) - self.WATERMARK_MARGIN)
            rows = response.json()
            last = len(rows) < size
            yield Chunk([self.mapping.from_remote(entity, r) for r in rows], watermark if last else None)
            if last:
                return
            page += 1

    def _pull_since(self, entity: str, resource: str, start: datetime, size: int) -> Iterator[Chunk]:
        page = 1
        seen_at_start: set[str] = set()  # ids already yielded whose update time equals `start`
        while True:
            path = f"/{resource}/FindByUpdateDates/{format_timestamp(start)}/{FAR_FUTURE}"
            response = self._call("GET", path, what=f"GET /{resource}/FindByUpdateDates page {page}", params={"Page": page, "Size": size})
            rows = response.json()
            records = [self.mapping.from_remote(entity, r) for r in rows]
            stamps = [r.updated_at for r in records]
            if any(s is None for s in stamps) or stamps != sorted(stamps):
                raise ConnectorError(f"webcrm: {resource}/FindByUpdateDates is not ordered by update time; cannot page it safely")
            fresh = [r for r in records if not (r.updated_at == start and r.remote_id in seen_at_start)]
            newest = stamps[-1] if stamps else start
            if newest > start:  # keyset: the next request starts at the newest time seen
                start, page = newest, 1
                seen_at_start = {r.remote_id for r in records if r.updated_at == newest}
            else:  # a whole page stamped `start` itself: page on within that instant
                page += 1
                seen_at_start |= {r.remote_id for r in records}
            done = len(rows) < size
            if fresh or done:
                yield Chunk(fresh, format_timestamp(start))
            if done:
                return

    def _get_raw(self, resource: str, remote_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/{resource}/{int(remote_id)}", what=f"GET /{resource}/{remote_id}").json()
        except RecordRejected as exc:
            if exc.status == 404:
                return None
            raise

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None:
        """The record, or None; for payments None also when the delivery shows no payment."""
        raw = self._get_raw(self.mapping.resource(entity), remote_id)
        if raw is None or not self.mapping.carries(entity, raw):
            return None
        return self.mapping.from_remote(entity, raw)

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        """Pages through all records (ceil(N/1000) calls): no REST filter on custom fields exists."""
        resource = self.mapping.resource(entity)
        field = self.mapping.number_remote_field(entity)
        if field is None or number in (None, ""):
            return None
        wanted = str(number).strip()
        page = 1
        while True:
            rows = self._call(
                "GET", f"/{resource}", what=f"GET /{resource} page {page} (find by number)",
                params={"Page": page, "Size": MAX_PAGE_SIZE},
            ).json()
            for row in rows:
                if str(row.get(field) or "").strip() == wanted:
                    return self.mapping.from_remote(entity, row)
            if len(rows) < MAX_PAGE_SIZE:
                return None
            page += 1

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        if entity == "payments":
            return self._create_payment(values)
        resource = self.mapping.resource(entity)
        what = f"create {entity} (PATCH /{resource})"
        payload = self.mapping.to_remote(entity, values)
        result = self._call("PATCH", f"/{resource}", what=what, entity=entity, json=[payload]).json()
        new_id = str(result[0]).strip() if isinstance(result, list) and result else ""
        if not new_id.isdigit():
            raise RecordRejected(f"webcrm: {what} was refused: {str(result)[:300]}")
        created = self.get(entity, new_id)
        if created is None:
            raise ConnectorError(f"webcrm: {what}: {resource} {new_id} was assigned but cannot be read back")
        return created

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *, guard: WriteGuard | None = None) -> RemoteRecord:
        resource = self.mapping.resource(entity)
        what = f"update {entity} {remote_id} (PUT /{resource}/{remote_id})"
        current = self._get_raw(resource, remote_id)
        if current is None:
            raise RecordGone(f"webcrm: {what}: {resource} {remote_id} does not exist (deleted in webcrm)", status=404)
        if guard is not None:
            guard(self.mapping.from_remote(entity, current))
        merged = {**self.mapping.from_remote(entity, current).values, **values}
        touched = {f: merged.get(f) for f in self.mapping.expand(entity, values)}
        payload = {**current, **self.mapping.to_remote(entity, touched), id_field(resource): int(remote_id)}
        self._call("PUT", f"/{resource}/{int(remote_id)}", what=what, entity=entity, json=payload)
        stored = self._get_raw(resource, remote_id)
        if stored is None:
            raise ConnectorError(f"webcrm: {what}: the record disappeared after the update")
        return self.mapping.from_remote(entity, stored)

    def delete(self, entity: str, remote_id: str) -> None:
        """DELETE where webCRM's API has it (products, quotation lines); organisations and persons
        cannot be deleted through the API (NotImplementedError: the caller anonymises or unlinks)."""
        resource = self.mapping.resource(entity)
        if resource not in DELETABLE:
            raise NotImplementedError(f"webcrm: {resource} cannot be deleted through the API")
        try:
            self._call("DELETE", f"/{resource}/{int(remote_id)}", what=f"delete {entity} {remote_id} (DELETE /{resource})")
        except RecordRejected as exc:
            if exc.status == 404:
                raise RecordGone(f"webcrm: delete {entity} {remote_id}: already gone", status=404) from None
            raise

    def _create_payment(self, values: dict[str, Any]) -> RemoteRecord:
        """A payment has no record of its own: it is written onto its invoice's delivery, whose id
        is the payment's remote id. Writing it twice is harmless (the same fields, the same values)."""
        invoice_id = str(values.get("invoice_id") or "").strip()
        if not invoice_id.isdigit():
            raise RecordRejected(
                "webcrm: create payments was refused: invoice_id: the delivery of the invoice is required",
                status=400, field_errors={"invoice_id": "required: the webCRM delivery id of the invoice"},
            )
        try:
            return self.update("payments", invoice_id, values)
        except RecordRejected as exc:
            if exc.status != 404:
                raise
            raise RecordRejected(
                f"webcrm: create payments was refused: invoice_id: delivery {invoice_id} does not exist",
                status=404, field_errors={"invoice_id": f"delivery {invoice_id} does not exist"},
            ) from None

    def close(self) -> None:
        self.http.close()
        self._auth_http.close()


def _server_time(response: requests.Response) -> datetime:
    """The server's clock (Date header) or, lacking one, ours: where a full pull's watermark starts."""
    value = response.headers.get("Date")
    if value:
        try:
            return email.utils.parsedate_to_datetime(value).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return datetime.now(timezone.utc)
