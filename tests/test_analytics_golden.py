"""The hub's foreign keys (they exist, hold, survive erasure and review merges, and an older hub gains
them), and the golden views' ids per system and quality flag, on SQLite and on PostgreSQL."""

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from ledgerbridge.model import ENTITIES
from ledgerbridge.store import ERASED, METADATA, T, HubStore, hub, reference_index_name
from ledgerbridge.sync import erasure, review
from pg import fresh_database


def now():
    return datetime.now(timezone.utc)


def stamp(**row):
    return {**row, "created_at": now(), "updated_at": now()}


def link(entity, hub_id, system, remote_id):
    return {"entity": entity, "hub_id": hub_id, "system": system, "remote_id": remote_id, "linked_at": now(),
            "linked_by": "created"}


def fetch(store, table, hub_id):
    with store.connect() as conn:
        return conn.execute(sa.select(hub(table)).where(hub(table).c.hub_id == hub_id)).mappings().first()


def test_every_golden_reference_is_a_foreign_key_with_an_index(store):
    inspector = sa.inspect(store.engine)
    expected = {(e.name, ref.name, ref.reference) for e in ENTITIES.values() for ref in e.references}
    assert ("invoices", "debtor_id", "debtors") in expected and ("invoice_lines", "invoice_id", "invoices") in expected
    assert ("contacts", "debtor_id", "debtors") in expected
    found = set()
    for entity in ENTITIES.values():
        for fk in inspector.get_foreign_keys(f"hub_{entity.name}"):
            assert fk["referred_columns"] == ["hub_id"]
            found.add((entity.name, fk["constrained_columns"][0], fk["referred_table"].removeprefix("hub_")))
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(f"hub_{entity.name}")}
        for ref in entity.references:
            assert (ref.name,) in indexed, reference_index_name(entity.name, ref.name)
    assert found == expected
    for side in ("crm", "erp"):  # staging tables hold each system's remote ids: no constraint there
        assert inspector.get_foreign_keys(f"{side}_invoices") == []


def test_foreign_keys_hold(store):
    with store.begin() as conn:
        conn.execute(hub("debtors").insert(), stamp(hub_id="d1", number="1", name="Acme"))
        conn.execute(hub("invoices").insert(), stamp(hub_id="i1", number="5", debtor_id="d1"))
    with pytest.raises(sa.exc.IntegrityError):
        with store.begin() as conn:  # a line of an invoice the hub does not have
            conn.execute(hub("invoice_lines").insert(), stamp(hub_id="l1", invoice_id="nowhere", line_number=1))
    with pytest.raises(sa.exc.IntegrityError):
        with store.begin() as conn:  # a customer its invoices point at
            conn.execute(hub("debtors").delete().where(hub("debtors").c.hub_id == "d1"))
    assert fetch(store, "debtors", "d1") is not None and fetch(store, "invoice_lines", "l1") is None


def test_erasing_a_customer_with_invoices_keeps_a_tombstone_without_values(store):
    with store.begin() as conn:
        conn.execute(hub("debtors").insert(), [stamp(hub_id="d1", number="7", name="Kari Nordmann", email="k@n.no"),
                                               stamp(hub_id="d2", number="8", name="Ola Nordmann", email=None)])
        conn.execute(hub("invoices").insert(), stamp(hub_id="i1", number="5", debtor_id="d1"))
        conn.execute(T["id_map"].insert(), [link("debtors", "d1", "economic", "7"), link("debtors", "d2", "economic", "8")])
    systems = {"erp": "economic"}

    erasure.purge(store, systems, "debtors", "d1", reason="Art. 17 request", requested_by="test")
    erasure.purge(store, systems, "debtors", "d2", reason="Art. 17 request", requested_by="test")

    tombstone = fetch(store, "debtors", "d1")
    assert tombstone["deleted_in"] == ERASED and tombstone["deleted_at"] is not None
    assert all(tombstone[name] is None for name in ENTITIES["debtors"].field_names)
    assert fetch(store, "invoices", "i1")["debtor_id"] == "d1"  # the invoice still points at a record
    assert fetch(store, "debtors", "d2") is None  # nothing points at it: deleted outright


def test_accepting_a_match_moves_the_children_to_the_kept_record(store):
    systems = {"crm": "webcrm", "erp": "economic"}
    with store.begin() as conn:
        conn.execute(hub("debtors").insert(), [stamp(hub_id="keep", name="Acme"), stamp(hub_id="drop", name="ACME A/S")])
        conn.execute(hub("contacts").insert(), stamp(hub_id="c1", debtor_id="keep", name="Per"))
        conn.execute(hub("invoices").insert(), stamp(hub_id="i1", number="5", debtor_id="drop"))
        conn.execute(T["id_map"].insert(), [link("debtors", "keep", "webcrm", "41"), link("debtors", "drop", "economic", "9")])
        candidate = conn.execute(T["match_candidates"].insert().returning(T["match_candidates"].c.id), {
            "entity": "debtors", "crm_remote_id": "41", "erp_remote_id": "9", "score": 91.0, "status": "suggested",
            "suggested_at": now()}).scalar_one()

    with store.begin() as conn:
        assert review.decide(conn, [candidate], accept=True, systems=systems) == [candidate]

    assert fetch(store, "invoices", "i1")["debtor_id"] == "keep"
    assert fetch(store, "contacts", "c1")["debtor_id"] == "keep"
    assert fetch(store, "debtors", "drop") is None
    assert fetch(store, "debtors", "keep")["name"] is None  # merged afresh by the next reconcile


