"""The seed sheets' pairs synced through the SQL connector over pyodbc and unixODBC's PostgreSQL
driver, against product databases built from the shipped profiles on a real PostgreSQL server:
cobra -> europa3000 (000_), cobra -> Sage 50 (001_), ChannelCRM <-> e-conomic (002_)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from sql_systems import product_database
from sync_helpers import engine_for

from ledgerbridge.analytics import create_views
from ledgerbridge.config import parse_config
from ledgerbridge.store import T, HubStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hub(tmp_path):
    store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    store.create_all()
    yield store
    store.dispose()


def sql_section(system: str, url: str, tmp_path: Path) -> dict:
    return {"system": system, "base_url": url, "options": {"snapshot_store": f"sqlite:///{tmp_path / (system + '-snapshots.db')}"}}


class DmlCounter:
    """INSERT/UPDATE/DELETE statements a connector sends to its product database."""

    def __init__(self, *engines: sa.Engine):
        self.statements: list[str] = []
        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.statements.append(statement)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken


def totals(summaries) -> dict[str, int]:
    return {"created": sum(s.created for s in summaries.values()), "updated": sum(s.updated for s in summaries.values())}


# -- cobra -> europa3000 ---------------------------------------------------------------------------

def cobra_addresses(cobra) -> dict[str, int]:
    rows = [
        {"COMPANY1": "Bergbahnen Arosa AG", "STREET0": "Poststrasse 12", "ZIP0": "7050", "CITY0": "Arosa",
         "STATE0": "Schweiz", "PHONE0": "+41 81 378 84 84", "EMAIL0": "info@arosa.example", "CUSTOMERNO": "10001",
         "ADDRESSTYPE": "Kunde", "VATID": "CHE-116.281.710 MWST"},
        {"COMPANY1": "Käserei Zürcher GmbH", "STREET0": "Dorfstrasse 3a", "ZIP0": "8001", "CITY0": "Zürich",
         "STATE0": "Schweiz", "CUSTOMERNO": "10002", "ADDRESSTYPE": "Kunde"},
        {"COMPANY1": "Interessent Müller", "STREET0": "Seeweg 1", "ZIP0": "6003", "CITY0": "Luzern",
         "STATE0": "Schweiz", "CUSTOMERNO": "10003", "ADDRESSTYPE": "Interessent"},
        # cobra holds 100 characters, europa3000's FIRMA 60: held back by the gate, with its reason.
        {"COMPANY1": "Genossenschaft für landwirtschaftliche Maschinen und Geräte im Kanton Graubünden",
         "STREET0": "Bahnhofplatz 2", "ZIP0": "7000", "CITY0": "Chur", "STATE0": "Schweiz",
         "CUSTOMERNO": "10004", "ADDRESSTYPE": "Kunde"},
        # A non-breaking hyphen pasted into the postcode: europa3000's PLZ is a non-Unicode CHAR column.
        {"COMPANY1": "Grenzhandel Basel AG", "STREET0": "Freiburgerstrasse 80", "ZIP0": "CH\u20114057",
         "CITY0": "Basel", "STATE0": "Schweiz", "CUSTOMERNO": "10005", "ADDRESSTYPE": "Kunde"},
    ]
    keys = cobra.insert("ADDRESSES", rows)
    return {row["CUSTOMERNO"]: key for row, key in zip(rows, keys)}


def cobra_europa_config(cobra, europa, tmp_path, hub_url):
    return parse_config({
        "crm": sql_section("cobra", cobra.url, tmp_path),
        "erp": sql_section("europa3000", europa.url, tmp_path),
        "hub": {"url": hub_url},
        "entities": {
            # cobra is the address master and gives the number; only customers (Adressart) go over.
            "debtors": {"direction": "crm_to_erp", "number_policy": "crm", "create_in_erp": "crm_type == 'Kunde'",
                        "erp_defaults": {"currency": "CHF", "payment_terms": "30T"}},
            "items": {"direction": "erp_to_crm"},
            "invoices": {"direction": "erp_to_crm"},
            "invoice_lines": {"direction": "erp_to_crm"},
        },
    }, "test")


def europa_invoices(europa) -> None:
    """Invoices made in europa3000 (vouchers of type RE), an offer (AN) that stays, a text line."""
    europa.insert("ARTIKEL", [
        {"ARTIKELNUMMER": "SKI-100", "BEZEICHNUNG": "Skiservice", "VERKAUFSPREIS": Decimal("45.00"), "EINHEIT": "Stk"},
        {"ARTIKELNUMMER": "TB-7", "BEZEICHNUNG": "Tageskarte", "VERKAUFSPREIS": Decimal("79.00"), "EINHEIT": "Stk"},
    ])
    europa.insert("BELEGE", [
        {"BELEGNUMMER": "R-2026-001", "BELEGART": "RE", "ADRESSNUMMER": "10001", "BELEGDATUM": date(2026, 3, 2),
         "FAELLIGKEIT": date(2026, 4, 1), "WAEHRUNG": "CHF", "NETTO": Decimal("169.00"), "MWST": Decimal("13.69"),
         "BRUTTO": Decimal("182.69"), "OFFEN": Decimal("182.69"), "BEZEICHNUNG": "Saisonstart"},
        {"BELEGNUMMER": "A-2026-009", "BELEGART": "AN", "ADRESSNUMMER": "10001", "BELEGDATUM": date(2026, 3, 5),
         "WAEHRUNG": "CHF", "NETTO": Decimal("1000.00")},
    ])
    europa.insert("BELEGPOSITIONEN", [
        {"BELEGNUMMER": "R-2026-001", "ZEILENART": 1, "POSITION": 1, "ARTIKELNUMMER": "SKI-100", "BEZEICHNUNG": "Skiservice",
         "MENGE": Decimal("2"), "PREIS": Decimal("45.00"), "BETRAG": Decimal("90.00")},
        {"BELEGNUMMER": "R-2026-001", "ZEILENART": 2, "POSITION": 2, "BEZEICHNUNG": "inkl. Wachs"},
        {"BELEGNUMMER": "R-2026-001", "ZEILENART": 1, "POSITION": 3, "ARTIKELNUMMER": "TB-7", "BEZEICHNUNG": "Tageskarte",
         "MENGE": Decimal("1"), "PREIS": Decimal("79.00"), "BETRAG": Decimal("79.00")},
    ])


def test_cobra_to_europa3000_addresses_out_documents_back(pg_server_url, tmp_path, hub):
    cobra, europa = product_database(pg_server_url, "cobra"), product_database(pg_server_url, "europa3000")
    ids = cobra_addresses(cobra)
    config = cobra_europa_config(cobra, europa, tmp_path, hub.url)
    engine = engine_for(config, hub)
    dml = DmlCounter(engine.connectors["crm"].engine, engine.connectors["erp"].engine)

    summaries = engine.run()
    debtors = summaries["debtors"]
    addresses = {r["ADRESSNUMMER"]: r for r in europa.rows("ADRESSEN")}
    # Customers with the number cobra gave them; the prospect stays in cobra.
    assert sorted(addresses) == ["10001", "10002"]
    assert addresses["10001"]["FIRMA"] == "Bergbahnen Arosa AG" and addresses["10001"]["STRASSE"] == "Poststrasse 12"
    assert addresses["10002"]["PLZ"].rstrip() == "8001" and addresses["10002"]["LAND"] == "CH"
    accounts = {r["ADRESSNUMMER"]: r for r in europa.rows("DEBITOREN")}
    assert sorted(accounts) == ["10001", "10002"] and accounts["10001"]["WAEHRUNG"] == "CHF"
    # Bad values never reach the driver: one held back by the gate, one refused before the INSERT,
    # each with a reason naming the record and the field.
    held = {h["record"]: h["reasons"] for h in debtors.held_back}
    assert any("name" in reason for reason in held["10004 Genossenschaft für landwirtschaftliche Maschinen und Geräte im Kanton Graubünden"])
    [refused] = debtors.failed
    assert "10005 Grenzhandel Basel AG" in refused["error"] and "postcode (PLZ" in refused["error"]
    assert "code page" in refused["error"]
    with hub.connect() as conn:
        quarantined = {(r.record_label, r.field) for r in conn.execute(sa.select(T["quarantine"]))}
    assert ("10005 Grenzhandel Basel AG", "postcode") in quarantined

    # europa3000 makes an invoice: documents and positions come back to cobra (offers and text lines stay).
    europa_invoices(europa)
    dml.take()
    engine.run()
    [document] = cobra.rows("DOCUMENTS")
    assert document["DOCUMENTNO"] == "R-2026-001" and document["ADDRESSID"] == ids["10001"]
    assert document["GROSSAMOUNT"] == Decimal("182.69")
    positions = sorted(cobra.rows("DOCUMENTPOSITIONS"), key=lambda p: p["POSITION"])
    assert [p["POSITION"] for p in positions] == [1, 3]
    articles = {a["ID"]: a["ARTICLENO"] for a in cobra.rows("ARTICLES")}
    assert [articles[p["ARTICLEID"]] for p in positions] == ["SKI-100", "TB-7"]  # "who bought item X" works in cobra
    # ... and in the analyst views over the hub
    create_views(hub)
    with hub.connect() as conn:
        bought = conn.execute(sa.text(
            "SELECT DISTINCT debtor_number, debtor_name FROM sales_lines WHERE item_number = 'SKI-100'")).all()
    assert [tuple(b) for b in bought] == [("10001", "Bergbahnen Arosa AG")]

    # Every later change of an address reaches europa3000; then nothing is left to write.
    cobra.execute(cobra.tables["debtors"].main.update().where(
        cobra.tables["debtors"].main.c.ID == ids["10002"]).values(CITY0="Winterthur", ZIP0="8400"))
    cursor = engine.connectors["crm"].iter_changed  # the probe sees the change before any pull
    with hub.connect() as conn:
        stored = conn.execute(sa.select(T["cursors"].c.cursor).where(T["cursors"].c.system == "cobra",
                                                                    T["cursors"].c.entity == "debtors")).scalar_one()
    assert engine.connectors["crm"].probe("debtors", stored) is not None and cursor
    dml.take()
    assert totals(engine.run()) == {"created": 0, "updated": 1}
    assert europa.rows("ADRESSEN", ADRESSNUMMER="10002")[0]["ORTSCHAFT"] == "Winterthur"
    dml.take()
    second = engine.run()
    assert totals(second) == {"created": 0, "updated": 0}
    assert dml.take() == []  # not a single INSERT or UPDATE in either database
    for connector in engine.connectors.values():
        connector.close()


# -- cobra -> Sage 50 --------------------------------------------------------------------------------

def cobra_faktura(cobra) -> dict[str, int]:
    """Addresses and invoices made with cobra's Faktura module (cost centre, Mandant, account per line)."""
    keys = cobra.insert("ADDRESSES", [
        {"COMPANY1": "Hotel Alpenblick AG", "STREET0": "Hauptstrasse 5", "ZIP0": "3818", "CITY0": "Grindelwald",
         "STATE0": "Schweiz", "CUSTOMERNO": "2001", "ADDRESSTYPE": "Kunde"},
        {"COMPANY1": "Sportgeschäft Wyss", "STREET0": "Bahnhofstrasse 20", "ZIP0": "3600", "CITY0": "Thun",
         "STATE0": "Schweiz", "CUSTOMERNO": "2002", "ADDRESSTYPE": "Kunde"},
    ])
    [invoice] = cobra.insert("DOCUMENTS", [
        {"DOCUMENTNO": "F-5001", "ADDRESSID": keys[0], "DOCDATE": date(2026, 5, 4), "DUEDATE": date(2026, 6, 3),
         "CURRENCY": "CHF", "NETAMOUNT": Decimal("1250.00"), "VATAMOUNT": Decimal("101.25"),
         "GROSSAMOUNT": Decimal("1351.25"), "SUBJECT": "Wartungsvertrag 2026", "COSTCENTRE": "KST-200", "MANDANT": "ALPEN"},
    ])
    cobra.insert("DOCUMENTPOSITIONS", [
        {"DOCUMENTID": invoice, "POSITION": 1, "TEXT": "Wartung Lift", "QUANTITY": Decimal("1"), "PRICE": Decimal("1000"),
         "AMOUNT": Decimal("1000.00"), "ACCOUNT": "3400"},
        {"DOCUMENTID": invoice, "POSITION": 2, "TEXT": "Anfahrt", "QUANTITY": Decimal("2"), "PRICE": Decimal("125"),
         "AMOUNT": Decimal("250.00"), "ACCOUNT": "3410"},
    ])
    return {"2001": keys[0], "2002": keys[1], "invoice": invoice}


