"""Model values: coercion to the model's Python types, and the content hash that diffing uses."""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ledgerbridge.model import Entity, Kind
from ledgerbridge.store import canonical_decimal, to_json


class CoercionError(ValueError):
    def __init__(self, field: str, value: Any, kind: Kind):
        super().__init__(f"{field}: {value!r} is not a valid {kind.value}")
        self.field = field
        self.value = value


def coerce_value(field: str, kind: Kind, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip() and kind is not Kind.TEXT):
        return None
    try:
        if kind in (Kind.TEXT, Kind.REFERENCE):
            return value if isinstance(value, str) else str(value)
        if kind is Kind.INTEGER:
            if isinstance(value, bool):
                raise TypeError
            return int(value)
        if kind is Kind.DECIMAL:
            return value if isinstance(value, Decimal) else Decimal(str(value))
        if kind is Kind.DATE:
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if kind is Kind.BOOLEAN:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "y")
            return bool(value)
    except (TypeError, ValueError, InvalidOperation):
        raise CoercionError(field, value, kind) from None
    raise AssertionError(kind)


def coerce(entity: Entity, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[CoercionError]]:
    """Model-typed copy of `values` (fields unknown to the model dropped) and what failed to convert."""
    result: dict[str, Any] = {}
    errors: list[CoercionError] = []
    for name, value in values.items():
        field = entity.field_by_name.get(name)
        if field is None:
            continue
        # The values mappers give most often, already of the model's type: what coerce_value would
        # return, without the call (this loop runs for every field of every pulled record).
        kind = field.kind
        if value is None or (kind is Kind.TEXT and isinstance(value, str)) or (
                kind is Kind.DECIMAL and isinstance(value, Decimal)) or (kind is Kind.INTEGER and type(value) is int) or (
                kind is Kind.REFERENCE and isinstance(value, str) and value.strip()):  # a blank reference is None
            result[name] = value
            continue
        try:
            result[name] = coerce_value(name, field.kind, value)
        except CoercionError as exc:
            errors.append(exc)
            result[name] = None
    return result, errors


def content_hash(values: Mapping[str, Any], fields: Iterable[str]) -> str:
    """Hash of the given fields only: a system is compared on what it can hold."""
    canonical = to_json({name: values.get(name) for name in sorted(fields)})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_hasher(fields: Iterable[str]) -> Callable[[Mapping[str, Any]], str]:
    """content_hash(values, fields) for many records with the same fields: the same hashes, faster.

    The text content_hash hashes is written here directly: the field names are sorted and encoded
    once, and each value of the kinds records hold (text, numbers, Decimals, dates, booleans, None)
    is written as json.dumps writes it (the same C string encoder; Decimals through a cache of
    canonical_decimal, since amounts, quantities and prices repeat). A record holding anything else
    is hashed through the JSON encoder, as content_hash does.
    """
    names = tuple(sorted(fields))
    if not names:
        return lambda values: content_hash(values, names)
    # What to_json writes before each value: `{"name": ` for the first field, `, "name": ` after it.
    prefixes = tuple(("{" if i == 0 else ", ") + encode_basestring(name) + ": " for i, name in enumerate(names))
    pairs = tuple(zip(names, prefixes))
    sha256, canonical_of, text_of = hashlib.sha256, _canonical_of, encode_basestring

    def hash_of(values: Mapping[str, Any]) -> str:
        parts = []
        append = parts.append
        get = values.get
        for name, prefix in pairs:
            value = get(name)
            kind = type(value)
            append(prefix)
            if kind is str:
                append(text_of(value))
            elif value is None:
                append("null")
            elif kind is Decimal:
                try:
                    append(text_of(canonical_of(value)))
                except TypeError:  # a signalling NaN cannot be hashed (nor written): as content_hash says so
                    return content_hash(values, names)
            elif kind is int:
                append(int.__repr__(value))
            elif kind is bool:
                append("true" if value else "false")
            elif kind is date or kind is datetime:
                append(text_of(value.isoformat()))
            else:  # floats (NaN, infinities), subclasses, anything json_default decides about
                return content_hash(values, names)
        append("}")
        return sha256("".join(parts).encode("utf-8")).hexdigest()

    return hash_of


@lru_cache(maxsize=65536)
def _canonical_of(value: Decimal) -> str:
    return canonical_decimal(value)
