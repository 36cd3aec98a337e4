"""A complete system that lives only in the tests: "minicrm", a CRM with one resource, /companies.

It is the smallest thing docs/adding-a-system.md asks for: contract tables as data, a mapping in the
shared vocabulary, a connector over HttpClient, an emulator on loopback, a demo seed hook, and a
`register()` that adds it to the registry. Its API (made up, documented here):

    GET  /companies?updated_after=<iso>&page=<n>&size=<n>   oldest change first; {"items": [...], "next": n|null}
    GET  /companies/<id>     POST /companies (201 -> the company)     PUT /companies/<id> (whole record)
    Auth: header X-Api-Key. Errors: {"error": "...", "field": "<remote field>"} with 400/401/404.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ledgerbridge.connectors.base import Chunk, FieldLimits, RecordRejected, RemoteRecord
from ledgerbridge.connectors.http import HttpClient
from ledgerbridge.emulators.base import Emulator, iso, utcnow
from ledgerbridge.systems import register
from ledgerbridge.systems.base import READ_WRITE, Emulation, EntitySupport, System
from ledgerbridge.systems.vocabulary import Endpoint, Field, country, parse_timestamp, text

NAME = "minicrm"
ENDPOINT = Endpoint(path="/companies", id_field="id", paging="page", page_size_max=100,
                    cursor_field="updated", cursor_kind="timestamp")
FIELDS = (
    Field("number", "customer_no", text(), max_length=20),
    Field("name", "name", text(), max_length=80),
    Field("city", "town", text(), max_length=40),
    Field("country", "country", country(), max_length=40),
    Field("crm_type", "kind", text(), max_length=20),
)
REQUIRED = ("name",)


class MiniMapping:
    def mapped_fields(self, entity: str) -> tuple[str, ...]:
        return tuple(f.model for f in FIELDS) if entity == "debtors" else ()

    def limits(self, entity: str) -> FieldLimits:
        return FieldLimits({f.model: f.max_length for f in FIELDS if f.max_length}, REQUIRED)

    def to_remote(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {f.remote: f.convert.out(values[f.model]) for f in FIELDS if f.model in values}

    def from_remote(self, record: Mapping[str, Any]) -> RemoteRecord:
        return RemoteRecord(str(record["id"]), {f.model: f.convert.into(record.get(f.remote)) for f in FIELDS},
                            parse_timestamp(record.get("updated")))


MAPPING = MiniMapping()


class MiniConnector:
    system, role = NAME, "crm"

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30, rate_per_second: float | None = None):
        self.http = HttpClient(base_url, system=NAME, headers={"X-Api-Key": api_key}, timeout=timeout,
                               rate_per_second=rate_per_second, backoff_base=0.01)

    def entities(self) -> tuple[str, ...]:
        return ("debtors",)

    def limits(self, entity: str) -> FieldLimits:
        return MAPPING.limits(entity)

    def iter_changed(self, entity: str, cursor: str | None, chunk_size: int = 500) -> Iterator[Chunk]:
        size = max(1, min(chunk_size, ENDPOINT.page_size_max))
        params: dict[str, Any] = {"size": size, "page": 1}
        if cursor:
            params["updated_after"] = cursor
        while True:
            body = self.http.request("GET", ENDPOINT.path, what="list companies", params=params).json()
            records = [MAPPING.from_remote(r) for r in body["items"]]
            newest = max((r.updated_at for r in records if r.updated_at), default=None)
            last = body["next"] is None
            # Only the last page moves the cursor: pages are by position, not by time.
            yield Chunk(records, (newest.isoformat() if newest else cursor) if last else None)
            if last:
                return
            params["page"] = body["next"]

    def get(self, entity: str, remote_id: str) -> RemoteRecord | None:
        response = self.http.request("GET", f"{ENDPOINT.path}/{remote_id}", what=f"get company {remote_id}",
                                     safe=True) if remote_id.isdigit() else None
        return MAPPING.from_remote(response.json()) if response is not None else None

    def find_by_number(self, entity: str, number: str) -> RemoteRecord | None:
        for chunk in self.iter_changed(entity, None, 100):
            for record in chunk.records:
                if record.values.get("number") == number:
                    return record
        return None

    def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        body = self.http.request("POST", ENDPOINT.path, what=f"create company {values.get('name')!r}",
                                 json=MAPPING.to_remote(values)).json()
        return MAPPING.from_remote(body)

    def update(self, entity: str, remote_id: str, values: dict[str, Any], *, guard=None) -> RemoteRecord:
        current = self.get(entity, remote_id)
        if current is None:
            raise RecordRejected(f"{NAME}: update company {remote_id}: it does not exist", status=404)
        if guard is not None:
            guard(current)
        merged = MAPPING.to_remote({**current.values, **values})
        body = self.http.request("PUT", f"{ENDPOINT.path}/{remote_id}", what=f"update company {remote_id}",
                                 json=merged).json()
        return MAPPING.from_remote(body)

    def close(self) -> None:
        self.http.close()


class MiniEmulator(Emulator):
    system = NAME

    def __init__(self, state_file=None, api_key: str = "mini-key", **kw: Any):
        super().__init__(state_file, **kw)
        self.api_key = api_key
        self._clock = itertools.count(1)

    def seed(self, entity: str, records: list[dict[str, Any]]) -> list[str]:
        return [str(self._store(None, MAPPING.to_remote(r))["id"]) for r in records]

    def _store(self, key: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self.tables.lock:
            key = key or str(self.tables.next_id("companies"))
            record = {**body, "id": int(key), "updated": iso(utcnow()), "seq": next(self._clock)}
            self.tables.rows["companies"][key] = record
            return dict(record)

    def _problem(self, request: Request, body: Any) -> JSONResponse | None:
        if request.headers.get("x-api-key") != self.api_key:
            return JSONResponse({"error": "unknown api key"}, status_code=401)
        if body is None:
            return None
        for f in FIELDS:
            value = body.get(f.remote)
            if f.model in REQUIRED and not value:
                return JSONResponse({"error": f"{f.remote} is required", "field": f.remote}, status_code=400)
            if isinstance(value, str) and f.max_length and len(value) > f.max_length:
                return JSONResponse({"error": f"{f.remote} is longer than {f.max_length}", "field": f.remote},
                                    status_code=400)
        return None

    async def _list(self, request: Request) -> JSONResponse:
        if (problem := self._problem(request, None)) is not None:
            return problem
        after = request.query_params.get("updated_after")
        page, size = int(request.query_params.get("page", 1)), int(request.query_params.get("size", 20))
        with self.tables.lock:
            rows = sorted(self.tables.rows["companies"].values(), key=lambda r: (r["updated"], r["seq"]))
        if after:
            rows = [r for r in rows if parse_timestamp(r["updated"]) > parse_timestamp(after)]
        items = rows[(page - 1) * size: page * size]
        return JSONResponse({"items": items, "next": page + 1 if page * size < len(rows) else None})

    async def _one(self, request: Request) -> JSONResponse:
        key = request.path_params.get("id", "")
        body = await request.json() if request.method in ("POST", "PUT") else None
        if (problem := self._problem(request, body)) is not None:
            return problem
        if request.method == "POST":
            return JSONResponse(self._store(None, body), status_code=201)
        if key not in self.tables.rows["companies"]:
            return JSONResponse({"error": f"company {key} does not exist"}, status_code=404)
        if request.method == "PUT":
            return JSONResponse(self._store(key, body))
        return JSONResponse(self.tables.rows["companies"][key])

    def routes(self) -> list:
        return [Route("/companies", self._list, methods=["GET"]),
                Route("/companies", self._one, methods=["POST"]),
                Route("/companies/{id}", self._one, methods=["GET", "PUT"])]


def _emulator(secrets: Mapping[str, str], state_file: Path | None, port: int) -> MiniEmulator:
    return MiniEmulator(state_file, api_key=secrets["api_key"], port=port)


SYSTEM = System(
    name=NAME,
    label="MiniCRM (tests only)",
    roles=frozenset({"crm"}),
    entities={"debtors": EntitySupport(READ_WRITE, probe=True)},
    connect=lambda config: MiniConnector(config.base_url, config.secret("api_key"),
                                         timeout=config.timeout_seconds, rate_per_second=config.rate_per_second),
    mapping=lambda options: MAPPING,
    secrets=("api_key",),
    emulation=Emulation(start=_emulator, seed=lambda emulator, entity, records: emulator.seed(entity, records),
                        demo_secrets={"api_key": ("MINICRM_API_KEY", "mini-demo-key")}),
)


def register_minimal_system() -> System:
    return register(SYSTEM)
