"""The entity model drives the tables: every model field is a column, nothing else describes it."""

import pytest
import sqlalchemy as sa

from ledgerbridge.model import ENTITIES, Entity, Field, Kind
from ledgerbridge.store import METADATA, hub_table_name, staging_table_name


@pytest.mark.parametrize("name", list(ENTITIES))
def test_every_model_field_is_a_column_of_staging_and_hub_tables(name):
    entity = ENTITIES[name]
    for table_name in (staging_table_name("crm", name), staging_table_name("erp", name), hub_table_name(name)):
        columns = set(METADATA.tables[table_name].columns.keys())
        assert set(entity.field_names) <= columns, table_name


def test_column_types_follow_field_kinds():
    invoices = METADATA.tables["hub_invoices"]
    assert isinstance(invoices.c.gross_amount.type, sa.Numeric)
    assert isinstance(invoices.c.invoice_date.type, sa.Date)
    assert isinstance(METADATA.tables["hub_debtors"].c.barred.type, sa.Boolean)


def test_references_point_at_known_entities_and_come_first():
    order = list(ENTITIES)
    for entity in ENTITIES.values():
        for ref in entity.depends_on:
            assert ref in ENTITIES
            assert order.index(ref) < order.index(entity.name), f"{entity.name} is listed before {ref}"


def test_invalid_declarations_are_refused():
    with pytest.raises(ValueError, match="twice"):
        Entity("x", "", (Field("a"), Field("a")))
    with pytest.raises(ValueError, match="not one of its fields"):
        Entity("x", "", (Field("a"),), match_keys=(("b",),))
    with pytest.raises(ValueError, match="reference"):
        Field("debtor_id", kind=Kind.REFERENCE)
