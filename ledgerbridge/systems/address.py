"""Street and house number: kept apart in the model, joined in systems with one address line.

Swiss QR-bills accept only structured addresses since Nov 2025, so the model keeps street and
house number apart; e-conomic and webcrm store one line. No well-kept library splits European
street lines without a trained model (libpostal needs a native build and 2 GB of data), so these
are rules for the formats of the countries ledgerbridge's customers are in:

- number last (DK, NO, CH, DE, BE, NL, ...): "Vestergade 12, 2. tv", "Storgata 1B",
  "Bahnhofstrasse 10", "Straße des 17. Juni 135", "Am Markt 3-5", "Kerkstraat 12 bus 3",
  "Avenue des Arts No 5" (a number marker stays with the number: "No 5");
- number first (FR, and French lines elsewhere): "12 rue de la Paix", "12 bis rue de Rivoli",
  "3, avenue Foch"; joined number first again for FR.

A line the rules do not recognise (a PO box, "c/o ...", a line without a number) is kept whole as
the street, with no house number: nothing is guessed. `split_street(join_street(s, n, c), c) ==
(s, n)` holds for every street that does not end in a number.
"""

from __future__ import annotations

import re

NUMBER_FIRST_COUNTRIES = frozenset({"FR", "MC"})

# A house number: digits, a letter or French suffix, a range or second part ("3-5", "12/1"),
# then Danish floor/door (", 2. tv"), a Belgian/Dutch box ("bus 3", "bte 2").
_NUMBER = (
    r"\d+(?:\s*(?:bis|ter|quater|[A-Za-z])\b)?"
    r"(?:\s*[-/]\s*\d+\s*[A-Za-z]?)?"
    r"(?:\s*,\s*[\w. ]+)?"
    r"(?:\s+(?:bus|bte|boîte|box)\s*\w+)?"
)
_MARKER = r"(?:No\.?|Nr\.?|nr\.?|n°|nº|Nº|N°)\s*"
_NUMBER_LAST = re.compile(rf"^(?P<street>.*?[^\d\s,])[\s,]+(?P<number>(?:{_MARKER})?{_NUMBER})$", re.IGNORECASE)
_NUMBER_FIRST = re.compile(r"^(?P<number>\d+(?:\s*(?:bis|ter|quater|[A-Za-z])\b)?)\s*,?\s+(?P<street>[^\d].*)$",
                           re.IGNORECASE)
# Lines that are no street with a house number: PO boxes and "care of" lines.
_NOT_A_STREET = re.compile(
    r"^(?:post\s*boks|postboks|postbox|postfach|p\.?\s*o\.?\s*box|boîte postale|bp\b|case postale|cp\b|c/o)",
    re.IGNORECASE,
)


def join_street(street: str | None, house_number: str | None, country: str | None = None) -> str | None:
    parts = [p.strip() for p in (street, house_number) if p and p.strip()]
    if len(parts) == 2 and (country or "").upper() in NUMBER_FIRST_COUNTRIES:
        parts.reverse()
    return " ".join(parts) or None


def split_street(line: str | None, country: str | None = None) -> tuple[str | None, str | None]:
    if line is None or not line.strip():
        return None, None
    line = " ".join(line.split())
    if _NOT_A_STREET.match(line):
        return line, None
    number_first = _NUMBER_FIRST.match(line)
    number_last = _NUMBER_LAST.match(line)
    if number_first and (not number_last or (country or "").upper() in NUMBER_FIRST_COUNTRIES):
        return number_first["street"].strip(), number_first["number"].strip()
    if number_last:
        return number_last["street"].strip(), number_last["number"].strip()
    return line, None
