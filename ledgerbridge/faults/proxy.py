"""A fault-injecting HTTP proxy: put it between a connector and a system (an emulator) to test the
sync's promise under the failures real networks and APIs produce.

At a configurable rate, a call meets one of these faults, chosen by a seeded random generator so a
run can be repeated:

    before the system sees the call     429 with Retry-After, 500, 502, 503, slow answer, dropped connection
    after the system carried it out     500 instead of the answer, answer lost (connection closed),
                                        answer later than the client waits (a timeout)

The faults after the system acted are the dangerous ones: the client cannot know that its create
happened. Counts per fault kind are kept for the benchmark's report. It is a plain threaded HTTP
server on loopback (the standard library's), forwarding with http.client: nothing in the
connectors knows it is there.
"""

from __future__ import annotations

import http.client
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BEFORE = ("429", "500", "502", "503", "slow", "drop")
AFTER = ("500_after", "lost_reply", "timeout_after")
KINDS = BEFORE + AFTER
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class ScriptedFault:
    """A fault for the next `times` calls of `method` whose path starts with `path` (tests that need
    one particular failure, e.g. the answer to one create lost)."""

    method: str
    path: str
    kind: str
    times: int = 1


@dataclass
class FaultPlan:
    rate: float = 0.0  # share of calls that meet a fault
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    slow_seconds: float = 0.3  # a slow answer, still within the client's timeout
    timeout_seconds: float = 2.5  # longer than the client waits: the client gives up first
    retry_after: float = 0.1
    script: list[ScriptedFault] = field(default_factory=list)  # served before any random fault
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = (set(self.kinds) | {f.kind for f in self.script}) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, method: str = "", path: str = "") -> str | None:
        with self._lock:
            for scripted in self.script:
                if scripted.times > 0 and scripted.method == method and path.startswith(scripted.path):
                    scripted.times -= 1
                    self.counts[scripted.kind] += 1
                    return scripted.kind
            if self.rate <= 0 or self._random.random() >= self.rate:
                self.counts["none"] += 1
                return None
            kind = self._random.choice(self.kinds)
            self.counts[kind] += 1
            return kind


class _QuietServer(ThreadingHTTPServer):
    """A client that went away mid-reply (a sync killed with SIGKILL, a timeout we injected) is part of
    the experiment, not an error worth a traceback."""

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FaultProxy:
    """`FaultProxy(upstream_url, plan).start()` -> the proxy's base URL."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None, host: str = "127.0.0.1", port: int = 0):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.plan = plan or FaultPlan()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # bodies may hold personal data: no access log
                pass

            def _forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
                connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.getheaders(), response.read()
                finally:
                    connection.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _drop(self) -> None:
                self.close_connection = True  # no answer at all: the client sees the connection end

            def _handle(self) -> None:
                kind = proxy.plan.draw(self.command, self.path)
                if kind in ("429", "500", "502", "503"):
                    length = int(self.headers.get("Content-Length") or 0)
                    if length:
                        self.rfile.read(length)
                    extra = [("Retry-After", f"{proxy.plan.retry_after:g}")] if kind == "429" else []
                    self._answer(int(kind), [("Content-Type", "application/json"), *extra],
                                 b'{"message": "injected fault"}')
                    return
                if kind == "drop":
                    length = int(self.headers.get("Content-Length") or 0)
                    if length:
                        self.rfile.read(length)
                    self._drop()
                    return
                if kind == "slow":
                    time.sleep(proxy.plan.slow_seconds)
                status, headers, body = self._forward()
                if kind == "500_after":
                    self._answer(500, [("Content-Type", "application/json")], b'{"message": "injected fault after the call"}')
                elif kind == "lost_reply":
                    self._drop()
                elif kind == "timeout_after":
                    time.sleep(proxy.plan.timeout_seconds)
                    self._drop()
                else:
                    self._answer(status, headers, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _QuietServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault proxy", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FaultProxy":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
