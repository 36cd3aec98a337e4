"""A webCRM table's records in one order (by id, or by a date field then id), cached between reads.

Every page of a paged GET or of a FindBy...Dates window used to sort the whole table again: O(N log N)
per page, so reading N records cost O(N^2 log N / Size). An `Order` is reused while no write went
through the emulator and the table holds as many records (O(1)); a date window is two bisections, so
a page costs O(log N + Size). A test that edits tables.rows by hand is caught on the records a page
shows (`holds`), and the caller sorts again.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any


@dataclass
class Order:
    rows: list[dict[str, Any]]  # the records, sorted by (field, id) or by id when field is None
    ids: list[Any]  # each record's id as sorted
    stamps: list[Any] | None  # each record's `field` as sorted (None: ordered by id)
    id_field: str
    field: str | None
    writes: int

    @classmethod
    def build(cls, table: dict[str, dict[str, Any]], id_field: str, field: str | None, writes: int) -> "Order":
        if field is None:
            rows = sorted(table.values(), key=lambda r: r[id_field])
            stamps = None
        else:
            rows = sorted(table.values(), key=lambda r: (r[field], r[id_field]))
            stamps = [r[field] for r in rows]
        return cls(rows, [r[id_field] for r in rows], stamps, id_field, field, writes)

    def current(self, table: dict[str, dict[str, Any]], writes: int) -> bool:
        return writes == self.writes and len(table) == len(self.rows)

    def window(self, start: Any, end: Any) -> range:
        """Positions of the records with start <= field < end (stamps share one format: text compares as time)."""
        assert self.stamps is not None
        return range(bisect.bisect_left(self.stamps, start), bisect.bisect_left(self.stamps, end))

    def holds(self, positions: range, table: dict[str, dict[str, Any]]) -> bool:
        """The records at `positions` are still the table's, with the id and stamp they were sorted by."""
        for i in positions:
            record = self.rows[i]
            if table.get(str(self.ids[i])) is not record or record.get(self.id_field) != self.ids[i]:
                return False
            if self.stamps is not None and record.get(self.field) != self.stamps[i]:
                return False
        return True
