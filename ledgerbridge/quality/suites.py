"""Great Expectations suites: derived from the model, extended by expectations/<entity>.json,
tightened by the target's FieldLimits, and run in memory.

Three layers, so nothing is written down twice:
  1. derived from ledgerbridge.model: required -> not null, max_length -> value lengths,
     minimum -> values between;
  2. expectations/<entity>.json: only the hand-written extras (allowed values, date order, ...),
     in GE 1.x ExpectationSuite JSON form;
  3. the target's FieldLimits: a shorter max length or an extra required field replaces the
     model's, so the stricter rule applies and the reason names the system that imposes it.

Every expectation carries meta["ledgerbridge"] = {"rule": ..., "reason": ...}: a value-free rule
label (for counting) and a reason template filled per failing row by the gate.

GE is imported lazily (it takes seconds) and one ephemeral context is built per process; suites
and validation definitions are cached per (entity, target, limits).

Speed: GE costs about 20 ms per expectation and run, whatever the batch size, which made the gate
the slowest step of a small webhook-triggered run. The three shapes layer 1 derives (not null;
value lengths with bounds on a text field; values between with bounds on a number field) are
therefore evaluated in pandas with GE's semantics (nulls are not checked for lengths and ranges,
bounds inclusive, rows ascending); everything else, including any expectation with further
kwargs such as `mostly`, goes to GE. Failures come back in GE's result order (grouped by column,
in order of first appearance) either way. LEDGERBRIDGE_GE_ONLY=1 sends every expectation to GE,
to compare the two paths.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledgerbridge.connectors.base import FieldLimits
from ledgerbridge.model import Kind, entity

__all__ = [
    "EXPECTATIONS_DIR",
    "Failure",
    "target_label",
    "derived_expectations",
    "extra_expectations",
    "suite_expectations",
    "run_suite",
    "warm",
]

EXPECTATIONS_DIR = Path(os.environ.get("LEDGERBRIDGE_EXPECTATIONS_DIR", Path(__file__).resolve().parents[2] / "expectations"))


MODEL_LABEL = "the ledgerbridge model"


def target_label(target: str) -> str:
    """How people write a system's name in reasons (its package's label); connectors use the short ids."""
    from ledgerbridge.systems.registry import UnknownSystem, get

    try:
        return get(target).label
    except UnknownSystem:
        return target


def _meta(rule: str, reason: str) -> dict:
    return {"ledgerbridge": {"rule": rule, "reason": reason}}


def derived_expectations(entity_name: str, target: str, limits: FieldLimits | None = None) -> list[dict]:
    """The base expectations from the model with the target's limits layered on, as GE JSON dicts."""
    ent = entity(entity_name)
    limits = limits or FieldLimits()
    label = target_label(target)
    out: list[dict] = []
    names = list(ent.field_names) + [n for n in (*limits.max_lengths, *limits.required) if n not in ent.field_by_name]
    for name in dict.fromkeys(names):
        field = ent.field_by_name.get(name)
        model_required = bool(field and field.required)
        if model_required or name in limits.required:
            by = "it is required" if model_required else f"{label} requires it"
            out.append({
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": name},
                "meta": _meta(f"{name} missing", f"{name} is empty; {by}"),
            })
        model_max = field.max_length if field else None
        target_max = limits.max_lengths.get(name)
        if model_max is not None or target_max is not None:
            # The stricter limit wins; on a tie the target is named, it is the one that rejects.
            if target_max is not None and (model_max is None or target_max <= model_max):
                limit, who = target_max, label
            else:
                limit, who = model_max, MODEL_LABEL
            out.append({
                "type": "expect_column_value_lengths_to_be_between",
                "kwargs": {"column": name, "max_value": limit},
                "meta": _meta(f"{name} longer than {limit} ({who})",
                              f"{name} is {{length}} characters; {who} accepts at most {limit}"),
            })
        if field is not None and field.minimum is not None:
            out.append({
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": name, "min_value": float(field.minimum)},
                "meta": _meta(f"{name} below {field.minimum}", f"{name} is {{value}}; it must be at least {field.minimum}"),
            })
    return out


def extra_expectations(entity_name: str, directory: Path | None = None) -> list[dict]:
    """The hand-written expectations of expectations/<entity>.json ([] when there is no file)."""
    path = (directory or EXPECTATIONS_DIR) / f"{entity_name}.json"
    if not path.exists():
        return []
    suite = json.loads(path.read_text(encoding="utf-8"))
    extras = []
    for exp in suite.get("expectations", []):
        exp = {"type": exp["type"], "kwargs": dict(exp.get("kwargs", {})), "meta": dict(exp.get("meta") or {})}
        column = exp["kwargs"].get("column") or exp["kwargs"].get("column_A") or "the batch"
        exp["meta"].setdefault("ledgerbridge", {})
        exp["meta"]["ledgerbridge"].setdefault("rule", f"{column}: {exp['type']}")
        exp["meta"]["ledgerbridge"].setdefault("reason", f"{column} is {{value}}; fails {exp['type']}")
        extras.append(exp)
    return extras


