"""The Uniconta records as this connector last read them, so an update need not read again.

Uniconta's PUT replaces the whole record (NOTES.md §5), so an update must send every property. The
incremental pull reads every record changed since its cursor; a record it did not read has not
changed since it was last read. So right after an entity's pull, the last read of each of its
records is current, and an update can overlay it: one call instead of two.

When is a last read trusted: when the entity was pulled completely at most `fresh_seconds` ago (the
pull of this sync), or the record itself was read that recently. Kept in memory, and optionally in a
SQLite file (the `read_cache` option) so the next run's updates need no read either. The file holds
what the hub holds (records of the company), nothing else; delete it any time: updates then read first.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


class LastReads:
    def __init__(self, path: Path | str | None = None, fresh_seconds: float = 60.0):
        self.fresh_seconds = fresh_seconds
        self._memory: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._pulled: dict[str, float] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS reads (entity TEXT, remote_id TEXT, at REAL, raw TEXT, "
                             "PRIMARY KEY (entity, remote_id))")
            self._db.execute("CREATE TABLE IF NOT EXISTS pulls (entity TEXT PRIMARY KEY, at REAL)")
            self._pulled = dict(self._db.execute("SELECT entity, at FROM pulls").fetchall())

    def remember(self, entity: str, remote_id: str, raw: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            self._memory[(entity, remote_id)] = (now, raw)
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO reads VALUES (?, ?, ?, ?)", (entity, remote_id, now, json.dumps(raw)))

    def pulled(self, entity: str) -> None:
        """The entity's incremental pull has read everything that changed: its last reads are current."""
        now = time.time()
        with self._lock:
            self._pulled[entity] = now
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO pulls VALUES (?, ?)", (entity, now))
                self._db.commit()

    def current(self, entity: str, remote_id: str) -> dict[str, Any] | None:
        """The last read of the record, if it can be trusted to be what Uniconta holds now."""
        now = time.time()
        with self._lock:
            found = self._memory.get((entity, remote_id))
            if found is None and self._db is not None:
                row = self._db.execute("SELECT at, raw FROM reads WHERE entity = ? AND remote_id = ?",
                                       (entity, remote_id)).fetchone()
                found = (row[0], json.loads(row[1])) if row else None
            entity_fresh = now - self._pulled.get(entity, float("-inf")) <= self.fresh_seconds
        if found is None or not (entity_fresh or now - found[0] <= self.fresh_seconds):
            return None
        return dict(found[1])

    def close(self) -> None:
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None
