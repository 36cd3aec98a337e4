"""Domain validators: one function per model Format, plus text and type checks.

Every validator takes the value (and, where the rules depend on it, the record's country) and
returns None when the value is fine, or one sentence a person can act on. The judgement comes
from a maintained library (python-stdnum, schwifty, pycountry, phonenumbers, email-validator);
we only pick the right rules and word the answer.
"""

from __future__ import annotations

import functools
import gettext
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import urlsplit

from ledgerbridge.model import Format, Kind

__all__ = [
    "VALIDATORS",
    "validate_vat",
    "validate_email",
    "validate_phone",
    "validate_country",
    "validate_currency",
    "validate_ean",
    "validate_iban",
    "validate_bic",
    "validate_url",
    "validate_text",
    "validate_kind",
    "short_repr",
    "check_invoice_totals",
    "RECORD_RULES",
]


def short_repr(value: Any, limit: int = 60) -> str:
    """A repr safe for logs and markdown: control, bidi and NUL characters escaped, bounded length."""
    text = repr(value)  # repr escapes every non-printable character, including \x00 and U+202E
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- VAT and company numbers ---------------------------------------------------------------

# Country -> the numbers a "VAT / company registration number" field may hold there, as
# (stdnum module, what people call it, what it looks like). Tried in order; the first that
# accepts the value wins. Countries not listed use stdnum's VAT module for the country.
_VAT_RULES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "dk": (("stdnum.dk.cvr", "Danish CVR number", "8 digits, e.g. DK13585628"),),
    "se": (
        ("stdnum.se.vat", "Swedish VAT number", "SE + 12 digits, e.g. SE556702074101"),
        ("stdnum.se.orgnr", "Swedish organisation number", "10 digits, e.g. 556702-0741"),
    ),
    "no": (
        ("stdnum.no.mva", "Norwegian MVA number", "NO + 9 digits + MVA, e.g. NO995525828MVA"),
        ("stdnum.no.orgnr", "Norwegian organisation number", "9 digits, e.g. 995525828"),
    ),
    "ch": (
        ("stdnum.ch.vat", "Swiss VAT number", "CHE-123.456.789 MWST/TVA/IVA"),
        ("stdnum.ch.uid", "Swiss UID", "CHE-123.456.789"),
    ),
    "de": (("stdnum.de.vat", "German USt-IdNr.", "DE + 9 digits, e.g. DE136695976"),),
    "at": (("stdnum.at.uid", "Austrian UID number", "ATU + 8 digits, e.g. ATU13585627"),),
    "gb": (("stdnum.gb.vat", "UK VAT number", "GB + 9 digits, e.g. GB980780684"),),
    "nl": (("stdnum.nl.btw", "Dutch BTW number", "NL + 9 digits + B + 2 digits, e.g. NL004495445B01"),),
    "fr": (
        ("stdnum.fr.tva", "French TVA number", "FR + 11 characters, e.g. FR40303265045"),
        ("stdnum.fr.siren", "French SIREN number", "9 digits"),
        ("stdnum.fr.siret", "French SIRET number", "14 digits"),
    ),
    "fi": (
        ("stdnum.fi.alv", "Finnish ALV number", "FI + 8 digits, e.g. FI20774740"),
        ("stdnum.fi.ytunnus", "Finnish Y-tunnus", "7 digits, dash, check digit, e.g. 2077474-0"),
    ),
}
_PREFIX_COUNTRY = {"CHE": "ch", "EL": "gr", "XI": "gb"}


@functools.cache
def _vat_rules(cc: str) -> tuple[tuple[Any, str, str], ...]:
    import importlib

    from stdnum import get_cc_module

    if cc in _VAT_RULES:
        return tuple((importlib.import_module(m), name, shape) for m, name, shape in _VAT_RULES[cc])
    try:
        module = get_cc_module(cc, "vat")
    except Exception:
        module = None
    if module is None:
        return ()
    # stdnum's first docstring line names the number, e.g. "NIP (Numer ..., Polish VAT number)."
    name = (module.__doc__ or "").strip().splitlines()[0].rstrip(".") or f"{cc.upper()} VAT number"
    return ((module, name, ""),)


def _vat_country(value: str, country: str | None) -> str | None:
    upper = value.upper()
    for prefix, cc in _PREFIX_COUNTRY.items():
        if upper.startswith(prefix):
            return cc
    head = upper[:2]
    if head.isascii() and head.isalpha() and len(head) == 2 and _vat_rules(head.lower()):
        return head.lower()
    if isinstance(country, str) and len(country) == 2 and country.isascii() and country.isalpha():
        return country.lower()
    return None