def suite_expectations(entity_name: str, target: str, limits: FieldLimits | None = None) -> list[dict]:
    return derived_expectations(entity_name, target, limits) + extra_expectations(entity_name)


def expectation_columns(expectations: list[dict]) -> list[str]:
    cols: list[str] = []
    for exp in expectations:
        kw = exp["kwargs"]
        cols += [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
        cols += list(kw.get("column_list", []))
    return list(dict.fromkeys(cols))


# --- the frame GE sees ---------------------------------------------------------------------


def build_frame(entity_name: str, records: list[dict], columns: list[str]):
    """One typed column per field. Values of the wrong Python type become null here; the gate's
    type check reports them, so GE never trips over an int in a text column."""
    import pandas as pd

    fields = entity(entity_name).field_by_name
    data = {}
    for col in columns:
        kind = fields[col].kind if col in fields else Kind.TEXT
        raw = [r.get(col) if isinstance(r, dict) else None for r in records]
        if kind in (Kind.INTEGER, Kind.DECIMAL):
            data[col] = pd.Series([_number(v) for v in raw], dtype="float64")
        elif kind is Kind.DATE:
            data[col] = pd.to_datetime(pd.Series([v if isinstance(v, date) else None for v in raw], dtype=object))
        elif kind is Kind.BOOLEAN:
            data[col] = pd.Series([v if isinstance(v, bool) else None for v in raw], dtype=object)
        else:
            # object dtype on purpose: pandas 3 would infer its str dtype and change null handling
            data[col] = pd.Series([v if isinstance(v, str) else (None if v is None else str(v)) for v in raw], dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):
        return None


# --- running GE ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    row: int  # position in the records list
    column: str
    expectation: str  # GE expectation type
    rule: str
    reason_template: str


# type -> (kwargs allowed besides "column", the field kinds whose frame column it is exact for)
NATIVE_SHAPES: dict[str, tuple[frozenset[str], frozenset[Kind] | None]] = {
    "expect_column_values_to_not_be_null": (frozenset(), None),  # any kind: isna() is GE's null test
    "expect_column_value_lengths_to_be_between": (frozenset({"min_value", "max_value"}), frozenset({Kind.TEXT, Kind.REFERENCE})),
    "expect_column_values_to_be_between": (frozenset({"min_value", "max_value"}), frozenset({Kind.INTEGER, Kind.DECIMAL})),
}
USE_NATIVE = os.environ.get("LEDGERBRIDGE_GE_ONLY", "") != "1"  # 1: every expectation through GE (for comparisons)


def _native_shape(entity_name: str, exp: dict) -> bool:
    """True when `exp` is one of the shapes evaluated without GE for this entity's frame."""
    shape = NATIVE_SHAPES.get(exp["type"])
    kwargs = exp["kwargs"]
    if not USE_NATIVE or shape is None or not isinstance(kwargs.get("column"), str):
        return False
    extra, kinds = shape
    if not set(kwargs) - {"column"} <= extra:
        return False
    if exp["type"] != "expect_column_values_to_not_be_null":
        bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
        if all(b is None for b in bounds) or not all(b is None or _plain_number(b) for b in bounds):
            return False  # GE refuses missing bounds; evaluation parameters and the like stay with GE
    if kinds is None:
        return True
    field = entity(entity_name).field_by_name.get(kwargs["column"])
    kind = field.kind if field is not None else Kind.TEXT  # build_frame: unknown columns are text
    return kind in kinds


def _plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _native_rows(exp: dict, frame) -> list[int]:
    """The rows failing `exp` (a native shape), ascending, as GE's unexpected_index_list."""
    kwargs = exp["kwargs"]
    column = frame[kwargs["column"]]
    if exp["type"] == "expect_column_values_to_not_be_null":
        return [int(i) for i in column.index[column.isna()]]
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    values = column[column.notna()]
    if exp["type"] == "expect_column_value_lengths_to_be_between":
        values = values.map(len)  # text frame columns hold str or None only (build_frame)
    bad = values.map(lambda v: (low is not None and v < low) or (high is not None and v > high)).astype(bool)
    return [int(i) for i in values.index[bad]]


_lock = threading.Lock()  # one GE context per process; it is not meant for concurrent use
_context = None
_validations: dict[tuple, Any] = {}


def _get_context():
    global _context
    if _context is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _context = context
    return _context


@dataclass(frozen=True)
class _Prepared:
    expectations: list[dict]  # the whole suite, in order
    native: list[bool]  # per expectation: evaluated in pandas (True) or by GE
    validation: Any  # GE ValidationDefinition of the others, None when there are none
    columns: list[str]  # frame columns
    ge_positions: dict[str, int]  # GE's expectation id -> position in the suite
    order: list[int]  # positions in GE's result order: grouped by column, by first appearance


def _ge_order(expectations: list[dict]) -> list[int]:
    """The order GE reports results in (Validator.process_expectations_for_validation groups the
    expectations by their "column" kwarg, in order of first appearance; the rest form one group)."""
    groups: dict[str, list[int]] = {}
    for position, exp in enumerate(expectations):
        column = exp["kwargs"].get("column")
        groups.setdefault(column if isinstance(column, str) else "\0no column", []).append(position)
    return [position for group in groups.values() for position in group]


def _validation(entity_name: str, target: str, limits: FieldLimits | None) -> _Prepared | None:
    """The prepared suite (None when there is nothing to check), cached.

    The JSON extras are read when a suite is first built; edits need a new process.
    """
    limits = limits or FieldLimits()
    cache_key = (entity_name, target, tuple(sorted(limits.max_lengths.items())), tuple(sorted(limits.required)),
                 USE_NATIVE)
    if cache_key not in _validations:
        expectations = suite_expectations(entity_name, target, limits)
        if not expectations:
            _validations[cache_key] = None
            return None
        native = [_native_shape(entity_name, exp) for exp in expectations]
        others = [exp for exp, n in zip(expectations, native) if not n]
        validation, ge_positions = None, {}
        if others:
            import great_expectations as gx

            context = _get_context()
            name = f"{entity_name}.{target}.{len(_validations)}"
            batch = (context.data_sources.add_pandas(name).add_dataframe_asset(entity_name)
                     .add_batch_definition_whole_dataframe("whole frame"))
            suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=others))
            validation = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            positions = [i for i, n in enumerate(native) if not n]
            ge_positions = {str(exp.id): position for exp, position in zip(suite.expectations, positions)}
        _validations[cache_key] = _Prepared(expectations, native, validation, expectation_columns(expectations),
                                            ge_positions, _ge_order(expectations))
    return _validations[cache_key]


