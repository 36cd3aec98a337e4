"""The part of OData v4 TribeCRM serves (contracts/tribecrm NOTES §3), for its emulator.

Operators that work [V]: eq ne gt ge lt le, and/or/not, contains/startswith/endswith (case-insensitive),
parentheses; `in` and `has` are not supported and are refused. Paths may cross navigation properties
(`Organization/LastMutationDate`). Literals: 'text' ('' escapes a quote), numbers, true/false/null,
unquoted ISO dates/timestamps and GUIDs. $expand takes nested options: `A($select=x;$expand=B)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

SUPPORTED_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
SUPPORTED_FUNCTIONS = ("contains", "startswith", "endswith")
REFUSED = ("in", "has")


class ODataError(ValueError):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<ts>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)"
    r"|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_/]*)|(?P<punct>[(),]))"
)


@dataclass(frozen=True)
class Token:
    kind: str
    value: Any


def tokens(text: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataError(f"cannot read the filter at position {pos}: {text[pos:pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "str":
            out.append(Token("lit", raw[1:-1].replace("''", "'")))
        elif kind == "ts":
            out.append(Token("lit", parse_timestamp(raw) if "T" in raw else raw))
        elif kind == "guid":
            out.append(Token("lit", raw.lower()))
        elif kind == "num":
            out.append(Token("lit", Decimal(raw)))
        elif kind == "name" and raw in ("true", "false"):
            out.append(Token("lit", raw == "true"))
        elif kind == "name" and raw == "null":
            out.append(Token("lit", None))
        else:
            out.append(Token(kind, raw))
    return out


def parse_timestamp(text: str) -> datetime:
    value = text.replace("Z", "+00:00")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ODataError("the filter ends too early")
        self.pos += 1
        return token

    def word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.value in words

    def parse(self) -> Any:
        node = self.disjunction()
        if self.peek() is not None:
            raise ODataError(f"unexpected {self.peek().value!r} in the filter")
        return node

    def disjunction(self) -> Any:
        node = self.conjunction()
        while self.word("or"):
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Any:
        node = self.negation()
        while self.word("and"):
            self.take()
            node = ("and", node, self.negation())
        return node

    def negation(self) -> Any:
        if self.word("not"):
            self.take()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.operand()
        if self.word(*REFUSED):
            raise ODataError(f"the operator '{self.peek().value}' is not supported")
        if self.word(*SUPPORTED_COMPARISONS):
            op = self.take().value
            return (op, left, self.operand())
        if left[0] not in ("path", "lit"):  # a function call or a parenthesised condition
            return left
        raise ODataError(f"expected a comparison after {left[1]!r}")

    def operand(self) -> Any:
        token = self.take()
        if token.kind == "punct" and token.value == "(":
            node = self.disjunction()
            closing = self.take()
            if closing.value != ")":
                raise ODataError("a parenthesis is not closed")
            return node
        if token.kind == "lit":
            return ("lit", token.value)
        if token.kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "punct" and nxt.value == "(":
                if token.value not in SUPPORTED_FUNCTIONS:
                    raise ODataError(f"the function '{token.value}' is not supported")
                self.take()
                first = self.operand()
                if self.take().value != ",":
                    raise ODataError(f"{token.value}() takes two arguments")
                second = self.operand()
                if self.take().value != ")":
                    raise ODataError(f"{token.value}() takes two arguments")
                return ("call", token.value, first, second)
            return ("path", token.value)
        raise ODataError(f"unexpected {token.value!r} in the filter")


def parse_filter(text: str) -> Any:
    return _Parser(text).parse()


def _value(node: Any, record: dict[str, Any]) -> Any:
    if node[0] == "lit":
        return node[1]
    if node[0] == "path":
        value: Any = record
        for part in node[1].split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    raise ODataError("a function is not a value")


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(b, datetime) and isinstance(a, str):
        a = parse_timestamp(a)
    if isinstance(a, datetime) and isinstance(b, str):
        b = parse_timestamp(b)
    if isinstance(b, Decimal) and isinstance(a, (int, float)):
        a = Decimal(str(a))
    if isinstance(a, str) and isinstance(b, str):
        return a.lower(), b.lower()  # Tribe compares text without regard to case [V]
    return a, b


def matches(node: Any, record: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return matches(node[1], record) and matches(node[2], record)
    if kind == "or":
        return matches(node[1], record) or matches(node[2], record)
    if kind == "not":
        return not matches(node[1], record)
    if kind == "call":
        text, part = _value(node[2], record), _value(node[3], record)
        if not isinstance(text, str) or not isinstance(part, str):
            return False
        text, part = text.lower(), part.lower()
        return {"contains": part in text, "startswith": text.startswith(part), "endswith": text.endswith(part)}[node[1]]
    a, b = _comparable(_value(node[1], record), _value(node[2], record))
    if kind == "eq":
        return a == b
    if kind == "ne":
        return a != b
    if a is None or b is None:
        return False
    try:
        return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[kind]
    except TypeError:
        return False


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_expand(text: str) -> dict[str, dict[str, Any]]:
    """'A($select=x,y;$expand=B),C' -> {"A": {"select": [...], "expand": {"B": {...}}}, "C": {...}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in split_top(text or "", ","):
        name, _, rest = item.partition("(")
        options = {"select": None, "expand": {}}
        if rest:
            for option in split_top(rest[:-1], ";"):
                key, _, value = option.partition("=")
                if key.strip() == "$select":
                    options["select"] = [v.strip() for v in value.split(",") if v.strip()]
                elif key.strip() == "$expand":
                    options["expand"] = parse_expand(value)
                else:
                    raise ODataError(f"the nested option {key.strip()!r} is not supported")
        out[name.strip()] = options
    return out
