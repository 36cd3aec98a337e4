"""The Visma e-conomic REST connector (system "economic", role "erp").

Cursors (what `iter_changed` yields and accepts), per entity:

- debtors, items: the `lastUpdated` stamp (as e-conomic writes it) up to which every record has been
  delivered. Pages are read oldest first (`sort=lastUpdated`) as keyset pages: each next page asks
  `filter=lastUpdated$gt:<bound>` again instead of following `nextPage`, because a record updated
  during the read moves to the end of the order and would shift the skippages window over a record
  never delivered. The bound is the newest stamp *below* the last record of a full page, so records
  sharing a stamp across a page boundary are read again (at-least-once, deduplicated within a run);
  only when a whole page shares one stamp does the read follow `nextPage` for that stamp.
- invoices, invoice_lines: booked invoices have no lastUpdated and do not change, except their
  remainder; the cursor is the highest bookedInvoiceNumber delivered (`bookedInvoiceNumber$gt:`).
  Lines come from GET /invoices/booked/:number (the collection has no lines): one call per invoice.
  Lines come in chunks of about chunk_size (an invoice's lines stay together); only the chunk that
  ends a page of invoices carries the cursor, the others None.
  The remainder of older invoices is kept current by the payments pull, not by this cursor.
- contacts, payments: e-conomic gives no change stamp (contacts have none; payments are only the
  remainder of booked invoices), so every pull reads all of them and every chunk's cursor is None.

Reading ahead: while the caller maps and writes one page, the next page is already being fetched
(one call in flight, on a worker thread; keyset pages ask for it as soon as the bound is known), and
invoice details are fetched DETAIL_WORKERS at a time, up to DETAIL_WINDOW invoices ahead, across
page boundaries. Records and chunks come out in the same order as with one call at a time, and a
chunk's cursor still only covers records in it or before it; a read ahead that is not used is
dropped. The rate limit (HttpClient.limiter) counts every call, whichever thread makes it.

Writes: e-conomic PUT replaces the whole object, so `update` reads the record, overlays the mapped
fields and PUTs the result (unmapped properties such as vatZone or layout stay as they were).
Tokens live only in the session headers; messages name the call and the record, never the tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from ledgerbridge.connectors.base import Chunk, FieldLimits, RecordGone, RecordRejected, RemoteRecord, WriteGuard
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.systems.economic import mapping
from ledgerbridge.vat_zones import VatZones

ENTITIES = ("debtors", "creditors", "contacts", "items", "invoices", "invoice_lines", "payments")
MAX_PAGE_SIZE = 1000
STAMPED_PATHS = {"debtors": "/customers", "items": "/products"}
# Invoice lines need one GET per invoice: calls in flight at once, and how far ahead they may run.
# A few in flight keep the server busy while this process maps and writes; more only queue there.
DETAIL_WORKERS = 4
DETAIL_WINDOW = 256

T = TypeVar("T")
R = TypeVar("R")


class EconomicConnector:
    system = "economic"
    role = "erp"

    def __init__(self, base_url: str, app_secret_token: str, agreement_grant_token: str, *, timeout: float = 30,
                 max_attempts: int = 5, backoff_base: float = 0.2, rate_per_second: float | None = None,
                 vat_zones: VatZones = mapping.VAT_ZONES):
        self.vat_zones = vat_zones  # the agreement's vat zone codes and the company's country
        self.client = HttpClient(
            base_url,
            system=self.system,
            headers={
                "X-AppSecretToken": app_secret_token,
                "X-AgreementGrantToken": agreement_grant_token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            rate_per_second=rate_per_second,
        )
        self._executor: ThreadPoolExecutor | None = None  # read-ahead workers, started on first use

    def _from_remote(self, entity: str, record: dict, parent: dict | None = None) -> RemoteRecord:
        return mapping.from_remote(entity, record, parent, vat_zones=self.vat_zones)

    def _to_remote(self, entity: str, values: dict[str, Any], *, create: bool = False) -> dict[str, Any]:
        return mapping.to_remote(entity, values, create=create, vat_zones=self.vat_zones)

    def __repr__(self) -> str:  # never the tokens
        return f"EconomicConnector({self.client.base_url!r})"

    # -- protocol --------------------------------------------------------------------------------

    def entities(self) -> tuple[str, ...]:
        return ENTITIES

    def limits(self, entity: str) -> FieldLimits:
        return mapping.limits(entity)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.client.close()

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        size = max(1, min(chunk_size, MAX_PAGE_SIZE))
        if entity in STAMPED_PATHS:
            yield from self._iter_stamped(entity, cursor, size)
        elif entity == "contacts":
            yield from self._iter_contacts(size)
        elif entity == "creditors":  # /suppliers has no lastUpdated: every pull reads them all
            for page in self._pages("/suppliers", {"pagesize": size}, what="list suppliers"):
                if page:
                    yield Chunk([self._from_remote("creditors", r) for r in page], None)
        elif entity in ("invoices", "invoice_lines"):
            yield from self._iter_invoices(entity, cursor, size)
        elif entity == "payments":
            for page in self._pages("/invoices/booked", {"pagesize": size}, what="list booked invoices"):
                paid = [p for p in (self._from_remote("payments", r) for r in page) if p.values["amount"]]
                if paid:
                    yield Chunk(paid, None)
        else:
            raise KeyError(f"economic: unknown entity {entity!r}")

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None:
        if entity == "invoice_lines":
            number, line = str(remote_id).split("/", 1)
            invoice = self._get_json(f"/invoices/booked/{quote(number)}", what=f"get invoice {number}")
            matches = [l for l in (invoice or {}).get("lines", []) if str(l.get("lineNumber")) == line]
            return self._from_remote(entity, matches[0], invoice) if matches else None
        record = self._get_json(self._path(entity, remote_id), what=f"get {entity} {remote_id}")
        return self._from_remote(entity, record) if record is not None else None

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        """The record with this business number: debtors and invoices are keyed by number, items too."""
        if entity not in ("debtors", "creditors", "items", "invoices"):
            raise KeyError(f"economic: {entity} has no business number")
        if entity != "items" and not str(number).strip().isdigit():
            return None  # e-conomic numbers are integers: no record can carry this one
        return self.get(entity, str(number).strip())

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        """Create; a debtor without number gets e-conomic's next free number (returned in remote_id).

        invoices are created as drafts (POST /invoices/drafts, `values["lines"]` as invoice_lines
        dicts); the returned record has remote_id "draft/<draftInvoiceNumber>" and status "draft".
        """
        payload = self._to_remote(entity, values, create=True)
        if entity == "debtors":
            path = "/customers"
        elif entity == "creditors":
            path = "/suppliers"
        elif entity == "items":
            path = "/products"
        elif entity == "contacts":
            path = f"/customers/{quote(str(values.get('debtor_id')))}/contacts"
        elif entity == "invoices":
            return self._create_draft(values, payload)
        else:
            raise KeyError(f"economic: cannot create {entity}")
        record = self._write("POST", path, payload, entity=entity, what=f"create {entity} {values.get('number') or ''}".strip())
        return self._from_remote(entity, record)

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *, guard: WriteGuard | None = None) -> RemoteRecord:
        if entity not in ("debtors", "creditors", "items", "contacts"):
            raise KeyError(f"economic: cannot update {entity}")
        path = self._path(entity, remote_id)
        current = self._get_json(path, what=f"get {entity} {remote_id}")
        if current is None:
            raise RecordGone(f"economic: update {entity} {remote_id}: the record does not exist (deleted in economic)", status=404)
        if guard is not None:
            guard(self._from_remote(entity, current))
        # Only the given fields are written; every other property goes back as e-conomic holds it
        # (a country typed "Belgique" stays so, an address line is not re-joined).
        merged = {**self._from_remote(entity, current).values, **values}
        fields = set(values)
        if fields & {"street", "house_number"}:
            fields |= {"street", "house_number", "country"}  # the line is joined from both (in the country's order)
        if merged.get("vat_zone") is None:
            fields.discard("vat_zone")  # a zone is required: an unknown one is left as it is
        owned = set(mapping.remote_top_keys(entity, fields)) - ({"country"} - set(values))
        payload = {k: v for k, v in current.items() if k not in owned}
        written = self._to_remote(entity, {k: merged.get(k) for k in fields})
        payload.update({k: v for k, v in written.items() if k in owned})
        if entity == "debtors":
            payload["customerNumber"] = current["customerNumber"]
        elif entity == "creditors":
            payload["supplierNumber"] = current["supplierNumber"]
        record = self._write("PUT", path, payload, entity=entity, what=f"update {entity} {remote_id}")
        return self._from_remote(entity, record)

    def delete(self, entity: str, remote_id: str) -> None:
        """DELETE the customer, contact or product. e-conomic refuses to delete a customer that has
        postings (RecordRejected): the caller bars it instead."""
        if entity not in ("debtors", "items", "contacts"):
            raise NotImplementedError(f"economic: {entity} cannot be deleted through the API")
        try:
            self.client.request("DELETE", self._path(entity, remote_id), what=f"delete {entity} {remote_id}")
        except RecordRejected as exc:
            if exc.status == 404:
                raise RecordGone(f"economic: delete {entity} {remote_id}: already gone", status=404) from None
            raise

    # -- reads -----------------------------------------------------------------------------------

    def _path(self, entity: str, remote_id: str) -> str:
        rid = str(remote_id)
        if entity == "debtors":
            return f"/customers/{quote(rid)}"
        if entity == "creditors":
            return f"/suppliers/{quote(rid)}"
        if entity == "items":
            return f"/products/{mapping.encode_key(rid)}"
        if entity in ("invoices", "payments"):
            return f"/invoices/booked/{quote(rid)}"
        if entity == "contacts":
            customer, contact = rid.split("/", 1)
            return f"/customers/{quote(customer)}/contacts/{quote(contact)}"
        raise KeyError(f"economic: unknown entity {entity!r}")

    def _get_json(self, path: str, *, what: str, params: dict | None = None) -> dict | None:
        try:
            return self.client.get_json(path, what=what, params=params)
        except RecordRejected as exc:
            if exc.status == 404:
                return None
            raise

    # -- reading ahead ---------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=DETAIL_WORKERS, thread_name_prefix="economic-read")
        return self._executor

    def _get_body(self, path: str, params: dict[str, Any] | None, what: str) -> dict:
        return self.client.get_json(path, what=what, params=params)

    def _ahead(self, fetch: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[tuple[T, R]]:
        """(item, fetch(item)) in the order of `items`, with up to `window` fetches started ahead."""
        pool, started = self._pool(), deque()
        try:
            for item in items:
                started.append((item, pool.submit(fetch, item)))
                if len(started) >= window:
                    first, future = started.popleft()
                    yield first, future.result()
            while started:
                first, future = started.popleft()
                yield first, future.result()
        finally:
            for _, future in started:
                future.cancel()

    # -- paging ----------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, Any], *, what: str) -> Iterator[list[dict]]:
        """Every page of a collection, following pagination.nextPage (the next one fetched ahead)."""
        pending: Future | None = self._pool().submit(self._get_body, path, params, what)
        try:
            while pending is not None:
                body = pending.result()
                url = body.get("pagination", {}).get("nextPage")  # nextPage carries the query
                pending = self._pool().submit(self._get_body, url, None, what) if url else None
                yield body.get("collection", [])
        finally:
            if pending is not None:
                pending.cancel()

    def _iter_stamped(self, entity: str, cursor: str | None, size: int) -> Iterator[Chunk]:
        path, what = STAMPED_PATHS[entity], f"list changed {entity}"
        bound, skip, again, newest = cursor, 0, set(), cursor

        def page_params() -> dict[str, Any]:
            params: dict[str, Any] = {"pagesize": size, "skippages": skip, "sort": "lastUpdated"}
            if bound:
                params["filter"] = f"lastUpdated$gt:{bound}"
            return params

        pending: Future | None = self._pool().submit(self._get_body, path, page_params(), what)
        try:
            while pending is not None:
                body, pending = pending.result(), None
                rows = body.get("collection", [])
                stamped = [(r, mapping.parse_timestamp(r.get("lastUpdated"))) for r in rows]
                unseen = [r for r in rows if (mapping.remote_id(entity, r), r.get("lastUpdated")) not in again]
                newest_ts = mapping.parse_timestamp(newest)
                for r, ts in stamped:
                    if newest_ts is None or ts > newest_ts:
                        newest, newest_ts = r["lastUpdated"], ts
                if "nextPage" not in body.get("pagination", {}) or len(rows) < size:
                    if unseen:
                        yield Chunk([self._from_remote(entity, r) for r in unseen], newest)
                    return
                last = stamped[-1][1]
                below = [(r["lastUpdated"], ts) for r, ts in stamped if ts < last]
                if below:
                    bound, skip = max(below, key=lambda pair: pair[1])[0], 0
                    again = {(mapping.remote_id(entity, r), r["lastUpdated"]) for r, ts in stamped if ts == last}
                else:
                    skip, again = skip + 1, set()  # a whole page on one stamp: page through it
                # The next page's bound is known: ask for it now, map and hand over this one meanwhile.
                pending = self._pool().submit(self._get_body, path, page_params(), what)
                if unseen:
                    yield Chunk([self._from_remote(entity, r) for r in unseen], bound)
        finally:
            if pending is not None:
                pending.cancel()

    def _iter_contacts(self, size: int) -> Iterator[Chunk]:
        for customers in self._pages("/customers", {"pagesize": MAX_PAGE_SIZE}, what="list customers"):
            for customer in customers:
                number = customer["customerNumber"]
                for page in self._pages(f"/customers/{number}/contacts", {"pagesize": size},
                                        what=f"list contacts of customer {number}"):
                    if page:
                        yield Chunk([self._from_remote("contacts", c) for c in page], None)

    def _iter_invoices(self, entity: str, cursor: str | None, size: int) -> Iterator[Chunk]:
        params: dict[str, Any] = {"pagesize": size, "sort": "bookedInvoiceNumber"}
        if cursor:
            params["filter"] = f"bookedInvoiceNumber$gt:{int(cursor)}"
        pages = (page for page in self._pages("/invoices/booked", params, what="list booked invoices") if page)
        if entity == "invoices":
            for page in pages:
                newest = str(max(int(r["bookedInvoiceNumber"]) for r in page))
                yield Chunk([self._from_remote("invoices", r) for r in page], newest)
            return

        def headers() -> Iterator[tuple[Any, str | None]]:
            """Each invoice number, the last of a page with the page's cursor."""
            for page in pages:
                newest = str(max(int(r["bookedInvoiceNumber"]) for r in page))
                for index, header in enumerate(page, start=1):
                    yield header["bookedInvoiceNumber"], (newest if index == len(page) else None)

        def detail(item: tuple[Any, str | None]) -> dict:
            number = item[0]
            return self._get_json(f"/invoices/booked/{number}", what=f"get invoice {number}") or {}

        lines: list[RemoteRecord] = []
        for (_, page_cursor), invoice in self._ahead(detail, headers(), DETAIL_WINDOW):
            lines += [self._from_remote("invoice_lines", line, invoice) for line in invoice.get("lines", [])]
            if page_cursor is not None:  # a page's invoices are all in: its cursor goes with the last chunk
                yield Chunk(lines, page_cursor)
                lines = []
            elif len(lines) >= size:
                # At most about a chunk of lines in memory however many an invoice has; no cursor yet
                # (the page's invoices are not all in): a pull stopped here reads them again.
                yield Chunk(lines, None)
                lines = []

    # -- writes ----------------------------------------------------------------------------------

    def _create_draft(self, values: dict[str, Any], payload: dict[str, Any]) -> RemoteRecord:
        customer = self._get_json(f"/customers/{quote(str(values.get('debtor_id')))}",
                                  what=f"get customer {values.get('debtor_id')}") or {}
        # A draft needs payment terms and a recipient; e-conomic's own template takes them from the customer.
        payload.setdefault("paymentTerms", {"paymentTermsNumber": mapping.get_path(customer, "paymentTerms.paymentTermsNumber") or 1})
        recipient = {"name": customer.get("name") or "", "vatZone": {
            "vatZoneNumber": mapping.get_path(customer, "vatZone.vatZoneNumber") or mapping.DEFAULT_VAT_ZONE}}
        for key in ("address", "zip", "city", "country"):
            if customer.get(key):
                recipient[key] = customer[key]
        payload.setdefault("recipient", recipient)
        record = self._write("POST", "/invoices/drafts", payload, entity="invoices", what="create draft invoice")
        result = self._from_remote("invoices", {**record, "bookedInvoiceNumber": None})
        values_out = {**result.values, "number": None, "status": "draft"}
        return RemoteRecord(f"draft/{record['draftInvoiceNumber']}", values_out, result.updated_at)

    def _write(self, method: str, path: str, payload: dict, *, entity: str, what: str) -> dict:
        captured: list[requests.Response] = []
        try:
            response = self.client.request(method, path, what=what, json=payload,
                                           hooks={"response": lambda r, *a, **k: captured.append(r)})
        except RecordRejected as exc:
            field_errors = self._field_errors(entity, captured[-1]) if captured else {}
            named = "; ".join(f"{k}: {v}" for k, v in field_errors.items())
            raise RecordRejected(f"economic: {what} was refused (HTTP {exc.status})" + (f": {named}" if named else f": {exc}"),
                                 status=exc.status, field_errors=field_errors) from None
        return response.json()

    @staticmethod
    def _field_errors(entity: str, response: requests.Response) -> dict[str, str]:
        """e-conomic's annotated errors, keyed by model field name (e-conomic's name if unmapped)."""
        try:
            errors = response.json().get("errors") or {}
        except ValueError:
            return {}
        found: dict[str, list[str]] = {}

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for item in node.get("errors", []) if isinstance(node.get("errors"), list) else []:
                    found.setdefault(mapping.remote_to_model_field(entity, path), []).append(item.get("message", ""))
                for key, child in node.items():
                    if key != "errors":
                        walk(child, f"{path}.{key}" if path else key)
            elif isinstance(node, list):
                for child in node:
                    walk(child, path)

        walk(errors, "")
        return {name: " ".join(messages) for name, messages in found.items()}
