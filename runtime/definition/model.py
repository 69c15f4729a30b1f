"""The compiled app model: frozen dataclasses every other layer reads, never writes.

The compiler (``runtime.definition.compiler``) is the only producer. Collections are
tuples or ``types.MappingProxyType`` so a model can be shared between threads and
requests without copying.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .reserved import BASE_SYSTEM_COLUMNS

# A translatable text: {"en": "...", "zh": "..."}. A plain string in YAML compiles to
# {"en": text}. Use ``Label.get(locale)`` to read one.


@dataclass(frozen=True)
class Label:
    texts: Mapping[str, str]

    def get(self, locale: str = "en") -> str:
        if locale in self.texts:
            return self.texts[locale]
        base = locale.split("-")[0].split("_")[0]
        if base in self.texts:
            return self.texts[base]
        if "en" in self.texts:
            return self.texts["en"]
        return next(iter(self.texts.values()), "")

    def __str__(self) -> str:
        return self.get("en")

    @classmethod
    def of(cls, value: Any, fallback: str = "") -> Label:
        if value is None:
            return cls(MappingProxyType({"en": fallback}))
        if isinstance(value, Label):
            return value
        if isinstance(value, str):
            return cls(MappingProxyType({"en": value}))
        return cls(MappingProxyType(dict(value)))


@dataclass(frozen=True)
class Place:
    """Where an object was defined, for error messages: ``file:line``."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Option:
    id: str
    label: Label
    color: str | None = None


@dataclass(frozen=True)
class ViewFilter:
    field: str
    op: str  # eq ne lt lte gt gte in contains isnull between
    value: Any = None


@dataclass(frozen=True)
class Rollup:
    """A rollup field's aggregate: ``function`` of ``field`` over the records of
    ``entity`` whose link ``link`` names this record, not archived, matching ``where``.

    ``field`` is None for a count of records. ``currency``: a money rollup adds only the
    amounts in this currency (the source field's default one); None otherwise.
    """

    entity: str
    link: str
    function: str  # count | sum | avg | min | max
    field: str | None = None
    where: tuple[ViewFilter, ...] = ()
    currency: str | None = None


@dataclass(frozen=True)
class FieldDef:
    """One field of an entity (or of a child table).

    ``type`` is a registered field type name (see docs/field-types.md). Type-specific
    settings live in named attributes below; unused ones stay None.
    Expressions are compiled objects from ``runtime.expressions`` (``CompiledExpression``).
    """

    id: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    unique: bool = False
    default: Any = None  # a literal, or a CompiledExpression when written as "=expr"
    min: Any = None  # number, or ISO date string for date/datetime
    max: Any = None
    min_length: int | None = None
    max_length: int | None = None
    options: tuple[Option, ...] = ()  # select, multi_select
    target: str | None = None  # link: target entity id
    currency: str | None = None  # money: default currency (ISO 4217)
    currencies: tuple[str, ...] = ()  # money: allowed currencies, empty = any
    precision: int | None = None  # decimal/money/percent: digits after the point
    pattern: str | None = None  # autonumber pattern, e.g. "OPP-{YYYY}-{0000}"
    region: str | None = None  # phone: default region, e.g. "CN"
    expression: Any = None  # formula: CompiledExpression
    result_type: str | None = (
        None  # formula: text|integer|decimal|money|percent|boolean|date|datetime
    )
    stored: bool = True  # formula: stored in a column (True) or computed on read
    visible_if: Any = None  # CompiledExpression | None
    required_if: Any = None
    readonly_if: Any = None
    readonly: bool = False  # never written by users (system / formula / autonumber)
    track_history: bool = True
    searchable: bool = False  # part of full-text search (default: text-like fields)
    index: bool = False
    fields: tuple[FieldDef, ...] = ()  # child_table: the row's fields
    max_rows: int | None = None  # child_table: row limit (None: DEFAULT_MAX_ROWS)
    rollup: Rollup | None = None  # rollup: what it aggregates (compiled across entities)
    place: Place | None = None
    # Every setting the type declares (runtime.fieldtypes FieldType.settings), as written:
    # the built-in ones are mirrored in the named attributes above; an extension type
    # reads its own here. Unknown settings never get this far (TRL-E052).
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # The FieldType object ``type`` names in the registry the model was compiled with
    # (built-in types and the features' own). None for fields made in code: those use
    # the built-in registry (runtime.fieldtypes.type_of).
    field_type: Any = field(default=None, compare=False, repr=False)
    # A derived field (lookup): the field at the end of its link path, as compiled (its
    # options, precision, currency are copied onto this one so it formats the same).
    source: FieldDef | None = field(default=None, compare=False, repr=False)

    def option(self, option_id: str) -> Option | None:
        for opt in self.options:
            if opt.id == option_id:
                return opt
        return None


