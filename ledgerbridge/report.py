"""How the outcome of a sync is told to a person: one table row per entity, the records that need
someone, progress while it works, and the exit code. `ledgerbridge sync` and the demo print the same.

Exit codes: 0 everything synced; 1 records are held back by the checks (or wait for a review);
2 the configuration is wrong; 3 writes failed or a blocking check stopped a push; 4 a system could
not be reached or refused us (one line names the system, its host and the cause).
"""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterable, Mapping
from typing import IO, Any
from urllib.parse import urlsplit

EXIT_OK, EXIT_HELD_BACK, EXIT_CONFIG, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4

# (heading, value of EntitySummary) in the order of the road
COLUMNS: list[tuple[str, Any]] = [
    ("pulled", lambda s: s.pulled),
    ("matched", lambda s: s.matched),
    ("created", lambda s: s.created),
    ("updated", lambda s: s.updated),
    ("unchanged", lambda s: s.unchanged),
    ("held back", lambda s: len(s.held_back)),
    ("waiting", lambda s: s.waiting),
    ("not created", lambda s: sum(s.not_created.values())),
    ("failed", lambda s: len(s.failed)),
    ("conflicts", lambda s: s.conflicts),
    ("to review", lambda s: s.suggestions + s.duplicates),
]
COUNTING = textwrap.fill(
    "pulled: records read from both systems in this run (a linked pair counts twice; an incremental run reads only "
    "changes). The other columns count the hub's records by what happened to them, so they need not add up to pulled. "
    "waiting: the record's company or invoice is not on the other side yet (held back or under review).", width=110
)


def table(rows: list[list[Any]], headings: list[str], *, numbers: bool = True) -> str:
    """A plain text table; with `numbers`, every column but the first is right-aligned."""
    cells = [headings, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    return "\n".join(
        "  ".join(c.rjust(w) if numbers and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        for row in cells
    )


def summary_table(summaries: Mapping[str, Any]) -> str:
    rows = [[name, *(value(s) for _, value in COLUMNS)] for name, s in summaries.items()]
    return table(rows, ["entity", *(heading for heading, _ in COLUMNS)])


def attention(summaries: Mapping[str, Any], *, limit: int = 20) -> list[str]:
    """What needs a person, entity by entity: blocked pushes, failed writes, held-back records,
    records not created by rule, and suggestions to review. At most `limit` records per list."""
    lines: list[str] = []
    for name, s in summaries.items():
        for blocked in s.blocked:
            lines.append(f"! {name} blocked: {blocked}")
        for failure in s.failed[:limit]:
            lines.append(f"! {name} write failed: {failure['record']}: {failure['error']}")
        if s.held_back:
            lines.append(f"{name}: {len(s.held_back)} held back; fix them in the source system, the next sync releases them:")
            lines += [f"  - {h['record'] or h['hub_id']} -> {h['target']}: {'; '.join(h['reasons'])}" for h in s.held_back[:limit]]
            lines += [f"  ... and {len(s.held_back) - limit} more (ledgerbridge quarantine list)"] if len(s.held_back) > limit else []
        for reason, count in s.not_created.items():
            lines.append(f"{name}: {count} not created in {reason}")
        if s.suggestions or s.duplicates:
            lines.append(f"{name}: {s.suggestions} possible matches and {s.duplicates} likely duplicates await review "
                         "(ledgerbridge matches list, or the review console)")
    return lines


def planned_lines(summaries: Mapping[str, Any]) -> list[str]:
    """A dry run's planned writes, one line each with its field changes."""
    lines = []
    for name, s in summaries.items():
        for write in s.planned:
            changes = ", ".join(f"{f}: {c['from']!r} -> {c['to']!r}" for f, c in write["changes"].items())
            lines.append(f"would {write['operation']} {name} in {write['system']}: {write['record']}"
                         + (f" ({changes})" if changes else ""))
    return lines


def exit_code(summaries: Mapping[str, Any], held: Mapping[str, int] | None = None) -> int:
    """`held`: records held back now per entity (the quarantine), also those this run did not plan again."""
    if any(s.failed or s.blocked for s in summaries.values()):
        return EXIT_FAILED
    if any(s.held_back for s in summaries.values()) or any((held or {}).values()):
        return EXIT_HELD_BACK
    return EXIT_OK


def still_held_lines(summaries: Mapping[str, Any], held: Mapping[str, int]) -> list[str]:
    """Records held back from earlier runs that this run did not plan again (nothing changed in them)."""
    return [f"{name}: {count} record(s) held back in all, since earlier runs too (ledgerbridge quarantine list)"
            for name, count in held.items() if count > len(summaries[name].held_back)]


class Progress:
    """One line per entity on stderr: its name when it starts; when done, the records pulled, the time
    the whole road took (pull to push) and the rate of records through it."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stderr

    def run(self, entities: Iterable[str], sync_one) -> dict[str, Any]:
        summaries: dict[str, Any] = {}
        entities = list(entities)
        for number, entity in enumerate(entities, start=1):
            print(f"[{number}/{len(entities)}] {entity} ...", end="", file=self.stream, flush=True)
            started = time.perf_counter()
            try:
                summary = sync_one(entity)
            except BaseException:
                print(file=self.stream)  # the error that follows starts on its own line
                raise
            seconds = max(time.perf_counter() - started, 1e-6)
            print(f" {summary.pulled} pulled, synced in {seconds:.1f} s ({summary.pulled / seconds:,.0f} records/s)",
                  file=self.stream, flush=True)
            summaries[entity] = summary
        return summaries


def system_error_line(message: str, systems: Mapping[str, str]) -> str:
    """One line for a system that could not be reached or refused us: system, host and cause.
    `systems` maps each system's name to its base URL (credentials in a URL are never shown)."""
    for system, url in systems.items():
        if message.startswith(f"{system}:"):
            host = urlsplit(url).hostname or url
            port = urlsplit(url).port
            cause = message[len(system) + 1:].strip()
            return f"{system} at {host}{f':{port}' if port else ''}: {cause}"
    return message
