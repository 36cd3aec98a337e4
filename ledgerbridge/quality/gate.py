"""The quality gate: one report per push run, GE findings and domain findings side by side.

check_records never raises because of a record: a record that is not a dict, has no key, holds
NUL bytes or the wrong types gets a finding and is held back; the rest of the batch goes on.
The only thing that blocks the whole push is `exceeds_threshold` (a mass corruption upstream,
or an expectation that could not run at all: we fail closed rather than push unchecked data).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ledgerbridge.connectors.base import FieldLimits
from ledgerbridge.model import entity
from ledgerbridge.quality.suites import Failure, run_suite, target_label
from ledgerbridge.quality.validators import (
    COUNTRY_AWARE,
    RECORD_RULES,
    VALIDATORS,
    short_repr,
    validate_kind,
    validate_text,
)

__all__ = ["Finding", "QualityReport", "check_records", "exceeds_threshold"]


@dataclass(frozen=True)
class Finding:
    key: Any  # the record's key; None when the record has none (see `row`)
    field: str
    value: str  # short, escaped repr of the offending value
    check: str  # GE expectation type or validator name
    reason: str  # plain words: the field, the problem, the limit and who imposes it
    rule: str = ""  # the reason without the value, for counting ("name longer than 255 (e-conomic)")
    row: int | None = None  # 0-based position in the checked batch (shown as record #row+1)


@dataclass
class QualityReport:
    entity: str
    target: str
    key_field: str
    total: int
    findings: list[Finding] = field(default_factory=list)
    bad_keys: set = field(default_factory=set)
    bad_rows: set[int] = field(default_factory=set)  # includes records without a usable key
    errors: list[str] = field(default_factory=list)  # expectations that could not run

    def good(self, records: list[dict]) -> list[dict]:
        """The records to push: keyed, and not held back. Keyless records are never good."""
        return [r for r in records if isinstance(r, dict) and _usable_key(r.get(self.key_field))
                and r[self.key_field] not in self.bad_keys]

    @property
    def bad_share(self) -> float:
        return len(self.bad_rows) / self.total if self.total else 0.0

    def counts_by_reason(self) -> dict[str, int]:
        """Findings per rule (value-free reason), most frequent first."""
        return dict(Counter(f.rule or f.check for f in self.findings).most_common())

    def markdown_preview(self, limit: int = 20) -> str:
        """A markdown table of held-back records, for Dagster metadata."""
        label = target_label(self.target)
        lines = [f"**{len(self.bad_rows)} of {self.total} {self.entity} held back** before the push to {label}"]
        if self.errors:
            lines += ["", "Checks that could not run (push blocked):"] + [f"- {_cell(e)}" for e in self.errors]
        if self.findings:
            lines += ["", "| key | field | value | reason |", "|---|---|---|---|"]
            for f in self.findings[:limit]:
                key = f.key if f.key is not None else f"(record #{f.row + 1})"
                lines.append(f"| {_cell(short_repr(key) if not isinstance(key, str) else key)} | {_cell(f.field)} "
                             f"| {_cell(f.value)} | {_cell(f.reason)} |")
            if len(self.findings) > limit:
                lines.append(f"\n… and {len(self.findings) - limit} more findings")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-safe: keys are rendered as strings."""
        return {
            "entity": self.entity,
            "target": self.target,
            "key_field": self.key_field,
            "total": self.total,
            "bad": len(self.bad_rows),
            "bad_share": round(self.bad_share, 6),
            "bad_keys": sorted(str(k) for k in self.bad_keys),
            "counts_by_reason": self.counts_by_reason(),
            "errors": list(self.errors),
            "findings": [{**asdict(f), "key": None if f.key is None else str(f.key)} for f in self.findings],
        }


def exceeds_threshold(report: QualityReport, threshold: float = 0.2) -> bool:
    """True when the push must stop: too many bad records, or a check that could not run."""
    return bool(report.errors) or report.bad_share > threshold


