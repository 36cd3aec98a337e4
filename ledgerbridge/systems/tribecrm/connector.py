"""The TribeCRM OData v1 connector (system "tribecrm", role "crm").

Auth: OAuth2 client credentials at the token URL (option `token_url`, default <base_url>/oauth2/token;
Tribe's own is https://auth.tribecrm.nl/oauth2/token). The token lifetime is not published [?]: the
connector renews a minute before `expires_in` runs out, and a 401 renews and repeats the call once
(HttpClient.auth_refresh), so an expired token never fails a run.

Queries use only the OData operators the notes say work (eq, gt, and/or, no `in`/`has`).
Cursors: Tribe stamps the role (relationship) and the organisation (or person) separately, so a
debtor has changed when either LastMutationDate moved. A pull reads one keyset stream per stamp
(`$filter=<stamp> gt <bound>&$orderby=<stamp>`, `$top` = page size, default 100 as observed in
public ETL code, option `page_size`), and the cursor is "<role stamp>|<organisation stamp>". Each page
asks again from the newest stamp below its last record's, so records changed meanwhile are never
skipped; a record in both streams is delivered twice and stored once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from ledgerbridge.connectors.base import (
    Chunk, ConnectorError, FieldLimits, RecordGone, RecordRejected, RemoteRecord, WriteGuard,
)
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.systems.tribecrm.mapping import DEFAULT_ERP_ID_PROPERTY, TribeMapping
from ledgerbridge.systems.vocabulary import get_path, parse_timestamp

API_PREFIX = "/v1/odata"
DEFAULT_PAGE_SIZE = 100
REFRESH_MARGIN_SECONDS = 60
ORGANIZATION = "Relation_Organization"
PERSON = "Relation_Person"
# The change stamps of each entity's listed record: the role's own and its party's.
STAMPS = {
    "debtors": ("LastMutationDate", "Organization/LastMutationDate"),
    "creditors": ("LastMutationDate", "Organization/LastMutationDate"),
    "contacts": ("LastMutationDate", "Person/LastMutationDate"),
    "items": ("LastMutationDate",),
    "invoices": ("LastMutationDate",),
    "invoice_lines": ("LastMutationDate",),
    "payments": ("LastMutationDate",),
}
PHASES = "Datastore_Phase_ActivityInvoice"


class TribeCrmConnector:
    system = "tribecrm"
    role = "crm"

    def __init__(self, base_url: str, client_id: str, client_secret: str, *, token_url: str | None = None,
                 scope: str = "read write", page_size: int = DEFAULT_PAGE_SIZE,
                 erp_id_property: str = DEFAULT_ERP_ID_PROPERTY, invoice_properties: dict[str, str] | None = None,
                 timeout: float = 30, max_attempts: int = 5,
                 backoff_base: float = 0.2, rate_per_second: float | None = None):
        root = base_url.rstrip("/")
        self.mapping = TribeMapping(erp_id_property, invoice_properties)
        self.page_size = max(1, page_size)
        self._token_url = token_url or f"{root}/oauth2/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                      "scope": scope}
        self.token_client = HttpClient(self._token_url, system=self.system, timeout=timeout,
                                       max_attempts=max_attempts, backoff_base=backoff_base)
        self.client = HttpClient(root + API_PREFIX, system=self.system, headers={"Accept": "application/json"},
                                 timeout=timeout, max_attempts=max_attempts, backoff_base=backoff_base,
                                 rate_per_second=rate_per_second, auth_refresh=self._new_token)
        self._expires_at = 0.0
        self._token_lock = threading.Lock()
        self._own_organization: str | None = None
        self._relationships: dict[str, str] = {}  # organisation id -> its customer relationship's id
        self._phases: dict[str, str] = {}  # invoice phase code -> its id
        self.tokens_fetched = 0

    def __repr__(self) -> str:  # never the client secret
        return f"TribeCrmConnector({self.client.base_url!r})"

    @property
    def calls(self) -> int:
        return self.client.calls + self.token_client.calls

    # -- auth ------------------------------------------------------------------------------------------

    def _new_token(self) -> dict[str, str]:
        with self._token_lock:
            body = self.token_client.request("POST", self._token_url, what="get an access token", data=self._form).json()
            lifetime = float(body.get("expires_in") or 3600)
            self._expires_at = time.monotonic() + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 4)
            self.tokens_fetched += 1
            header = {"Authorization": f"Bearer {body['access_token']}"}
            self.client.session.headers.update(header)
            return header

    def _call(self, method: str, path: str, *, what: str, **kwargs: Any):
        if time.monotonic() >= self._expires_at:
            self._new_token()
        return self.client.request(method, path, what=what, **kwargs)

    # -- protocol --------------------------------------------------------------------------------------

    def entities(self) -> tuple[str, ...]:
        return tuple(self.mapping.specs)

    def limits(self, entity: str) -> FieldLimits:
        return self.mapping.limits(entity)

    def close(self) -> None:
        self.client.close()
        self.token_client.close()

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        spec = self.mapping.spec(entity)
        stamps = STAMPS[entity]
        bounds = _split(cursor, len(stamps))
        size = max(1, min(chunk_size, self.page_size))
        for index, stamp in enumerate(stamps):
            if cursor is None and index > 0:
                break  # a full read: the first stream already holds every record
            for rows, bound in self._keyset(spec.entity_set, stamp, bounds[index], size, spec.expand, entity,
                                            spec.condition):
                bounds[index] = bound
                if cursor is None:  # the other streams start after the newest party stamp the full read saw
                    for other, party_stamp in enumerate(stamps[1:], start=1):
                        bounds[other] = _newest(bounds[other], *(get_path(r, party_stamp.replace("/", ".")) for r in rows))
                yield Chunk([self.mapping.from_remote(entity, r) for r in rows], "|".join(b or "" for b in bounds))

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None:
        try:
            return self.mapping.from_remote(entity, self._current(entity, remote_id))
        except RecordGone:
            return None

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        spec = self.mapping.spec(entity)
        property_path = next((f.remote for f in spec.fields if f.model == "number"), None)
        if property_path is None:
            raise KeyError(f"tribecrm: {entity} has no business number")
        literal = "'" + str(number).replace("'", "''") + "'"
        params = {"$filter": f"{property_path.replace('.', '/')} eq {literal}", "$top": 1}
        if spec.expand:
            params["$expand"] = spec.expand
        rows = self._query(spec.entity_set, params, what=f"find {entity} {number}")
        return self.mapping.from_remote(entity, rows[0]) if rows else None

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        spec = self.mapping.spec(entity)
        body = self.mapping.to_remote(entity, values)
        what = f"create {entity} {values.get('number') or values.get('name') or ''}".strip()
        if entity in ("debtors", "creditors"):
            organization = body.get("Organization", {})
            existing = values.get("crm_id")  # the company is in Tribe already (in its other role)
            role = {"Relation": {"ID": self._own_organization_id()},
                    "Organization": {"ID": existing} if existing else organization}
            created = self._call("POST", f"/{spec.entity_set}", what=what, json=role).json()
            if existing:
                return self.update(entity, existing, values)
            return self.mapping.from_remote(entity, created)
        if entity == "payments":  # a payment lands on its invoice: create and update are the same write
            return self.update(entity, str(values.get("invoice_id")), values)
        if entity == "contacts":
            body["Relation"] = {"ID": values.get("debtor_id")}
        elif entity == "invoices":  # booked in the ERP: sent, on the debtor's customer relationship
            body["Relationship"] = {"ID": self._customer_relationship(str(values.get("debtor_id")))}
            body["Phase"] = {"ID": self._phase("Sent")}
        elif entity == "invoice_lines":
            body["Activity"] = {"ID": values.get("invoice_id")}
            if values.get("item_id"):
                body["Product"] = {"ID": values["item_id"]}
        created = self._call("POST", f"/{spec.entity_set}", what=what, json=body,
                             params={"$expand": spec.expand} if spec.expand else None).json()
        return self.mapping.from_remote(entity, created)

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *, guard: WriteGuard | None = None) -> RemoteRecord:
        """Read the record (the guard may stop the write), then PUT what changed: the organisation of
        a role, the relationship of a contact (and its person for the name), the product."""
        current = self._current(entity, remote_id)
        if guard is not None:
            guard(self.mapping.from_remote(entity, current))
        body = self.mapping.to_remote(entity, values)
        what = f"update {entity} {remote_id}"
        if entity in ("debtors", "creditors"):
            if body.get("Organization"):
                organization = self._call("PUT", f"/{ORGANIZATION}({_guid(remote_id)})", what=what,
                                          params={"$expand": "VisitingAddress"}, json=body["Organization"]).json()
                current = {**current, "Organization": organization}
            return self.mapping.from_remote(entity, current)
        spec = self.mapping.spec(entity)
        if entity == "payments":
            paid = self.mapping.invoice_properties["paid_amount"]
            if (current.get(paid) or 0) < (current.get("Amount") or 0) <= (body.get(paid) or 0):
                body["Phase"] = {"ID": self._phase("Paid")}  # paid in full
        person = body.pop("Person", None)
        path = f"/{spec.entity_set}({_guid(remote_id)})"
        params = {"$expand": spec.expand} if spec.expand else None
        record = self._call("PUT", path, what=what, json=body, params=params).json() if body else current
        if person and get_path(current, "Person.ID"):
            updated = self._call("PUT", f"/{PERSON}({current['Person']['ID']})", what=f"update the person of contact {remote_id}",
                                 json=person).json()
            record = {**record, "Person": updated}
        return self.mapping.from_remote(entity, record)

    def _current(self, entity: str, remote_id: str) -> dict[str, Any]:
        spec = self.mapping.spec(entity)
        gone = RecordGone(f"tribecrm: {entity} {remote_id} does not exist (deleted in TribeCRM)", status=404)
        if entity in ("debtors", "creditors"):
            rows = self._query(spec.entity_set, {"$filter": f"Organization/ID eq {_guid(remote_id)}",
                                                 "$expand": spec.expand, "$top": 1}, what=f"get {entity} {remote_id}")
            if not rows:
                raise gone
            return rows[0]
        try:
            return self._call("GET", f"/{spec.entity_set}({_guid(remote_id)})", what=f"get {entity} {remote_id}",
                              params={"$expand": spec.expand} if spec.expand else None).json()
        except RecordRejected as exc:
            if exc.status == 404:
                raise gone from None
            raise

    # -- reads -----------------------------------------------------------------------------------------

    def _own_organization_id(self) -> str:
        if self._own_organization is None:
            rows = self._query("Relationship_Organization_Identity", {"$expand": "Relation($select=ID)"},
                               what="read the own organisation")
            if not rows or not get_path(rows[0], "Relation.ID"):
                raise ConnectorError("tribecrm: the own organisation (Relationship_Organization_Identity) is not set up")
            self._own_organization = rows[0]["Relation"]["ID"]
        return self._own_organization

    def _customer_relationship(self, organization_id: str) -> str:
        """The customer relationship of an organisation (an invoice hangs on it, not on the organisation)."""
        if organization_id not in self._relationships:
            rows = self._query(self.mapping.spec("debtors").entity_set,
                               {"$filter": f"Organization/ID eq {_guid(organization_id)}", "$select": "ID", "$top": 1},
                               what=f"find the customer relationship of organisation {organization_id}")
            if not rows:
                raise RecordRejected(f"tribecrm: organisation {organization_id} has no customer relationship to invoice")
            self._relationships[organization_id] = rows[0]["ID"]
        return self._relationships[organization_id]

    def _phase(self, code: str) -> str:
        if code not in self._phases:
            rows = self._query(PHASES, {"$filter": f"Code eq '{code}'", "$top": 1}, what=f"find the invoice phase {code}")
            if not rows:
                raise ConnectorError(f"tribecrm: the invoice phase {code!r} ({PHASES}) does not exist")
            self._phases[code] = rows[0]["ID"]
        return self._phases[code]

    def _query(self, entity_set: str, params: dict[str, Any], *, what: str) -> list[dict]:
        return self._call("GET", f"/{entity_set}", what=what, params=params).json().get("value", [])

    def _keyset(self, entity_set: str, stamp: str, since: str | None, size: int, expand: str,
                what: str, condition: str = "") -> Iterator[tuple[list[dict], str | None]]:
        dotted = stamp.replace("/", ".")
        bound, seen = since, set()
        while True:
            params: dict[str, Any] = {"$orderby": f"{stamp} asc,ID asc", "$top": size}
            conditions = [c for c in (condition, f"{stamp} gt {bound}" if bound else "") if c]
            if conditions:
                params["$filter"] = " and ".join(f"({c})" for c in conditions)
            if expand:
                params["$expand"] = expand
            body = self._call("GET", f"/{entity_set}", what=f"list changed {what}", params=params).json()
            rows = body.get("value", [])
            fresh = [r for r in rows if (r["ID"], get_path(r, dotted)) not in seen]
            newest = get_path(rows[-1], dotted) if rows else bound
            if len(rows) < size and "@odata.nextLink" not in body:
                if fresh or newest != bound:  # the last page (maybe only records read before): the cursor moves on
                    yield fresh, newest
                return
            last = parse_timestamp(newest)
            below = [get_path(r, dotted) for r in rows if parse_timestamp(get_path(r, dotted)) < last]
            if not below:
                raise ConnectorError(f"tribecrm: more than {len(rows)} {what} share the change stamp {newest}; "
                                     f"a larger page_size is needed to read them")
            bound = below[-1]
            seen = {(r["ID"], get_path(r, dotted)) for r in rows if get_path(r, dotted) == newest}
            yield fresh, bound


def _guid(value: str) -> str:
    text = str(value).strip().lower()
    if not all(ch in "0123456789abcdef-" for ch in text):
        raise RecordRejected(f"tribecrm: {value!r} is not a Tribe ID (a GUID)")
    return quote(text)


def _split(cursor: str | None, parts: int) -> list[str | None]:
    values = (cursor or "").split("|")
    values += [""] * (parts - len(values))
    first = values[0] or None
    # An older single-stamp cursor starts every stream at the same point.
    return [v or first for v in values[:parts]]


def _newest(*stamps: str | None) -> str | None:
    present = [s for s in stamps if s]
    return max(present, key=parse_timestamp) if present else None
