"""The part of OData v4 TribeCRM serves (contracts/tribecrm NOTES §3), for its emulator.

Operators that work [V]: eq ne gt ge lt le, and/or/not, contains/startswith/endswith (case-insensitive),
parentheses; `in` and `has` are not supported and are refused. Paths may cross navigation properties
(`Organization/LastMutationDate`). $filter and $orderby are read by the emulators' shared OData module
with Tribe's dialect; $expand takes nested options: `A($select=x;$expand=B)`.
"""

from __future__ import annotations

from typing import Any

from ledgerbridge.emulators.odata import ODataDialect, ODataError

TRIBE = ODataDialect(ignore_case=True, navigation=True)  # Tribe compares text without regard to case [V]


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
