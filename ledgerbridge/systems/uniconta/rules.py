"""The integration's rule for the organisation type (the sheet, "Realtime Synkronisering af Organisationer"):

An organisation becomes a Uniconta debtor when its type (or status) changes to the configured keyword
(the debtors' creation trigger, e.g. `create_in_erp: "crm_type == 'Customer'"`). Once the debtor exists,
changing the type back has no effect: it is set back to the keyword as long as the debtor exists.

Uniconta keeps no organisation type, so no merge of field values can produce this: it is a rule over
the hub. `keep_trigger_value` sets the trigger field back on every debtor linked to a record in the
ERP; the CRM plan then writes it back to the CRM like any other change. It runs after reconcile and
before planning (`PinnedTriggerEngine` does this for the CLI-style engine). The engine itself has no
place for such rules yet: see the package's report for the change that would put it there.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.config import _FILTER, SyncConfig
from ledgerbridge.store import T, HubStore, hub, utcnow
from ledgerbridge.sync.engine import SyncEngine


def trigger_field(config: SyncConfig, entity: str = "debtors") -> tuple[str, str] | None:
    """(field, value) of an equality creation trigger such as "crm_type == 'Customer'", else None."""
    match = _FILTER.match(config.entity(entity).create_in_erp)
    if not match or match["op"] != "==":
        return None
    return match["field"], match["value"]


def keep_trigger_value(store: HubStore, config: SyncConfig, entity: str = "debtors") -> list[str]:
    """Set the trigger field back to its value on every hub record that exists in the ERP; the hub ids."""
    pinned = trigger_field(config, entity)
    if pinned is None:
        return []
    name, value = pinned
    table, id_map = hub(entity), T["id_map"]
    in_erp = sa.select(id_map.c.hub_id).where(id_map.c.entity == entity, id_map.c.system == config.erp.system)
    drifted = sa.and_(table.c.hub_id.in_(in_erp),
                      sa.or_(table.c[name].is_(None), sa.func.lower(table.c[name]) != value.lower()))
    with store.begin() as conn:
        hub_ids = list(conn.execute(sa.select(table.c.hub_id).where(drifted)).scalars())
        if hub_ids:
            conn.execute(table.update().where(table.c.hub_id.in_(hub_ids)).values({name: value, "updated_at": utcnow()}))
            # The CRM may have been sent this very payload before (when the record was created);
            # the plan never sends the same payload twice, but the CRM has changed since: forget it.
            state = T["sync_state"]
            conn.execute(state.update().where(state.c.entity == entity, state.c.system == config.crm.system,
                                              state.c.hub_id.in_(hub_ids)).values(last_sent_hash=None))
    return hub_ids


class PinnedTriggerEngine(SyncEngine):
    """The sync engine with the rule applied after each reconcile of debtors."""

    def reconcile(self, entity: str, run_id: str | None = None):
        result = super().reconcile(entity, run_id)
        if entity == "debtors":
            self.reverted = keep_trigger_value(self.store, self.config, entity)
        return result
