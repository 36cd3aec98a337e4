"""The one mapping vocabulary every system declares its mapping in, and the one set of converters.

A mapping is data: per entity, a tuple of `Field`s (model field <-> remote field path, a
converter, the direction it travels, the remote length limit), and per entity an `Endpoint`
(path, id field, change stamp, paging, cursor). A system's package keeps only what is truly its
own beside that (composite fields such as an address line, computed records).

Converters come in pairs: `out` (model value -> remote value) and `into` (remote value -> model
value). How a system writes "nothing" differs (webCRM sends "" and 0, e-conomic leaves the
property out), so the converters that write take `empty`; everything else is the same for every
system. Values a converter cannot read (a user's free text in a number field) are passed on as
text, so the quality gate names them instead of the sync guessing.

The country translation is here once: every system that stores a country as text turns an ISO
alpha-2 code into the English short name, and reads names in English and the languages the
systems' users write in (Danish, German, Swedish, Norwegian, Finnish, Dutch, French) back to the
code. "Schweiz", "Danmark" and "Switzerland" read as CH, DK and CH everywhere.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any, Literal

import pycountry

Kind = Literal["text", "money", "date", "timestamp", "country", "number", "reference", "enum", "boolean"]
FieldDirection = Literal["both", "read", "write"]  # read: only read from the system; write: only written


@dataclass(frozen=True)
class Converter:
    kind: Kind
    out: Callable[[Any], Any]  # model value -> remote value
    into: Callable[[Any], Any]  # remote value -> model value


@dataclass(frozen=True)
class Field:
    """One model field kept in one remote field (a dotted path into nested objects)."""

    model: str
    remote: str
    convert: Converter
    direction: FieldDirection = "both"
    max_length: int | None = None  # the system's limit, for limits()

    @property
    def written(self) -> bool:
        return self.direction != "read"

    @property
    def read(self) -> bool:
        return self.direction != "write"


@dataclass(frozen=True)
class Endpoint:
    """Where an entity lives in a REST system and how it is paged (declared, as dlt's REST source does).

    `paging`: "page" (Page/Size, 1-based), "skip" (skippages/pagesize, 0-based), "odata"
    ($skip/$top), "none". `cursor_field` is the remote change stamp (or ever-growing number) an
    incremental pull filters on; None: no change stamp, every pull reads everything.
    """

    path: str
    id_field: str
    paging: Literal["page", "skip", "odata", "none"] = "page"
    page_size_max: int = 1000
    cursor_field: str | None = None
    cursor_kind: Literal["timestamp", "number"] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Composite:
    """Model fields <-> remote fields where one side holds several parts in one field (the address
    line: street + house number) or one value in several fields (a person's name). `out` turns model
    values into remote fields, `into` a remote record into model values; a system's mapping declares
    these by hand, and every `Field` compiles to one (`compiled`)."""

    model: tuple[str, ...]
    remote: tuple[str, ...]
    out: Callable[[Mapping[str, Any]], dict[str, Any]]
    into: Callable[[Mapping[str, Any]], dict[str, Any]]


def compiled(f: Field) -> Composite:
    model, remote, convert = f.model, f.remote, f.convert
    if f.written:
        def out(values: Mapping[str, Any]) -> dict[str, Any]:
            return {remote: convert.out(values.get(model))}
    else:
        def out(values: Mapping[str, Any]) -> dict[str, Any]:
            return {}
    if not f.read:
        def into(record: Mapping[str, Any]) -> dict[str, Any]:
            return {}
    elif "." in remote:
        def into(record: Mapping[str, Any]) -> dict[str, Any]:
            return {model: convert.into(get_path(record, remote))}
    else:
        def into(record: Mapping[str, Any]) -> dict[str, Any]:
            return {model: convert.into(record.get(remote))}
    return Composite((model,), (remote,), out, into)


# -- dotted paths --------------------------------------------------------------------------------

@lru_cache(maxsize=1024)
def path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))  # split once per path, not once per record and field


def get_path(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path_parts(path):
        # a dict (what JSON gives) is a Mapping: said without the ABC's isinstance check, per field of every record
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path_parts(path)
    for part in parents:
        record = record.setdefault(part, {})
    record[last] = value


# -- converters ----------------------------------------------------------------------------------

def _text_into(value: Any) -> str | None:
    # Systems answer "" for an empty text field; the model says None.
    return None if value in (None, "") else str(value)


def text(empty: Any = None) -> Converter:
    return Converter("text", lambda v: empty if v is None else str(v), _text_into)


def _is_number(value: Any) -> bool:
    return isinstance(value, (Decimal, int, float)) and not isinstance(value, bool)


def money(empty: Any = None) -> Converter:
    """A decimal amount in a JSON number. A non-number is sent as it is, so the API names it."""

    def out(value: Any) -> Any:
        if value is None:
            return empty
        return float(value) if _is_number(value) else value

    return Converter("money", out, lambda v: None if v is None else Decimal(str(v)))


def _money_text_out(value: Any) -> str:
    # Money in a text field: plain notation with a point, never an exponent.
    return "" if value is None else format(Decimal(str(value)), "f")


def _money_text_into(value: Any) -> Decimal | str | None:
    found = _text_into(value)
    if found is None:
        return None
    try:
        return Decimal(found.strip())
    except InvalidOperation:
        return found


MONEY_TEXT = Converter("money", _money_text_out, _money_text_into)  # money kept in a text field


def _date_out(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _date_into(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


DATE = Converter("date", _date_out, _date_into)  # an ISO date (a date-time's date part is the date)


def _date_text_into(value: Any) -> date | str | None:
    found = _text_into(value)
    if found is None:
        return None
    try:
        return date.fromisoformat(found.strip()[:10])
    except ValueError:
        return found


DATE_TEXT = Converter("date", lambda v: "" if v is None else _date_out(v) if isinstance(v, date) else str(v), _date_text_into)


def _midnight_out(value: Any) -> str | None:
    # A calendar date in a date-time: midnight without offset (None leaves the date-time unset).
    if value is None:
        return None
    return f"{value.isoformat()}T00:00:00" if isinstance(value, date) else str(value)


DATE_AS_DATETIME = Converter("date", _midnight_out, _date_into)


def parse_timestamp(value: str | None) -> datetime | None:
    """A remote date-time as an aware UTC datetime; a value without offset is taken as UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


TIMESTAMP = Converter("timestamp", lambda v: v.isoformat() if isinstance(v, datetime) else v, parse_timestamp)


def _int_or_keep(value: Any) -> Any:
    """An integer the system stores; a non-numeric value passes so the API rejects it by name."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return value


def number(empty: Any = None) -> Converter:
    """A business number or key the model holds as text and the system as an integer."""
    return Converter("number", lambda v: empty if v is None else _int_or_keep(v),
                     lambda v: None if v in (None, "") else str(v))


def _ref_int_out(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _ref_into(value: Any) -> str | None:
    return None if value in (None, 0, "") else str(value)


# A reference to another record by its remote id: an int32 where 0 means none (webCRM) ...
REFERENCE_INT = Converter("reference", _ref_int_out, _ref_into)
# ... or the id as text ("" means none).
REFERENCE_TEXT = Converter("reference", lambda v: "" if v in (None, "") else str(v), _text_into)


def positive_int(empty: Any = 0) -> Converter:
    """A positive integer (a line number) where the system answers 0 for unset."""
    return Converter("number", lambda v: empty if v in (None, "") else int(v),
                     lambda v: None if v in (None, 0, "") else int(v))


def as_is() -> Converter:
    return Converter("number", lambda v: v, lambda v: v)


def enum(to_remote: Mapping[Any, str], default_remote: str | None = None) -> Converter:
    """Model values <-> the system's enum names. Unknown values pass as they are: the API names them.
    `default_remote`: what the system answers for unset (read as the model value mapped to it)."""
    back = {remote: model for model, remote in to_remote.items()}
    return Converter(
        "enum",
        lambda v: to_remote.get(v, v),
        lambda v: back.get(v or default_remote, v) if default_remote else back.get(v, v),
    )


# A flag the system only sends when true (e-conomic omits false booleans).
FLAG = Converter("boolean", lambda v: True if v else None, lambda v: bool(v))


# -- countries -------------------------------------------------------------------------------------

USER_LANGUAGES = ("da", "de", "sv", "nb", "nn", "fi", "nl", "fr")


@lru_cache(maxsize=4096)
def country_name(alpha_2: str) -> str | None:
    """The English short name of an alpha-2 code, or None for an unknown code (cached: pycountry scans)."""
    found = pycountry.countries.get(alpha_2=alpha_2)
    return found.name if found else None


@cache
def _country_names() -> dict[str, str]:
    """Lower-cased country names -> alpha-2: English names, then the languages users write in."""
    names: dict[str, str] = {}
    translations = []
    for lang in USER_LANGUAGES:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue
    english = [
        (name, country.alpha_2)
        for country in pycountry.countries
        for name in (country.name, getattr(country, "common_name", None), getattr(country, "official_name", None))
        if name
    ]
    # English names first, so a translation never shadows another country's English name.
    for name, code in english:
        names.setdefault(name.lower(), code)
    for t in translations:
        for name, code in english:
            names.setdefault(t.gettext(name).lower(), code)
    return names


@lru_cache(maxsize=4096)
def country_code(text_value: str) -> str | None:
    """The alpha-2 code of a country name (English or a user language), code or official name; None if unknown."""
    key = " ".join(text_value.split()).lower()
    if not key:
        return None
    found = _country_names().get(key)
    if found:
        return found
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        return None


def country_to_remote(value: Any, empty: Any = None) -> Any:
    """ISO alpha-2 -> the English short name; anything else is passed on as it is."""
    if value is None:
        return empty
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    found = country_name(stripped.upper()) if len(stripped) == 2 else None
    return found or value


def country_from_remote(value: Any) -> Any:
    """Free-text country -> ISO alpha-2; unknown text stays as it is so the quality gate flags it."""
    if not isinstance(value, str):
        return value or None
    if not value.strip():
        return None
    return country_code(value) or value


def country(empty: Any = None) -> Converter:
    return Converter("country", lambda v: country_to_remote(v, empty), country_from_remote)
