"""Values checked against the profile's columns before any INSERT or UPDATE.

Every value is converted and fitted into its column (length, code page, digits, range, type) and
every required column filled; a record that does not fit is refused as a whole, with a reason
naming the record, the field and the column, so no driver error can stop a batch halfway and no
value is silently cut or turned into '?'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgerbridge.connectors.base import FieldLimits
from ledgerbridge.model import entity as model_entity
from ledgerbridge.systems.sql.converters import DoesNotFit, adapt, column_value
from ledgerbridge.systems.sql.profile import EntityProfile, Profile


def fitted_rows(
    profile: Profile, entity_name: str, values: Mapping[str, Any], *, create: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(table -> {column: value to store}, field -> problem). Only columns whose fields are in
    `values` are written on update; a create writes every writable column."""
    entity = profile.entity(entity_name)
    rows: dict[str, dict[str, Any]] = {entity.table: {}, **{e.table: {} for e in entity.extensions}}
    problems: dict[str, str] = {}
    for table, column in entity.all_columns():
        if column.read_only or (not create and not any(f in values for f in column.model_fields)):
            continue
        field_name = column.model_fields[0]
        try:
            stored = adapt(column.sql_type, column_value(column, values), profile.codepage)
        except (DoesNotFit, ValueError, TypeError) as exc:
            problems.setdefault(field_name, f"{column.column} {exc}" if isinstance(exc, DoesNotFit)
                                else f"{column.column}: {values.get(field_name)!r} cannot be stored ({exc})")
            continue
        if stored is None and column.required and (create or field_name in values):
            if not (create and column.column == entity.number and entity.numbering.drawn_here):
                problems.setdefault(field_name, f"{column.column} is required")
                continue
        rows[table][column.column] = stored
    return rows, problems


def limits(profile: Profile, entity_name: str) -> FieldLimits:
    """The profile's column lengths and required columns, in model field names, for the quality gate."""
    entity: EntityProfile = profile.entity(entity_name)
    model = model_entity(entity_name)
    max_lengths: dict[str, int] = {}
    required: list[str] = []
    for _, column in entity.all_columns():
        if column.read_only:
            continue
        length = column.sql_type.length if column.sql_type.is_text else None
        for field_name in column.model_fields:
            if length and model[field_name].kind.value == "text":
                max_lengths[field_name] = min(length, max_lengths.get(field_name, length))
        # The number is checked by the connector on create (drawn there, or required with a reason
        # naming who assigns it); an update never sends it when it is the key.
        if column.required and column.field and column.column != entity.number:
            required.append(column.field)
    return FieldLimits(max_lengths=max_lengths, required=tuple(dict.fromkeys(required)))


def describe(label: str, problems: Mapping[str, str]) -> str:
    return f"{label}: " + "; ".join(f"{field} ({problem})" for field, problem in problems.items())
