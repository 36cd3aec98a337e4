"""The SQL connector's parts over pyodbc and the ODBC driver (PostgreSQL), and its SQL Server
statements compiled with SQLAlchemy's mssql dialect (no SQL Server runs here)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql

from sql_systems import odbc_database, product_database

from ledgerbridge.cli import main as cli
from ledgerbridge.connectors.base import RecordGone, RecordRejected, StaleWrite
from ledgerbridge.systems.sql.check import check_profile
from ledgerbridge.systems.sql.connector import SqlConnector
from ledgerbridge.systems.sql.emulator import SqlEmulator
from ledgerbridge.systems.sql.numbers import highest_number_query
from ledgerbridge.systems.sql.profile import ProfileError, load_profile, shipped_profiles
from ledgerbridge.systems.sql.schema import build_tables


def connector_for(emulator: SqlEmulator, tmp_path, **kwargs) -> SqlConnector:
    return SqlConnector(emulator.profile, emulator.url, snapshot_store=f"sqlite:///{tmp_path / 'snap.db'}", **kwargs)


def test_the_connector_talks_through_pyodbc_and_the_odbc_driver(pg_server_url, tmp_path):
    import pyodbc

    cobra = product_database(pg_server_url, "cobra")
    connector = connector_for(cobra, tmp_path)
    with connector.engine.connect() as conn:
        assert conn.dialect.driver == "pyodbc"
        assert isinstance(conn.connection.dbapi_connection, pyodbc.Connection)
        assert "psqlodbc" in conn.connection.dbapi_connection.getinfo(pyodbc.SQL_DRIVER_NAME).lower()
    connector.close()


# -- profile check -----------------------------------------------------------------------------------

@pytest.mark.parametrize("system", shipped_profiles())
def test_profile_check_finds_a_database_built_from_the_profile_complete(pg_server_url, system):
    database = product_database(pg_server_url, system)
    reports = check_profile(database.profile, database.engine)
    assert [f for r in reports for f in r.problems] == []
    assert {r.entity for r in reports} == set(database.profile.entities)


def test_profile_check_names_what_is_missing_shorter_or_of_another_type(pg_server_url, capsys):
    cobra = product_database(pg_server_url, "cobra")
    with cobra.engine.begin() as conn:  # a customer's cobra: some fields differ from the shipped profile
        conn.execute(sa.text('ALTER TABLE "ADDRESSES" DROP COLUMN "VATID"'))
        conn.execute(sa.text('ALTER TABLE "ADDRESSES" ALTER COLUMN "CITY0" TYPE varchar(40)'))
        conn.execute(sa.text('ALTER TABLE "ADDRESSES" ALTER COLUMN "ZIP0" TYPE integer USING NULL'))
        conn.execute(sa.text('DROP TABLE "ARTICLES"'))
    code = cli(["profile", "check", "--system", "cobra", "--url", cobra.url])
    out = capsys.readouterr().out
    assert code == 1
    assert "missing       ADDRESSES.VATID" in out and "[placeholder]" in out
    assert "too short     ADDRESSES.CITY0" in out and "nvarchar(40)" in out  # what to write in the override
    assert "type          ADDRESSES.ZIP0" in out and "expects text, the database has integer" in out
    assert "missing table ARTICLES" in out
    debtors = {f.column: f.status for f in check_profile(load_profile("cobra"), cobra.engine, ["debtors"])[0].findings}
    assert debtors["COMPANY1"] == "ok" and debtors["VATID"] == "missing"


def test_profile_check_warns_when_the_change_column_has_no_index(pg_server_url, capsys):
    channel = product_database(pg_server_url, "channelcrm")
    with channel.engine.begin() as conn:
        conn.execute(sa.text('DROP INDEX "ix_company_modified"'))
    assert cli(["profile", "check", "--system", "channelcrm", "--url", channel.url, "--entity", "debtors"]) == 0
    out = capsys.readouterr().out
    assert "no index      COMPANY.MODIFIED" in out and "every probe and incremental read scans the table" in out


def test_an_override_file_adapts_the_profile_and_the_check_passes(pg_server_url, tmp_path, capsys):
    override = tmp_path / "cobra-site.yaml"
    override.write_text(
        "entities:\n"
        "  debtors:\n"
        "    columns:\n"
        "      - {column: VATID, drop: true}\n"
        "      - {field: vat_number, column: UID, type: nvarchar(20)}\n"
        "      - {column: CITY0, type: nvarchar(40)}\n"
    )
    profile = load_profile("cobra", override)
    columns = {c.column: c for c in profile.entity("debtors").columns}
    assert "VATID" not in columns and columns["UID"].field == "vat_number" and columns["CITY0"].field == "city"
    database = SqlEmulator(profile, odbc_database(pg_server_url))
    database.start()
    assert cli(["profile", "check", "--system", "cobra", "--url", database.url, "--profile", str(override)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    with pytest.raises(ProfileError, match="vat_numbr.*not a field of debtors"):
        override.write_text("entities:\n  debtors:\n    columns:\n      - {field: vat_numbr, column: UID, type: nvarchar(20)}\n")
        load_profile("cobra", override)


# -- writes ------------------------------------------------------------------------------------------

def test_numbers_from_a_counter_table_and_max_plus_one(pg_server_url, tmp_path):
    override = tmp_path / "counter.yaml"
    override.write_text(
        "entities:\n"
        "  debtors:\n"
        "    numbering: {strategy: counter, counter_table: NUMBERS, counter_name_column: NAME,\n"
        "                counter_name: ADDRESSES, counter_value_column: LASTNO, start: 500}\n"
        "  invoices:\n"
        "    numbering: {strategy: max_plus_one, start: 9000}\n"
    )
    profile = load_profile("cobra", override)
    database = SqlEmulator(profile, odbc_database(pg_server_url))
    database.start()
    connector = connector_for(database, tmp_path)
    made = [connector.create("debtors", {"name": name}) for name in ("Alpha AG", "Beta AG", "Gamma AG")]
    assert [r.values["number"] for r in made] == ["500", "501", "502"]
    invoices = [connector.create("invoices", {"debtor_id": made[0].remote_id, "invoice_date": "2026-01-02",
                                              "currency": "CHF"}) for _ in range(2)]
    assert [r.values["number"] for r in invoices] == ["9000", "9001"]
    # A create refused before the INSERT draws no number.
    with pytest.raises(RecordRejected):
        connector.create("debtors", {"name": "x" * 101})
    assert connector.create("debtors", {"name": "Delta AG"}).values["number"] == "503"
    connector.close()


def test_a_create_that_does_not_fit_names_record_field_and_column_and_writes_nothing(pg_server_url, tmp_path):
    europa = product_database(pg_server_url, "europa3000")
    connector = connector_for(europa, tmp_path)
    with pytest.raises(RecordRejected) as refused:
        connector.create("debtors", {"number": "K-77", "name": "Zürcher Ziegeleien", "postcode": "8001\u2003",
                                     "currency": "CHFX"})
    assert refused.value.field_errors == {
        "postcode": "PLZ contains '\\u2003', which the column's code page (cp1252) cannot store",
        "currency": "WAEHRUNG is 4 characters long, at most 3 fit",
    }
    assert "K-77 Zürcher Ziegeleien" in str(refused.value)
    with pytest.raises(RecordRejected, match="ADRESSNUMMER is assigned by the other system"):
        connector.create("debtors", {"name": "Ohne Nummer AG"})
    assert europa.rows("ADRESSEN") == [] and europa.rows("DEBITOREN") == []
    with pytest.raises(RecordRejected, match="read-only"):
        connector.create("invoices", {"number": "R-1"})
    connector.close()


def test_update_reads_under_lock_and_the_guard_can_stop_it(pg_server_url, tmp_path):
    channel = product_database(pg_server_url, "channelcrm")
    connector = connector_for(channel, tmp_path)
    made = connector.create("debtors", {"name": "Hansen Tømrer ApS", "street": "Nørregade", "house_number": "7",
                                        "city": "Vejle", "country": "DK"})
    assert channel.rows("COMPANY")[0]["STREET"] == "Nørregade 7" and channel.rows("COMPANY")[0]["COUNTRY"] == "Denmark"

    def changed_there(current):
        raise StaleWrite("changed meanwhile", ("city",))

    with pytest.raises(StaleWrite):
        connector.update("debtors", made.remote_id, {"city": "Kolding"}, guard=changed_there)
    assert channel.rows("COMPANY")[0]["CITY"] == "Vejle"
    # Only the house number given: the address line keeps its street.
    stored = connector.update("debtors", made.remote_id, {"house_number": "9"}, guard=lambda current: None)
    assert (stored.values["street"], stored.values["house_number"]) == ("Nørregade", "9")
    with pytest.raises(RecordGone):
        connector.update("debtors", "999999", {"city": "Kolding"})
    connector.close()


# -- change detection ---------------------------------------------------------------------------------

def test_modified_at_pages_keep_rows_sharing_a_stamp(pg_server_url, tmp_path):
    channel = product_database(pg_server_url, "channelcrm")
    companies = channel.tables["debtors"].main
    channel.insert("COMPANY", [{"NAME": f"Firma {n}"} for n in range(7)])
    same = datetime(2026, 5, 1, 12, 0, 0)
    with channel.engine.begin() as conn:  # the product stamped them all in one second
        conn.execute(sa.text('ALTER TABLE "COMPANY" DISABLE TRIGGER ALL'))
        conn.execute(companies.update().values(MODIFIED=same))
        conn.execute(companies.insert().values(NAME="Never stamped"))  # the trigger is off: MODIFIED stays NULL
    connector = connector_for(channel, tmp_path)
    chunks = list(connector.iter_changed("debtors", None, chunk_size=3))
    names = [r.values["name"] for c in chunks for r in c.records]
    assert names[0] == "Never stamped"  # a full read takes the rows without a stamp too
    ids = [r.remote_id for c in chunks[1:] for r in c.records]
    assert len(ids) == 7 == len(set(ids))
    assert list(connector.iter_changed("debtors", chunks[-1].cursor)) == []
    assert connector.probe("debtors", chunks[-1].cursor) is None
    with channel.engine.begin() as conn:
        conn.execute(companies.update().where(companies.c.ID == int(ids[2])).values(MODIFIED=datetime(2026, 5, 1, 12, 0, 1)))
    assert connector.probe("debtors", chunks[-1].cursor) is not None
    assert [r.remote_id for c in connector.iter_changed("debtors", chunks[-1].cursor) for r in c.records] == [ids[2]]
    connector.close()


def test_rowversion_cursor_and_probe(pg_server_url, tmp_path):
    europa = product_database(pg_server_url, "europa3000")
    europa.insert("ARTIKEL", [{"ARTIKELNUMMER": f"A-{n}", "BEZEICHNUNG": f"Artikel {n}"} for n in range(5)])
    connector = connector_for(europa, tmp_path)
    chunks = list(connector.iter_changed("items", None, chunk_size=2))
    assert [len(c.records) for c in chunks] == [2, 2, 1]
    cursor = chunks[-1].cursor
    assert connector.probe("items", cursor) is None
    europa.execute(europa.tables["items"].main.update().where(europa.tables["items"].main.c.ARTIKELNUMMER == "A-1")
                   .values(VERKAUFSPREIS=Decimal("12.50")))
    marker = connector.probe("items", cursor)
    assert marker is not None and marker > cursor
    [changed] = [r for c in connector.iter_changed("items", cursor) for r in c.records]
    assert changed.remote_id == "A-1" and changed.values["unit_price"] == Decimal("12.50")
    connector.close()


def test_snapshot_hashes_are_saved_only_after_the_chunk_was_taken(pg_server_url, tmp_path):
    cobra = product_database(pg_server_url, "cobra")
    cobra.insert("ADDRESSES", [{"COMPANY1": f"Adresse {n}"} for n in range(5)])
    connector = connector_for(cobra, tmp_path)
    first = list(connector.iter_changed("debtors", None, chunk_size=2))
    cursor = first[-1].cursor
    assert sum(len(c.records) for c in first) == 5 and cursor.startswith("snap:")
    assert list(r for c in connector.iter_changed("debtors", cursor) for r in c.records) == []
    assert connector.probe("debtors", cursor) is None

    addresses = cobra.tables["debtors"].main
    cobra.execute(addresses.update().where(addresses.c.COMPANY1.in_(["Adresse 1", "Adresse 4"])).values(CITY0="Chur"))
    assert connector.probe("debtors", cursor) is not None
    # A pull that dies after taking the first chunk (before asking for the next) saved nothing ...
    stream = connector.iter_changed("debtors", cursor, chunk_size=1)
    taken = next(stream)
    stream.close()
    assert len(taken.records) == 1
    # ... so the next pull delivers both changed rows again, and afterwards none.
    again = list(connector.iter_changed("debtors", cursor, chunk_size=1))
    assert sorted(r.values["name"] for c in again for r in c.records) == ["Adresse 1", "Adresse 4"]
    assert list(r for c in connector.iter_changed("debtors", again[-1].cursor) for r in c.records) == []
    connector.close()


# -- SQL Server statements, compiled ---------------------------------------------------------------------

def mssql_sql(statement) -> str:
    return str(statement.compile(dialect=mssql.dialect()))


def test_sql_server_statements_compile_to_t_sql():
    connector = SqlConnector(load_profile("europa3000"), "sqlite://", snapshot_store="sqlite://")
    tables = connector.tables["items"]
    text = mssql_sql(connector._rowversion_page("items", 5, 100, "mssql"))
    assert text.startswith("SELECT TOP __[POSTCOMPILE_param_1] [ARTIKEL].[ARTIKELNUMMER]")
    assert "[ARTIKEL].[ZEITSTEMPEL] < MIN_ACTIVE_ROWVERSION()" in text
    # rowversion is SQL Server's own type there, and an 8-byte value in parameters
    assert "ROWVERSION" in str(sa.schema.CreateTable(tables.main).compile(dialect=mssql.dialect()))
    assert tables.change_column.type.process_bind_param(258, mssql.dialect()) == b"\x00\x00\x00\x00\x00\x00\x01\x02"
    assert tables.change_column.type.process_result_value(b"\x00\x00\x00\x00\x00\x00\x01\x02", mssql.dialect()) == 258
    connector.close()


SQL_SERVER = "mssql+pyodbc://lb@sqlhost/cobra?driver=ODBC+Driver+18+for+SQL+Server"  # never connected to


def test_sql_server_identity_keys_come_back_through_scope_identity_or_output():
    # Default: no OUTPUT clause (it fails on tables with triggers); SQLAlchemy appends SCOPE_IDENTITY().
    connector = SqlConnector(load_profile("cobra"), SQL_SERVER, snapshot_store="sqlite://")
    addresses = connector.tables["debtors"].main
    insert = addresses.insert().values(COMPANY1="Alpha AG")
    assert str(insert.compile(dialect=connector.engine.dialect)) == "INSERT INTO [ADDRESSES] ([COMPANY1]) VALUES (?)"
    assert connector.engine.dialect.use_scope_identity
    ddl = str(sa.schema.CreateTable(addresses).compile(dialect=connector.engine.dialect))
    assert "[ID] INTEGER NOT NULL IDENTITY" in ddl and "[COMPANY1] NVARCHAR(100) NOT NULL" in ddl
    # output_clause: the key comes back in the INSERT itself.
    connector = SqlConnector(load_profile("cobra"), SQL_SERVER, snapshot_store="sqlite://", output_clause=True)
    addresses = connector.tables["debtors"].main
    assert (str(addresses.insert().values(COMPANY1="Alpha AG").compile(dialect=connector.engine.dialect))
            == "INSERT INTO [ADDRESSES] ([COMPANY1]) OUTPUT inserted.[ID] VALUES (?)")


def test_sql_server_locks_for_numbers_and_updates():
    _, tables = build_tables(load_profile("europa3000"))
    highest = mssql_sql(highest_number_query(tables["invoices"]))
    assert "FROM [BELEGE] WITH (UPDLOCK, HOLDLOCK)" in highest and "[BELEGE].[BELEGART] = " in highest
    connector = SqlConnector(load_profile("channelcrm"), "sqlite://", snapshot_store="sqlite://")
    assert "[COMPANY] WITH (UPDLOCK, ROWLOCK)" in mssql_sql(connector._locked_row("debtors", 1))
    connector.close()
