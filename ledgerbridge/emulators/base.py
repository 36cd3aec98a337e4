"""What every emulator shares: a real HTTP server on loopback, saved state, injected faults.

An emulator is a Starlette app served by uvicorn in a background thread. Its data lives in a
`Tables` object (dicts of records) that can be saved to and loaded from a JSON file, so the demo
keeps its emulated systems between runs. Faults (429 with Retry-After, 5xx, slow answers,
dropped connections) are queued with `inject_fault` and served before the next matching calls.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge.loopback import ThreadedServer


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Fault:
    status: int | None = None  # e.g. 429 or 503
    retry_after: float | None = None
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without an answer
    path_prefix: str = ""  # only calls whose path starts with this
    remaining: int = 1


class Tables:
    """The emulated system's data: table name -> {id: record}, plus counters for numbering."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self.lock = threading.RLock()
        self.rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.counters: dict[str, int] = defaultdict(int)
        if path is not None and path.exists():
            saved = json.loads(path.read_text())
            for table, records in saved["rows"].items():
                self.rows[table] = records
            self.counters.update(saved["counters"])

    def next_id(self, table: str, start: int = 1) -> int:
        with self.lock:
            self.counters[table] = max(self.counters[table], start - 1) + 1
            return self.counters[table]

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            data = json.dumps({"rows": self.rows, "counters": self.counters}, default=str)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.replace(self.path)


class FaultInjector:
    """ASGI middleware serving queued faults before the app sees the call."""

    def __init__(self, app: ASGIApp, faults: deque[Fault], lock: threading.Lock):
        self.app = app
        self.faults = faults
        self.lock = lock

    def _take(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self._take(scope.get("path", "")) if scope["type"] == "http" else None
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            raise ConnectionAbortedError("emulated dropped connection")
        if fault.status:
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            response = JSONResponse({"message": "emulated fault"}, status_code=fault.status, headers=headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class CallLog:
    """ASGI middleware recording (method, path) of every call, for API-call counting."""

    def __init__(self, app: ASGIApp, log: list[tuple[str, str]]):
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.log.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


class Emulator:
    """Base class: subclasses build `routes()` over `self.tables`; this runs the server."""

    system = "emulator"

    def __init__(self, state_file: Path | str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.tables = Tables(Path(state_file) if state_file else None)
        self.host = host
        self.port = port
        self.faults: deque[Fault] = deque()
        self._fault_lock = threading.Lock()
        self.request_log: list[tuple[str, str]] = []  # (method, path), for API-call counting
        self._server: ThreadedServer | None = None

    # -- subclasses -------------------------------------------------------------------------
    def routes(self) -> list:
        raise NotImplementedError

    # -- faults ----------------------------------------------------------------------------
    def inject_fault(self, **kwargs: Any) -> None:
        with self._fault_lock:
            self.faults.append(Fault(**kwargs))

    # -- server ----------------------------------------------------------------------------
    def app(self) -> ASGIApp:
        starlette = Starlette(routes=self.routes())
        return CallLog(FaultInjector(starlette, self.faults, self._fault_lock), self.request_log)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        self._server = ThreadedServer(self.app(), host=self.host, port=self.port, name=f"{self.system} emulator")
        self.port = self._server.port
        self._server.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.tables.save()

    def __enter__(self) -> "Emulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bulk_stamps(after_ms: int, now_ms: int, count: int) -> list[int]:
    """Change stamps (ms since the epoch) for `count` records imported at once, as a restored database
    has them: 1 ms apart and ending at `now_ms`, not starting there. Stamping each one 1 ms after the
    previous from now, as a write does, puts a big import minutes ahead of the clock, and a sync that
    started after it reads it all again. They still come strictly after `after_ms` (the newest stamp
    handed out), so stamps never tie and a cursor never skips them: only an import that follows other
    writes by fewer ms than it has records ends ahead of now, by the difference."""
    start = max(after_ms + 1, now_ms - count + 1)
    return list(range(start, start + count))


def iso(ts: datetime) -> str:
    """Timestamps as the emulated systems write them: ISO 8601, UTC, milliseconds."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status)