@dataclass(frozen=True)
class Rule:
    """An entity-level validation rule: the expression must be truthy."""

    id: str
    expression: Any  # CompiledExpression
    message: Label
    fields: tuple[str, ...] = ()  # fields the error is shown next to; empty = record
    place: Place | None = None


def _base_field(field_id: str, type_name: str, en: str, zh: str, **kw: Any) -> FieldDef:
    return FieldDef(
        field_id, type_name, Label(MappingProxyType({"en": en, "zh": zh})), readonly=True, **kw
    )


_BASE_SYSTEM = {
    "id": ("integer", "ID", "ID", {"min": 1}),
    "created_at": ("datetime", "Created", "创建时间", {}),
    "updated_at": ("datetime", "Updated", "更新时间", {}),
    "created_by": ("user", "Created by", "创建人", {}),
    "owner_id": ("user", "Owner", "负责人", {}),
    "row_version": ("integer", "Version", "版本", {"min": 1, "max": 2**31 - 1}),
    "archived_at": ("datetime", "Archived", "归档时间", {}),
}
# The system columns every record has, as read-only field definitions, in column order:
# the one description tables, queries, filters and the API read (features add theirs
# through ``Entity.system_fields``).
BASE_SYSTEM_FIELDS: tuple[FieldDef, ...] = tuple(
    _base_field(fid, _BASE_SYSTEM[fid][0], *_BASE_SYSTEM[fid][1:3], **_BASE_SYSTEM[fid][3])
    for fid in BASE_SYSTEM_COLUMNS
)


@dataclass(frozen=True)
class IndexDef:
    """An index an entity declares (``indexes:``): its keys in order, ``-`` for a
    descending one (``("owner_id", "-amount")``), and an optional name of its own. The
    store adds the indexes it derives from views and links (``runtime.store.indexes``)."""

    keys: tuple[str, ...]
    name: str | None = None
    place: Place | None = None


@dataclass(frozen=True)
class Entity:
    id: str
    label: Label
    plural: Label
    fields: tuple[FieldDef, ...]
    rules: tuple[Rule, ...] = ()
    title_field: str = "name"
    search_fields: tuple[str, ...] = ()
    icon: str | None = None
    place: Place | None = None
    # The system fields features add to this entity's records (``Feature.
    # entity_system_fields``; pipelines: stage, stage_entered_at), beside the columns
    # every entity has (``BASE_SYSTEM_COLUMNS``). Tables, queries and the API read
    # them like fields; ``readonly=False`` means a write may set one (the feature's
    # write steps check it).
    system_fields: tuple[FieldDef, ...] = ()
    indexes: tuple[IndexDef, ...] = ()  # declared ones, in file order

    @property
    def table_name(self) -> str:
        return f"ent_{self.id}"

    @property
    def system_column_ids(self) -> tuple[str, ...]:
        """Every system column of the records: the base ones, then the features' ones."""
        return BASE_SYSTEM_COLUMNS + tuple(f.id for f in self.system_fields)

    @property
    def all_system_fields(self) -> tuple[FieldDef, ...]:
        """``BASE_SYSTEM_FIELDS`` then the features' ``system_fields``, in column order."""
        return BASE_SYSTEM_FIELDS + self.system_fields

    def system_field(self, field_id: str) -> FieldDef | None:
        return next((f for f in self.system_fields if f.id == field_id), None)

    def field(self, field_id: str) -> FieldDef:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    def has_field(self, field_id: str) -> bool:
        return any(f.id == field_id for f in self.fields)


