"""Decisions on fuzzy match suggestions.

Accepting a suggestion merges the two hub records the pair had become (the CRM's record keeps
its hub id; the ERP record's link moves to it), and forgets what was last seen of both, so the
next reconcile merges their fields by ownership. Rejecting lets both records be created on the
other side as the separate companies they are.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerbridge.store import T, hub, utcnow


def decide(conn: sa.Connection, ids: list[int], *, accept: bool, systems: dict[str, str]) -> list[int]:
    """Record decisions on suggestions `ids`; `systems` names the CRM and ERP ({"crm": "webcrm", ...})."""
    candidates, id_map, state = T["match_candidates"], T["id_map"], T["sync_state"]
    decided = []
    for candidate in conn.execute(
        sa.select(candidates).where(candidates.c.id.in_(ids), candidates.c.status == "suggested")
    ).mappings():
        decided.append(candidate["id"])
        conn.execute(
            candidates.update()
            .where(candidates.c.id == candidate["id"])
            .values(status="accepted" if accept else "rejected", decided_at=utcnow())
        )
        if not accept:
            continue
        entity = candidate["entity"]
        link = lambda side: conn.execute(  # noqa: E731
            sa.select(id_map.c.hub_id, id_map.c.system).where(
                id_map.c.entity == entity,
                id_map.c.system == systems[side],
                id_map.c.remote_id == candidate[f"{side}_remote_id"],
            )
        ).first()
        crm_link, erp_link = link("crm"), link("erp")
        if crm_link is None or erp_link is None or crm_link.hub_id == erp_link.hub_id:
            continue  # not reconciled yet: reconcile pairs them as accepted
        keep, drop = crm_link.hub_id, erp_link.hub_id
        conn.execute(
            id_map.update()
            .where(id_map.c.entity == entity, id_map.c.hub_id == drop, id_map.c.system == erp_link.system)
            .values(hub_id=keep, linked_by="accepted", linked_at=utcnow())
        )
        conn.execute(state.delete().where(state.c.entity == entity, state.c.hub_id.in_([keep, drop])))
        conn.execute(hub(entity).delete().where(hub(entity).c.hub_id == drop))
        # Both sides are read afresh by the next reconcile and merged as a first sight of the pair.
        conn.execute(hub(entity).delete().where(hub(entity).c.hub_id == keep))
    return decided


def dismiss_duplicates(conn: sa.Connection, ids: list[int]) -> list[int]:
    """Close duplicate reports (merged at the source, or not duplicates after all): the records
    they held back are created on the other side by the next sync."""
    duplicates = T["duplicate_candidates"]
    found = list(
        conn.execute(
            sa.select(duplicates.c.id).where(duplicates.c.id.in_(ids), duplicates.c.status == "open")
        ).scalars()
    )
    conn.execute(
        duplicates.update().where(duplicates.c.id.in_(found)).values(status="dismissed", decided_at=utcnow())
    )
    return found
