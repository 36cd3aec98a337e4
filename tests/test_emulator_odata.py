"""The emulators' shared OData module: one grammar (odata-query), each system's dialect."""

import pytest

from ledgerbridge.emulators.odata import ODataDialect, ODataError, matches, order_key, parse_filter, parse_orderby
from ledgerbridge.systems.tribecrm.odata import TRIBE

UNICONTA_LIKE = ODataDialect(entity="DebtorClient", properties={"Name", "Price", "UpdatedAt", "Born"})
ROWS = [
    {"Name": "Alder", "Price": 9, "UpdatedAt": "2026-02-01T10:00:00.500Z", "Born": "2001-05-04"},
    {"Name": "birch", "Price": 10.5, "UpdatedAt": "2026-02-01T09:00:00Z", "Born": None},
    {"Name": "Cedar", "Price": 100, "UpdatedAt": None, "Born": "1999-12-31"},
]


def names(text: str, dialect: ODataDialect) -> list[str]:
    tree = parse_filter(text, dialect)
    return [row["Name"] for row in ROWS if matches(tree, row, dialect)]


def test_numbers_compare_as_numbers_and_stamps_as_instants():
    assert names("Price gt 9.5", UNICONTA_LIKE) == ["birch", "Cedar"]  # "100" > "9.5" would fail as text
    assert names("UpdatedAt ge 2026-02-01T09:30:00Z", UNICONTA_LIKE) == ["Alder"]
    assert names("Born lt 2000-01-01", UNICONTA_LIKE) == ["Cedar"]
    assert names("Born eq null or Name eq 'O''Brien'", UNICONTA_LIKE) == ["birch"]


def test_text_case_is_the_dialects_choice():
    assert names("Name eq 'BIRCH'", TRIBE) == ["birch"]
    assert names("Name eq 'BIRCH'", UNICONTA_LIKE) == []
    assert names("startswith(Name,'b') and not contains(Name,'x')", TRIBE) == ["birch"]
    assert names("startswith(Name,'B')", UNICONTA_LIKE) == []


def test_navigation_paths_read_nested_records_where_the_system_has_them():
    tree = parse_filter("Organization/Address/City eq 'bergen'", TRIBE)
    assert matches(tree, {"Organization": {"Address": {"City": "Bergen"}}}, TRIBE)
    assert not matches(tree, {"Organization": None}, TRIBE)


@pytest.mark.parametrize("text, problem", [
    ("Name in ('Alder', 'Cedar')", "operator 'in' is not supported"),
    ("Nope eq 1", "Could not find a property named 'Nope' on type 'DebtorClient'"),
    ("tolower(Name) eq 'a'", "function 'tolower' is not supported"),
    ("Name eq", "Syntax error"),
    ("Name eq 'x' and", "Syntax error"),
    ("Address/City eq 'x'", "Navigation paths"),
])
def test_what_a_service_refuses_is_said(text, problem):
    with pytest.raises(ODataError, match=problem):
        parse_filter(text, UNICONTA_LIKE)


def test_orderby_sorts_numbers_as_numbers_and_null_first():
    by_price = sorted(ROWS, key=order_key(parse_orderby("Price desc", UNICONTA_LIKE)))
    assert [row["Name"] for row in by_price] == ["Cedar", "birch", "Alder"]
    by_stamp = sorted(ROWS, key=order_key(parse_orderby("UpdatedAt", UNICONTA_LIKE)))
    assert [row["Name"] for row in by_stamp] == ["Cedar", "birch", "Alder"]
    with pytest.raises(ODataError, match="Syntax error in \\$orderby"):
        parse_orderby("Name up", UNICONTA_LIKE)