@pytest.fixture(params=["sqlite", "postgresql"])
def old_hub_url(request, tmp_path):
    """A hub made before the golden tables had foreign keys, with an invoice whose customer was erased
    (deleted outright, as erasure did then) and a line whose invoice is there."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = fresh_database(request.getfixturevalue("pg_server_url"))
    old = sa.MetaData()
    for table in METADATA.sorted_tables:
        sa.Table(table.name, old, *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                    for c in table.columns))
    engine = sa.create_engine(url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["hub_debtors"].insert(), stamp(hub_id="d2", number="2", name="Kept"))
        conn.execute(old.tables["hub_invoices"].insert(), [stamp(hub_id="i1", number="10", debtor_id="erased-d1"),
                                                           stamp(hub_id="i2", number="11", debtor_id="d2")])
        conn.execute(old.tables["hub_invoice_lines"].insert(), stamp(hub_id="l1", invoice_id="i1", line_number=1))
        conn.execute(sa.text("CREATE VIEW my_invoices AS SELECT hub_id, number FROM hub_invoices"))  # an analyst's
    engine.dispose()
    return url


def test_an_older_hub_gains_the_foreign_keys_and_keeps_its_rows(old_hub_url):
    store = HubStore(old_hub_url)
    try:
        store.create_all()
        inspector = sa.inspect(store.engine)
        assert {fk["constrained_columns"][0] for fk in inspector.get_foreign_keys("hub_invoices")} == {"debtor_id"}
        assert "ix_hub_invoices_debtor_id" in {ix["name"] for ix in inspector.get_indexes("hub_invoices")}
        assert fetch(store, "invoices", "i1")["debtor_id"] == "erased-d1"
        assert fetch(store, "invoice_lines", "l1")["invoice_id"] == "i1"
        assert fetch(store, "debtors", "d2")["name"] == "Kept"
        assert fetch(store, "debtors", "erased-d1")["deleted_in"] == ERASED  # a tombstone holds the reference
        with pytest.raises(sa.exc.IntegrityError):
            with store.begin() as conn:
                conn.execute(hub("invoices").insert(), stamp(hub_id="i3", debtor_id="nowhere"))
        with store.connect() as conn:  # the views are there again, over the rebuilt tables
            assert conn.execute(sa.text("SELECT count(*) FROM golden_invoices")).scalar_one() == 2
            assert conn.execute(sa.text("SELECT count(*) FROM my_invoices")).scalar_one() == 2
        store.create_all()  # a second open changes nothing
    finally:
        store.dispose()


def test_golden_records_show_their_ids_in_each_system_and_a_quality_flag(store):
    quarantine = T["quarantine"]

    def finding(record, field, check, severity, resolved=None):
        return {"entity": "debtors", "record_key": record, "target": "economic", "field": field, "check_name": check,
                "value": "x", "reason": "r", "severity": severity, "first_seen": now(), "last_seen": now(),
                "resolved_at": resolved}

    with store.begin() as conn:
        conn.execute(hub("debtors").insert(), [stamp(hub_id=h, number=n, name=n) for h, n in
                                               (("held", "1"), ("warned", "2"), ("fine", "3"), ("fixed", "4"))])
        conn.execute(T["id_map"].insert(), [link("debtors", "held", "webcrm", "41"),
                                            link("debtors", "held", "economic", "1"),
                                            link("debtors", "fine", "webcrm", "43"),
                                            link("contacts", "fine", "economic", "not a debtor")])
        conn.execute(quarantine.insert(), [
            finding("held", "vat_number", "valid_vat", "block"), finding("held", "phone", "valid_phone", "warn"),
            finding("warned", "phone", "valid_phone", "warn"),
            finding("fixed", "vat_number", "valid_vat", "block", resolved=now()),
        ])
    with store.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT hub_id, system_ids, quality, findings FROM golden_debtors ORDER BY number_sort")).all()
        ids = conn.execute(sa.text("SELECT hub_id, system, remote_id FROM record_ids WHERE entity = 'debtors' "
                                   "ORDER BY hub_id, system")).all()
    assert [tuple(r) for r in rows] == [
        ("held", "economic:1; webcrm:41", "held", "economic phone: valid_phone; economic vat_number: valid_vat"),
        ("warned", None, "warning", "economic phone: valid_phone"),
        ("fine", "webcrm:43", "ok", None),
        ("fixed", None, "ok", None),
    ]
    assert [tuple(r) for r in ids] == [("fine", "webcrm", "43"), ("held", "economic", "1"), ("held", "webcrm", "41")]


def test_opening_a_hub_replaces_a_view_an_earlier_version_made_with_other_columns(store):
    with store.begin() as conn:
        conn.execute(sa.text("DROP VIEW sales_lines"))
        conn.execute(sa.text("CREATE VIEW sales_lines AS SELECT hub_id AS line_id FROM hub_invoice_lines"))
    store.create_all()
    columns = [c["name"] for c in sa.inspect(store.engine).get_columns("sales_lines")]
    assert "debtor_number_sort" in columns and columns[0] == "line_id"
