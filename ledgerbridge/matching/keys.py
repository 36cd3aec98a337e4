"""Exact match keys: the values two records must share to be the same record without a doubt.

Values arrive normalised (ledgerbridge.quality.normalise: VAT numbers compacted with
python-stdnum), so a key only has to make equivalent spellings equal: a VAT number with or
without its country prefix, an e-mail in any case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_VAT_SUFFIX = re.compile(r"(MWST|TVA|IVA)$")


def vat_key(vat: str | None, country: str | None) -> str | None:
    if not vat:
        return None
    compact = re.sub(r"[^0-9A-Z]", "", vat.upper())
    prefix = ""
    if compact.startswith("CHE"):  # Swiss UID: CHE-123.456.789 MWST
        prefix, compact = "CH", _VAT_SUFFIX.sub("", compact[3:])
    elif len(compact) > 2 and compact[:2].isalpha():
        prefix, compact = compact[:2], compact[2:]
    if prefix == "EL":  # Greece writes EL in VAT numbers, GR as its country code
        prefix = "GR"
    country_code = prefix or (country or "").upper()
    return f"{country_code}:{compact}" if compact else None


def key_value(fields: tuple[str, ...], values: Mapping[str, Any]) -> tuple | None:
    """The match key of a record, or None when any part is missing."""
    parts = []
    for name in fields:
        value = values.get(name)
        if name == "vat_number":
            value = vat_key(value, values.get("country"))
        elif name == "email" and value:
            value = value.strip().casefold()
        elif isinstance(value, str):
            value = value.strip() or None
        if value is None:
            return None
        parts.append(value)
    return tuple(parts)


def equivalent(name: str, a: Any, b: Any, country: str | None = None) -> bool:
    """Whether two values of a field mean the same (DK10000009 and 10000009 for a Danish VAT number).

    Used wherever sides are compared, so a spelling difference is neither a change, a conflict
    nor a reason to write.
    """
    if a == b:
        return True
    if name == "vat_number" and a and b:
        return vat_key(a, country) == vat_key(b, country)
    if name == "email" and a and b:
        return a.strip().casefold() == b.strip().casefold()
    return False
