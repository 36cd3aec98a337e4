"""OData v4 query options for the emulators: `$filter` and `$orderby` evaluated on dict records.

The grammar is odata-query's (its lexer and parser give an AST); what a system's service does with
it differs and is that system's fact, passed as an `ODataDialect` by its emulator: TribeCRM compares
text without regard to case, crosses navigation properties and refuses `in` [contracts/tribecrm
NOTES §3]; Uniconta compares text as it is and names a property the entity does not have
[contracts/uniconta NOTES §5].
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

COMPARATORS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.In: "in"}
TEXT_FUNCTIONS = {
    "contains": lambda text, part: part in text,
    "startswith": lambda text, part: text.startswith(part),
    "endswith": lambda text, part: text.endswith(part),
}


class ODataError(ValueError):
    """A query option the service cannot read or does not support; the emulators answer 400."""


@dataclass(frozen=True)
class ODataDialect:
    ignore_case: bool = False  # text comparisons and text functions
    comparisons: frozenset[str] = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
    functions: frozenset[str] = frozenset(TEXT_FUNCTIONS)
    navigation: bool = False  # paths such as Organization/VisitingAddress/City
    entity: str = ""  # the type named in errors
    properties: Collection[str] | None = None  # None: any property (missing ones read as null)

    def known(self, path: str) -> None:
        if self.properties is not None and path.split("/")[0] not in self.properties:
            raise ODataError(f"Could not find a property named '{path}' on type '{self.entity}'.")


def parse_filter(text: str, dialect: ODataDialect) -> ast._Node:
    """The filter's tree, checked against what the dialect supports."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except ODataException as exc:
        raise ODataError(f"Syntax error in $filter '{text}': {exc}") from None
    if tree is None:
        raise ODataError(f"Syntax error: $filter '{text}' is empty.")
    _check(tree, dialect, text)
    return tree


def _check(node: ast._Node, dialect: ODataDialect, text: str) -> None:
    if isinstance(node, ast.BoolOp):
        _check(node.left, dialect, text)
        _check(node.right, dialect, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, dialect, text)
    elif isinstance(node, ast.Compare):
        operator = COMPARATORS.get(type(node.comparator), type(node.comparator).__name__)
        if operator not in dialect.comparisons:
            raise ODataError(f"The operator '{operator}' is not supported, in $filter '{text}'.")
        for side in (node.left, node.right):
            _check_operand(side, dialect, text)
    elif isinstance(node, ast.Call):
        _check_call(node, dialect, text)
    else:
        raise ODataError(f"Syntax error: $filter '{text}' is not a condition.")


def _check_operand(node: ast._Node, dialect: ODataDialect, text: str) -> None:
    if isinstance(node, (ast.Identifier, ast.Attribute)):
        path = _path(node)
        if "/" in path and not dialect.navigation:
            raise ODataError(f"Navigation paths such as '{path}' are not supported, in $filter '{text}'.")
        dialect.known(path)
    elif isinstance(node, ast.Call):
        _check_call(node, dialect, text)
    elif not isinstance(node, ast._Literal):
        raise ODataError(f"Syntax error: cannot compare {type(node).__name__}, in $filter '{text}'.")


def _check_call(node: ast.Call, dialect: ODataDialect, text: str) -> None:
    name = node.func.name
    if name not in dialect.functions:
        raise ODataError(f"The function '{name}' is not supported, in $filter '{text}'.")
    if len(node.args) != 2:
        raise ODataError(f"{name}() takes two arguments, in $filter '{text}'.")
    for argument in node.args:
        _check_operand(argument, dialect, text)


def _path(node: ast._Node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_path(node.owner)}/{node.attr}"
    return node.name


