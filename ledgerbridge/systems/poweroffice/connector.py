"""The PowerOffice Go v2 connector (system "poweroffice", role "erp").

Auth: OAuth2 client credentials (application key + client key, Basic) plus the
`Ocp-Apim-Subscription-Key` header on every call. A token lives 20 minutes and cannot be refreshed:
the connector asks for a new one shortly before it expires, and when a call is answered 401 anyway
(a token revoked or expired early) HttpClient asks for a new one and repeats the call once, so a long
run never fails on an expired token. Go allows 10 calls/s per subscription key: the client-side
limiter keeps under it and a 429 is waited out (Retry-After, at least 1 s) and retried.

Cursors (debtors, creditors): "<contact stamp>|<address stamp>". Go's LastChangedDateTimeOffset on a
customer does not move when only its address or one of its contact persons changes [V]. So a pull
reads (1) the contacts whose own stamp is newer (keyset pages ordered by the stamp), and (2) one
projected list of every contact's MailAddress (`Fields=Id,MailAddress`: two properties, up to 20 000
contacts per call), whose own LastChangedDateTimeOffset shows address edits; only those contacts
are then read in full, one GET each. Contact-person edits are the `contacts` entity's own changes,
read with /ContactPersons?lastChangedDateTimeOffsetGreaterThan (their stamps do move). The probe
asks the same two questions: one call with PageSize=1 and one projected address list.

Creates are idempotent through ExternalImportReference: the CRM's id travels in it (model field
crm_id), Go refuses a second contact with the same reference, and after an uncertain outcome (a 5xx
or a lost reply to the POST) the connector looks the reference up before it sends again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import requests

from ledgerbridge.connectors.base import (
    Chunk, ConnectorError, FieldLimits, RecordGone, RecordRejected, RemoteRecord, WriteGuard,
)
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.systems.poweroffice import contract as c
from ledgerbridge.systems.poweroffice import mapping
from ledgerbridge.systems.vocabulary import get_path, parse_timestamp

REFRESH_MARGIN_SECONDS = 60  # ask for a new token this long before the old one runs out
READ_ONLY = ("invoices", "invoice_lines", "payments")


class PowerOfficeConnector:
    system = "poweroffice"
    role = "erp"

    def __init__(self, base_url: str, application_key: str, client_key: str, subscription_key: str, *,
                 timeout: float = 30, max_attempts: int = 5, backoff_base: float = 0.2,
                 rate_per_second: float | None = c.CLIENT_REQUESTS_PER_SECOND, page_size: int = c.DEFAULT_PAGE_SIZE):
        root = base_url.rstrip("/")
        self._credentials = (application_key, client_key)
        self._subscription = {c.SUBSCRIPTION_HEADER: subscription_key}
        self.page_size = max(1, min(page_size, c.MAX_PAGE_SIZE))
        self.token_client = HttpClient(root, system=self.system, headers=self._subscription, timeout=timeout,
                                       max_attempts=max_attempts, backoff_base=backoff_base)
        self.client = HttpClient(
            root + c.API_PREFIX, system=self.system,
            headers={**self._subscription, "Accept": "application/json"},
            timeout=timeout, max_attempts=max_attempts, backoff_base=backoff_base,
            rate_per_second=rate_per_second, auth_refresh=self._new_token,
        )
        self._expires_at = 0.0
        self._token_lock = threading.Lock()
        self.tokens_fetched = 0

    def __repr__(self) -> str:  # never the keys
        return f"PowerOfficeConnector({self.client.base_url!r})"

    @property
    def calls(self) -> int:
        return self.client.calls + self.token_client.calls

    # -- auth ----------------------------------------------------------------------------------------

    def _new_token(self) -> dict[str, str]:
        with self._token_lock:
            response = self.token_client.request(
                "POST", c.TOKEN_PATH, what="get an access token", auth=self._credentials,
                data={"grant_type": "client_credentials"},
            )
            body = response.json()
            lifetime = float(body.get("expires_in") or c.TOKEN_LIFETIME_SECONDS)
            self._expires_at = time.monotonic() + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 4)
            self.tokens_fetched += 1
            header = {"Authorization": f"Bearer {body['access_token']}"}
            self.client.session.headers.update(header)
            return header

    def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        if time.monotonic() >= self._expires_at:
            self._new_token()
        return self.client.request(method, path, what=what, **kwargs)

    # -- protocol ------------------------------------------------------------------------------------

    def entities(self) -> tuple[str, ...]:
        return mapping.ENTITIES

    def limits(self, entity: str) -> FieldLimits:
        return mapping.limits(entity)

    def close(self) -> None:
        self.client.close()
        self.token_client.close()

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        size = max(1, min(chunk_size, self.page_size))
        if entity in ("debtors", "creditors"):
            yield from self._iter_contacts(entity, cursor, size)
        elif entity in ("contacts", "items", "invoices"):
            for records, newest in self._stamped_pages(mapping.SPECS[entity].path, cursor, size, entity):
                yield Chunk([mapping.from_remote(entity, r) for r in records], newest)
        elif entity == "invoice_lines":  # Go's invoices come without lines: one call per invoice
            for invoices, newest in self._stamped_pages("/OutgoingInvoices", cursor, size, "invoices"):
                lines = [mapping.from_remote(entity, line, invoice) for invoice in invoices
                         for line in self._list(f"/OutgoingInvoices/{invoice['Id']}/Lines", {}, what=f"list lines of invoice {invoice.get('InvoiceNo')}")]
                yield Chunk(lines, newest)
        elif entity == "payments":  # the balance has its own stamp: a payment moves it, not LastChanged
            for invoices, newest in self._stamped_pages("/OutgoingInvoices", cursor, size, "payments",
                                                        stamp="BalanceLastChangedDateTimeOffset"):
                paid = [p for p in (mapping.from_remote(entity, r) for r in invoices) if p.values["amount"]]
                yield Chunk(paid, newest)
        else:
            raise KeyError(f"poweroffice: unknown entity {entity!r}")

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None:
        if entity == "invoice_lines":
            invoice_id, line_id = str(remote_id).split("/", 1)
            invoice = self._get_json(f"/OutgoingInvoices/{invoice_id}", what=f"get invoice {invoice_id}")
            lines = self._list(f"/OutgoingInvoices/{invoice_id}/Lines", {}, what=f"list lines of invoice {invoice_id}") if invoice else []
            found = [line for line in lines if str(line["Id"]) == line_id]
            return mapping.from_remote(entity, found[0], invoice) if found else None
        record = self._get_json(self._item_path(entity, remote_id), what=f"get {entity} {remote_id}")
        return mapping.from_remote(entity, record) if record is not None else None

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        if entity in ("debtors", "creditors"):
            if not str(number).strip().isdigit():
                return None  # Go's numbers are integers: no contact can carry this one
            key = "customerNos" if entity == "debtors" else "supplierNos"
            found = self._list(mapping.SPECS[entity].path, {key: str(number).strip()}, what=f"find {entity} {number}")
        elif entity == "items":
            found = self._list("/Products", {"productCodes": str(number)}, what=f"find item {number}")
        elif entity == "invoices":
            if not str(number).strip().isdigit():
                return None
            found = self._list("/OutgoingInvoices", {"invoiceNos": str(number).strip()}, what=f"find invoice {number}")
        else:
            raise KeyError(f"poweroffice: {entity} has no business number")
        return mapping.from_remote(entity, found[0]) if found else None

    def find_by_reference(self, entity: str, reference: str) -> RemoteRecord | None:
        """The customer/supplier whose ExternalImportReference is `reference` (the CRM's id)."""
        found = self._list(mapping.SPECS[entity].path, {"externalImportReference": reference},
                           what=f"find {entity} by ExternalImportReference")
        return mapping.from_remote(entity, found[0]) if found else None

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        if entity in READ_ONLY:
            raise RecordRejected(f"poweroffice: {entity} are read from Go, not written to it (Go books invoices itself)")
        payload = mapping.to_remote(entity, values)
        what = f"create {entity} {values.get('number') or values.get('name') or ''}".strip()
        if entity == "contacts":
            path = f"/ContactPersons/{values.get('debtor_id')}"
        else:
            path = mapping.SPECS[entity].path
        reference = values.get("crm_id") if entity in ("debtors", "creditors") else None
        if not reference:
            return mapping.from_remote(entity, self._call("POST", path, what=what, json=payload).json())
        try:
            return mapping.from_remote(entity, self._call("POST", path, what=what, json=payload).json())
        except RecordRejected as exc:
            if "ExternalImportReference is already in use" not in str(exc):
                raise
            existing = self.find_by_reference(entity, reference)  # created before (its reply was lost)
            if existing is None:
                raise
            return self.update(entity, existing.remote_id, values)
        except ConnectorError:
            # Uncertain: Go may have stored it. Its reference finds it; only if not is it sent again.
            existing = self.find_by_reference(entity, reference)
            if existing is not None:
                return existing
            return mapping.from_remote(entity, self._call("POST", path, what=what, json=payload).json())

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *, guard: WriteGuard | None = None) -> RemoteRecord:
        """PATCH the given fields; with a guard, the record is read first and the guard may stop the write."""
        if entity in READ_ONLY:
            raise RecordRejected(f"poweroffice: {entity} are read from Go, not written to it (Go books invoices itself)")
        operations = mapping.patch_operations(entity, values)
        path = self._item_path(entity, remote_id)
        if guard is not None or not operations:
            current = self._get_json(path, what=f"get {entity} {remote_id}")
            if current is None:
                raise RecordGone(f"poweroffice: update {entity} {remote_id}: the record does not exist (deleted in Go)", status=404)
            if guard is not None:
                guard(mapping.from_remote(entity, current))
            if not operations:
                return mapping.from_remote(entity, current)
        try:
            record = self._call("PATCH", path, what=f"update {entity} {remote_id}", json=operations,
                                headers={"Content-Type": "application/json-patch+json"}).json()
        except RecordRejected as exc:
            if exc.status == 404:
                raise RecordGone(f"poweroffice: update {entity} {remote_id}: the record does not exist (deleted in Go)", status=404) from None
            raise
        return mapping.from_remote(entity, record)

    # -- probe -----------------------------------------------------------------------------------------

    def probe(self, entity: str, cursor: str) -> str | None:
        """The newest change after `cursor`, or None: one PageSize=1 call, plus the address list for contacts."""
        changed, address = _split_cursor(cursor) if entity in ("debtors", "creditors") else (cursor, None)
        stamp = "BalanceLastChangedDateTimeOffset" if entity == "payments" else "LastChangedDateTimeOffset"
        params = {stamp[0].lower() + stamp[1:] + "GreaterThan": changed, "PageSize": 1,
                  "OrderBy": f"{stamp} desc", "Fields": f"Id,{stamp}"}
        newest = self._list(mapping.SPECS[entity].path, params, what=f"probe {entity}")
        if newest:
            return newest[0][stamp]
        if entity in ("debtors", "creditors"):
            moved = self._address_changes(entity, address)
            if moved:
                return max((get_path(r, "MailAddress.LastChangedDateTimeOffset") for r in moved), key=parse_timestamp)
        return None

    # -- reads -----------------------------------------------------------------------------------------

    def _item_path(self, entity: str, remote_id: str) -> str:
        if entity in ("invoices", "payments"):
            return f"/OutgoingInvoices/{remote_id}"
        if entity == "contacts":
            contact, person = str(remote_id).split("/", 1)
            return f"/ContactPersons/{contact}/{person}"
        return f"{mapping.SPECS[entity].path}/{remote_id}"

    def _get_json(self, path: str, *, what: str) -> dict | None:
        try:
            return self._call("GET", path, what=what).json()
        except RecordRejected as exc:
            if exc.status == 404:
                return None
            raise

    def _list(self, path: str, params: dict[str, Any], *, what: str) -> list[dict]:
        response = self._call("GET", path, what=what, params=params)
        return response.json() if response.status_code == 200 and response.content else []

    def _stamped_pages(self, path: str, since: str | None, size: int, what: str,
                       stamp: str = "LastChangedDateTimeOffset") -> Iterator[tuple[list[dict], str | None]]:
        """Records changed after `since`, oldest first, as keyset pages: each page asks again from the
        newest stamp below the last record's, so a record changed meanwhile (it moves to the end) is
        never skipped; records sharing that stamp are read twice and delivered once."""
        bound, seen = since, set()
        while True:
            params: dict[str, Any] = {"PageSize": size, "OrderBy": stamp}
            if bound:
                params[stamp[0].lower() + stamp[1:] + "GreaterThan"] = bound
            rows = self._list(path, params, what=f"list changed {what}")
            fresh = [r for r in rows if (r["Id"], r[stamp]) not in seen]
            newest = rows[-1][stamp] if rows else bound
            if len(rows) < size:
                if fresh or newest != bound:  # the last page (maybe only records read before): the cursor moves on
                    yield fresh, newest
                return
            last = parse_timestamp(newest)
            below = [r[stamp] for r in rows if parse_timestamp(r[stamp]) < last]
            if not below:
                raise ConnectorError(f"poweroffice: more than {size} {what} share the change stamp {newest}; "
                                     f"a larger page size is needed to read them")
            bound = below[-1]
            seen = {(r["Id"], r[stamp]) for r in rows if r[stamp] == newest}
            yield fresh, bound

    def _address_changes(self, entity: str, since: str | None) -> list[dict]:
        """Contacts whose MailAddress changed after `since` (one projected list of Id and MailAddress)."""
        if since is None:
            return []
        rows = self._list(mapping.SPECS[entity].path, {"Fields": "Id,MailAddress", "PageSize": c.MAX_PAGE_SIZE},
                          what=f"list {entity} addresses")
        after = parse_timestamp(since)
        return [r for r in rows if (s := get_path(r, "MailAddress.LastChangedDateTimeOffset")) and parse_timestamp(s) > after]

    def _iter_contacts(self, entity: str, cursor: str | None, size: int) -> Iterator[Chunk]:
        changed, address = _split_cursor(cursor) if cursor else (None, None)
        delivered: set[str] = set()
        newest_address = address
        for records, stamp in self._stamped_pages(mapping.SPECS[entity].path, changed, size, entity):
            out = [mapping.from_remote(entity, r) for r in records]
            delivered.update(r.remote_id for r in out)
            if cursor is None:  # a full read holds every address: its newest stamp starts the address cursor
                newest_address = _newest(newest_address, *(get_path(r, "MailAddress.LastChangedDateTimeOffset") for r in records))
            changed = stamp
            yield Chunk(out, _join_cursor(changed, newest_address))
        if cursor is None:
            return
        moved = self._address_changes(entity, address)
        if not moved:
            return
        newest_address = _newest(address, *(get_path(r, "MailAddress.LastChangedDateTimeOffset") for r in moved))
        out = [record for row in moved if str(row["Id"]) not in delivered
               if (record := self.get(entity, str(row["Id"]))) is not None]
        yield Chunk(out, _join_cursor(changed, newest_address))


def _newest(*stamps: str | None) -> str | None:
    present = [s for s in stamps if s]
    return max(present, key=parse_timestamp) if present else None


def _split_cursor(cursor: str) -> tuple[str | None, str | None]:
    changed, _, address = cursor.partition("|")
    return changed or None, address or changed or None


def _join_cursor(changed: str | None, address: str | None) -> str | None:
    if changed is None and address is None:
        return None
    return f"{changed or ''}|{address or changed or ''}"
