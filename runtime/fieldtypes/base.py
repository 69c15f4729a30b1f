"""Shared pieces of every field type: the FieldType base class, coercion context and errors."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

from babel import Locale, UnknownLocaleError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from sqlalchemy import Column

from runtime.definition import codes
from runtime.definition.codes import Code
from runtime.definition.model import FieldDef
from runtime.errors import FieldMessage, TrellisError

# --------------------------------------------------------------------------- basics


class FieldInvalid(TrellisError):
    """One raw value that cannot become a canonical value; the repository collects these."""

    code = "field_invalid"

    def __init__(self, message: FieldMessage):
        self.message = message
        super().__init__(message.text())


class UnknownFieldType(KeyError):
    """``get_type`` was asked for a name nobody registered."""


@dataclass(frozen=True)
class CoerceContext:
    """What coercion needs from outside the field: app defaults and the user's locale."""

    default_currency: str = "CNY"
    default_region: str = "CN"
    locale: str = "en"
    now: datetime = dc_field(default_factory=lambda: datetime.now(UTC))
    # Naive date-times (an HTML datetime-local input) are read in this zone.
    timezone: tzinfo = UTC


def _invalid(code: str = "invalid", **params: Any) -> FieldInvalid:
    return FieldInvalid(FieldMessage(code, params))


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, list | tuple | set | frozenset):
        return len(raw) == 0
    return False


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse((locale or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def currency_key(field: FieldDef) -> str:
    """The record key and column of a money field's currency."""
    return f"{field.id}_currency"


def plain_text(value: Any) -> str:
    """A canonical value as the text a person would type for it (a type change reads it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(plain_text(v) for v in value)
    return str(value)


BIGINT_MAX = 2**63 - 1  # the largest value of a BigInteger column
FILTER_NUMBER_LIMIT = 1e15  # a filter value of a decimal is within plus or minus this


def non_null_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` without null among its types or enum values."""
    out = copy.deepcopy(dict(schema))
    kinds = out.get("type")
    if isinstance(kinds, list):
        kinds = [k for k in kinds if k != "null"]
        out["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in out:
        out["enum"] = [v for v in out["enum"] if v is not None]
    return out


# Properties every field may carry, and those that only make sense with a column.
COMMON_PROPS = frozenset(
    {
        "id",
        "type",
        "label",
        "help",
        "visible_if",
        "required_if",
        "readonly_if",
        "readonly",
        "track_history",
    }
)
STORED_PROPS = frozenset({"required", "unique", "default", "searchable", "index"})
# Large text and JSON columns cannot carry a plain B-tree index or UNIQUE on PostgreSQL.
UNINDEXABLE_PROPS = frozenset({"required", "default", "searchable"})

# --------------------------------------------------------------------------- settings

# JSON Schemas of the settings several types share (docs/field-types.md lists them).
LENGTH_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "min_length": {"type": "integer", "minimum": 0},
        "max_length": {"type": "integer", "minimum": 1},
    }
)
BOUND_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"min": {"type": ["number", "string"]}, "max": {"type": ["number", "string"]}}
)
PRECISION_SETTING: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"precision": {"type": "integer", "minimum": 0, "maximum": 10}}
)


@dataclass(frozen=True)
class SettingProblem:
    """One mistake in a field's settings; the compiler reports it with a TRL code.

    ``kind`` is "unknown" (the type does not accept the setting), "invalid" (its value
    does not match the setting's JSON Schema) or "top_level" (a built-in setting written
    under ``settings:`` instead of as a field property).
    """

    key: str
    kind: str
    message: str
    hint: str = ""


