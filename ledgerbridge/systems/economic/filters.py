"""e-conomic's filter language (REST docs, "Filtering"), parsed and evaluated for the emulator."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any


from ledgerbridge.systems.economic import mapping
from ledgerbridge.systems.economic.mapping import get_path


# -- the filter language ----------------------------------------------------------------------
# REST docs, "Filtering": prop$op:value chained with $and:/$or:, parentheses, escapes
# $$ $( $) $* $, $[ $] and $null:. AND binds tighter than OR (the docs do not say).

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "in", "nin")
_ESCAPES = {"$": "$", "(": "(", ")": ")", "*": "\x00", ",": "\x01", "[": "\x02", "]": "\x03"}
_RESTORE = str.maketrans({"\x00": "*", "\x01": ",", "\x02": "[", "\x03": "]"})
_NULL = object()


class FilterError(ValueError):
    pass


@dataclass
class Predicate:
    prop: str
    op: str
    value: Any  # text, list of texts ($in/$nin) or _NULL


def _filter_tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(("text", "".join(buf)))
            buf.clear()

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                buf.append(_ESCAPES[nxt])
                i += 2
                continue
            match = re.match(r"\$([a-z]+):", text[i:])
            if not match:
                raise FilterError(f"unexpected '$' at position {i}")
            word = match.group(1)
            flush()
            if word in ("and", "or", "null"):
                out.append((word, None))
            elif word in OPERATORS:
                out.append(("op", word))
            else:
                raise FilterError(f"unknown operator ${word}:")
            i += len(match.group(0))
        elif ch in "()":
            flush()
            out.append((ch, None))
            i += 1
        else:
            buf.append(ch)
            i += 1
    flush()
    return out


class _FilterParser:
    def __init__(self, text: str):
        self.tokens = _filter_tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        if self.peek() != kind:
            raise FilterError(f"expected {kind}, found {self.peek() or 'the end of the filter'}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def parse(self) -> Any:
        node = self.expr()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()} in the filter")
        return node

    def expr(self) -> Any:
        node = self.conj()
        while self.peek() == "or":
            self.take("or")
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Any:
        node = self.term()
        while self.peek() == "and":
            self.take("and")
            node = ("and", node, self.term())
        return node

    def term(self) -> Any:
        if self.peek() == "(":
            self.take("(")
            node = self.expr()
            self.take(")")
            return node
        prop = self.take("text").strip()
        op = self.take("op")
        if self.peek() == "null":
            self.take("null")
            return Predicate(prop, op, _NULL)
        raw = self.take("text") if self.peek() == "text" else ""
        if op in ("in", "nin"):
            if not (raw.startswith("[") and raw.endswith("]")):
                raise FilterError(f"${op}: takes a list in brackets")
            items = [v.translate(_RESTORE) for v in raw[1:-1].split(",") if v != ""]
            if len(items) > 200:
                raise FilterError(f"${op}: takes at most 200 values")
            return Predicate(prop, op, items)
        return Predicate(prop, op, raw)


def _predicates(node: Any) -> list[Predicate]:
    return [node] if isinstance(node, Predicate) else _predicates(node[1]) + _predicates(node[2])


_DATE_PROPS = {"date", "dueDate", "deliveryDate"}
_BOOL_PROPS = {"barred", "deleted", "enabledForCustomer", "enabledForSupplier"}
_NUMBER_PROPS = {"balance", "creditLimit", "costPrice", "salesPrice", "recommendedPrice", "grossAmount",
                 "netAmount", "vatAmount", "remainder", "exchangeRate", "sortKey", "daysOfCredit"}
_TEXT_NUMBERS = {"telephoneAndFaxNumber", "vatNumber", "corporateIdentificationNumber", "publicEntryNumber",
                 "productNumber", "pNumber", "isoNumber"}


def _kind(prop: str) -> str:
    last = prop.split(".")[-1]
    if last == "lastUpdated":
        return "datetime"
    if last in _DATE_PROPS:
        return "date"
    if last in _BOOL_PROPS:
        return "bool"
    if last in _NUMBER_PROPS or (last.endswith("Number") and last not in _TEXT_NUMBERS):
        return "number"
    return "text"


def _comparable(prop: str, value: Any, *, from_filter: bool = False) -> Any:
    kind = _kind(prop)
    if kind == "bool":
        return value.lower() == "true" if from_filter else bool(value)
    if value is None:
        return None
    try:
        if kind == "datetime":
            return mapping.parse_timestamp(str(value))
        if kind == "date":
            return date.fromisoformat(str(value)[:10])
        if kind == "number":
            return float(value)
    except ValueError:
        if from_filter:
            raise FilterError(f"{value!r} is not a valid value for {prop}") from None
        return None
    return str(value).lower()  # string filters are case-insensitive


def _matches(node: Any, record: dict[str, Any]) -> bool:
    if not isinstance(node, Predicate):
        left = _matches(node[1], record)
        return (left and _matches(node[2], record)) if node[0] == "and" else (left or _matches(node[2], record))
    actual = _comparable(node.prop, get_path(record, node.prop))
    if node.value is _NULL:
        is_null = get_path(record, node.prop) is None
        return is_null if node.op == "eq" else (not is_null if node.op == "ne" else False)
    if node.op in ("in", "nin"):
        found = actual in [_comparable(node.prop, v, from_filter=True) for v in node.value]
        return found if node.op == "in" else not found
    if node.op == "like":
        if actual is None:
            return False
        pattern = node.value.lower()
        if "*" not in pattern:
            pattern = f"*{pattern}*"  # without wildcards $like: means "contains"
        regex = ".*".join(re.escape(part.translate(_RESTORE)) for part in pattern.split("*"))
        return re.fullmatch(regex, str(actual), re.S) is not None
    wanted = _comparable(node.prop, node.value.translate(_RESTORE), from_filter=True)
    if node.op == "eq":
        return actual == wanted
    if node.op == "ne":
        return actual != wanted
    if actual is None or wanted is None:
        return False
    try:
        return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[node.op]
    except TypeError:
        return False
