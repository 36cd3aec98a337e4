"""Mapping profiles: what one product's SQL database looks like to ledgerbridge, declared as YAML.

A profile names, per model entity, the table, its key, the business-number column and how a new
number is drawn, every column with the model field(s) it holds and the converter between them,
how changes are found (a rowversion column, a modified-at column, or a per-key snapshot hash where
the table has neither) and how records are written (INSERT/UPDATE, append-only booking import, or
not at all). Shipped profiles live in profiles/<system>.yaml; an installation overrides any part
with its own YAML (option `profile`), merged key by key over the shipped one, so adapting to a
customer's database is a short file of differences. `ledgerbridge profile check` holds a profile
against a live database.

Every column says where its name comes from (`source`): `vendor` (vendor documentation),
`observed` (third-party public code), or `placeholder` (not public: a consultant confirms it).
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ledgerbridge.model import ENTITIES

PROFILES_DIR = Path(__file__).parent / "profiles"

Source = Literal["vendor", "observed", "placeholder"]


class ProfileError(Exception):
    """A profile that cannot be used; the message names the file, the key and the problem."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_TYPE = re.compile(
    r"^(?P<name>nvarchar|varchar|nchar|char|int|bigint|smallint|decimal|numeric|date|datetime|datetime2|bit|rowversion)"
    r"(?:\((?P<a>\d+|max)(?:\s*,\s*(?P<b>\d+))?\))?$"
)


class ColumnType(Strict):
    """A column type as SQL Server spells it: nvarchar(50), decimal(18,2), date, bit, rowversion ..."""

    name: str
    length: int | None = None  # characters, for the text types (None: max)
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def parse(cls, spelled: str) -> "ColumnType":
        match = _TYPE.match(spelled.strip().lower())
        if not match:
            raise ValueError(f"unknown column type {spelled!r} (nvarchar(n), varchar(n), char(n), int, bigint, "
                             "smallint, decimal(p,s), date, datetime, datetime2, bit, rowversion)")
        name, a, b = match["name"], match["a"], match["b"]
        if name == "numeric":
            name = "decimal"
        if name in ("nvarchar", "varchar", "nchar", "char"):
            return cls(name=name, length=None if a in (None, "max") else int(a))
        if name == "decimal":
            return cls(name=name, precision=int(a or 18), scale=int(b or 0))
        return cls(name=name)

    @property
    def is_text(self) -> bool:
        return self.name in ("nvarchar", "varchar", "nchar", "char")

    @property
    def unicode(self) -> bool:
        return self.name in ("nvarchar", "nchar")

    def __str__(self) -> str:
        if self.is_text:
            return f"{self.name}({self.length if self.length else 'max'})"
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.name


class Column(Strict):
    """One column and the model field(s) it holds."""

    column: str
    type: str
    # One model field, or several kept in one column (street + house number in one address line).
    field: str | None = None
    fields: tuple[str, ...] = ()
    convert: str | None = None  # converter name (converters.py); default from the column type
    source: Source = "placeholder"
    required: bool = False  # NOT NULL without a default: a create must carry a value
    read_only: bool = False  # filled in by the database or the product, never written by us

    @model_validator(mode="after")
    def one_kind(self) -> "Column":
        if bool(self.field) == bool(self.fields):
            raise ValueError(f"column {self.column}: give either field or fields")
        ColumnType.parse(self.type)
        return self

    @cached_property
    def sql_type(self) -> ColumnType:
        return ColumnType.parse(self.type)

    @property
    def model_fields(self) -> tuple[str, ...]:
        return (self.field,) if self.field else self.fields


class Key(Strict):
    column: str
    type: str = "int"
    # identity: the database assigns it on INSERT; number: the key is the business number itself
    # (assigned before the INSERT, see Numbering); guid: we generate a GUID.
    generated: Literal["identity", "number", "guid"] = "identity"
    source: Source = "placeholder"

    @cached_property
    def sql_type(self) -> ColumnType:
        return ColumnType.parse(self.type)


class Numbering(Strict):
    """How a new record's business number is drawn.

    counter: a counter table row (UPDATE ... SET value = value + 1 in the INSERT's transaction).
    max_plus_one: MAX(number) + 1 read under a lock that blocks concurrent writers until commit.
    by_user: the product's users type it in (cobra's address number, which the ERP takes over): this
    system is where numbers come from, but ledgerbridge draws none; a create must carry one.
    elsewhere: the other side assigns it (number policy "crm" or "hub"); a create without one is refused.
    none: the entity has no number of its own.
    """

    strategy: Literal["counter", "max_plus_one", "by_user", "elsewhere", "none"] = "none"

    @property
    def drawn_here(self) -> bool:
        return self.strategy in ("counter", "max_plus_one")

    @property
    def assigned_here(self) -> bool:
        return self.strategy in ("counter", "max_plus_one", "by_user")

    @property
    def must_be_given(self) -> bool:
        return self.strategy in ("by_user", "elsewhere")
    counter_table: str | None = None
    counter_name_column: str | None = None
    counter_name: str | None = None
    counter_value_column: str | None = None
    start: int = 1  # the first number when the table (or counter) is empty

    @model_validator(mode="after")
    def counter_complete(self) -> "Numbering":
        if self.strategy == "counter" and not all(
            (self.counter_table, self.counter_name_column, self.counter_name, self.counter_value_column)
        ):
            raise ValueError("strategy counter needs counter_table, counter_name_column, counter_name, counter_value_column")
        return self