def cobra_sage_config(cobra, sage, tmp_path, hub_url):
    return parse_config({
        "crm": sql_section("cobra", cobra.url, tmp_path),
        "erp": sql_section("sage50", sage.url, tmp_path),
        "hub": {"url": hub_url},
        "entities": {
            # The debtor account is created with the first invoice; the numbers are cobra's.
            "debtors": {"direction": "crm_to_erp", "number_policy": "crm", "create_in_erp": "first_invoice",
                        "erp_defaults": {"currency": "CHF"}},
            "invoices": {"direction": "crm_to_erp", "number_policy": "crm"},
            "invoice_lines": {"direction": "crm_to_erp"},
        },
    }, "test")


def test_cobra_to_sage50_invoices_as_booking_data(pg_server_url, tmp_path, hub):
    cobra, sage = product_database(pg_server_url, "cobra"), product_database(pg_server_url, "sage50")
    ids = cobra_faktura(cobra)
    engine = engine_for(cobra_sage_config(cobra, sage, tmp_path, hub.url), hub)
    dml = DmlCounter(engine.connectors["crm"].engine, engine.connectors["erp"].engine)

    # The engine syncs debtors before invoices: the first run learns of the invoice (which waits
    # for its debtor), the next creates the debtor account with it.
    first = engine.run()
    assert sage.rows("DEBITOREN") == [] and first["invoices"].waiting == 1
    engine.run()
    # Only the address with an invoice has a debtor account in Sage, under cobra's number.
    assert [(d["KONTONR"], d["NAME"]) for d in sage.rows("DEBITOREN")] == [("2001", "Hotel Alpenblick AG")]
    [voucher] = sage.rows("BUCHUNGSBELEG")
    assert (voucher["BELEGNR"], voucher["MANDANT"], voucher["KOSTENSTELLE"], voucher["DEBITOR"]) == ("F-5001", "ALPEN", "KST-200", "2001")
    assert voucher["BETRAG_BRUTTO"] == Decimal("1351.25")
    lines = sorted(sage.rows("BUCHUNGSZEILE"), key=lambda line: line["ZEILE"])
    assert [(l["ZEILE"], l["KONTO"], l["BETRAG"], l["BELEG_ID"]) for l in lines] == [
        (1, "3400", Decimal("1000.00"), voucher["ID"]), (2, "3410", Decimal("250.00"), voucher["ID"])]

    dml.take()
    assert totals(engine.run()) == {"created": 0, "updated": 0}
    assert dml.take() == []

    # A booked voucher is never updated (the import is create-only): the change is refused with a reason.
    documents = cobra.tables["invoices"].main
    cobra.execute(documents.update().where(documents.c.ID == ids["invoice"]).values(SUBJECT="Wartungsvertrag 2026/27"))
    refused = engine.run()["invoices"].failed
    assert len(refused) == 1 and "create-only" in refused[0]["error"] and "F-5001" in refused[0]["record"]
    assert sage.rows("BUCHUNGSBELEG")[0]["BUCHUNGSTEXT"] == "Wartungsvertrag 2026"
    for connector in engine.connectors.values():
        connector.close()


