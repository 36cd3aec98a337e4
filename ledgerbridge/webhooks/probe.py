"""Change probes: "has anything changed since the pull cursor?" for entities without webhooks.

A probe reads one small page of the same incremental query the pull uses (webCRM
FindByUpdateDates from the cursor, e-conomic `filter=lastUpdated$gt:` / `bookedInvoiceNumber$gt:`)
and answers with a marker of the newest change after the cursor, or None. One API call per probe.
Which entities a system can probe this cheaply is its package's declaration
(`EntitySupport.probe`); the others (e-conomic contacts and payments have no change stamp) get a
schedule by default (ledgerbridge.systems.triggers).
"""

from __future__ import annotations

from datetime import datetime

from ledgerbridge.connectors.base import Connector
from ledgerbridge.systems import get

PAGE = 10  # a few records: webCRM's start is inclusive, so the record at the cursor comes back


def probeable(system: str, entity: str) -> bool:
    return get(system).probeable(entity)


def _instant(cursor: str) -> datetime | None:
    try:
        return datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return None  # a number cursor (booked invoices): everything returned is newer


def probe(connector: Connector, entity: str, cursor: str) -> str | None:
    """The newest change after `cursor` (its stamp, or the highest id), or None when there is none."""
    own = get(connector.system).probe
    if own is not None:
        return own(connector, entity, cursor)
    return probe_first_page(connector, entity, cursor)


def probe_first_page(connector: Connector, entity: str, cursor: str) -> str | None:
    chunks = connector.iter_changed(entity, cursor, chunk_size=PAGE)
    try:
        chunk = next(iter(chunks), None)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    if chunk is None:
        return None
    after = _instant(cursor)
    newer = [r for r in chunk.records if after is None or r.updated_at is None or r.updated_at > after]
    if not newer:
        return None
    stamps = [r.updated_at for r in newer if r.updated_at is not None]
    return max(stamps).isoformat() if stamps else max(newer, key=lambda r: (len(r.remote_id), r.remote_id)).remote_id
