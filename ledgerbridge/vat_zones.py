"""VAT zones: how sales to a customer are taxed, from the customer's country and the company's own.

- domestic: the customer is in the company's country (the company's VAT is charged);
- eu: another EU member state (intra-community supply: reverse charge, no VAT on the invoice);
- abroad: outside the EU (export: no VAT).

EU membership comes from python-stdnum's member states (stdnum.eu.vat.MEMBER_STATES; its 'xi',
Northern Ireland's VAT prefix, is no country code and is left out).

Each ERP keeps the zone as its own code: e-conomic's vatZoneNumber (1 domestic, 2 EU, 3 abroad),
Uniconta's VAT group, PowerOffice's VAT code. An ERP package declares its default codes and builds
`VatZones.from_options(system options, its defaults)`; the options `company_country`,
`vat_zone_domestic`, `vat_zone_eu` and `vat_zone_abroad` override them (OPTIONS describes them).
A code that is none of the three (e-conomic's 4, "domestic, exempt") is kept in the model as the
code itself, so it is written back unchanged and never replaced by a derived zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stdnum.eu.vat import MEMBER_STATES

from ledgerbridge.systems.vocabulary import country_code

DOMESTIC, EU, ABROAD = "domestic", "eu", "abroad"
ZONES = (DOMESTIC, EU, ABROAD)
EU_COUNTRIES = frozenset(code.upper() for code in MEMBER_STATES if code != "xi")

DEFAULT_COMPANY_COUNTRY = "DK"

OPTIONS = {
    "company_country": "ISO 3166-1 alpha-2 country of the company whose books these are "
                       f"(default {DEFAULT_COMPANY_COUNTRY}): customers there are domestic",
    "vat_zone_domestic": "the ERP's code for sales to customers in the company's country",
    "vat_zone_eu": "the ERP's code for sales to customers in another EU member state",
    "vat_zone_abroad": "the ERP's code for sales to customers outside the EU",
}


def zone_for(customer_country: str | None, company_country: str) -> str | None:
    """The zone of a customer in `customer_country` (ISO alpha-2 or a name the shared country
    translation knows); None when the country is unknown (the ERP's own default applies)."""
    code = country_code(customer_country) if isinstance(customer_country, str) else None
    if code is None:
        return None
    if code == company_country.upper():
        return DOMESTIC
    return EU if code in EU_COUNTRIES else ABROAD


@dataclass(frozen=True)
class VatZones:
    """One ERP's VAT zone codes and the company's country."""

    company_country: str
    codes: Mapping[str, Any]  # zone -> the ERP's code

    def __post_init__(self) -> None:
        missing = [zone for zone in ZONES if zone not in self.codes]
        if missing:
            raise ValueError(f"VAT zone codes missing for {', '.join(missing)}")
        if len(self.company_country) != 2 or not self.company_country.isalpha():
            raise ValueError(f"company_country must be an ISO 3166-1 alpha-2 code, not {self.company_country!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any], defaults: Mapping[str, Any]) -> "VatZones":
        codes = {zone: options.get(f"vat_zone_{zone}", defaults[zone]) for zone in ZONES}
        return cls(str(options.get("company_country", DEFAULT_COMPANY_COUNTRY)).upper(), codes)

    def derive(self, customer_country: str | None) -> str | None:
        return zone_for(customer_country, self.company_country)

    def code(self, zone: str | None) -> Any:
        """The ERP's code for a model zone; a value that is no zone is already the ERP's code."""
        if zone is None:
            return None
        return self.codes.get(zone, zone)

    def zone(self, code: Any) -> str | None:
        """The model zone of an ERP code; a code that is none of the three stays as text."""
        if code is None or code == "":
            return None
        for zone, own in self.codes.items():
            if str(own) == str(code):
                return zone
        return str(code)
