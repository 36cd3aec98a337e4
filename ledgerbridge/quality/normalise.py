"""Safe normalisation of a model record before it is validated and pushed.

"Safe" means: only changes no person would argue about. Whitespace is tidied, codes are
upper-cased, VAT numbers lose their separators, empty strings become None. Nothing is ever
truncated, guessed or translated ("Schweiz" stays "Schweiz" and is reported by the gate), and
control characters are left in place so the gate can name them instead of silently eating data.

`normalise_record` is idempotent and never raises: a value it cannot handle is returned as is.
Callers normalise first and then check and push the normalised records, so that the gate sees
exactly what the target will receive.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from ledgerbridge.model import Format, Kind, entity

__all__ = ["normalise_record", "normalise_text", "normalise_vat", "normalise_phone", "MULTILINE_FIELDS"]

# Fields whose line breaks carry meaning (invoice line and item descriptions); everywhere else
# a line break is copy-paste noise and becomes a space.
MULTILINE_FIELDS = frozenset({"description"})

# Whitespace written out by hand: str.split()/strip() also treat the ASCII separators
# \x1c-\x1f and \x85 as whitespace, which would silently remove control characters.
_HSPACE = "\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_HSPACE_RUN = re.compile(f"[{_HSPACE}]+")
_ANY_SPACE_RUN = re.compile(f"[{_HSPACE}\n\r\v\f\u2028\u2029]+")
_STRIP = " \n"  # after the substitutions only these two whitespace characters remain
_NEWLINES = re.compile("\r\n|[\r\u2028\u2029]")
_CODE = {2: re.compile(r"[A-Za-z]{2}"), 3: re.compile(r"[A-Za-z]{3}")}
_VAT_SEPARATORS = re.compile(f"[{_HSPACE}\\-./,:]+")
# VAT prefixes that are not the ISO country code of the country whose rules apply.
_SPECIAL_PREFIXES = {"CHE": "ch", "EL": "gr", "XI": "gb"}


def normalise_text(value: str, *, multiline: bool = False) -> str | None:
    """NFC, trimmed, runs of spaces collapsed to one; '' -> None.

    NFC only merges canonically equivalent forms (e + combining accent -> é), so it never
    changes what a person reads, and it keeps length checks honest.
    """
    text = unicodedata.normalize("NFC", value)
    if multiline:
        lines = _NEWLINES.sub("\n", text).split("\n")
        text = "\n".join(_HSPACE_RUN.sub(" ", line).rstrip(" ") for line in lines)
    else:
        text = _ANY_SPACE_RUN.sub(" ", text)
    text = text.strip(_STRIP)
    return text or None



def _vat_country(compact: str, country: str | None) -> tuple[str | None, str]:
    """(stdnum country code, prefix as written) from a VAT number's prefix, else the record's country."""
    for prefix, cc in _SPECIAL_PREFIXES.items():
        if compact.startswith(prefix):
            return cc, prefix
    head = compact[:2]
    if len(head) == 2 and head.isascii() and head.isalpha() and _stdnum_vat_module(head.lower()):
        return head.lower(), head
    if country and len(country) == 2 and country.isascii() and country.isalpha():
        return country.lower(), ""
    return None, ""


@functools.cache
def _stdnum_vat_module(cc: str):
    # Cached: get_cc_module resolves the module by name on every call (26% of normalising a debtor,
    # twice per VAT number); the answer for a country code never changes. Still imported lazily.
    from stdnum import get_cc_module  # stdnum imports lazily per country; keep it that way

    try:
        return get_cc_module(cc, "vat")
    except Exception:  # stdnum raises ImportError-like errors for unknown codes
        return None


def normalise_vat(value: str, country: str | None = None) -> str | None:
    """Compact a VAT/company number with python-stdnum, keeping the prefix convention as given.

    stdnum's `compact` strips the country prefix for some countries (DK, DE, NO) and keeps it
    for others (CH); we put a written prefix back, so "DK 13 58 56 28" -> "DK13585628" and
    "13 58 56 28" -> "13585628". The target decides which form it wants; we never add or drop
    a prefix the user wrote.
    """
    # stdnum's compact folds odd Unicode (e.g. a cedilla becomes ','), so one pass is not always
    # a fixed point; repeating until nothing changes keeps normalise_record idempotent.
    current: str | None = value
    for _ in range(5):
        following = _vat_pass(current, country)
        if following is None or following == current:
            return following
        current = following
    return current


def _vat_pass(value: str, country: str | None) -> str | None:
    text = normalise_text(value)
    if text is None:
        return None
    basic = unicodedata.normalize("NFC", _VAT_SEPARATORS.sub("", text).upper())
    if not basic:
        return None
    cc, prefix = _vat_country(basic, country)
    module = _stdnum_vat_module(cc) if cc else None
    if module is None:
        return basic
    try:
        compact = unicodedata.normalize("NFC", _VAT_SEPARATORS.sub("", module.compact(basic)).upper())
    except Exception:
        return basic
    if prefix and not compact.startswith(prefix):
        compact = prefix + compact
    return compact or None


def normalise_phone(value: str, country: str | None = None) -> str | None:
    """E.164 form ("+4570202020") when phonenumbers can parse it, else None.

    Not applied by normalise_record: phone numbers are pushed as the user wrote them
    (extensions, spacing people recognise); use this where a canonical form is needed.
    """
    import phonenumbers

    try:
        number = phonenumbers.parse(value, (country or "").upper() or None)
    except Exception:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _normalise_value(field, value: Any, country: str | None) -> Any:
    if not isinstance(value, str):
        return value  # dates, Decimals, bools and wrong types are the type check's business
    if field is None or field.kind is not Kind.TEXT:
        # references and unknown fields: only trim, ids are compared byte for byte elsewhere
        stripped = value.strip(_STRIP + "\t")
        return stripped or None
    text = normalise_text(value, multiline=field.name in MULTILINE_FIELDS)
    if text is None:
        return None
    if field.format in (Format.COUNTRY, Format.CURRENCY) and _CODE[2 if field.format is Format.COUNTRY else 3].fullmatch(text):
        return text.upper()
    if field.format is Format.VAT:
        return normalise_vat(text, country)
    return text


def normalise_record(entity_name: str, values: dict) -> dict:
    """A normalised copy of `values` (model field names). Never raises, never truncates."""
    if not isinstance(values, dict):
        return values
    try:
        fields = entity(entity_name).field_by_name
    except Exception:
        fields = {}
    country = None
    if "country" in fields and isinstance(values.get("country"), str):
        try:  # the normalised country, so a second pass picks the same VAT rules
            country = _normalise_value(fields["country"], values["country"], None)
        except Exception:
            country = None
    plan = _plan(entity_name) if isinstance(entity_name, str) else _build_plan(fields)
    out = {}
    for name, value in values.items():
        if not isinstance(value, str):
            out[name] = value  # what _normalise_value gives for anything but text, without the call
            continue
        try:
            out[name] = _normalise_planned(plan.get(name), value, country)
        except Exception:  # a value we cannot tidy is passed on untouched, for the gate to judge
            out[name] = value
    return out


# _normalise_value, with what it asks of each field (kind, format: Enum look-ups) answered once per
# entity instead of once per value: normalise_record runs for every field of every pulled record.
# A field's plan: (code pattern for COUNTRY/CURRENCY or None, multiline, is VAT); None: not text.
@functools.lru_cache(maxsize=64)
def _plan(entity_name: str) -> dict[str, tuple | None]:
    try:
        fields = entity(entity_name).field_by_name
    except Exception:
        fields = {}
    return _build_plan(fields)


def _build_plan(fields: dict) -> dict[str, tuple | None]:
    return {
        name: (
            _CODE[2 if field.format is Format.COUNTRY else 3] if field.format in (Format.COUNTRY, Format.CURRENCY) else None,
            field.name in MULTILINE_FIELDS,
            field.format is Format.VAT,
        ) if field.kind is Kind.TEXT else None
        for name, field in fields.items()
    }


def _normalise_planned(plan: tuple | None, value: str, country: str | None) -> Any:
    if plan is None:  # references and unknown fields: only trim, ids are compared byte for byte elsewhere
        stripped = value.strip(_STRIP + "\t")
        return stripped or None
    code, multiline, vat = plan
    text = normalise_text(value, multiline=multiline)
    if text is None:
        return None
    if code is not None and code.fullmatch(text):
        return text.upper()
    if vat:
        return normalise_vat(text, country)
    return text