def validate_vat(value: str, country: str | None = None) -> str | None:
    """VAT / company number, checked with python-stdnum for the prefix's country or the record's."""
    from stdnum import exceptions as ex

    cc = _vat_country(value, country)
    if cc is None:
        return None  # no country to pick rules by; other checks still apply to the record
    rules = _vat_rules(cc)
    if not rules:
        return None  # stdnum has no rules for this country: nothing we can say with confidence
    # Keep the most telling failure: a wrong check digit says more than a wrong shape.
    rank = {ex.InvalidChecksum: 0, ex.InvalidComponent: 1, ex.InvalidLength: 2, ex.InvalidFormat: 3}
    best: tuple[int, type, str, str] | None = None
    for module, name, shape in rules:
        try:
            module.validate(value)
            return None
        except ex.ValidationError as error:
            kind = next((k for k in rank if isinstance(error, k)), ex.InvalidFormat)
            if best is None or rank[kind] < best[0]:
                best = (rank[kind], kind, name, shape)
        except Exception:  # stdnum should only raise ValidationError; be safe on odd input
            kind = ex.InvalidFormat
            if best is None:
                best = (rank[kind], kind, name, shape)
    assert best is not None
    _, kind, name, shape = best
    hint = f" (expected {shape})" if shape else ""
    what = {
        ex.InvalidChecksum: f"has a wrong check digit for a {name}",
        ex.InvalidComponent: f"contains a part that is not possible in a {name}{hint}",
        ex.InvalidLength: f"has the wrong length for a {name}{hint}",
        ex.InvalidFormat: f"is not written like a {name}{hint}",
    }[kind]
    return f"VAT number {short_repr(value)} {what}"


# --- codes ---------------------------------------------------------------------------------


@functools.cache
def _country_names() -> dict[str, str]:
    """Country names in the languages our users write (en, da, de, sv, nb, fr) -> alpha-2."""
    import pycountry

    names: dict[str, str] = {}
    translations = [lambda s: s]
    for lang in ("da", "de", "sv", "nb", "fr"):
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]).gettext)
        except Exception:
            continue
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            label = getattr(c, attr, None)
            if label:
                for tr in translations:
                    names.setdefault(tr(label).casefold(), c.alpha_2)
        names.setdefault(c.alpha_3.casefold(), c.alpha_2)
    return names


@functools.lru_cache(maxsize=1024)
def validate_country(value: str) -> str | None:
    """ISO 3166-1 alpha-2, upper case."""
    import pycountry

    if len(value) == 2 and value.isascii() and value.isalpha():
        if pycountry.countries.get(alpha_2=value.upper()) is None:
            return f"country {short_repr(value)} is not an ISO 3166-1 country code"
        if value != value.upper():
            return f"country {short_repr(value)} must be written in capitals: {value.upper()!r}"
        return None
    code = _country_names().get(value.strip().casefold())
    hint = f"; use {code!r}" if code else " (two letters, e.g. 'DK', 'CH')"
    return f"country {short_repr(value)} is not a two-letter ISO 3166-1 code{hint}"


@functools.lru_cache(maxsize=1024)
def validate_currency(value: str) -> str | None:
    """ISO 4217 alphabetic code, upper case."""
    import pycountry

    if len(value) == 3 and value.isascii() and value.isalpha():
        if pycountry.currencies.get(alpha_3=value.upper()) is None:
            return f"currency {short_repr(value)} is not an ISO 4217 currency code"
        if value != value.upper():
            return f"currency {short_repr(value)} must be written in capitals: {value.upper()!r}"
        return None
    return f"currency {short_repr(value)} is not a three-letter ISO 4217 code (e.g. 'DKK', 'EUR')"


def validate_ean(value: str) -> str | None:
    """EAN-8/UPC-12/EAN-13/GTIN-14, which includes 13-digit GLNs."""
    from stdnum import ean
    from stdnum.exceptions import InvalidChecksum, ValidationError

    try:
        ean.validate(value)
        return None
    except InvalidChecksum:
        return f"EAN/GTIN {short_repr(value)} has a wrong check digit"
    except ValidationError:
        return f"EAN/GTIN {short_repr(value)} must be 8, 12, 13 or 14 digits"


def validate_iban(value: str) -> str | None:
    from schwifty import IBAN

    try:
        IBAN(value)
        return None
    except Exception as error:  # schwifty raises its own exception classes with good messages
        return f"IBAN {short_repr(value)} is not valid: {_sentence(error)}"


def validate_bic(value: str) -> str | None:
    from schwifty import BIC

    try:
        BIC(value)
        return None
    except Exception as error:
        return f"BIC {short_repr(value)} is not valid: {_sentence(error)}"


# --- contact details -----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def validate_email(value: str) -> str | None:
    """Syntax only (check_deliverability=False): DNS lookups do not belong in a batch gate."""
    from email_validator import EmailNotValidError, validate_email as check

    try:
        check(value, check_deliverability=False)
        return None
    except EmailNotValidError as error:
        return f"e-mail address {short_repr(value)} is not valid: {_sentence(error)}"
    except Exception:
        return f"e-mail address {short_repr(value)} is not valid"