# -- ChannelCRM <-> e-conomic ------------------------------------------------------------------------

def test_channelcrm_imports_economic_debtors_after_a_test_run(pg_server_url, tmp_path, hub, economic, secrets_env):
    channel = product_database(pg_server_url, "channelcrm")
    channel.insert("COMPANY", [
        # the same company as e-conomic's customer (same CVR): linked, not copied
        {"NAME": "Nordisk Papir A/S", "STREET": "Havnegade 4", "ZIP": "1058", "CITY": "København K",
         "COUNTRY": "Denmark", "VAT": "DK13585628"},
        # a look-alike of another e-conomic customer: a merge suggestion, nothing imported until reviewed
        {"NAME": "Jensen & Sønner ApS", "STREET": "Vestergade 12", "ZIP": "8000", "CITY": "Aarhus C", "COUNTRY": "Denmark"},
    ])
    numbers = economic.seed("debtors", [
        {"name": "Nordisk Papir A/S", "street": "Havnegade", "house_number": "4", "postcode": "1058",
         "city": "København K", "country": "DK", "vat_number": "DK13585628", "currency": "DKK"},
        {"name": "Jensen og Sønner ApS", "street": "Vestergade", "house_number": "12", "postcode": "8000",
         "city": "Aarhus C", "country": "DK", "currency": "DKK"},
        {"name": "Fyns Cykler ApS", "street": "Østergade", "house_number": "9", "postcode": "5000",
         "city": "Odense C", "country": "DK", "currency": "DKK"},
    ])
    economic.seed("items", [{"number": "P-100", "name": "Kontorstol", "unit_price": Decimal("1499.00")}])
    economic.seed("invoices", [{"debtor_id": numbers[2], "invoice_date": "2026-02-10", "due_date": "2026-02-24",
                                "currency": "DKK", "lines": [{"line_number": 1, "item_id": "P-100",
                                                              "description": "Kontorstol", "quantity": "2",
                                                              "unit_price": Decimal("1499.00")}]}])
    config = parse_config({
        "crm": sql_section("channelcrm", channel.url, tmp_path),
        "erp": {"system": "economic", "base_url": economic.base_url,
                "secrets": {"app_secret_token": "LB_TEST_ECONOMIC_SECRET", "agreement_grant_token": "LB_TEST_ECONOMIC_GRANT"}},
        "hub": {"url": hub.url},
        "entities": {"debtors": {"direction": "both", "erp_defaults": {"currency": "DKK", "payment_terms": "1",
                                                                        "customer_group": "1"}},
                     "items": {"direction": "erp_to_crm"},
                     "invoices": {"direction": "erp_to_crm"}, "invoice_lines": {"direction": "erp_to_crm"}},
    }, "test")
    engine = engine_for(config, hub)
    dml = DmlCounter(engine.connectors["crm"].engine)

    # The test run lists what the import would do, and the likely matches, and writes nothing.
    test_run = engine.run(["debtors"], dry_run=True)["debtors"]
    planned = {p["record"]: p for p in test_run.planned if p["system"] == "channelcrm"}
    assert {record: p["operation"] for record, p in planned.items()} == {
        f"{numbers[2]} Fyns Cykler ApS": "create",  # new to the CRM
        f"{numbers[0]} Nordisk Papir A/S": "update",  # the same company: gets e-conomic's customer number
    }
    assert planned[f"{numbers[0]} Nordisk Papir A/S"]["changes"]["number"] == {"from": None, "to": numbers[0]}
    assert test_run.suggestions == 1
    assert dml.take() == [] and len(channel.rows("COMPANY")) == 2
    with hub.connect() as conn:
        [suggestion] = conn.execute(sa.select(T["match_candidates"])).mappings().all()
    assert suggestion["erp_remote_id"] == numbers[1]

    # The import: the new debtor with e-conomic's number as its finance key, the twin linked and numbered.
    engine.run()
    companies = {c["NAME"]: c for c in channel.rows("COMPANY")}
    assert companies["Fyns Cykler ApS"]["FINANCEKEY"] == numbers[2]
    assert companies["Nordisk Papir A/S"]["FINANCEKEY"] == numbers[0]
    assert "Jensen og Sønner ApS" not in companies  # waits for the merge decision
    # Invoices and lines are copied into the CRM's database (the company's "e-conomic" tab).
    [invoice] = channel.rows("ECONOMICINVOICE")
    assert invoice["COMPANYID"] == companies["Fyns Cykler ApS"]["ID"] and invoice["GROSSAMOUNT"] > 0
    [line] = channel.rows("ECONOMICINVOICELINE")
    assert (line["INVOICEID"], line["QUANTITY"], line["DESCRIPTION"]) == (invoice["ID"], Decimal("2"), "Kontorstol")

    dml.take()
    assert totals(engine.run()) == {"created": 0, "updated": 0}
    assert dml.take() == []

    # The other way: a company made in ChannelCRM becomes an e-conomic customer, and e-conomic's
    # customer number comes back as its finance key.
    channel.insert("COMPANY", [{"NAME": "Svendborg Sejl ApS", "STREET": "Havnepladsen 3", "ZIP": "5700",
                                "CITY": "Svendborg", "COUNTRY": "Denmark"}])
    engine.run(["debtors"])
    customers = {c["name"]: c for c in economic.all_raw("customers")}
    number = str(customers["Svendborg Sejl ApS"]["customerNumber"])
    assert channel.rows("COMPANY", NAME="Svendborg Sejl ApS")[0]["FINANCEKEY"] == number
    assert totals(engine.run()) == {"created": 0, "updated": 0}
    for connector in engine.connectors.values():
        connector.close()