class ChangeDetection(Strict):
    """rowversion: a SQL Server rowversion/timestamp column (bigint maintained by a trigger elsewhere);
    modified: a modified-at column the product sets; snapshot: neither exists, so a hash of the mapped
    columns is compared per key with the hash seen last time (kept in the snapshot store)."""

    strategy: Literal["rowversion", "modified", "snapshot"]
    column: str | None = None
    source: Source = "placeholder"
    # modified: seconds re-read before the cursor, for writers whose stamps commit out of order.
    overlap_seconds: float = 0.0

    @model_validator(mode="after")
    def column_given(self) -> "ChangeDetection":
        if self.strategy != "snapshot" and not self.column:
            raise ValueError(f"change detection {self.strategy} needs a column")
        return self


class Extension(Strict):
    """A 1:1 table written with the main row in the same transaction (an address's debtor account)."""

    table: str
    key: str  # its column holding the main table's key
    source: Source = "placeholder"
    columns: tuple[Column, ...] = ()


class EntityProfile(Strict):
    table: str
    source: Source = "placeholder"
    key: Key
    number: str | None = None  # the column holding the business number (the model's number_field)
    numbering: Numbering = Numbering()
    change: ChangeDetection
    write: Literal["direct", "append_only", "read_only"] = "direct"
    # Rows of the table that belong to this entity ({column: value}); written into new rows too.
    where: dict[str, str | int] = Field(default_factory=dict)
    columns: tuple[Column, ...] = ()
    extensions: tuple[Extension, ...] = ()
    # Column sets the product keeps unique (Sage's voucher number per Mandant); the emulator
    # creates them, the profile check looks for them.
    unique: tuple[tuple[str, ...], ...] = ()

    def all_columns(self) -> list[tuple[str, Column]]:
        """(table, column) for the main table and every extension."""
        found = [(self.table, c) for c in self.columns]
        for extension in self.extensions:
            found += [(extension.table, c) for c in extension.columns]
        return found

    @property
    def mapped_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for _, c in self.all_columns() for f in c.model_fields))


class Profile(Strict):
    system: str
    label: str
    role: Literal["crm", "erp"]
    description: str = ""
    # The code page of the non-Unicode (varchar/char) columns: a value it cannot encode would be
    # stored as '?', so it is held back instead. SQL Server's Latin1_General collations use cp1252.
    codepage: str = "cp1252"
    entities: dict[str, EntityProfile]

    @model_validator(mode="after")
    def known_fields(self) -> "Profile":
        for name, entity in self.entities.items():
            model = ENTITIES.get(name)
            if model is None:
                raise ValueError(f"entities.{name}: not a model entity ({', '.join(ENTITIES)})")
            for table, column in entity.all_columns():
                for field_name in column.model_fields:
                    if field_name not in model.field_by_name:
                        raise ValueError(f"entities.{name}: column {table}.{column.column}: {field_name!r} is not a field of {name}")
            if entity.number and model.number_field is None:
                raise ValueError(f"entities.{name}: the model's {name} have no number field")
            if entity.number and entity.number not in {c.column for c in entity.columns}:
                raise ValueError(f"entities.{name}: number column {entity.number} is not among its columns")
        return self

    def entity(self, name: str) -> EntityProfile:
        try:
            return self.entities[name]
        except KeyError:
            raise KeyError(f"{self.system}: the profile maps no {name} (it maps {', '.join(self.entities)})") from None


def merge(base: Any, override: Any) -> Any:
    """`override` laid over `base`: mappings merge key by key; a column list merges by column name
    (a column given with `drop: true` is removed); anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if _is_column_list(base) and _is_column_list(override):
        by_name = {c["column"]: c for c in base}
        for column in override:
            if column.get("drop"):
                by_name.pop(column["column"], None)
            else:
                given = {k: v for k, v in column.items() if k != "drop"}
                by_name[column["column"]] = merge(by_name.get(column["column"], {}), given)
        return list(by_name.values())
    return override


def _is_column_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and "column" in v for v in value)


def shipped_profiles() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: the top level must be a mapping")
    return data


def load_profile(system: str, override: str | Path | None = None) -> Profile:
    """The shipped profile of `system`, with the installation's override file merged over it."""
    shipped = PROFILES_DIR / f"{system}.yaml"
    data = _read(shipped)
    source = str(shipped)
    if override:
        data = merge(data, _read(Path(override)))
        source = f"{shipped} + {override}"
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ProfileError(f"{source}: {problems}") from None
