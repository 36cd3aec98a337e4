"""The demo's model records as a Uniconta company holds them (the registry's Emulation.seed hook).

Records pass through the mapping's `to_remote` (the one description of where each field lives) and
are stored as the company's history, not through the API's checks: an old debtor may hold a value
the API would refuse today, which is what the quality gate is for. A debtor without a group gets
group "1" (Uniconta needs one); contacts belong to debtors (DCType Debtor). Invoices and payments are
not synced with Uniconta: the demo skips them (the System does not list them).
"""

from __future__ import annotations

from typing import Any

from ledgerbridge.systems.uniconta.mapping import DEFAULT, MAPS, remote_id

DEFAULTS = {"debtors": {"Group": "1"}, "items": {"ItemType": "Item"}}


def seed(emulator: Any, entity: str, records: list[dict[str, Any]]) -> list[str]:
    if entity not in MAPS:
        return []
    api = MAPS[entity].api
    ids = []
    for values in records:
        record = {**DEFAULTS.get(entity, {}), **{k: v for k, v in DEFAULT.to_remote(entity, values).items() if v is not None}}
        stored = emulator.insert_raw(api, record, validate=False)
        ids.append(remote_id(entity, stored))
    return ids
