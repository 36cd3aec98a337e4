"""Column values <-> model values, by name (`convert:` in a profile), in the shared vocabulary's shape.

A profile column names its converter; without one the column type decides (text for the text
types, money for decimal, date, boolean for bit, number for integers). `adapt` then fits the
converted value into the column's own type and says, in words, why a value does not fit: that
sentence is what a held-back record shows (see validate.py), long before a driver could fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerbridge.systems.address import join_street, split_street
from ledgerbridge.systems.sql.profile import Column, ColumnType
from ledgerbridge.systems.vocabulary import Converter, country_from_remote, country_to_remote


def _text_into(value: Any) -> str | None:
    # CHAR columns come back right-padded with spaces; '' is the product's "empty".
    if value is None:
        return None
    text = str(value).rstrip()
    return text or None


def _text_out(value: Any) -> Any:
    return None if value is None else str(value)


def _decimal_into(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _date_into(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _int_text_into(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ref_into(value: Any) -> str | None:
    return None if value in (None, "", 0) else str(value).strip()


TEXT = Converter("text", _text_out, _text_into)
MONEY = Converter("money", lambda v: v, _decimal_into)
DATE = Converter("date", lambda v: v, _date_into)
BOOLEAN = Converter("boolean", lambda v: None if v is None else bool(v), lambda v: None if v is None else bool(v))
# 'J'/'N' (ja/nein) flags, as Swiss and German products keep them in CHAR(1).
BOOLEAN_JN = Converter("boolean", lambda v: None if v is None else ("J" if v else "N"),
                       lambda v: None if v in (None, "") else str(v).strip().upper() in ("J", "Y", "1"))
# A business number or key the model holds as text (an INT column or a CHAR column).
NUMBER = Converter("number", lambda v: v, _int_text_into)
INTEGER = Converter("number", lambda v: v, lambda v: None if v is None else int(v))
REFERENCE = Converter("reference", lambda v: v, _ref_into)
# The country as the English name (vocabulary's translation), or as the ISO code itself.
COUNTRY_NAME = Converter("country", country_to_remote, country_from_remote)
COUNTRY_CODE = Converter("country", lambda v: v, lambda v: None if not v else str(v).strip().upper() or None)

NAMED: dict[str, Converter] = {
    "text": TEXT,
    "money": MONEY,
    "date": DATE,
    "boolean": BOOLEAN,
    "boolean_jn": BOOLEAN_JN,
    "number": NUMBER,
    "integer": INTEGER,
    "reference": REFERENCE,
    "country_name": COUNTRY_NAME,
    "country_code": COUNTRY_CODE,
}
COMPOSITES = ("street_line",)  # several model fields in one column


def default_converter(column_type: ColumnType) -> str:
    if column_type.is_text:
        return "text"
    if column_type.name == "decimal":
        return "money"
    if column_type.name in ("date", "datetime", "datetime2"):
        return "date"
    if column_type.name == "bit":
        return "boolean"
    return "integer"


def converter_of(column: Column) -> Converter:
    name = column.convert or default_converter(column.sql_type)
    try:
        return NAMED[name]
    except KeyError:
        raise KeyError(f"column {column.column}: unknown converter {name!r} ({', '.join([*NAMED, *COMPOSITES])})") from None


def column_value(column: Column, values: Mapping[str, Any]) -> Any:
    """The model values of `column`'s field(s) as the value to store (before `adapt`)."""
    if column.fields:
        if column.convert != "street_line":
            raise KeyError(f"column {column.column}: several fields need convert: street_line")
        return join_street(*(values.get(f) for f in column.fields))
    return converter_of(column).out(values.get(column.field))


def model_values(column: Column, stored: Any) -> dict[str, Any]:
    """The model field(s) a stored column value reads as."""
    if column.fields:
        return dict(zip(column.fields, split_street(_text_into(stored))))
    return {column.field: converter_of(column).into(stored)}


class DoesNotFit(ValueError):
    """A value the column cannot hold; the message says why, in words, without the column's name."""


_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1), "smallint": (-(2**15), 2**15 - 1)}


def adapt(column_type: ColumnType, value: Any, codepage: str) -> Any:
    """`value` as the column's Python type, or DoesNotFit with the reason."""
    if value is None:
        return None
    name = column_type.name
    if column_type.is_text:
        text = value if isinstance(value, str) else str(value)
        if column_type.length is not None and len(text) > column_type.length:
            raise DoesNotFit(f"is {len(text)} characters long, at most {column_type.length} fit")
        if not column_type.unicode:
            try:
                text.encode(codepage)
            except UnicodeEncodeError as exc:
                raise DoesNotFit(
                    f"contains {text[exc.start:exc.end]!r}, which the column's code page ({codepage}) cannot store"
                ) from None
        return text
    if name in _INT_RANGES:
        try:
            number = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
        except ValueError:
            raise DoesNotFit(f"{value!r} is not a whole number") from None
        low, high = _INT_RANGES[name]
        if not low <= number <= high:
            raise DoesNotFit(f"{number} is outside the column's range ({low} to {high})")
        return number
    if name == "decimal":
        try:
            amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            raise DoesNotFit(f"{value!r} is not a number") from None
        if not amount.is_finite():
            raise DoesNotFit(f"{value!r} is not a finite number")
        scale, precision = column_type.scale or 0, column_type.precision or 18
        rounded = amount.quantize(Decimal(1).scaleb(-scale))
        if rounded != amount:
            raise DoesNotFit(f"{amount} has more than {scale} decimal places")
        if len(rounded.as_tuple().digits) - max(0, -rounded.as_tuple().exponent) > precision - scale:
            raise DoesNotFit(f"{amount} has more than {precision - scale} digits before the decimal point")
        return rounded
    if name == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            raise DoesNotFit(f"{value!r} is not a date") from None
    if name in ("datetime", "datetime2"):
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        raise DoesNotFit(f"{value!r} is not a date and time")
    if name == "bit":
        return bool(value)
    raise DoesNotFit(f"the column type {column_type} is not written by ledgerbridge")