@dataclass(frozen=True)
class Section:
    id: str
    label: Label | None
    columns: int  # 1..4
    fields: tuple[str, ...]  # field ids in reading order (row by row)
    collapsed: bool = False
    visible_if: Any = None


@dataclass(frozen=True)
class FormLayout:
    id: str
    entity: str
    sections: tuple[Section, ...]
    place: Place | None = None


# How deep filter groups may nest (``{any: [{all: [...]}]}`` is two levels).
MAX_FILTER_DEPTH = 5
FILTER_GROUP_KINDS = ("all", "any", "not")


@dataclass(frozen=True)
class FilterGroup:
    """Conditions joined by ``kind``: ``all`` (AND), ``any`` (OR) or ``not`` (none of
    them holds: NOT of their AND). Items are ``ViewFilter``s or groups, nested up to
    ``MAX_FILTER_DEPTH`` levels."""

    kind: str
    items: tuple[ViewFilter | FilterGroup, ...] = ()


@dataclass(frozen=True)
class ListView:
    id: str
    entity: str
    label: Label
    columns: tuple[str, ...]
    sort: tuple[str, ...] = ("-updated_at",)  # "-field" = descending
    filters: tuple[ViewFilter | FilterGroup, ...] = ()  # always applied (ANDed)
    filter_fields: tuple[str, ...] = ()  # offered in the filter bar
    page_size: int = 50
    place: Place | None = None


ROW_SCOPES = ("own", "team", "all")


# How many links a row scope may follow (activity -> opportunity -> account is two).
MAX_VIA_DEPTH = 3


@dataclass(frozen=True)
class Scope:
    """Which rows an action applies to: own, team, all, an expression, the rows a user
    field assigns to the viewer, the rows whose linked record the viewer may read, or
    the union of several of these."""

    # "none" | "own" | "team" | "all" | "expression" | "assigned" | "via" | "any"
    kind: str
    expression: Any = None  # CompiledExpression: kind "expression", or a via's where
    field: str | None = None  # "assigned": the user field; "via": the link field
    target: str | None = None  # "via": the linked entity
    parts: tuple[Scope, ...] = ()  # "any": the scopes united (none of them "any")
    # The link paths ``expression`` names, walked (path -> WalkedPath): SQL follows them.
    paths: tuple[tuple[str, Any], ...] = dataclasses.field(default=(), compare=False)

    def flat(self) -> tuple[Scope, ...]:
        """The scopes this one unites (itself unless it is a list)."""
        return self.parts if self.kind == "any" else (self,)


@dataclass(frozen=True)
class EntityPermission:
    create: bool = False
    read: Scope = Scope("none")
    update: Scope = Scope("none")
    archive: Scope = Scope("none")
    # field id -> "write" | "read" | "none"; fields not listed default to "write"
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Role:
    id: str
    label: Label
    permissions: Mapping[str, EntityPermission]  # entity id ("*" = every entity)
    place: Place | None = None


@dataclass(frozen=True)
class NavItem:
    entity: str | None = None
    label: Label | None = None
    url: str | None = None


@dataclass(frozen=True)
class NavGroup:
    id: str
    label: Label
    items: tuple[NavItem, ...]


@dataclass(frozen=True)
class AppModel:
    id: str
    label: Label
    version: str
    locales: tuple[str, ...]
    default_locale: str
    default_currency: str
    default_region: str
    entities: Mapping[str, Entity]
    forms: Mapping[str, FormLayout]  # keyed by entity id (one default form per entity)
    views: Mapping[str, tuple[ListView, ...]]  # keyed by entity id, first = default
    roles: Mapping[str, Role]
    navigation: tuple[NavGroup, ...]
    # Room for the next issues; compiled by their own modules, empty until then.
    extensions: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source_dir: str = ""
    digest: str = ""  # sha256 of the source files: one compiled model per app version
    # app.yaml ``tagline``: the sign-in page's sentence on what the app is for.
    tagline: Label | None = None
    timezone: str = "UTC"  # IANA zone date-times are shown in (TRELLIS_TIMEZONE overrides)

    def entity(self, entity_id: str) -> Entity:
        return self.entities[entity_id]