# -- killed mid-write ----------------------------------------------------------------------------------

KILLED_SYNC = """
import os, signal, sys
sys.path[:0] = [{root!r}, {tests!r}]
import sqlalchemy as sa
from ledgerbridge.analytics import create_views
from ledgerbridge.config import parse_config
from ledgerbridge.store import HubStore
from ledgerbridge.systems.sql.connector import SqlConnector
from sync_helpers import engine_for
import yaml

config = parse_config(yaml.safe_load(open({config!r})), "killed")
store = HubStore(config.hub.url)
engine = engine_for(config, store)
target = engine.connectors[{side!r}]
seen = {{"n": 0}}
if {point!r} == "between_tables":
    # After the 2nd record's main row, before its extension row: inside the open transaction.
    @sa.event.listens_for(target.engine, "after_cursor_execute")
    def kill(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith({table!r}):
            seen["n"] += 1
            if seen["n"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
else:
    # After the first create's COMMIT, before ledgerbridge has written down that it exists.
    create = SqlConnector.create
    def killing_create(self, entity, values):
        stored = create(self, entity, values)
        if entity == {entity!r}:
            os.kill(os.getpid(), signal.SIGKILL)
        return stored
    SqlConnector.create = killing_create
summaries = engine.run()
raise SystemExit(f"the sync was not killed: {{ {{k: v.to_dict() for k, v in summaries.items()}} }}")
"""