def _settings_of(*groups: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    merged: dict[str, Mapping[str, Any]] = {}
    for group in groups:
        merged.update(group)
    return MappingProxyType(merged)


def _schema_message(schema: Mapping[str, Any], value: Any) -> str | None:
    error = best_match(Draft202012Validator(dict(schema)).iter_errors(value))
    return None if error is None else error.message


# --------------------------------------------------------------------------- export and import


@dataclass(frozen=True)
class ExportContext:
    """What turning a value into a spreadsheet cell needs: the viewer's locale and zone."""

    locale: str = "en"
    tzinfo: tzinfo = UTC
    default_currency: str | None = None
    # What the viewer sees for values that name another record or a user (a link's
    # title, a user's name), resolved by the caller in batches: field id -> text, or
    # None where the viewer may not read it (the id is never exported instead).
    shown: Mapping[str, str | None] = dc_field(default_factory=lambda: MappingProxyType({}))


def _no_reference(field: FieldDef, text: str) -> int | None:
    return None


@dataclass(frozen=True)
class ImportContext:
    """What reading an exported cell back needs: coercion's context (the importer's
    zone and locale) and a way to find the record or user an exported text names."""

    coerce: CoerceContext = dc_field(default_factory=CoerceContext)
    # (field, text) -> the id of the record (link) or user the text names, or None.
    find_reference: Callable[[FieldDef, str], int | None] = _no_reference


class ImportRefused(TrellisError):
    """A cell of an imported file that cannot become its field's value."""

    code = "import_refused"

    def __init__(self, field: FieldDef, text: Any, message: FieldMessage):
        self.field = field
        self.text = text
        self.message = message
        super().__init__(f"field '{field.id}': {text!r} cannot be read: {message.text()}")


# --------------------------------------------------------------------------- definition checks


@dataclass(frozen=True)
class DefinitionContext:
    """What a type's definition check sees besides the compiled field."""

    raw: Mapping[str, Any]  # the field as written (a key left out is not there)
    entity_ids: frozenset[str] = frozenset()  # the app's entities (link targets)
    in_row: bool = False  # the field is one of a child table's row fields


@dataclass(frozen=True)
class DefinitionProblem:
    """One mistake in a field's definition; the compiler adds the file, line and field.

    ``path`` is below the field's own (``("target",)``); empty: the field itself.
    """

    code: Code
    message: str
    hint: str = ""
    path: tuple[str | int, ...] = ()


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest of ``choices`` to ``word``, or ""."""
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


def _greater(low: Any, high: Any) -> bool:
    try:
        return bool(low > high)
    except TypeError:
        return False


# --------------------------------------------------------------------------- base class


class FieldType:
    """The behaviour of one field type. Subclasses override what differs; keep them small."""

    name: ClassVar[str] = ""
    stored: ClassVar[bool] = True  # has a column on the entity table
    # The field properties the type takes; its own ``settings`` are added to them.
    props: ClassVar[frozenset[str]] = COMMON_PROPS | STORED_PROPS
    # The type's own settings and the JSON Schema (2020-12) of each value. The built-in
    # ones are written as field properties (``max_length: 80``); an extension type's go
    # under ``settings:`` (the metadata schema is closed). All land in FieldDef.settings.
    settings: ClassVar[Mapping[str, Mapping[str, Any]]] = MappingProxyType({})
    input_kind: ClassVar[str] = "text"  # hint for the web form widget
    search: ClassVar[bool] = False  # part of full-text search when search_fields is unset
    sortable: ClassVar[bool] = True
    always_readonly: ClassVar[bool] = False  # users never write it (autonumber, formula)
    # A value sent for it is refused as read-only, even by the system (a lookup: its
    # value is another record's), rather than ignored as a formula's is.
    refuses_input: ClassVar[bool] = False
    # What kind of value the type holds, read by the screens and the store instead of
    # comparing type names (so a new type is one class, not edits across the runtime).
    numeric: ClassVar[bool] = False  # a number: right-aligned, summed, compared by size
    integral: ClassVar[bool] = False  # whole numbers only (integer)
    # Adding values up means something (a board column's total): amounts and counts,
    # not percentages.
    summable: ClassVar[bool] = False
    boolean: ClassVar[bool] = False  # yes or no (a "done" flag)
    # A short text that names a record: the title when an entity names no title_field.
    title_candidate: ClassVar[bool] = False
    # The database driver already returns the canonical value (int, Decimal at the
    # column's scale, date, bool, str), so reads skip ``from_db``. A subclass that
    # overrides from_db or value_from_db loses this unless it declares it again.
    db_value_is_canonical: ClassVar[bool] = False
    temporal: ClassVar[bool] = False  # a date or an instant
    instant: ClassVar[bool] = False  # a point in time (shown in the viewer's zone), not a day
    holds_rows: ClassVar[bool] = False  # rows in a table of their own (child_table)
    computed: ClassVar[bool] = False  # evaluated from an expression (formula)
    has_options: ClassVar[bool] = False  # one or more of the field's options
    # A JSON array of values (multi_select): empty may be stored as JSON null, and
    # "contains" matches one item rather than a substring.
    json_list: ClassVar[bool] = False
    references: ClassVar[str | None] = None  # "record" (link) or "user": holds an id
    has_currency: ClassVar[bool] = False  # an amount with its currency (money)
    assigned_on_create: ClassVar[bool] = False  # the repository fills it in (autonumber)
    # An aggregate over the records linking here (rollup): compiled across entities,
    # kept by the store in the child's write, refused as input.
    aggregates_links: ClassVar[bool] = False
    # How the record page draws a value (the ``_display`` macro of record.html): text
    # longtext richtext email phone url bool badge badges link user table.
    display_kind: ClassVar[str] = "text"
    # Place in the record header's highlights (lower first); None: never highlighted.
    highlight_rank: ClassVar[int | None] = None
    wide_display: ClassVar[bool] = False  # takes a whole row on the record page
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")  # view filter ops

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.props = frozenset(cls.props) | frozenset(cls.settings)
        own = cls.__dict__
        if ("from_db" in own or "value_from_db" in own) and "db_value_is_canonical" not in own:
            cls.db_value_is_canonical = False

    # -- settings

    def accepts(self, key: str) -> bool:
        """Whether a field of this type may carry the property ``key``."""
        return key in self.props or key == "settings"

    def read_settings(
        self, raw: Mapping[str, Any], builtin_keys: frozenset[str] = frozenset()
    ) -> tuple[dict[str, Any], list[SettingProblem]]:
        """The field's settings from its raw definition, and what is wrong with them.

        Settings written as field properties were checked by the metadata schema; those
        under ``settings:`` are checked here against the type's declared schemas.
        ``builtin_keys`` are the field properties the metadata schema knows: one of them
        under ``settings:`` is refused, so each setting has one place to be written.
        """
        values = {key: raw[key] for key in self.settings if key in raw}
        nested = raw.get("settings") or {}
        problems = []
        for key, value in nested.items():
            problem = self._nested_setting_problem(key, value, builtin_keys)
            if problem is None:
                values[key] = value
            else:
                problems.append(problem)
        return values, problems

    def _nested_setting_problem(
        self, key: str, value: Any, builtin_keys: frozenset[str]
    ) -> SettingProblem | None:
        if key not in self.settings:
            accepted = ", ".join(sorted(set(self.settings) - builtin_keys)) or "none"
            return SettingProblem(
                key,
                "unknown",
                f"unknown setting '{key}' for a {self.name} field",
                f"settings a {self.name} field accepts: {accepted}",
            )
        if key in builtin_keys:
            return SettingProblem(
                key,
                "top_level",
                f"setting '{key}' is written under 'settings:'",
                f"write '{key}: ...' directly on the field",
            )
        message = _schema_message(self.settings[key], value)
        if message is not None:
            return SettingProblem(key, "invalid", f"setting '{key}': {message}")
        return None

    # -- storage

    def is_stored(self, field: FieldDef) -> bool:
        return self.stored

    def keys(self, field: FieldDef) -> tuple[str, ...]:
        return (field.id,)

    def column_type(self, field: FieldDef) -> Any:
        raise NotImplementedError

    def default_index(self, field: FieldDef) -> bool:
        return False

    def columns(self, field: FieldDef) -> list[Column]:
        """Fresh columns (a Column belongs to one Table). Always nullable: ``required``
        is enforced by the repository, so a required field can be added to a full table."""
        if not self.is_stored(field):
            return []
        index = bool(field.index or self.default_index(field))
        return [
            Column(
                field.id,
                self.column_type(field),
                nullable=True,
                unique=bool(field.unique) or None,
                index=index or None,
            )
        ]

    def sort_column(self, field: FieldDef) -> str | None:
        return field.id if self.sortable and self.is_stored(field) else None

    def filter_operators(self, field: FieldDef) -> tuple[str, ...]:
        """Operators a view filter may use on this field."""
        return self.operators if self.is_stored(field) else ()

    # -- derived values

    def reads_through(
        self, field: FieldDef, entity_id: str, model: Any
    ) -> tuple[tuple[str, str], ...]:
        """Every (entity id, field id) of other records a value of ``field`` (a field of
        ``entity_id``) is read from: a lookup's links and its end field, a rollup's
        children. The field is readable only by who may read all of them
        (``runtime.store.permissions``); () for a field holding its own value."""
        return ()

    # -- what the value is

    def value_type(self, field: FieldDef) -> FieldType:
        """The type whose values this field holds (a formula: its result type)."""
        return self

    def is_numeric(self, field: FieldDef) -> bool:
        return self.value_type(field).numeric

    def extra_keys(self, field: FieldDef) -> tuple[str, ...]:
        """Record keys beside ``field.id`` that belong to the field (money's currency)."""
        return self.keys(field)[1:]

    # -- form widget values

    def to_input(self, field: FieldDef, value: Any, tz: tzinfo) -> Any:
        """A canonical value as the value of the form control (datetimes in ``tz``)."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return value
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return format(value, "f")
        return value if isinstance(value, str) else str(value)

    def read_input(self, field: FieldDef, form: Any, key: str) -> Any:
        """The raw value the form control sent under ``key`` (a werkzeug MultiDict)."""
        values = form.getlist(key)
        return values[-1] if values else ""

    def input_step(self, field: FieldDef) -> str:
        """The step of a number widget: "1" for whole numbers, "0.01" for two places."""
        return "any"

    def input_in_zone(self, field: FieldDef, value: Any, tz: tzinfo) -> Any:
        """A form value made unambiguous before it goes to the repository."""
        return value

    # -- input

    def coerce(self, field: FieldDef, raw: Any, ctx: CoerceContext) -> Any:
        """One raw value (form string or JSON value) -> canonical value, or FieldInvalid."""
        if _is_empty(raw):
            return None
        return self.parse(field, raw, ctx)

    def parse(self, field: FieldDef, raw: Any, ctx: CoerceContext) -> Any:
        """``coerce`` for a non-empty value."""
        raise NotImplementedError

    def coerce_into(
        self,
        field: FieldDef,
        raw: Mapping[str, Any],
        out: dict[str, Any],
        ctx: CoerceContext,
        current: Mapping[str, Any] | None = None,
    ) -> None:
        if field.id in raw:
            out[field.id] = self.coerce(field, raw[field.id], ctx)

    def check_bounds(self, field: FieldDef, value: Any) -> list[FieldMessage]:
        return []

    # -- database

    def to_db(self, field: FieldDef, values: Mapping[str, Any]) -> dict[str, Any]:
        if not self.is_stored(field):
            return {}
        return {k: self.value_to_db(field, values[k]) for k in self.keys(field) if k in values}

    def value_to_db(self, field: FieldDef, value: Any) -> Any:
        return value

    def from_db(self, field: FieldDef, row: Mapping[str, Any]) -> dict[str, Any]:
        if not self.is_stored(field):
            return {}
        value = row.get(field.id)
        return {field.id: None if value is None else self.value_from_db(field, value)}

    def value_from_db(self, field: FieldDef, value: Any) -> Any:
        return value

    # -- migrations (a type change: runtime.store.migrations)

    def convert_from(
        self, field: FieldDef, old_field: FieldDef, value: Any, ctx: CoerceContext
    ) -> Any:
        """One stored value of ``old_field`` (another type) as a value of ``field``, or
        FieldInvalid when it has none (the migration plan lists it as blocking). The
        default reads the old value's plain text the way a form would send it; a type
        overrides this for pairs that mean more than their text."""
        if value is None:
            return None
        return self.coerce(field, plain_text(value), ctx)

    # -- output

    def format(
        self,
        field: FieldDef,
        value: Any,
        locale: str = "en",
        *,
        currency: str | None = None,
        tzinfo: tzinfo | None = None,
    ) -> str:
        """Display text; ``currency`` is read by money, ``tzinfo`` by datetime."""
        if value is None:
            return ""
        return self.format_value(field, value, locale, currency=currency, tzinfo=tzinfo)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None) -> str:
        return str(value)

    def display_href(self, field: FieldDef, value: Any) -> str:
        """Where a displayed value links to ("mailto:..." for e-mail), or ""."""
        return ""

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        """The JSON Schema (2020-12) of the API representation of ``field.id``."""
        return {"type": ["string", "null"]}

    def filter_value_schema(self, field: FieldDef, max_text: int) -> dict[str, Any]:
        """The JSON Schema of one value of a view or API filter on the field (a query
        string value, never null; text at most ``max_text`` characters): its
        ``json_schema`` without null, bounded."""
        base = non_null_schema(self.json_schema(field))
        schema: dict[str, Any] = {"type": base.get("type", "string")}
        for key in ("format", "enum"):
            if key in base:
                schema[key] = base[key]
        if schema["type"] == "integer":
            schema["minimum"], schema["maximum"] = -BIGINT_MAX, BIGINT_MAX
        elif schema["type"] == "number":
            schema["minimum"], schema["maximum"] = -FILTER_NUMBER_LIMIT, FILTER_NUMBER_LIMIT
        elif schema["type"] == "string" and "enum" not in schema and "format" not in schema:
            schema["minLength"], schema["maxLength"] = 1, max_text
        return schema

    def json_properties(self, field: FieldDef) -> dict[str, dict[str, Any]]:
        """Schemas of every record key the field owns (money adds the currency)."""
        schema = dict(self.json_schema(field))
        if self.always_readonly:
            schema["readOnly"] = True
        return {field.id: schema}

    # -- export and import (CSV, XLSX)

    def export_headers(self, field: FieldDef, label: str, gettext: Callable[..., str]) -> list[str]:
        """The column headers of the field in an export (money adds its currency's)."""
        return [label]

    def export_values(
        self, field: FieldDef, record: Mapping[str, Any], ctx: ExportContext
    ) -> list[Any]:
        """One value per ``export_headers`` column, from a record dict."""
        value = record.get(field.id)
        return [None if _is_empty(value) else self.export_value(field, value, ctx)]

    def export_value(self, field: FieldDef, value: Any, ctx: ExportContext) -> Any:
        """A non-empty canonical value as a spreadsheet cell: text, a number (int or
        Decimal), a date, or a naive date-time in the viewer's zone. The default keeps
        plain values as they are (``coerce`` reads them back) and writes the display
        text of anything else."""
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.astimezone(ctx.tzinfo).replace(tzinfo=None)
        if isinstance(value, str | int | Decimal | date) and not isinstance(value, bool):
            return value
        return self.format(field, value, ctx.locale, tzinfo=ctx.tzinfo)

    def import_values(
        self, field: FieldDef, cells: list[Any], ctx: ImportContext
    ) -> dict[str, Any]:
        """The record values of the field from its exported cells (one per
        ``export_headers`` column); {} when the field is not written by imports."""
        if self.computed:
            return {}
        return {field.id: self.import_value(field, cells[0] if cells else None, ctx)}

    def import_value(self, field: FieldDef, text: Any, ctx: ImportContext) -> Any:
        """One exported cell (a CSV string, or an XLSX number, date or text) as the
        field's canonical value; raises ImportRefused naming the field."""
        try:
            return self.coerce(field, text, ctx.coerce)
        except FieldInvalid as exc:
            raise ImportRefused(field, text, exc.message) from None

    # -- definition checks

    def check_definition(
        self, field: FieldDef, context: DefinitionContext
    ) -> list[DefinitionProblem]:
        """Every mistake in the definition of a field of this type, with its code.

        The default checks the bounds (``check_range``) and reports ``problems()`` as
        TRL-E038; a type with codes of its own returns those, then ``check_range``.
        """
        found = self.check_range(field, context)
        found += [DefinitionProblem(codes.INVALID_TYPE_SETTING, m) for m in self.problems(field)]
        return found

    def check_range(self, field: FieldDef, context: DefinitionContext) -> list[DefinitionProblem]:
        """``min``/``max`` as values of the type (min not above max); min_length <= max_length."""
        raw = context.raw
        bounds: dict[str, Any] = {}
        found: list[DefinitionProblem] = []
        unbounded = replace(field, min=None, max=None)
        for key in ("min", "max"):
            if key in raw and key in self.props:
                try:
                    bounds[key] = self.coerce(unbounded, raw[key], CoerceContext())
                except Exception as exc:
                    message = f"{key} {raw[key]!r} is not a valid {field.type}: {exc}"
                    found.append(DefinitionProblem(codes.INVALID_RANGE, message, path=(key,)))
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and high is not None and _greater(low, high):
            message = f"min {raw['min']!r} is greater than max {raw['max']!r}"
            found.append(DefinitionProblem(codes.INVALID_RANGE, message, path=("min",)))
        if field.min_length is not None and field.max_length is not None:
            if field.min_length > field.max_length:
                message = (
                    f"min_length {field.min_length} is greater than max_length {field.max_length}"
                )
                found.append(DefinitionProblem(codes.INVALID_RANGE, message, path=("min_length",)))
        return found

    def problems(self, field: FieldDef) -> list[str]:
        """Plain messages of type-specific mistakes; ``check_definition`` reports them."""
        return []
