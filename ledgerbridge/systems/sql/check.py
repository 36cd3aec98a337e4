"""`ledgerbridge profile check`: a profile held against a live database (SQLAlchemy's inspector).

Per entity it lists what the profile expects (table, key, columns with type and length, the change
column, counter table, unique keys) and what the database has: missing tables and columns, another
type, shorter or longer text columns, other decimal digits. Placeholders (names nobody has seen in
public) are marked, so a consultant knows which names to look up first. Table and column names are
compared without case, as SQL Server's default collations do, and a difference in case is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Inspector

from ledgerbridge.systems.sql.profile import ColumnType, EntityProfile, Profile

PROBLEMS = ("missing table", "missing", "type", "too short", "digits", "not unique")


@dataclass
class Finding:
    table: str
    column: str
    what: str  # the model field(s), or the column's role (key, change, counter, unique)
    expected: str
    found: str
    status: str  # ok | longer | case | one of PROBLEMS
    source: str = ""
    note: str = ""

    @property
    def problem(self) -> bool:
        return self.status in PROBLEMS


@dataclass
class EntityReport:
    entity: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]


def _family(type_: Any) -> str:
    name = type(type_).__name__.upper()
    if isinstance(type_, sa.Boolean) or name == "BIT":
        return "boolean"
    if name in ("TIMESTAMP", "ROWVERSION") and not isinstance(type_, sa.DateTime):
        return "rowversion"
    if isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float):
        return "decimal"
    if isinstance(type_, sa.Integer):
        return "integer"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, (sa.String, sa.Text)):
        return "text"
    if isinstance(type_, sa.types.LargeBinary) or "BINARY" in name:
        return "binary"
    return name.lower()


def _expected_family(column_type: ColumnType) -> str:
    if column_type.is_text:
        return "text"
    return {"int": "integer", "bigint": "integer", "smallint": "integer", "decimal": "decimal", "date": "date",
            "datetime": "datetime", "datetime2": "datetime", "bit": "boolean", "rowversion": "rowversion"}[column_type.name]


def _describe(type_: Any) -> str:
    try:
        return str(type_.compile()).lower()
    except Exception:  # noqa: BLE001 - a dialect-specific type without a generic spelling
        return type(type_).__name__.lower()


class _Database:
    def __init__(self, inspector: Inspector):
        self.inspector = inspector
        self.tables = {name.lower(): name for name in inspector.get_table_names()}
        self._columns: dict[str, dict[str, dict[str, Any]]] = {}

    def table(self, name: str) -> str | None:
        return self.tables.get(name.lower())

    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self._columns:
            self._columns[table] = {c["name"].lower(): c for c in self.inspector.get_columns(table)}
        return self._columns[table]


def _compare(db: _Database, report: EntityReport, table: str, column: str, expected: ColumnType | str,
             what: str, source: str) -> None:
    actual_table = db.table(table)
    expected_text = str(expected)
    if actual_table is None:
        return  # reported once per table
    found = db.columns(actual_table).get(column.lower())
    if found is None:
        note = "placeholder: find the column that holds this and name it in the override" if source == "placeholder" else ""
        report.findings.append(Finding(table, column, what, expected_text, "-", "missing", source, note))
        return
    actual_type = found["type"]
    described = _describe(actual_type)
    if found["name"] != column:
        report.findings.append(Finding(table, column, what, expected_text, found["name"], "case", source,
                                       "the name differs in case only"))
    if isinstance(expected, str):  # a role without a declared type (where columns)
        report.findings.append(Finding(table, column, what, expected_text, described, "ok", source))
        return
    family, wanted = _family(actual_type), _expected_family(expected)
    if wanted == "rowversion" and family in ("rowversion", "integer", "binary"):
        family = "rowversion"
    if wanted == "datetime" and family == "date" and db.inspector.dialect.name == "oracle":
        family = "datetime"
    if family != wanted:
        report.findings.append(Finding(table, column, what, expected_text, described, "type", source,
                                       f"the profile expects {wanted}, the database has {family}"))
        return
    if wanted == "text" and expected.length:
        length = getattr(actual_type, "length", None)
        if length is not None and length < expected.length:
            report.findings.append(Finding(
                table, column, what, expected_text, described, "too short", source,
                f"values longer than {length} would fail in the database: set the profile's type to "
                f"{expected.name}({length}) so they are held back with a reason instead"))
            return
        if length is None or length > expected.length:
            report.findings.append(Finding(table, column, what, expected_text, described, "longer", source,
                                           f"the database holds more; the profile holds back values above {expected.length}"))
            return
    if wanted == "decimal":
        precision, scale = getattr(actual_type, "precision", None), getattr(actual_type, "scale", None)
        if precision is not None and (precision - (scale or 0) < expected.precision - expected.scale or (scale or 0) < expected.scale):
            report.findings.append(Finding(table, column, what, expected_text, described, "digits", source,
                                           "the database keeps fewer digits than the profile sends"))
            return
    report.findings.append(Finding(table, column, what, expected_text, described, "ok", source))


def check_entity(db: _Database, name: str, entity: EntityProfile) -> EntityReport:
    report = EntityReport(name)
    tables = [(entity.table, entity.source)] + [(e.table, e.source) for e in entity.extensions]
    for table, source in tables:
        if db.table(table) is None:
            report.findings.append(Finding(table, "", "table", "table", "-", "missing table", source,
                                           "placeholder: find the product's table" if source == "placeholder" else ""))
    _compare(db, report, entity.table, entity.key.column, entity.key.sql_type, "key", entity.key.source)
    for table, column in entity.all_columns():
        if column.column == entity.key.column and table == entity.table:
            continue
        _compare(db, report, table, column.column, column.sql_type, ", ".join(column.model_fields), column.source)
    for extension in entity.extensions:
        _compare(db, report, extension.table, extension.key, entity.key.sql_type, "key (extension)", extension.source)
    change = entity.change
    if change.column:
        expected = ColumnType.parse("rowversion" if change.strategy == "rowversion" else "datetime")
        _compare(db, report, entity.table, change.column, expected, f"change ({change.strategy})", change.source)
    for column in entity.where:
        _compare(db, report, entity.table, column, "filter", "rows of this entity", "placeholder")
    numbering = entity.numbering
    if numbering.strategy == "counter":
        if db.table(numbering.counter_table) is None:
            report.findings.append(Finding(numbering.counter_table, "", "counter table", "table", "-", "missing table", "placeholder"))
        else:
            for column in (numbering.counter_name_column, numbering.counter_value_column):
                _compare(db, report, numbering.counter_table, column, "counter", "number counter", "placeholder")
    actual = db.table(entity.table)
    if actual is not None and change.column and change.column.lower() in db.columns(actual):
        leading = {(i["column_names"] or [None])[0] for i in db.inspector.get_indexes(actual)}
        leading |= set((db.inspector.get_pk_constraint(actual).get("constrained_columns") or [None])[:1])
        if change.column.lower() not in {c.lower() for c in leading if c}:
            report.findings.append(Finding(entity.table, change.column, f"change ({change.strategy})", "an index", "-",
                                           "no index", change.source,
                                           "every probe and incremental read scans the table; ask for an index on it"))
    if actual is not None:
        for unique in entity.unique:
            found = _unique_sets(db.inspector, actual)
            if frozenset(c.lower() for c in unique) not in found:
                report.findings.append(Finding(entity.table, ", ".join(unique), "unique", "unique", "-", "not unique",
                                               "placeholder", "the database does not enforce this: duplicates are possible"))
    return report


def _unique_sets(inspector: Inspector, table: str) -> set[frozenset[str]]:
    found = {frozenset(c.lower() for c in u["column_names"]) for u in inspector.get_unique_constraints(table)}
    found |= {frozenset(c.lower() for c in i["column_names"] if c) for i in inspector.get_indexes(table) if i.get("unique")}
    primary = inspector.get_pk_constraint(table).get("constrained_columns") or []
    if primary:
        found.add(frozenset(c.lower() for c in primary))
    return found


def check_profile(profile: Profile, engine: sa.Engine, entities: list[str] | None = None) -> list[EntityReport]:
    db = _Database(sa.inspect(engine))
    return [check_entity(db, name, entity) for name, entity in profile.entities.items()
            if not entities or name in entities]


def format_reports(profile: Profile, reports: list[EntityReport], *, all_columns: bool = False) -> str:
    lines = [f"{profile.label} profile against the database:"]
    for report in reports:
        problems = report.problems
        lines.append(f"\n{report.entity}: " + (f"{len(problems)} problem(s)" if problems else "matches"))
        for finding in report.findings:
            if finding.status == "ok" and not all_columns:
                continue
            place = f"{finding.table}.{finding.column}" if finding.column else finding.table
            mark = " [placeholder]" if finding.source == "placeholder" else ""
            lines.append(f"  {finding.status:<13} {place:<36} {finding.what:<24} expects {finding.expected:<16} "
                         f"found {finding.found}{mark}" + (f"\n  {'':<13} {finding.note}" if finding.note else ""))
    total = sum(len(r.problems) for r in reports)
    lines.append(f"\n{total} problem(s)" + (": adapt the profile with an override file (option `profile`)" if total else ""))
    return "\n".join(lines)


def reports_as_dicts(reports: list[EntityReport]) -> list[dict[str, Any]]:
    return [{"entity": r.entity, "problems": len(r.problems), "findings": [asdict(f) for f in r.findings]} for r in reports]
