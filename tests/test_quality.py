"""The quality gate: a corpus of bad records, generated records, and the normaliser's promises."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerbridge.connectors.base import FieldLimits
from ledgerbridge.model import ENTITIES
from ledgerbridge.quality import (
    check_records,
    derived_expectations,
    exceeds_threshold,
    normalise_phone,
    normalise_record,
    validate_vat,
)
from ledgerbridge.quality.suites import EXPECTATIONS_DIR

# Limits as the connectors will report them (webCRM's are shorter than e-conomic's).
ECONOMIC = FieldLimits(max_lengths={"name": 255, "city": 50, "email": 255}, required=("name", "country"))
WEBCRM = FieldLimits(max_lengths={"name": 100, "email": 100, "vat_number": 30})


def debtor(key: str, **overrides) -> dict:
    record = {
        "hub_id": key, "number": "1001", "name": "Nordic Tools A/S", "street": "Vestergade",
        "house_number": "12B", "postcode": "8000", "city": "Aarhus C", "country": "DK",
        "vat_number": "DK13585628", "email": "info@nordictools.dk", "phone": "+45 70 20 20 20",
        "website": "www.nordictools.dk", "currency": "DKK", "role": "debtor", "crm_type": "Customer",
        "barred": False,
    }
    record.update(overrides)
    return record


GOOD = [
    debtor("g1"),
    debtor("g2", country="CH", vat_number="CHE-107.787.577 MWST", phone="044 668 18 00", currency="CHF"),
    debtor("g3", country="NO", vat_number="NO995525828MVA", phone="+47 22 00 00 00", currency="NOK"),
    debtor("g4", country="DE", vat_number="DE136695976", phone="+49 30 12345678", currency="EUR"),
    debtor("g5", name="Bäckerei 😀 Müller"),  # emoji are text
    debtor("g6", name="شركة النور للتجارة", city="دبي"),  # right-to-left text
    debtor("g7", name="O'Brien; DROP TABLE debtors;--", street="1=1 OR 'a'='a'"),  # just text
    debtor("g8", vat_number=None, email=None, phone=None, website=None, role=None),  # optional fields empty
]

# (record, target limits, field that must be named, words the reason must contain)
BAD = [
    (debtor("dk", vat_number="DK12345678"), ECONOMIC, "vat_number", "wrong check digit for a Danish CVR number"),
    (debtor("ch", country="CH", vat_number="CHE-107.787.578 MWST"), ECONOMIC, "vat_number", "Swiss"),
    (debtor("no", country="NO", vat_number="NO995525829MVA"), ECONOMIC, "vat_number", "Norwegian"),
    (debtor("de", country="DE", vat_number="DE136695977"), ECONOMIC, "vat_number", "German"),
    (debtor("long-eco", name="N" * 312), ECONOMIC, "name", "312 characters; e-conomic accepts at most 255"),
    (debtor("long-crm", name="N" * 120), WEBCRM, "name", "120 characters; webCRM accepts at most 100"),
    (debtor("city", city="C" * 60), ECONOMIC, "city", "e-conomic accepts at most 50"),
    (debtor("schweiz", country="Schweiz"), ECONOMIC, "country", "use 'CH'"),
    (debtor("dkk1", currency="DKK1"), ECONOMIC, "currency", "ISO 4217"),
    (debtor("mail", email="bob@"), ECONOMIC, "email", "after the @-sign"),
    (debtor("noname", name=None), ECONOMIC, "name", "required"),
    (debtor("ctrl", name="Nordic\x07Tools"), ECONOMIC, "name", "control character U+0007"),
    (debtor("nul", street="Vester\x00gade"), ECONOMIC, "street", "NUL byte"),
    (debtor("emoji-long", name="😀" * 101), WEBCRM, "name", "webCRM accepts at most 100"),
    (debtor("role", role="customer"), ECONOMIC, "role", "'debtor' or 'creditor'"),
    (debtor("phone", phone="12"), ECONOMIC, "phone", "not a valid number"),
    (debtor("web", website="http://intranet"), ECONOMIC, "website", "host name"),
    (debtor("type", barred="no"), ECONOMIC, "barred", "true or false"),
    (debtor("nocountry", country=None), ECONOMIC, "country", "e-conomic requires it"),
]


def _findings_for(report, key):
    return [f for f in report.findings if f.key == key]


@pytest.mark.parametrize("record, limits, field, words", BAD, ids=[b[0]["hub_id"] for b in BAD])
def test_bad_record_is_held_back_with_a_reason_and_good_ones_pass(record, limits, field, words):
    target = "webcrm" if limits is WEBCRM else "economic"
    records = [*GOOD, record]
    report = check_records("debtors", records, target=target, limits=limits)
    findings = [f for f in _findings_for(report, record["hub_id"]) if f.field == field]
    assert findings, report.markdown_preview()
    assert any(words in f.reason for f in findings), [f.reason for f in findings]
    assert all(f.reason.startswith(field) for f in findings)
    assert report.bad_keys == {record["hub_id"]}, report.markdown_preview()
    assert report.good(records) == GOOD


def test_stricter_limit_wins_and_is_named():
    model_stricter = FieldLimits(max_lengths={"name": 400})
    report = check_records("debtors", [debtor("a", name="N" * 300)], target="economic", limits=model_stricter)
    assert [f.reason for f in report.findings] == ["name is 300 characters; the ledgerbridge model accepts at most 255"]
    rules = {e["kwargs"]["column"]: e for e in derived_expectations("debtors", "webcrm", WEBCRM)
             if e["type"] == "expect_column_value_lengths_to_be_between"}
    assert rules["name"]["kwargs"]["max_value"] == 100 and rules["street"]["kwargs"]["max_value"] == 255


def test_keyless_duplicate_and_non_dict_records_get_findings_not_crashes():
    records = [debtor("a"), {k: v for k, v in debtor("x").items() if k != "hub_id"}, debtor("b"), debtor("b"), None, 7]
    report = check_records("debtors", records, target="economic", limits=ECONOMIC)
    by_check = {f.check: f for f in report.findings}
    assert by_check["key_present"].key is None and "hub_id" in by_check["key_present"].reason
    assert by_check["key_unique"].key == "b"
    assert by_check["record_type"].row in (4, 5)
    assert report.bad_rows == {1, 2, 3, 4, 5}
    assert [r["hub_id"] for r in report.good(records)] == ["a"]


def test_report_helpers():
    records = [*GOOD, debtor("bad|pipe", name="N" * 300), debtor("bad2", email="x@")]
    report = check_records("debtors", records, target="economic", limits=ECONOMIC)
    assert report.bad_share == pytest.approx(2 / len(records))
    assert report.counts_by_reason() == {"name longer than 255 (e-conomic)": 1, "email invalid email": 1}
    preview = report.markdown_preview(limit=1)
    assert "| bad\\|pipe | name |" in preview and "1 more findings" in preview
    json.dumps(report.to_dict())
    assert not exceeds_threshold(report, 0.5) and exceeds_threshold(report, 0.1)
    empty = check_records("debtors", [], target="economic")
    assert empty.bad_share == 0.0 and not exceeds_threshold(empty)


def test_other_entities_and_hand_written_extras():
    invoice = dict(hub_id="i1", debtor_id="d1", invoice_date=date(2024, 5, 1), due_date=date(2024, 5, 31),
                   currency="DKK", net_amount=Decimal("100"), vat_amount=Decimal("25"),
                   gross_amount=Decimal("125"), status="booked")
    bad_dates = {**invoice, "hub_id": "i2", "due_date": date(2024, 4, 1)}
    bad_total = {**invoice, "hub_id": "i3", "gross_amount": Decimal("130")}
    bad_status = {**invoice, "hub_id": "i4", "status": "paid", "invoice_date": "2024-05-01"}
    report = check_records("invoices", [invoice, bad_dates, bad_total, bad_status], target="economic")
    reasons = {f.key: f.reason for f in report.findings}
    assert "due_date" in reasons["i2"] and "before invoice_date" in reasons["i2"]
    assert reasons["i3"].startswith("gross_amount")
    assert {f.field for f in _findings_for(report, "i4")} == {"status", "invoice_date"}
    assert report.bad_keys == {"i2", "i3", "i4"}

    lines = [dict(hub_id="l1", invoice_id="i1", line_number=1), dict(hub_id="l2", invoice_id="i1", line_number=0)]
    report = check_records("invoice_lines", lines, target="economic")
    assert [f.reason for f in report.findings] == ["line_number is 0; it must be at least 1"]

    items = [dict(hub_id="t1", number="A1", name="Hammer", ean="5701234567899"),
             dict(hub_id="t2", number="A2", name="Saw", ean="5701234567890")]
    report = check_records("items", items, target="economic")
    assert report.bad_keys == {"t2"} and "check digit" in report.findings[0].reason


def test_expectation_files_are_ge_suites_with_extras_only():
    import great_expectations as gx

    for name in ENTITIES:
        raw = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
        suite = gx.ExpectationSuite(**raw)
        assert suite.name == name
        derived_types = {"expect_column_values_to_not_be_null", "expect_column_value_lengths_to_be_between"}
        assert not any(e["type"] in derived_types for e in raw["expectations"])


def test_vat_by_country_or_prefix():
    assert validate_vat("13585628", "DK") is None
    assert validate_vat("DK 13 58 56 28") is None
    assert validate_vat("995525828", "NO") is None  # Norwegian org.nr without MVA
    assert validate_vat("CHE-107.787.577", "CH") is None  # Swiss UID
    assert validate_vat("DK12345678") == "VAT number 'DK12345678' has a wrong check digit for a Danish CVR number"


def test_normalise_examples():
    out = normalise_record("debtors", {
        "name": "  Nordic \t Tools\u00a0 A/S \n", "country": " dk", "currency": "dkk", "vat_number": "dk 13 58 56 28",
        "street": "", "email": None, "city": "Aar\x00hus", "phone": " 70 20 20 20 ", "hub_id": " h1 ",
    })
    assert out == {"name": "Nordic Tools A/S", "country": "DK", "currency": "DKK", "vat_number": "DK13585628",
                   "street": None, "email": None, "city": "Aar\x00hus", "phone": "70 20 20 20", "hub_id": "h1"}
    assert normalise_record("debtors", {"vat_number": "13 58 56 28", "country": "DK"})["vat_number"] == "13585628"
    assert normalise_record("debtors", {"vat_number": "CHE-107.787.577 MWST"})["vat_number"] == "CHE107787577MWST"
    assert normalise_record("items", {"description": "Line 1  \r\nLine   2"})["description"] == "Line 1\nLine 2"
    assert normalise_record("debtors", {"country": "Schweiz", "name": "N" * 400}) == {"country": "Schweiz", "name": "N" * 400}
    assert normalise_phone("70 20 20 20", "DK") == "+4570202020"


# --- generated records ---------------------------------------------------------------------

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "😀", "שלום", "\u202eevil", "DK", "dk ", "CHE-107.787.577 MWST", "a\r\nb"]),
)
any_value = st.one_of(st.none(), nasty_text, st.integers(), st.booleans(), st.decimals(allow_nan=True),
                      st.dates(), st.lists(st.integers(), max_size=2))
any_record = st.dictionaries(st.sampled_from(list(ENTITIES["debtors"].field_names) + ["hub_id", "extra"]),
                             any_value, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(any_record, max_size=8))
def test_generated_garbage_never_crashes_and_every_finding_names_its_field(records):
    for entity_name in ("debtors", "contacts"):
        report = check_records(entity_name, records, target="webcrm", limits=WEBCRM)
        for f in report.findings:
            assert f.reason and (f.field in f.reason or f.field == "(record)" or f.check == "key_present")
        good = report.good(records)
        assert all(r.get("hub_id") not in report.bad_keys for r in good)
        assert len(good) + len(report.bad_rows) >= len(records)
        report.markdown_preview()
        json.dumps(report.to_dict())


DEFECTS = {
    "name": "N" * 256,
    "vat_number": "DK13585629",
    "country": "Danmark",
    "currency": "DKK1",
    "email": "no-domain@",
    "phone": "+45 1",
    "city": "Aar\x00hus",
    "role": "supplier",
}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(sorted(DEFECTS)) | st.none(), min_size=1, max_size=12))
def test_generated_batches_flag_exactly_the_damaged_records(plan):
    records = [debtor(f"r{i}") if field is None else debtor(f"r{i}", **{field: DEFECTS[field]})
               for i, field in enumerate(plan)]
    report = check_records("debtors", records, target="economic", limits=ECONOMIC)
    for i, field in enumerate(plan):
        found = [f for f in report.findings if f.key == f"r{i}"]
        if field is None:
            assert not found, found
        else:
            assert any(f.field == field and f.reason.startswith(field) for f in found), found
    assert len(report.good(records)) == plan.count(None)


@settings(max_examples=300, deadline=None)
@given(any_record, st.sampled_from(sorted(ENTITIES) + ["unknown"]))
def test_normalise_is_idempotent_and_never_raises(record, entity_name):
    once = normalise_record(entity_name, record)
    assert normalise_record(entity_name, once) == once
    for name, value in once.items():
        if isinstance(value, str) and isinstance(record[name], str):
            assert len(value) <= len(record[name]) or name == "vat_number"  # never padded; NFC may shorten


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30), st.sampled_from([None, "DK", "CH", "NO", "SE", "GR", "dk", "zz", "Schweiz"]))
def test_vat_normalisation_is_idempotent(vat, country):
    once = normalise_record("debtors", {"vat_number": vat, "country": country})
    assert normalise_record("debtors", once) == once


def test_an_expectation_that_cannot_run_blocks_the_push(tmp_path, monkeypatch):
    from ledgerbridge.quality import suites

    broken = [  # compares text with a number: GE raises; a table-level rule names no record
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "name", "min_value": 5}},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 3}},
    ]
    (tmp_path / "debtors.json").write_text(json.dumps({"name": "debtors", "expectations": broken}))
    monkeypatch.setattr(suites, "EXPECTATIONS_DIR", tmp_path)
    report = check_records("debtors", GOOD, target="test-broken-suite")
    assert len(report.errors) == 2 and not report.findings
    assert exceeds_threshold(report, threshold=1.0)
    assert "could not run" in report.markdown_preview()


def test_expectations_dir_is_in_repo():
    assert EXPECTATIONS_DIR == Path(__file__).resolve().parents[1] / "expectations"


@pytest.mark.parametrize("limits", [ECONOMIC, WEBCRM], ids=["economic", "webcrm"])
def test_the_pandas_fast_path_reports_exactly_what_great_expectations_reports(limits, monkeypatch):
    """Model-derived null/length/range rules run in pandas for speed; GE must agree with them."""
    from ledgerbridge.quality import suites

    records = GOOD + [record for record, _, _, _ in BAD]
    target = "economic" if limits is ECONOMIC else "webcrm"
    by_path = {}
    for native in (True, False):
        monkeypatch.setattr(suites, "USE_NATIVE", native)
        report = check_records("debtors", [dict(r) for r in records], key="key", target=target, limits=limits)
        by_path[native] = [(f.key, f.field, f.check, f.reason) for f in report.findings]
        prepared = suites._validation("debtors", target, limits)
        assert any(prepared.native) is native  # each path really ran
    assert by_path[True] == by_path[False]
    assert by_path[True]  # the corpus does fail
