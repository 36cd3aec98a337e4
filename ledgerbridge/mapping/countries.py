"""ISO 3166-1 alpha-2 codes <-> English country names, for systems that store a country as text.

pycountry scans its country list on every lookup (12.5% of mapping a debtor); a code or name
always gives the same answer, so answers are cached (bounded: names are free text).
"""

from __future__ import annotations

from functools import lru_cache

import pycountry


@lru_cache(maxsize=4096)
def country_name(alpha_2: str) -> str | None:
    """The English name of an alpha-2 code, or None for an unknown code."""
    found = pycountry.countries.get(alpha_2=alpha_2)
    return found.name if found else None


@lru_cache(maxsize=4096)
def country_code(name: str) -> str | None:
    """The alpha-2 code pycountry finds for a name, code or official name, or None."""
    try:
        return pycountry.countries.lookup(name).alpha_2
    except LookupError:
        return None
