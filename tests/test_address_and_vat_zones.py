"""The address splitter on real street lines of the seeds' countries, and VAT zones by country."""

from __future__ import annotations

import pytest

from ledgerbridge.systems.address import join_street, split_street
from ledgerbridge.vat_zones import VatZones, zone_for

LINES = [
    # DK
    ("Vestergade 12", "DK", "Vestergade", "12"),
    ("Vestergade 12, 2. tv", "DK", "Vestergade", "12, 2. tv"),
    ("Nørregade 5A, st.", "DK", "Nørregade", "5A, st."),
    ("H.C. Andersens Boulevard 27", "DK", "H.C. Andersens Boulevard", "27"),
    ("1. Maj Vej 12", "DK", "1. Maj Vej", "12"),
    # NO
    ("Karl Johans gate 22", "NO", "Karl Johans gate", "22"),
    ("Storgata 1B", "NO", "Storgata", "1B"),
    # CH
    ("Bahnhofstrasse 10", "CH", "Bahnhofstrasse", "10"),
    ("Rue du Rhône 12", "CH", "Rue du Rhône", "12"),
    ("Via San Gottardo 5", "CH", "Via San Gottardo", "5"),
    # DE
    ("Hauptstraße 5a", "DE", "Hauptstraße", "5a"),
    ("Straße des 17. Juni 135", "DE", "Straße des 17. Juni", "135"),
    ("Am Markt 3-5", "DE", "Am Markt", "3-5"),
    ("Hauptstr. 12 b", "DE", "Hauptstr.", "12 b"),
    # BE
    ("Avenue des Arts No 5", "BE", "Avenue des Arts", "No 5"),
    ("Rue de la Loi 16", "BE", "Rue de la Loi", "16"),
    ("Kerkstraat 12 bus 3", "BE", "Kerkstraat", "12 bus 3"),
    # FR: the number comes first
    ("12 rue de la Paix", "FR", "rue de la Paix", "12"),
    ("12 bis rue de Rivoli", "FR", "rue de Rivoli", "12 bis"),
    ("3, avenue Foch", "FR", "avenue Foch", "3"),
]


@pytest.mark.parametrize("line, country, street, number", LINES)
def test_real_street_lines_split(line, country, street, number):
    assert split_street(line, country) == (street, number)


@pytest.mark.parametrize("line", ["Postboks 123", "Postfach 10 01 20", "c/o Hansen, Vestergade 3", "Allée des Roses",
                                  "Case postale 44"])
def test_what_it_cannot_split_is_kept_whole(line):
    assert split_street(line, "CH") == (line, None)


@pytest.mark.parametrize("line, country, street, number", [l for l in LINES if "," not in l[0] or l[1] != "FR"])
def test_joining_gives_the_line_back(line, country, street, number):
    assert join_street(street, number, country) == line


def test_zones_seen_from_the_company_s_country():
    assert [zone_for(c, "DK") for c in ("DK", "DE", "BE", "FR", "CH", "NO", "Schweiz", None, "Atlantis")] == [
        "domestic", "eu", "eu", "eu", "abroad", "abroad", "abroad", None, None]
    assert zone_for("CH", "CH") == "domestic" and zone_for("DK", "CH") == "eu"


def test_an_erp_s_codes_and_the_company_country_come_from_its_options():
    zones = VatZones.from_options({"company_country": "no", "vat_zone_eu": "EU-25"}, {"domestic": 1, "eu": 2, "abroad": 3})
    assert zones.company_country == "NO" and zones.derive("DK") == "eu" and zones.derive("NO") == "domestic"
    assert (zones.code("eu"), zones.zone("EU-25"), zones.zone(1), zones.zone(7)) == ("EU-25", "eu", "domestic", "7")
    with pytest.raises(ValueError, match="company_country"):
        VatZones.from_options({"company_country": "Denmark"}, {"domestic": 1, "eu": 2, "abroad": 3})
