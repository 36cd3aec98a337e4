"""Keep the creation trigger's value while the record exists in the ERP (`keep_trigger_while_linked`).

Some integrations create the ERP record when a CRM field reaches a keyword (an organisation's type
becomes "Customer") and, once it exists there, set the field back whenever someone changes it in the
CRM (the Uniconta sheet: "changing the type back has no effect"). No merge of values can do this
when the ERP does not keep that field: it is a rule over the hub, applied after reconcile, and the
CRM plan writes the value back like any other change.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.config import SyncConfig, equality_trigger
from ledgerbridge.store import T, HubStore, hub, utcnow
from ledgerbridge.sync.queue import enqueue


def keep_trigger_value(store: HubStore, config: SyncConfig, entity: str) -> list[str]:
    """Set the trigger field back on every hub record linked in the ERP; returns their hub ids."""
    if not config.entity(entity).keep_trigger_while_linked:
        return []
    pinned = equality_trigger(config.entity(entity).create_in_erp)
    if pinned is None:
        return []
    name, value = pinned
    table, id_map = hub(entity), T["id_map"]
    in_erp = sa.select(id_map.c.hub_id).where(id_map.c.entity == entity, id_map.c.system == config.erp.system,
                                              id_map.c.gone_at.is_(None))
    drifted = sa.and_(table.c.hub_id.in_(in_erp), table.c.deleted_at.is_(None),
                      sa.or_(table.c[name].is_(None), sa.func.lower(table.c[name]) != value.lower()))
    with store.begin() as conn:
        hub_ids = list(conn.execute(sa.select(table.c.hub_id).where(drifted)).scalars())
        if hub_ids:
            conn.execute(table.update().where(table.c.hub_id.in_(hub_ids)).values({name: value, "updated_at": utcnow()}))
            # The CRM may have been sent this very payload before (when the record was created); the
            # plan never sends a payload twice, but the CRM has changed since: forget that one.
            state = T["sync_state"]
            conn.execute(state.update().where(state.c.entity == entity, state.c.system == config.crm.system,
                                              state.c.hub_id.in_(hub_ids)).values(last_sent_hash=None))
            enqueue(conn, entity, hub_ids, sides=("crm",))
    return hub_ids
