"""Street and house number: kept apart in the model, joined in systems with one address line.

Swiss QR-bills accept only structured addresses since Nov 2025, so the model keeps street and
house number apart; e-conomic and webcrm store one line. No well-kept library splits European
street lines without a trained model (libpostal needs a native build and 2 GB of data), so this
is a small rule: the house number is the trailing token group that starts with a digit.
`split_street(join_street(s, n)) == (s, n)` holds for every street not ending in a digit.
"""

from __future__ import annotations

import re

_TRAILING_NUMBER = re.compile(r"^(?P<street>.*?\D)\s+(?P<number>\d+\s*[A-Za-z]?(?:\s*[-/,]\s*[\w. ]+)?)$")


def join_street(street: str | None, house_number: str | None) -> str | None:
    parts = [p.strip() for p in (street, house_number) if p and p.strip()]
    return " ".join(parts) or None


def split_street(line: str | None) -> tuple[str | None, str | None]:
    if line is None or not line.strip():
        return None, None
    line = " ".join(line.split())
    match = _TRAILING_NUMBER.match(line)
    if not match:
        return line, None
    return match["street"].strip(), match["number"].strip()