@functools.lru_cache(maxsize=4096)
def validate_phone(value: str, country: str | None = None) -> str | None:
    """Parsed with the record's country as the default region, so '70 20 20 20' works for DK."""
    import phonenumbers

    region = country.upper() if isinstance(country, str) and len(country) == 2 and country.isalpha() else None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return (f"phone number {short_repr(value)} has no international prefix (e.g. +45) "
                    "and the record has no country to read it by")
        return f"phone number {short_repr(value)} cannot be read as a phone number"
    except Exception:
        return f"phone number {short_repr(value)} cannot be read as a phone number"
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or region
        place = f" in {_country_name(where)}" if where else ""
        return f"phone number {short_repr(value)} is not a valid number{place} (wrong length or unknown range)"
    return None


def _country_name(code: str) -> str:
    import pycountry

    found = pycountry.countries.get(alpha_2=code)
    return getattr(found, "common_name", None) or getattr(found, "name", code)


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def validate_url(value: str) -> str | None:
    """http(s) URL or a bare host ('www.firma.dk', common in CRMs) with a dotted, valid host name."""
    if any(ch.isspace() for ch in value):
        return f"web address {short_repr(value)} contains spaces"
    candidate = value if "://" in value else "http://" + value
    try:
        parts = urlsplit(candidate)
        host = parts.hostname or ""
        parts.port  # raises ValueError on a bad port
    except ValueError:
        return f"web address {short_repr(value)} cannot be read as a URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"web address {short_repr(value)} must start with http:// or https://"
    try:
        ascii_host = host.encode("idna").decode("ascii") if host else ""
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return f"web address {short_repr(value)} has no valid host name (e.g. www.example.dk)"
    return None


# --- text and types ------------------------------------------------------------------------

# C0/C1 control characters except tab, line feed and carriage return, and lone surrogates.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def validate_text(value: str) -> str | None:
    """Control characters (NUL included) and lone surrogates break exports and JSON payloads.

    Emoji, right-to-left scripts, zero-width joiners and SQL meta-characters are ordinary text
    and pass: the target stores text, it does not interpret it.
    """
    match = _BAD_CHARS.search(value)
    if match is None:
        return None
    ch, position = match.group(), match.start() + 1
    if "\ud800" <= ch <= "\udfff":
        return f"contains a broken character (lone surrogate U+{ord(ch):04X}) at position {position}"
    what = "a NUL byte" if ch == "\x00" else f"the control character U+{ord(ch):04X}"
    return f"contains {what} at position {position}; remove it"


_KIND_WORDS = {
    Kind.TEXT: "text",
    Kind.REFERENCE: "a record id (text)",
    Kind.INTEGER: "a whole number",
    Kind.DECIMAL: "a number (Decimal)",
    Kind.DATE: "a date",
    Kind.BOOLEAN: "true or false",
}


def validate_kind(value: Any, kind: Kind) -> str | None:
    """The Python type the model promises for the kind (see ledgerbridge.model.PYTHON_TYPES)."""
    ok = {
        Kind.TEXT: isinstance(value, str),
        Kind.REFERENCE: isinstance(value, (str, int)) and not isinstance(value, bool),
        Kind.INTEGER: isinstance(value, int) and not isinstance(value, bool),
        # int is accepted for money: 100 is as exact as Decimal("100"); float is not.
        Kind.DECIMAL: isinstance(value, (Decimal, int)) and not isinstance(value, bool)
        and (not isinstance(value, Decimal) or value.is_finite()),
        Kind.DATE: isinstance(value, date) and not isinstance(value, datetime),
        Kind.BOOLEAN: isinstance(value, bool),
    }[kind]
    if ok:
        return None
    return f"should be {_KIND_WORDS[kind]}, got {short_repr(value)} ({type(value).__name__})"


# --- record rules: checks across fields of one record ----------------------------------------

_CENT = Decimal("0.01")


def check_invoice_totals(record: dict) -> tuple[str, str] | None:
    """(field, reason) when gross_amount is not net_amount + vat_amount (to the cent)."""
    net, vat, gross = (record.get(k) for k in ("net_amount", "vat_amount", "gross_amount"))
    if not all(isinstance(v, (Decimal, int)) and not isinstance(v, bool) for v in (net, vat, gross)):
        return None  # missing or mistyped amounts are reported by the field checks
    try:
        if abs(Decimal(gross) - Decimal(net) - Decimal(vat)) <= _CENT:
            return None
    except ArithmeticError:  # NaN/infinite Decimals are reported by the type check
        return None
    return "gross_amount", f"gross_amount {gross} is not net_amount {net} + vat_amount {vat}"


RECORD_RULES: dict[str, tuple[Callable[[dict], tuple[str, str] | None], ...]] = {
    "invoices": (check_invoice_totals,),
}


def _sentence(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


VALIDATORS: dict[Format, Callable[..., str | None]] = {
    Format.VAT: validate_vat,
    Format.EMAIL: validate_email,
    Format.PHONE: validate_phone,
    Format.COUNTRY: validate_country,
    Format.CURRENCY: validate_currency,
    Format.EAN: validate_ean,
    Format.IBAN: validate_iban,
    Format.URL: validate_url,
}
# Formats whose rules depend on the record's country.
COUNTRY_AWARE = frozenset({Format.VAT, Format.PHONE})