def check_records(entity_name: str, records: list[dict], *, key: str = "hub_id", target: str,
                  limits: FieldLimits | None = None) -> QualityReport:
    """Validate the records about to be pushed to `target` (with its FieldLimits, if given).

    Records are checked as given: normalise them first (ledgerbridge.quality.normalise_record)
    and push the normalised ones, so the gate judges exactly what the target receives.
    """
    records = list(records)
    report = QualityReport(entity=entity_name, target=target, key_field=key, total=len(records))
    keys: list[Any] = []
    skip_ge: set[tuple[int, str]] = set()  # (row, field) already reported as mistyped or malformed
    seen: set = set()
    for row, record in enumerate(records):
        keys.append(_check_identity(report, row, record, key, seen))
        if isinstance(record, dict):
            _check_values(report, entity_name, row, keys[row], record, skip_ge)

    failures, report.errors = run_suite(entity_name, records, target, limits)
    for failure in failures:
        # rows that are not dicts already have their finding; mistyped values have theirs
        if isinstance(records[failure.row], dict) and (failure.row, failure.column) not in skip_ge:
            _add(report, keys[failure.row], failure.row, failure.column,
                 records[failure.row].get(failure.column), failure.expectation,
                 _render(failure, records[failure.row]), failure.rule)
    # a bad key holds back every record carrying it (duplicates), so count them all as bad
    report.bad_rows |= {row for row, k in enumerate(keys) if k is not None and k in report.bad_keys}
    report.findings.sort(key=lambda f: f.row if f.row is not None else -1)
    return report


# --- helpers -------------------------------------------------------------------------------


def _usable_key(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _check_identity(report: QualityReport, row: int, record: Any, key: str, seen: set) -> Any:
    """The record's key, or None after reporting why it has none (or shares one)."""
    if not isinstance(record, dict):
        _add(report, None, row, "(record)", record, "record_type",
             f"record #{row + 1} is a {type(record).__name__}, not a set of fields", "not a record")
        return None
    value = record.get(key)
    if not _usable_key(value):
        _add(report, None, row, key, value, "key_present",
             f"{key} is missing; the record cannot be traced back, so it is held back", f"{key} missing")
        return None
    if value in seen:
        _add(report, value, row, key, value, "key_unique",
             f"{key} {short_repr(value)} appears more than once in this batch; all its records are held back",
             f"{key} duplicated")
    seen.add(value)
    return value


def _check_values(report: QualityReport, entity_name: str, row: int, key: Any, record: dict,
                  skip_ge: set[tuple[int, str]]) -> None:
    fields = entity(entity_name).field_by_name
    country = record.get("country") if isinstance(record.get("country"), str) else None
    for name, value in record.items():
        if value is None:
            continue
        spec = fields.get(name)
        if spec is not None and (problem := validate_kind(value, spec.kind)):
            skip_ge.add((row, name))
            _add(report, key, row, name, value, "validate_kind", f"{name} {problem}", f"{name} wrong type")
            continue
        if not isinstance(value, str):
            continue
        if problem := validate_text(value):
            _add(report, key, row, name, value, "validate_text", f"{name} {problem}", f"{name} has control characters")
            continue  # format validators would only repeat the complaint
        if spec is not None and spec.format is not None:
            validator = VALIDATORS[spec.format]
            problem = validator(value, country) if spec.format in COUNTRY_AWARE else validator(value)
            if problem:
                # a bad code is usually also too long; its format reason is the one to act on
                skip_ge.add((row, name))
                reason = problem if problem.startswith(f"{name} ") else f"{name}: {problem}"
                _add(report, key, row, name, value, validator.__name__, reason, f"{name} invalid {spec.format.value}")
    for rule in RECORD_RULES.get(entity_name, ()):
        if hit := rule(record):
            name, reason = hit
            _add(report, key, row, name, record.get(name), rule.__name__, reason, f"{name}: {rule.__name__}")


def _add(report: QualityReport, key: Any, row: int, name: str, value: Any, check: str, reason: str, rule: str) -> None:
    report.findings.append(Finding(key, name, short_repr(value), check, reason, rule, row))
    report.bad_rows.add(row)
    if key is not None:
        report.bad_keys.add(key)


class _Values(dict):
    def __missing__(self, name: str) -> str:
        return "?"


def _render(failure: Failure, record: dict) -> str:
    value = record.get(failure.column)
    values = _Values({k: short_repr(v) for k, v in record.items() if isinstance(k, str)})
    values.update(value=short_repr(value), length=len(value) if isinstance(value, str) else "?", field=failure.column)
    try:
        return failure.reason_template.format_map(values) or f"{failure.column} fails {failure.expectation}"
    except (ValueError, KeyError, IndexError, AttributeError):  # a malformed hand-written template
        return f"{failure.column} fails {failure.expectation} ({failure.reason_template})"


def _cell(text: str) -> str:
    """Markdown-table-safe: no pipes or line breaks, bounded."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text if len(text) <= 200 else text[:199] + "…"
