"""Behaviour of the fuzzy match suggestions (ledgerbridge.matching.fuzzy)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ledgerbridge.matching import Candidate, find_duplicates, suggest_matches
from ledgerbridge.matching.fuzzy import DEFAULT_THRESHOLD, normalise_name, normalise_street


def company(key, name, street="Vestergade", house="12", postcode="8000", city="Aarhus C", country="DK", **extra):
    return {"key": key, "name": name, "street": street, "house_number": house, "postcode": postcode,
            "city": city, "country": country, "vat_number": None, "email": None, **extra}


def pairs(candidates):
    return {(c.left_key, c.right_key) for c in candidates}


def test_legal_forms_are_canonicalised():
    assert normalise_name("Hansen A/S") == normalise_name("HANSEN AS") == ("hansen", "A/S")
    assert normalise_name("Müller GmbH") == normalise_name("Mueller G.m.b.H.") == ("mueller", "GmbH")
    assert normalise_name("Krebs GmbH & Co. KG")[0] == "krebs"
    assert normalise_name("Dupont S.à r.l.") == ("dupont", "Sàrl")
    assert normalise_name("Berg og Sønner")[0] == normalise_name("Berg & Sønner")[0]
    # A name that is nothing but a legal form keeps it, so it still has something to compare.
    assert normalise_name("AS")[0] == "as"


def test_street_abbreviations_are_canonicalised():
    assert normalise_street("Bahnhofstraße") == normalise_street("Bahnhof Str.") == normalise_street("bahnhofstr")
    assert normalise_street("Vestergade") == normalise_street("Vesterg.")
    assert normalise_street("Storgata") == normalise_street("Storgt.")
    assert normalise_street("Lyngbyvej") == normalise_street("Lyngby v.")


def test_known_pairs_with_typos_and_legal_forms_are_suggested():
    crm = [
        company("c1", "Hansen & Søn Byg A/S"),
        company("c2", "Müller Logistik GmbH", street="Bahnhofstraße", house="5", postcode="10115",
                city="Berlin", country="DE"),
        company("c3", "Nordby Rørleggerservice AS", street="Storgata", house="3", postcode="0155",
                city="Oslo", country="NO"),
        company("c4", "Meier Treuhand AG", street="Seestrasse", house="7", postcode="8002", city="Zürich",
                country="CH"),
    ]
    erp = [
        company("e1", "HANSEN OG SØN BYG", street="Vesterg.", house="12"),
        company("e2", "Mueller Logistk G.m.b.H.", street="Bahnhofstr.", house="5", postcode="D-10115",
                city="Berlin", country="DE"),
        company("e3", "nordby rorleggerservice a/s", street="Storgt.", house="3", postcode="0155",
                city="Oslo", country="NO"),
        company("e4", "Meier  Treuhand", street="Seestr.", house="7", postcode="8002", city="Zurich",
                country="CH"),
    ]
    found = suggest_matches(crm, erp)
    assert pairs(found) == {("c1", "e1"), ("c2", "e2"), ("c3", "e3"), ("c4", "e4")}
    assert all(DEFAULT_THRESHOLD <= c.score <= 100 for c in found)
    evidence = next(c for c in found if c.left_key == "c2").evidence
    assert evidence["left_name"] == evidence["right_name"].replace("logistk", "logistik") == "mueller logistik"
    assert evidence["block"] == "postcode/DE/10115"
    assert {"name_score", "address_score", "legal_forms"} <= evidence.keys()


def test_different_companies_in_the_same_postcode_are_not_suggested():
    crm = [company("c1", "Hansen Byg A/S"), company("c2", "Jensen & Nielsen ApS", street="Søndergade", house="4")]
    erp = [
        company("e1", "Hansen Transport A/S", street="Lyngbyvej", house="80"),
        company("e2", "Jensen & Olsen ApS", street="Nørregade", house="31"),
        company("e3", "Petersen Maler ApS", street="Vestergade", house="12"),  # same address, other name
    ]
    assert suggest_matches(crm, erp) == []


def test_blocking_keeps_countries_apart():
    crm = [company("c1", "Nordic Data AS", postcode="1000", country="DK")]
    erp = [company("e1", "Nordic Data AS", postcode="1000", country="NO")]
    assert suggest_matches(crm, erp) == []
    assert pairs(suggest_matches(crm, [dict(erp[0], country="DK")])) == {("c1", "e1")}


def test_records_without_postcode_fall_back_to_city_then_name():
    crm = [company("c1", "Hansen Byg A/S", postcode=None), company("c2", "Lund Maler ApS", postcode=None, city=None)]
    erp = [company("e1", "Hansen Byg", postcode="8000"), company("e2", "Lund Maler ApS", postcode="9000", city="Aalborg")]
    found = {c.left_key: c for c in suggest_matches(crm, erp)}
    assert found["c1"].right_key == "e1" and found["c1"].evidence["block"] == "city/DK/aarhus c"
    assert found["c2"].right_key == "e2" and found["c2"].evidence["block"] == "name/DK/lun"


def test_records_with_missing_fields_do_not_crash():
    sparse = [{"key": "a"}, {"key": "b", "name": None, "country": None}, {"key": "c", "name": "", "postcode": 8000},
              company("d", "Hansen A/S", street=None, house=None, postcode=None, city=None, country=None)]
    assert isinstance(suggest_matches(sparse, sparse), list)
    assert isinstance(find_duplicates(sparse), list)
    assert suggest_matches([], sparse) == suggest_matches(sparse, []) == []


def test_find_duplicates_within_one_side():
    records = [
        company("c1", "Hansen & Søn Byg A/S"),
        company("c2", "Petersen Maler ApS", street="Nørregade", house="31"),
        company("c3", "Hansen og Søn Byg", street="Vesterg.", house="12"),
    ]
    found = find_duplicates(records)
    assert pairs(found) == {("c1", "c3")}
    assert all(isinstance(c, Candidate) for c in found)


def test_limit_per_record_keeps_the_best():
    crm = [company("c1", "Hansen Byg A/S")]
    erp = [company(f"e{i}", "Hansen Byg A/S", house=str(12 + i)) for i in range(5)]
    found = suggest_matches(crm, erp, limit_per_record=2)
    assert [c.right_key for c in found] == ["e0", "e1"]


def test_fuzzy_scores_never_merge_they_only_suggest():
    # Two equally good candidates are both reported; choosing is left to the reviewer.
    crm = [company("c1", "Hansen Byg A/S")]
    erp = [company("e1", "Hansen Byg A/S"), company("e2", "Hansen Byg AS")]
    assert pairs(suggest_matches(crm, erp)) == {("c1", "e1"), ("c1", "e2")}


text = st.one_of(st.none(), st.text(max_size=40))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({"name": text, "street": text, "house_number": text, "postcode": text,
                                       "city": text, "country": st.sampled_from([None, "DK", "DE", ""])}),
                max_size=8))
def test_arbitrary_unicode_never_crashes_and_scores_stay_in_range(rows):
    records = [dict(r, key=i) for i, r in enumerate(rows)]
    for found in (suggest_matches(records, records, threshold=0), find_duplicates(records, threshold=0)):
        assert all(0 <= c.score <= 100 for c in found)
        assert all(0 <= c.evidence["name_score"] <= 100 for c in found)


def test_records_without_a_name_are_never_suggested():
    blank = [company("c1", None), company("c2", "  ,. "), company("c3", "")]
    assert suggest_matches(blank, [dict(r, key="e" + r["key"]) for r in blank], threshold=0) == []
    assert find_duplicates(blank, threshold=0) == []
