"""The field types: one small class per type, grouped by family, and their registry.

Each type says how a field is stored (SQLAlchemy columns), how user input becomes its
canonical Python value, how that value goes to and comes back from the database, how
it is displayed and how the API describes it. The built-in types (one module per
family: text, contact, numbers, money, dates, choices, links, structured) are
registered with the same ``FieldTypeRegistry.register`` an extension calls.

Interface used by the record repository (one record dict key per column)::

    ftype = type_of(field)                          # or get_type(field.type)
    ftype.keys(field)                               # record keys it owns: ("amount", "amount_currency")
    ftype.columns(field)                            # fresh Column objects for ent_<entity>
    ftype.coerce_into(field, raw, out, ctx, current=None)
    #   reads the keys it owns from ``raw`` (a form or JSON mapping), writes canonical
    #   values into ``out``; keys absent from ``raw`` are left alone (partial updates).
    #   ``current`` is the stored record on update (None on create). Raises FieldInvalid.
    ftype.check_bounds(field, out[field.id])        # -> list[FieldMessage] (min/max, lengths)
    ftype.to_db(field, out)                         # -> {column: db value} for keys present
    ftype.from_db(field, row)                       # -> {key: canonical value}
    ftype.format(field, value, locale, currency=..., tzinfo=...)   # display text

``coerce(field, raw, ctx)`` turns one raw value into the canonical value of
``field.id`` (for money: the amount); ``coerce_into`` is built on it. Money is the only
type with two keys: the amount under ``<id>`` and the ISO 4217 code under
``<id>_currency``. Empty input (``""``, ``None``, blank strings, empty lists) is None.
Required-ness, uniqueness and link existence are the repository's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

from runtime.definition.model import FieldDef
from runtime.fieldtypes.base import (
    COMMON_PROPS,
    STORED_PROPS,
    UNINDEXABLE_PROPS,
    CoerceContext,
    DefinitionContext,
    DefinitionProblem,
    ExportContext,
    FieldInvalid,
    FieldType,
    ImportContext,
    ImportRefused,
    SettingProblem,
    UnknownFieldType,
    currency_key,
)
from runtime.fieldtypes.choices import (
    FALSE_WORDS,
    TRUE_WORDS,
    BooleanType,
    MultiSelectType,
    SelectType,
)
from runtime.fieldtypes.contact import EmailType, PhoneType, UrlType
from runtime.fieldtypes.dates import DateTimeType, DateType
from runtime.fieldtypes.links import LinkType, UserType
from runtime.fieldtypes.lookup import LookupType, lookup_type_for
from runtime.fieldtypes.money import CURRENCY_RE, MoneyType
from runtime.fieldtypes.numbers import (
    BIGINT_MAX,
    NUMBER_OPERATORS,
    NUMERIC_DIGITS,
    DecimalType,
    IntegerType,
    PercentType,
)
from runtime.fieldtypes.registry import FieldTypeRegistry
from runtime.fieldtypes.rollups import ROLLUP_FUNCTIONS, RollupType
from runtime.fieldtypes.structured import (
    DEFAULT_AUTONUMBER_PATTERN,
    DEFAULT_MAX_ROWS,
    FORMULA_RESULT_TYPES,
    MAX_ROWS_CEILING,
    AutonumberType,
    ChildTableType,
    FormulaType,
    autonumber_pattern_problems,
    format_autonumber,
    max_rows_of,
    period_key,
)
from runtime.fieldtypes.text import (
    LENGTH_PROPS,
    TEXT_OPERATORS,
    LongTextType,
    RichTextType,
    TextType,
    html_to_text,
    sanitize_html,
)

__all__ = [
    "BIGINT_MAX",
    "BUILTIN_TYPES",
    "COMMON_PROPS",
    "CURRENCY_RE",
    "DEFAULT_AUTONUMBER_PATTERN",
    "DEFAULT_MAX_ROWS",
    "FALSE_WORDS",
    "FIELD_PROPERTIES",
    "FORMULA_RESULT_TYPES",
    "LENGTH_PROPS",
    "MAX_ROWS_CEILING",
    "NUMBER_OPERATORS",
    "NUMERIC_DIGITS",
    "STORED_PROPS",
    "TEXT_OPERATORS",
    "TRUE_WORDS",
    "TYPES",
    "UNINDEXABLE_PROPS",
    "AutonumberType",
    "BooleanType",
    "ChildTableType",
    "CoerceContext",
    "DateTimeType",
    "DateType",
    "DecimalType",
    "DefinitionContext",
    "DefinitionProblem",
    "EmailType",
    "ExportContext",
    "FieldInvalid",
    "FieldType",
    "FieldTypeRegistry",
    "SettingProblem",
    "FormulaType",
    "ImportContext",
    "ImportRefused",
    "IntegerType",
    "LinkType",
    "LongTextType",
    "LookupType",
    "MoneyType",
    "MultiSelectType",
    "PercentType",
    "PhoneType",
    "RichTextType",
    "ROLLUP_FUNCTIONS",
    "RollupType",
    "SelectType",
    "TextType",
    "UnknownFieldType",
    "UrlType",
    "UserType",
    "autonumber_pattern_problems",
    "builtin_registry",
    "currency_key",
    "format_autonumber",
    "format_field",
    "get_type",
    "html_to_text",
    "lookup_type_for",
    "max_rows_of",
    "period_key",
    "registry_with",
    "sanitize_html",
    "type_of",
]

BUILTIN_TYPES: tuple[type[FieldType], ...] = (
    TextType,
    LongTextType,
    RichTextType,
    IntegerType,
    DecimalType,
    MoneyType,
    PercentType,
    BooleanType,
    DateType,
    DateTimeType,
    SelectType,
    MultiSelectType,
    LinkType,
    UserType,
    EmailType,
    PhoneType,
    UrlType,
    AutonumberType,
    FormulaType,
    ChildTableType,
    LookupType,
    RollupType,
)


def builtin_registry() -> FieldTypeRegistry:
    """A fresh, unfrozen registry holding the built-in types, for an app or a test to extend."""
    return FieldTypeRegistry(BUILTIN_TYPES)


# The built-in types, frozen: nothing can register into it at run time.
TYPES: FieldTypeRegistry = builtin_registry().freeze()

# Field properties the metadata schema knows (schemas/entity.schema.json): the common
# ones and the built-in types' settings. Any other setting goes under ``settings:``.
FIELD_PROPERTIES: frozenset[str] = frozenset().union(*(t.props for t in TYPES.values()))


def registry_with(extra: Iterable[type[FieldType]]) -> FieldTypeRegistry:
    """The built-in types plus ``extra`` (a model's features' types), frozen; the shared
    built-in registry itself when there is nothing to add."""
    extra = list(extra)
    if not extra:
        return TYPES
    registry = builtin_registry()
    for cls in extra:
        registry.register(cls)
    return registry.freeze()


def get_type(name: str) -> FieldType:
    """A built-in type by name (a compiled field knows its own: use ``type_of``)."""
    return TYPES.get_type(name)


def type_of(field: FieldDef) -> FieldType:
    """The type of a field: the one its model was compiled with, else the built-in one."""
    own = field.field_type
    return own if own is not None else TYPES.get_type(field.type)


def format_field(
    field: FieldDef,
    record: Mapping[str, Any],
    locale: str = "en",
    *,
    tzinfo: tzinfo | None = None,
    default_currency: str | None = None,
) -> str:
    """Display text of ``field`` in a record dict, money with the record's currency."""
    currency = record.get(currency_key(field)) or field.currency or default_currency
    return type_of(field).format(
        field, record.get(field.id), locale, currency=currency, tzinfo=tzinfo
    )