def run_killed(tmp_path: Path, config: dict, *, side: str, point: str, table: str = "", entity: str = "") -> None:
    import yaml

    config_file = tmp_path / f"killed-{point}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    script = KILLED_SYNC.format(root=str(ROOT), tests=str(ROOT / "tests"), config=str(config_file),
                                side=side, point=point, table=table, entity=entity)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


@pytest.mark.slow  # two syncs in subprocesses, killed
def test_a_sync_killed_mid_write_leaves_no_half_record_and_the_next_run_completes_it_once(pg_server_url, tmp_path, hub):
    cobra, europa = product_database(pg_server_url, "cobra"), product_database(pg_server_url, "europa3000")
    companies = [("Schreinerei Ammann", "Lenzburg", "5600"), ("Velo Oberli AG", "Frauenfeld", "8500"),
                 ("Treuhand Vogt GmbH", "Schaffhausen", "8200"), ("Bäckerei Imhof", "Brig", "3900")]
    cobra.insert("ADDRESSES", [
        {"COMPANY1": name, "STREET0": f"Kirchweg {n}", "ZIP0": postcode, "CITY0": city, "STATE0": "CH",
         "CUSTOMERNO": str(30000 + n), "ADDRESSTYPE": "Kunde"} for n, (name, city, postcode) in enumerate(companies, 1)
    ])
    config = cobra_europa_config(cobra, europa, tmp_path, hub.url).model_dump(mode="json")
    # A create whose answer was lost is sent again only after a complete pull did not find it; no
    # grace period here, because the kill leaves no write in flight.
    config["retries"] = {**config.get("retries", {}), "lookup_grace_seconds": 0}

    # Killed between an address's two tables (ADRESSEN written, DEBITOREN not yet): rolled back whole.
    run_killed(tmp_path, config, side="erp", point="between_tables", table='INSERT INTO "ADRESSEN"')
    addresses = [r["ADRESSNUMMER"] for r in europa.rows("ADRESSEN")]
    accounts = [r["ADRESSNUMMER"] for r in europa.rows("DEBITOREN")]
    # (which address goes first is the plan's order, not part of the promise)
    assert addresses == accounts and len(addresses) == 1 and addresses[0] in {"30001", "30002", "30003", "30004"}

    # Killed after the next address's COMMIT, before the hub knew of it: found again, not written twice.
    run_killed(tmp_path, config, side="erp", point="after_commit", entity="debtors")
    written = [r["ADRESSNUMMER"] for r in europa.rows("ADRESSEN")]
    assert len(written) == 2 and written == [r["ADRESSNUMMER"] for r in europa.rows("DEBITOREN")]

    # The next run completes the rest, each address exactly once, with its debtor account.
    engine = engine_for(parse_config(config, "test"), hub)
    assert engine.run(full=True)["debtors"].failed == []
    everything = ["30001", "30002", "30003", "30004"]
    assert [r["ADRESSNUMMER"] for r in europa.rows("ADRESSEN")] == everything
    assert [r["ADRESSNUMMER"] for r in europa.rows("DEBITOREN")] == everything
    assert totals(engine.run()) == {"created": 0, "updated": 0}
    with hub.connect() as conn:
        linked = conn.execute(sa.select(T["id_map"].c.remote_id).where(T["id_map"].c.system == "europa3000")).scalars().all()
    assert sorted(linked) == everything
    for connector in engine.connectors.values():
        connector.close()
