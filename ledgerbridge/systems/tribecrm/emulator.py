"""A local TribeCRM (Efficy) OData v1 API with webhooks, built from contracts/tribecrm (NOTES.md, entities.json).

What it implements, as the notes state [V]/[O]:
- auth: POST /oauth2/token, grant_type=client_credentials with client_id/client_secret (form or
  Basic) -> a bearer token; every /v1 call needs `Authorization: Bearer`, else 401.
- /v1/odata/<EntitySet> for Relation_Organization, Relationship_Organization_CommercialRelationship_Customer,
  Relationship_Organization_Supplier, Relation_Person, Relationship_Person_Contact_Standard, Product:
  GET with $filter (only the operators that work, see odata.py; `in`/`has` -> 400), $select,
  $expand (nested), $orderby, $top, $skip, $count; GET (<guid>); POST (deep insert: a new
  Organization inline in a Customer/Supplier relationship, a Person inline in a contact);
  PUT/PATCH (<guid>) and POST with "ID" in the body update; DELETE (<guid>).
- every entity has ID (GUID), _Type, _Name, CreationDate, LastMutationDate, IsActive, IsClosed, ImportId.
- Activity_Invoice (Subject, Number auto-generated when not given, Amount, Currency, IsVatIncluded,
  DiscountPercentage; nav Relationship -> the customer relationship, Phase -> Datastore_Phase_ActivityInvoice
  with the codes Draft/Sent/Paid) and ProductLine (Description, Quantity, Price, DiscountPercentage,
  TotalExcludingVat, VatPercentage, IsBilled; nav Product) [V names]. The [?] parts chosen here:
  InvoiceDate, DueDate, AmountPaid and PaymentDate on the invoice (where PowerOffice's payments land,
  configurable in the connector), the line's link to its invoice as nav `Activity`, its order as SortIndex,
  and invoice numbers F00001, F00002, ... when none is given.
- numbering: a new customer (supplier) organisation always gets a DebtorNumber (CreditorNumber) in
  Tribe when none is given; another system may overwrite it [V help article].
- webhooks: GET/POST /v1/webhooks, DELETE /v1/webhooks/{id}; per entity type (`Relation.Organization`,
  `Relationship.Organization.CommercialRelationship.Customer`, `Relationship.Organization.Supplier`,
  `Relationship.Person.Contact.Standard`, `Product`); body {"webhookId", "payload": {"type":
  EntityCreationMutation|EntityUpdateMutation|EntityDeletionMutation|RelationshipCreationMutation|...,
  "entityType"/"relationshipType", "entityId"/"relationshipId"}}, signed: Base64(hex(HMAC-SHA512(secret, body))).

Choices where the notes say [?] (configurable in the connector where a tenant may differ):
- the signature header is `X-Tribe-Signature` (`signature_header`), the MAC is HMAC-SHA512 keyed with
  the webhook secret (the docs' text also reads as plain SHA-512 of secret+body); the secret is given
  when the webhook is created (or generated and returned once);
- token lifetime 3600 s (`token_lifetime`); errors are OData v4 bodies {"error": {"code", "message"}};
- the server caps a page at 500 records (`max_page_size`) and then adds @odata.nextLink;
- address fields of VisitingAddress: Street, HouseNumber, Postalcode (observed), City, Country{Code, Name};
  an address change moves the organisation's LastMutationDate;
- new DebtorNumbers count from 900001 and CreditorNumbers from 800001 (`debtor_series_start`,
  `creditor_series_start`), apart from PowerOffice's series so a provisional number never equals a real one;
- PUT merges the given properties (vendor clients send partial bodies to PUT).
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.emulators import odata as shared_odata
from ledgerbridge.emulators.base import Emulator, iso, utcnow
from ledgerbridge.emulators.hooks import HookDispatcher
from ledgerbridge.systems.tribecrm import odata
from ledgerbridge.systems.tribecrm.webhooks import DEFAULT_SIGNATURE_HEADER, tribe_signature

ORGANIZATION = "Relation_Organization"
PERSON = "Relation_Person"
CUSTOMER = "Relationship_Organization_CommercialRelationship_Customer"
SUPPLIER = "Relationship_Organization_Supplier"
CONTACT = "Relationship_Person_Contact_Standard"
PRODUCT = "Product"
INVOICE = "Activity_Invoice"
PRODUCT_LINE = "ProductLine"
PHASE = "Datastore_Phase_ActivityInvoice"
PHASES = ("Draft", "Sent", "Paid")
IDENTITY = "Relationship_Organization_Identity"  # the singleton naming the own organisation
RELATIONSHIPS = (CUSTOMER, SUPPLIER, CONTACT)
ENTITY_SETS = (ORGANIZATION, PERSON, CUSTOMER, SUPPLIER, CONTACT, PRODUCT, INVOICE, PRODUCT_LINE, PHASE)
# Navigation properties of each set: name -> the set it points into (None: an owned sub-object).
NAVIGATION = {
    CUSTOMER: {"Relation": ORGANIZATION, "Organization": ORGANIZATION},
    SUPPLIER: {"Relation": ORGANIZATION, "Organization": ORGANIZATION},
    CONTACT: {"Relation": ORGANIZATION, "Person": PERSON},
    ORGANIZATION: {"VisitingAddress": None},
    PERSON: {},
    PRODUCT: {},
    INVOICE: {"Relationship": CUSTOMER, "Phase": PHASE},
    PRODUCT_LINE: {"Activity": INVOICE, "Product": PRODUCT},
    PHASE: {},
}
# Links a new record must have (the others are optional).
REQUIRED_LINKS = {INVOICE: ("Relationship",), PRODUCT_LINE: ("Activity",)}
WRITABLE = {
    ORGANIZATION: ("Name", "EmailAddress", "FinancialEmailAddress", "PhoneNumber", "Website", "VATNumber",
                   "ChamberOfCommerceNumber", "DebtorNumber", "CreditorNumber", "IBAN", "ImportId", "IsActive"),
    PERSON: ("FirstName", "MiddleName", "LastName", "EmailAddress", "PhoneNumber", "MobilePhoneNumber", "ImportId"),
    CUSTOMER: ("PaymentTermInDays", "ImportId", "IsActive"),
    SUPPLIER: ("PaymentTermInDays", "ImportId", "IsActive"),
    CONTACT: ("EmailAddress", "PhoneNumber", "MobilePhoneNumber", "Department", "ImportId", "IsActive"),
    PRODUCT: ("Name", "Code", "Description", "SalesPrice", "PurchasePrice", "IsVatIncluded", "IsInactive", "ImportId"),
    INVOICE: ("Subject", "Number", "Amount", "Currency", "IsVatIncluded", "DiscountPercentage", "InvoiceDate", "DueDate",
              "AmountPaid", "PaymentDate", "ImportId"),
    PRODUCT_LINE: ("Description", "Quantity", "Price", "DiscountPercentage", "Currency", "TotalExcludingVat",
                   "VatPercentage", "IsBilled", "SortIndex", "ImportId"),
    PHASE: ("Code", "Name"),
}
ADDRESS_FIELDS = ("Street", "HouseNumber", "Postalcode", "City")
REQUIRED = {ORGANIZATION: ("Name",), PERSON: ("LastName",), PRODUCT: ("Name",), INVOICE: ("Currency",)}
TYPE_NAMES = {s: s.replace("_", ".") for s in ENTITY_SETS}


class ODataProblem(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class TribeCrmEmulator(Emulator):
    system = "tribecrm"

    def __init__(self, state_file=None, *, client_id: str = "demo-client", client_secret: str = "demo-secret",
                 token_lifetime: float = 3600, max_page_size: int = 500, debtor_series_start: int = 900001,
                 creditor_series_start: int = 800001, signature_header: str = DEFAULT_SIGNATURE_HEADER, **kw: Any):
        super().__init__(state_file, **kw)
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime = token_lifetime
        self.max_page_size = max_page_size
        self.number_starts = {"DebtorNumber": debtor_series_start, "CreditorNumber": creditor_series_start}
        self.signature_header = signature_header
        self.tokens: dict[str, float] = {}
        self.hooks = HookDispatcher("tribecrm")
        self._last = utcnow() - timedelta(days=1)
        with self.tables.lock:
            if not self.tables.rows["identity"]:
                own = self._insert(ORGANIZATION, {"Name": "Own organisation (Relationship_Organization_Identity)"})
                self.tables.rows["identity"]["own"] = {"ID": own["ID"]}
                for code in PHASES:
                    self._insert(PHASE, {"Code": code, "Name": code})

    # -- helpers for tests and the demo -----------------------------------------------------------

    @property
    def own_organization_id(self) -> str:
        return self.tables.rows["identity"]["own"]["ID"]

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def insert(self, entity_set: str, record: dict[str, Any], *, fire: bool = True) -> dict[str, Any]:
        """Store a record in Tribe's own shape, as a user in the app would (hooks fire)."""
        with self.tables.lock:
            return self._create(entity_set, dict(record), fire=fire)

    def update(self, entity_set: str, id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.tables.lock:
            return self._update(entity_set, id, changes)

    def raw(self, entity_set: str) -> list[dict[str, Any]]:
        with self.tables.lock:
            return [dict(r) for r in self.tables.rows[entity_set].values()]

    def get_raw(self, entity_set: str, id: str) -> dict[str, Any] | None:
        with self.tables.lock:
            row = self.tables.rows[entity_set].get(id)
            return dict(row) if row else None

    # -- storage ------------------------------------------------------------------------------------

    def _stamp(self) -> str:
        now = utcnow()
        self._last = max(now, self._last + timedelta(milliseconds=1))
        return iso(self._last)

    def _insert(self, entity_set: str, values: dict[str, Any]) -> dict[str, Any]:
        now = self._stamp()
        row = {"ID": str(uuid.uuid4()), "_Type": TYPE_NAMES[entity_set], "CreationDate": now, "LastMutationDate": now,
               "IsActive": True, "IsClosed": False, "SortIndex": float(len(self.tables.rows[entity_set]) + 1),
               "ImportId": None}
        row.update({k: values.get(k) for k in WRITABLE[entity_set] if k in values or k not in row})
        row["IsActive"] = values.get("IsActive", True) is not False
        if entity_set == ORGANIZATION:
            address = values.get("VisitingAddress") or {}
            row["VisitingAddress"] = self._address(address, None)
        row["_Name"] = self._display_name(entity_set, row)
        self.tables.rows[entity_set][row["ID"]] = row
        return row

    def _address(self, given: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        address = dict(current or {"ID": str(uuid.uuid4()), **{f: None for f in ADDRESS_FIELDS}, "Country": None})
        for name in ADDRESS_FIELDS:
            if name in given:
                address[name] = given[name]
        if "Country" in given:
            country = given["Country"] or {}
            address["Country"] = {"Code": country.get("Code"), "Name": country.get("Name")} if country.get("Code") else None
        return address

    @staticmethod
    def _display_name(entity_set: str, row: dict[str, Any]) -> str:
        if entity_set == PERSON:
            return " ".join(p for p in (row.get("FirstName"), row.get("MiddleName"), row.get("LastName")) if p)
        return row.get("Name") or ""

    def _check(self, entity_set: str, row: dict[str, Any]) -> None:
        missing = [n for n in REQUIRED.get(entity_set, ()) if not str(row.get(n) or "").strip()]
        if missing:
            raise ODataProblem(400, "ValidationError", f"{TYPE_NAMES[entity_set]}: {', '.join(missing)} is required")
        for name in ("SalesPrice", "PurchasePrice", "PaymentTermInDays", "Amount", "AmountPaid", "Quantity", "Price"):
            if row.get(name) is not None and not isinstance(row[name], (int, float)):
                raise ODataProblem(400, "ValidationError", f"{TYPE_NAMES[entity_set]}: {name} must be a number")

    def _create(self, entity_set: str, body: dict[str, Any], *, fire: bool = True) -> dict[str, Any]:
        if entity_set in RELATIONSHIPS:
            links = {}
            for nav, target in NAVIGATION[entity_set].items():
                given = body.get(nav)
                if nav == "Relation" and given is None and entity_set != CONTACT:
                    given = {"ID": self.own_organization_id}
                if not isinstance(given, dict):
                    raise ODataProblem(400, "ValidationError", f"{TYPE_NAMES[entity_set]}: {nav} is required")
                if given.get("ID"):
                    if given["ID"] not in self.tables.rows[target]:
                        raise ODataProblem(400, "ValidationError", f"{nav} {given['ID']} does not exist")
                    links[nav] = given["ID"]
                else:  # deep insert of a new organisation or person
                    links[nav] = self._create(target, dict(given), fire=fire)["ID"]
            if entity_set in (CUSTOMER, SUPPLIER):
                number = "DebtorNumber" if entity_set == CUSTOMER else "CreditorNumber"
                organization = self.tables.rows[ORGANIZATION][links["Organization"]]
                if not organization.get(number):  # Tribe always gives a new customer/supplier a number
                    organization[number] = str(self.tables.next_id(number, self.number_starts[number]))
            self._check(entity_set, body)
            row = self._insert(entity_set, body)
            for nav, target_id in links.items():
                row[nav] = {"ID": target_id}
            if entity_set in (CUSTOMER, SUPPLIER):
                row["_Name"] = self.tables.rows[ORGANIZATION][links["Organization"]]["Name"]
            if fire:
                self._fire(entity_set, "RelationshipCreationMutation", row["ID"])
            return row
        self._check(entity_set, body)
        links = {}
        for nav, target in NAVIGATION[entity_set].items():
            given = body.get(nav)
            if target is None or not isinstance(given, dict) or not given.get("ID"):
                if nav in REQUIRED_LINKS.get(entity_set, ()):
                    raise ODataProblem(400, "ValidationError", f"{TYPE_NAMES[entity_set]}: {nav} is required")
                continue
            if given["ID"] not in self.tables.rows[target]:
                raise ODataProblem(400, "ValidationError", f"{nav} {given['ID']} does not exist")
            links[nav] = given["ID"]
        if entity_set == INVOICE:
            links.setdefault("Phase", self.phase_id("Draft"))
            if not body.get("Number"):  # Tribe numbers invoices itself [V]; the format is this emulator's
                body = {**body, "Number": f"F{self.tables.next_id('invoice_number', 1):05d}"}
        row = self._insert(entity_set, body)
        for nav, target_id in links.items():
            row[nav] = {"ID": target_id}
        if fire:
            self._fire(entity_set, "EntityCreationMutation", row["ID"])
        return row

    def phase_id(self, code: str) -> str:
        for row in self.tables.rows[PHASE].values():
            if row["Code"] == code:
                return row["ID"]
        raise ODataProblem(400, "ValidationError", f"the invoice phase {code!r} does not exist; known: {', '.join(PHASES)}")

    def _update(self, entity_set: str, id: str, changes: dict[str, Any]) -> dict[str, Any]:
        row = self.tables.rows[entity_set].get(id)
        if row is None:
            raise ODataProblem(404, "NotFound", f"{TYPE_NAMES[entity_set]} {id} does not exist")
        updated = dict(row)
        for name, value in changes.items():
            if name in WRITABLE[entity_set]:
                updated[name] = value
            elif name == "VisitingAddress" and entity_set == ORGANIZATION:
                updated["VisitingAddress"] = self._address(value or {}, row.get("VisitingAddress"))
            elif name in NAVIGATION[entity_set] and NAVIGATION[entity_set][name] and isinstance(value, dict) and value.get("ID"):
                if value["ID"] not in self.tables.rows[NAVIGATION[entity_set][name]]:
                    raise ODataProblem(400, "ValidationError", f"{name} {value['ID']} does not exist")
                updated[name] = {"ID": value["ID"]}  # relinked (an invoice moved to another phase)
            elif name in ("ID", "@odata.type") or name in NAVIGATION[entity_set]:
                continue
            else:
                raise ODataProblem(400, "ValidationError", f"{TYPE_NAMES[entity_set]}: the property {name!r} cannot be written")
        self._check(entity_set, updated)
        if updated == row:
            return row
        updated["LastMutationDate"] = self._stamp()
        updated["_Name"] = self._display_name(entity_set, updated)
        self.tables.rows[entity_set][id] = updated
        kind = "RelationshipUpdateMutation" if entity_set in RELATIONSHIPS else "EntityUpdateMutation"
        self._fire(entity_set, kind, id)
        return updated

    # -- webhooks -----------------------------------------------------------------------------------

    def _fire(self, entity_set: str, mutation: str, id: str) -> None:
        type_name = TYPE_NAMES[entity_set]
        for hook in list(self.tables.rows["webhooks"].values()):
            if hook["entityType"] != type_name:
                continue
            key = "relationship" if mutation.startswith("Relationship") else "entity"
            body = {"webhookId": hook["id"], "payload": {"type": mutation, f"{key}Type": type_name, f"{key}Id": id}}
            self.hooks.deliver(hook["url"], body, event=mutation, headers=hook.get("headers") or {},
                               sign=lambda raw, s=hook["secret"]: {self.signature_header: tribe_signature(s, raw)})

    # -- routes -------------------------------------------------------------------------------------

    def routes(self) -> list:
        return [
            Route("/oauth2/token", self.token, methods=["POST"]),
            Route("/v1/webhooks", self._guard(self.webhooks), methods=["GET", "POST"]),
            Route("/v1/webhooks/{id}", self._guard(self.webhook_item), methods=["DELETE"]),
            Route("/v1/odata/{entity_set}({id})", self._guard(self.item), methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route("/v1/odata/{entity_set}", self._guard(self.collection), methods=["GET", "POST"]),
        ]

    def _guard(self, handler):
        async def endpoint(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            if self.tokens.get(token, 0) <= time.time():
                return _error(401, "Unauthorized", "The access token is missing, invalid or expired")
            try:
                with self.tables.lock:
                    return await handler(request)
            except ODataProblem as exc:
                return _error(exc.status, exc.code, exc.message)
            except odata.ODataError as exc:
                return _error(400, "BadRequest", str(exc))

        return endpoint

    async def token(self, request: Request) -> Response:
        form = await request.form()
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not (secrets.compare_digest(client_id, self.client_id) and secrets.compare_digest(client_secret, self.client_secret)):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.time() + self.token_lifetime
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": int(self.token_lifetime),
                             "scope": form.get("scope") or "read write"})

    def _entity_set(self, request: Request) -> str:
        name = request.path_params["entity_set"]
        if name not in ENTITY_SETS:
            raise ODataProblem(404, "NotFound", f"the entity set {name!r} does not exist")
        return name

    async def collection(self, request: Request) -> Response:
        if request.path_params["entity_set"] == IDENTITY and request.method == "GET":
            return JSONResponse({"value": [{"ID": self.own_organization_id, "Relation": {"ID": self.own_organization_id}}]})
        entity_set = self._entity_set(request)
        if request.method == "POST":
            body = await _body(request)
            if body.get("ID"):  # vendor clients update by POST with the ID in the body [O]
                return JSONResponse(self._render(entity_set, self._update(entity_set, body["ID"], body), _full_expand(entity_set)))
            return JSONResponse(self._render(entity_set, self._create(entity_set, body), _full_expand(entity_set)), status_code=201)
        q = request.query_params
        expand = odata.parse_expand(q.get("$expand", ""))
        rows = [self._render(entity_set, r, _full_expand(entity_set)) for r in self.tables.rows[entity_set].values()]
        if q.get("$filter"):
            condition = shared_odata.parse_filter(q["$filter"], odata.TRIBE)
            rows = [r for r in rows if shared_odata.matches(condition, r, odata.TRIBE)]
        if q.get("$orderby"):
            rows.sort(key=shared_odata.order_key(shared_odata.parse_orderby(q["$orderby"], odata.TRIBE)))
        total = len(rows)
        skip = _non_negative(q.get("$skip"), 0, "$skip")
        top = _non_negative(q.get("$top"), self.max_page_size, "$top")
        size = min(top, self.max_page_size)
        page = rows[skip:skip + size]
        select = [s.strip() for s in q.get("$select", "").split(",") if s.strip()]
        body: dict[str, Any] = {"@odata.context": f"{request.base_url}v1/odata/$metadata#{entity_set}",
                                "value": [_shape(r, select, expand, NAVIGATION[entity_set]) for r in page]}
        if q.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        if size < top and skip + size < total:  # the server cut the page short
            params = {**dict(q), "$skip": str(skip + size), "$top": str(top - size)}
            body["@odata.nextLink"] = f"{request.base_url}v1/odata/{entity_set}?{urlencode(params)}"
        return JSONResponse(body)

    async def item(self, request: Request) -> Response:
        entity_set = self._entity_set(request)
        id = request.path_params["id"].strip("'").lower()
        if request.method in ("PUT", "PATCH"):
            row = self._update(entity_set, id, await _body(request))
            return JSONResponse(self._render(entity_set, row, _full_expand(entity_set)))
        row = self.tables.rows[entity_set].get(id)
        if row is None:
            raise ODataProblem(404, "NotFound", f"{TYPE_NAMES[entity_set]} {id} does not exist")
        if request.method == "DELETE":
            del self.tables.rows[entity_set][id]
            kind = "RelationshipDeletionMutation" if entity_set in RELATIONSHIPS else "EntityDeletionMutation"
            self._fire(entity_set, kind, id)
            return Response(status_code=204)
        q = request.query_params
        select = [s.strip() for s in q.get("$select", "").split(",") if s.strip()]
        full = self._render(entity_set, row, _full_expand(entity_set))
        return JSONResponse(_shape(full, select, odata.parse_expand(q.get("$expand", "")), NAVIGATION[entity_set]))

    def _render(self, entity_set: str, row: dict[str, Any], expand: dict[str, Any]) -> dict[str, Any]:
        """The record with its navigation properties resolved (shaping to $select/$expand comes after)."""
        out = dict(row)
        for nav, target in NAVIGATION[entity_set].items():
            if nav in expand and target is not None and isinstance(row.get(nav), dict):
                linked = self.tables.rows[target].get(row[nav]["ID"])
                out[nav] = self._render(target, linked, expand[nav]) if linked else None
        return out

    async def webhooks(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([{k: v for k, v in h.items() if k != "secret"} for h in self.tables.rows["webhooks"].values()])
        body = await _body(request)
        url, entity_type = body.get("url"), body.get("entityType")
        if not url or entity_type not in TYPE_NAMES.values():
            raise ODataProblem(400, "ValidationError", f"a webhook needs a url and an entityType of {sorted(TYPE_NAMES.values())}")
        hook = {"id": str(uuid.uuid4()), "url": url, "entityType": entity_type,
                "secret": body.get("secret") or secrets.token_hex(32), "headers": body.get("headers") or {}}
        self.tables.rows["webhooks"][hook["id"]] = hook
        return JSONResponse({k: v for k, v in hook.items() if k != "headers"}, status_code=201)

    async def webhook_item(self, request: Request) -> Response:
        if self.tables.rows["webhooks"].pop(request.path_params["id"], None) is None:
            raise ODataProblem(404, "NotFound", f"webhook {request.path_params['id']} does not exist")
        return Response(status_code=204)


def _full_expand(entity_set: str) -> dict[str, Any]:
    return {nav: _full_expand(target) if target else {} for nav, target in NAVIGATION[entity_set].items()}


def _shape(row: dict[str, Any], select: list[str], expand: dict[str, Any], navigation: dict[str, Any]) -> dict[str, Any]:
    """Apply $select and $expand to a fully resolved record: navigation properties only when expanded."""
    out = {}
    for key, value in row.items():
        if key in navigation:
            if key in expand and isinstance(value, dict):
                nested_nav = NAVIGATION[navigation[key]] if navigation[key] else {}
                out[key] = _shape(value, expand[key]["select"] or [], expand[key]["expand"], nested_nav)
            continue
        if select and key not in select and key != "ID":
            continue
        out[key] = value
    return out


def _non_negative(value: str | None, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise ODataProblem(400, "BadRequest", f"{name} must be a whole number, not {value!r}")
    return int(value)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ODataProblem(400, "BadRequest", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ODataProblem(400, "BadRequest", "the body must be a JSON object")
    return body