def run_suite(entity_name: str, records: list[dict], target: str,
              limits: FieldLimits | None = None) -> tuple[list[Failure], list[str]]:
    """(failing rows, errors of expectations that could not run) for `records`."""
    if not records:
        return [], []
    with _lock:
        prepared = _validation(entity_name, target, limits)
    if prepared is None:
        return [], []
    frame = build_frame(entity_name, records, prepared.columns)
    ge_results: list[Any] = []
    if prepared.validation is not None:
        with _lock:
            result = prepared.validation.run(batch_parameters={"dataframe": frame},
                                             result_format={"result_format": "COMPLETE"})
            _forget_results()
        ge_results = list(result.results)
    errors: list[str] = []
    by_position: dict[int, list[Failure]] = {}
    for position, (exp, native) in enumerate(zip(prepared.expectations, prepared.native)):
        if native and (rows := _native_rows(exp, frame)):
            lb = exp["meta"].get("ledgerbridge", {})
            by_position[position] = [Failure(row, exp["kwargs"]["column"], exp["type"], lb.get("rule", exp["type"]),
                                             lb.get("reason", "")) for row in rows]
    for res in ge_results:  # errors in GE's order, as GE reports them
        config = res.expectation_config
        position = prepared.ge_positions[str(config.id)]
        kwargs = config.kwargs
        column = kwargs.get("column") or kwargs.get("column_A") or "the batch"
        lb = (config.meta or {}).get("ledgerbridge", {})
        if message := _raised(res.exception_info):
            errors.append(f"{config.type} on {column} could not run: {message}")
            continue
        if res.success:
            continue
        rows = res.result.get("unexpected_index_list") or []
        if not rows:  # failed without naming rows (a batch-level expectation): fail closed
            errors.append(f"{config.type} on {column} failed without naming records")
        by_position[position] = [Failure(int(row), column, config.type, lb.get("rule", config.type), lb.get("reason", ""))
                                 for row in rows]
    failures = [f for position in prepared.order for f in by_position.get(position, ())]
    return failures, errors


def warm(entity_name: str, target: str, limits: FieldLimits | None = None) -> None:
    """Load GE, build the suite run_suite will use for (entity, target, limits) and evaluate it once
    on one empty record (result discarded). For long-lived processes that execute runs: the first
    evaluation in a process costs seconds (imports), the next ones a fraction of a second."""
    run_suite(entity_name, [{}], target, limits)


def _raised(info: Any) -> str | None:
    """The exception message of a GE result, whichever of its two shapes exception_info has."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "unknown error") if info["raised_exception"] else None
    for nested in info.values():
        if message := _raised(nested):
            return message
    return None


def _forget_results() -> None:
    # ValidationDefinition.run stores every result in the context's in-memory store; in a
    # long-lived Dagster process that would grow without bound, and we keep our own report.
    store = _get_context().validation_results_store
    for key in store.list_keys():
        store.remove_key(key)
