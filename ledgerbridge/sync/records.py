"""Model values: coercion to the model's Python types, and the content hash that diffing uses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ledgerbridge.model import Entity, Kind
from ledgerbridge.store import canonical_decimal, json_default, to_json


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
        if value is None or (field.kind is Kind.TEXT and isinstance(value, str)) or (
                field.kind is Kind.DECIMAL and isinstance(value, Decimal)):
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

    The field names are sorted once instead of per record, and Decimals (most of an invoice line)
    are written through a cache: canonical_decimal depends only on the number's value, and amounts,
    quantities and prices repeat across records.
    """
    names = tuple(sorted(fields))
    # The keys are put in sorted order here, so the encoder need not sort them (to_json's sort_keys
    # gives the same text: the values are scalars, with no keys of their own).
    encode = json.JSONEncoder(default=_cached_default, ensure_ascii=False).encode
    sha256, canonical_of = hashlib.sha256, _canonical_of

    def hash_of(values: Mapping[str, Any]) -> str:
        canonical = {}
        for name in names:
            value = values.get(name)
            if type(value) is Decimal:
                # Written here through the cache (a C call on a hit), not through the encoder's
                # `default` callback: a Python call per Decimal from inside the C encoder.
                try:
                    value = canonical_of(value)
                except TypeError:  # a signalling NaN cannot be hashed (nor written: json_default says so)
                    value = json_default(value)
            canonical[name] = value
        return sha256(encode(canonical).encode("utf-8")).hexdigest()

    return hash_of


@lru_cache(maxsize=65536)
def _canonical_of(value: Decimal) -> str:
    return canonical_decimal(value)


def _cached_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        try:
            return _canonical_of(value)
        except TypeError:  # a signalling NaN cannot be hashed (nor written: json_default says so)
            pass
    return json_default(value)

