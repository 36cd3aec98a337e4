"""Webhook firing for the emulators: deliveries from a background thread, never blocking a write.

A write to the emulated system never waits for a receiver: `HookDispatcher.deliver` only puts the
call on a bounded queue (a full queue drops the event and counts it, as a real system sheds load),
and one worker thread per emulator POSTs it with a short timeout. A receiver that is down, slow or
answering 5xx is counted in `failed` and never raises into the emulator. The worker starts on the
first delivery and ends after a quiet minute, so idle emulators in tests hold no thread.

Each system's subscription API lives in its package (systems/<name>/emulator_hooks.py).
"""


from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

IDLE_SECONDS = 60.0


@dataclass
class Delivery:
    url: str
    status: int | None  # None: no answer (connection refused, timeout)
    event: str
    at: float


class HookDispatcher:
    """Delivers webhook calls from a background thread; never blocks or fails the caller."""

    def __init__(self, system: str, *, max_queue: int = 10_000, timeout: float = 5.0, keep: int = 1000):
        self.system = system
        self.timeout = timeout
        self.queue: queue.Queue[tuple[str, bytes, dict[str, str], str]] = queue.Queue(maxsize=max_queue)
        self.deliveries: list[Delivery] = []  # the last `keep` attempts, for tests and the benchmark
        self.keep = keep
        self.delivered = self.failed = self.dropped = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def deliver(self, url: str, body: dict[str, Any], *, event: str = "", headers: dict[str, str] | None = None,
                sign: Callable[[bytes], dict[str, str]] | None = None) -> bool:
        """Queue one POST of `body` to `url`; False when the queue is full (the event is dropped)."""
        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        all_headers = {"Content-Type": "application/json", "User-Agent": f"{self.system}-webhooks (ledgerbridge emulator)"}
        all_headers.update(headers or {})
        if sign is not None:
            all_headers.update(sign(raw))
        try:
            self.queue.put_nowait((url, raw, all_headers, event))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        self._ensure_worker()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued call has been attempted (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=f"{self.system}-webhooks", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                url, raw, headers, event = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self.queue.empty():
                        self._thread = None
                        return
                continue
            status: int | None = None
            try:
                status = self._session.post(url, data=raw, headers=headers, timeout=self.timeout).status_code
            except Exception:  # noqa: BLE001 - a receiver's failure must never reach the emulator
                status = None
            finally:
                with self._lock:
                    ok = status is not None and status < 300
                    self.delivered += ok
                    self.failed += not ok
                    self.deliveries.append(Delivery(url, status, event, time.time()))
                    del self.deliveries[: -self.keep]
                self.queue.task_done()
