"""The OData query options Uniconta's feed takes ($filter, $orderby, $top, $skip), parsed and applied.

Uniconta documents `$filter`, `$orderby` and `$top` ("URLPARAMETER: Filtering, sorting, pagination",
NOTES.md §5); the grammar is OData v4's. Supported here: comparisons eq ne gt ge lt le, `and`, `or`,
`not`, parentheses, the functions contains/startswith/endswith, literals 'text' (a quote doubled
inside), numbers, true/false/null and timestamps (2026-01-31T10:00:00Z). A property the entity does
not have, or a malformed expression, raises QueryError, which the emulator answers with 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any


class QueryError(ValueError):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<date>\d{4}-\d{2}-\d{2})|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>[(),]))"
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
FUNCTIONS = {"contains", "startswith", "endswith"}
_NULL = object()


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"Syntax error at position {pos} in '{text}'.")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            out.append(("literal", value[1:-1].replace("''", "'")))
        elif kind == "stamp":
            out.append(("literal", _parse_stamp(value)))
        elif kind == "date":
            out.append(("literal", date.fromisoformat(value)))
        elif kind == "number":
            out.append(("literal", float(value)))
        elif kind == "name":
            lowered = value.lower()
            if lowered in ("true", "false"):
                out.append(("literal", lowered == "true"))
            elif lowered == "null":
                out.append(("literal", _NULL))
            elif value in COMPARISONS or value in ("and", "or", "not") or value in FUNCTIONS:
                out.append((value, None))
            else:
                out.append(("property", value))
        else:
            out.append((value, None))
    return out


def _parse_stamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


Node = tuple  # ("cmp", op, prop, value) | ("fn", name, prop, text) | ("and"/"or", a, b) | ("not", a)


class _Parser:
    def __init__(self, text: str, properties: Iterable[str], entity: str):
        self.text, self.tokens, self.pos = text, _tokens(text), 0
        self.properties, self.entity = set(properties), entity

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        if self.peek() != kind:
            found = self.peek() or "the end of the expression"
            raise QueryError(f"Syntax error: expected {kind}, found {found} in '{self.text}'.")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"Syntax error: unexpected {self.peek()} in '{self.text}'.")
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.peek() == "or":
            self.take("or")
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.unary()
        while self.peek() == "and":
            self.take("and")
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "not":
            self.take("not")
            return ("not", self.unary())
        if self.peek() == "(":
            self.take("(")
            node = self.disjunction()
            self.take(")")
            return node
        if self.peek() in FUNCTIONS:
            name = self.tokens[self.pos][0]
            self.pos += 1
            self.take("(")
            prop = self.property()
            self.take(",")
            value = self.take("literal")
            self.take(")")
            if not isinstance(value, str):
                raise QueryError(f"{name} takes a text literal, in '{self.text}'.")
            return ("fn", name, prop, value)
        prop = self.property()
        op = self.peek()
        if op not in COMPARISONS:
            raise QueryError(f"Syntax error: expected a comparison after {prop} in '{self.text}'.")
        self.pos += 1
        return ("cmp", op, prop, self.take("literal"))

    def property(self) -> str:
        name = self.take("property")
        if name not in self.properties:
            raise QueryError(f"Could not find a property named '{name}' on type '{self.entity}'.")
        return name


def parse_filter(text: str, properties: Iterable[str], entity: str) -> Node:
    return _Parser(text, properties, entity).parse()


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", value):
        try:
            return _parse_stamp(value)
        except ValueError:
            return value
    return value


def matches(node: Node, record: Mapping[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return matches(node[1], record) and matches(node[2], record)
    if kind == "or":
        return matches(node[1], record) or matches(node[2], record)
    if kind == "not":
        return not matches(node[1], record)
    if kind == "fn":
        _, name, prop, text = node
        actual = record.get(prop)
        if not isinstance(actual, str):
            return False
        return {"contains": text in actual, "startswith": actual.startswith(text), "endswith": actual.endswith(text)}[name]
    _, op, prop, wanted = node
    actual = _comparable(record.get(prop))
    if wanted is _NULL:
        return (actual is None) == (op == "eq") if op in ("eq", "ne") else False
    if isinstance(wanted, date) and not isinstance(wanted, datetime) and isinstance(actual, str):
        actual = date.fromisoformat(actual[:10])
    if op == "eq":
        return actual == wanted
    if op == "ne":
        return actual != wanted
    if actual is None:
        return False
    try:
        return {"gt": actual > wanted, "ge": actual >= wanted, "lt": actual < wanted, "le": actual <= wanted}[op]
    except TypeError:
        return False


def order_key(terms: list[tuple[str, bool]]) -> Callable[[Mapping[str, Any]], Any]:
    """A sort key for `$orderby` terms (property, descending); None sorts first, as OData does."""

    def key(record: Mapping[str, Any]) -> tuple:
        return tuple(_Sortable(_comparable(record.get(prop)), descending) for prop, descending in terms)

    return key


class _Sortable:
    __slots__ = ("value", "descending")

    def __init__(self, value: Any, descending: bool):
        self.value, self.descending = value, descending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sortable) and self.value == other.value

    def __lt__(self, other: "_Sortable") -> bool:
        a, b = (other.value, self.value) if self.descending else (self.value, other.value)
        if a is None or b is None:
            return a is None and b is not None
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


def parse_orderby(text: str, properties: Iterable[str], entity: str) -> list[tuple[str, bool]]:
    known, terms = set(properties), []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise QueryError(f"Syntax error in $orderby '{text}'.")
        if words[0] not in known:
            raise QueryError(f"Could not find a property named '{words[0]}' on type '{entity}'.")
        terms.append((words[0], len(words) == 2 and words[1] == "desc"))
    return terms


def non_negative(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise QueryError(f"Invalid value '{text}' for {name}: a non-negative integer is expected.")
    return int(text)