def matches(tree: ast._Node, record: Mapping[str, Any], dialect: ODataDialect) -> bool:
    if isinstance(tree, ast.BoolOp):
        if isinstance(tree.op, ast.And):
            return matches(tree.left, record, dialect) and matches(tree.right, record, dialect)
        return matches(tree.left, record, dialect) or matches(tree.right, record, dialect)
    if isinstance(tree, ast.UnaryOp):
        return not matches(tree.operand, record, dialect)
    if isinstance(tree, ast.Call):
        text, part = (_value(argument, record) for argument in tree.args)
        if not isinstance(text, str) or not isinstance(part, str):
            return False
        if dialect.ignore_case:
            text, part = text.lower(), part.lower()
        return TEXT_FUNCTIONS[tree.func.name](text, part)
    left, right = _comparable(_value(tree.left, record), _value(tree.right, record), dialect)
    operator = COMPARATORS[type(tree.comparator)]
    if operator == "eq":
        return left == right
    if operator == "ne":
        return left != right
    if operator == "in":
        return left in right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[operator]
    except TypeError:  # text against a number: no record matches, as the services answer
        return False


def _value(node: ast._Node, record: Mapping[str, Any]) -> Any:
    if isinstance(node, (ast.Identifier, ast.Attribute)):
        value: Any = record
        for part in _path(node).split("/"):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    if isinstance(node, ast.String):
        return node.val
    if isinstance(node, (ast.Integer, ast.Float)):
        return Decimal(node.val)
    if isinstance(node, ast.Boolean):
        return node.val.lower() == "true"
    if isinstance(node, ast.Null):
        return None
    if isinstance(node, ast.DateTime):
        return parse_timestamp(node.val)
    if isinstance(node, ast.Date):
        return date.fromisoformat(node.val)
    if isinstance(node, ast.GUID):
        return node.val.lower()
    if isinstance(node, ast.List):
        return [_value(item, record) for item in node.val]
    raise ODataError(f"{type(node).__name__} is not a value")


def _comparable(left: Any, right: Any, dialect: ODataDialect) -> tuple[Any, Any]:
    """Both sides in one type: records hold timestamps and dates as ISO text, numbers as int/float."""
    return _like(left, right, dialect), _like(right, left, dialect)


def _like(value: Any, other: Any, dialect: ODataDialect) -> Any:
    if isinstance(value, str):
        if isinstance(other, datetime):
            return _or_text(parse_timestamp, value)
        if isinstance(other, date):
            return _or_text(lambda text: date.fromisoformat(text[:10]), value)
        if isinstance(other, Decimal):
            return _or_text(Decimal, value)
        return value.lower() if dialect.ignore_case else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, list):
        return [_like(item, other, dialect) for item in value]
    return value


def _or_text(convert: Callable[[str], Any], text: str) -> Any:
    try:
        return convert(text)
    except (ValueError, InvalidOperation):
        return text


def parse_timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_orderby(text: str, dialect: ODataDialect) -> list[tuple[str, bool]]:
    """`Name desc, RowId` -> [("Name", True), ("RowId", False)]."""
    terms = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"Syntax error in $orderby '{text}'.")
        dialect.known(words[0])
        terms.append((words[0], len(words) == 2 and words[1] == "desc"))
    return terms


def order_key(terms: list[tuple[str, bool]]) -> Callable[[Mapping[str, Any]], tuple]:
    """A sort key for `$orderby` terms; null sorts first, as OData says."""

    def key(record: Mapping[str, Any]) -> tuple:
        return tuple(_Sortable(_sortable(record, path), descending) for path, descending in terms)

    return key


def _sortable(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


class _Sortable:
    __slots__ = ("value", "descending")

    def __init__(self, value: Any, descending: bool):
        self.value, self.descending = value, descending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sortable) and self.value == other.value

    def __lt__(self, other: _Sortable) -> bool:
        a, b = (other.value, self.value) if self.descending else (self.value, other.value)
        if a is None or b is None:
            return a is None and b is not None
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


def non_negative(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ODataError(f"Invalid value '{text}' for {name}: a non-negative integer is expected.")
    return int(text)
