"""The stable codes of definition problems: one constant per kind of mistake.

Codes never change meaning and are never reused; a retired code stays listed. Each one
has a heading in ``docs/check-codes.md`` (``tests/test_docs_codes.py`` enforces it).
The codes here are the generic ones; a feature lists its own through
``Feature.check_codes()`` (pipelines: ``runtime.features.pipelines.codes``), and
``all_codes(features)`` gathers both, refusing a code that two of them define.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Code:
    """One kind of mistake. ``names_field``: the problem only says "this names a field",
    so when that field's own definition failed it is an echo and is not reported."""

    code: str
    title: str
    names_field: bool = False

    def __str__(self) -> str:
        return self.code


# Reading files
UNREADABLE_FILE = Code("TRL-E001", "a file cannot be read or is not UTF-8 text")
MALFORMED_FILE = Code("TRL-E002", "a file is not valid YAML or JSON")
DUPLICATE_KEY = Code("TRL-E003", "a key appears twice in the same mapping")
NOT_A_MAPPING = Code("TRL-E004", "a file is empty or its top level is not a mapping")
# Schema validation
SCHEMA_VIOLATION = Code("TRL-E005", "a value has the wrong type or is out of range")
UNKNOWN_PROPERTY = Code("TRL-E006", "a property is not part of the format (often a typo)")
MISSING_PROPERTY = Code("TRL-E007", "a required property is missing")
MISSING_APP = Code("TRL-E008", "the app folder or its app.yaml is missing")
DUPLICATE_FILE = Code("TRL-E009", "two files define the same object")
# Ids
INVALID_ID = Code("TRL-E010", "an id does not match ^[a-z][a-z0-9_]{0,62}$")
RESERVED_ID = Code("TRL-E011", "an id is a reserved word")
UNKNOWN_TYPE = Code("TRL-E012", "a field has an unknown type")
DUPLICATE_ID = Code("TRL-E013", "two objects of the same kind share an id")
# Fields
INVALID_PROPERTY_FOR_TYPE = Code("TRL-E014", "a field property does not apply to its type")
UNKNOWN_SETTING = Code("TRL-E052", "a field's settings name one its type does not accept")
INVALID_SETTING = Code("TRL-E055", "a field setting's value does not match the type's schema")
UNKNOWN_LINK_TARGET = Code("TRL-E015", "a link field targets an entity that does not exist")
MISSING_OPTIONS = Code("TRL-E016", "a select field has no options")
INVALID_DEFAULT = Code("TRL-E017", "a default value is not valid for its field")
INVALID_AUTONUMBER_PATTERN = Code("TRL-E018", "an autonumber pattern is invalid")
INCOMPLETE_FORMULA = Code("TRL-E019", "a formula lacks its expression or result_type")
EMPTY_CHILD_TABLE = Code("TRL-E020", "a child table has no fields")
NESTED_CHILD_TABLE = Code("TRL-E021", "a child table contains another child table")
UNKNOWN_ENTITY_FIELD = Code(
    "TRL-E022",
    "title_field, search_fields or a rule names a field that does not exist",
    names_field=True,
)
INVALID_EXPRESSION = Code("TRL-E023", "an expression does not compile", names_field=True)
FORMULA_CYCLE = Code("TRL-E024", "formulas depend on each other in a cycle")
# Forms and views
UNKNOWN_ENTITY = Code("TRL-E025", "a form or view file is for an entity that does not exist")
UNKNOWN_FORM_FIELD = Code(
    "TRL-E026", "a form section names a field that does not exist", names_field=True
)
FIELD_PLACED_TWICE = Code("TRL-E027", "a field is placed more than once on a form")
UNKNOWN_VIEW_FIELD = Code(
    "TRL-E028", "a view names a field that does not exist or cannot be used", names_field=True
)
# Roles and navigation
UNKNOWN_PERMISSION_ENTITY = Code("TRL-E029", "a role grants permissions on an unknown entity")
UNKNOWN_PERMISSION_FIELD = Code(
    "TRL-E030", "a role sets access to an unknown field", names_field=True
)
UNKNOWN_NAVIGATION_ENTITY = Code("TRL-E031", "a navigation item names an unknown entity")
# More field checks
INVALID_RANGE = Code("TRL-E032", "a min/max bound is not valid, or min is greater than max")
INVALID_CURRENCY = Code("TRL-E033", "a money field's currency is not among its currencies")
ID_TOO_LONG = Code("TRL-E034", "an id is too long to name a database table or column")
SCOPE_NOT_SQL = Code(
    "TRL-E035", "a row-scope expression cannot be translated to SQL", names_field=True
)
INVALID_FILTER = Code("TRL-E036", "a view filter's value does not fit its operator")
FILE_TOO_COMPLEX = Code("TRL-E037", "a file is too large or too deeply nested")
INVALID_TYPE_SETTING = Code(
    "TRL-E038", "a field setting is invalid for its type (type's own check)"
)
# The app itself (app.yaml)
TAGLINE_MISSING_LOCALE = Code(
    "TRL-E065", "the app's tagline has no text for one of the locales the app lists"
)
UNKNOWN_TIMEZONE = Code("TRL-E063", "app.yaml names a time zone that does not exist")
# Limits (expressions, child tables)
EXPRESSION_LIMIT = Code(
    "TRL-E068", "an expression holds a constant beyond the engine's limits (huge number or count)"
)
TOO_MANY_ROWS_ALLOWED = Code("TRL-E069", "a child table's max_rows is above the ceiling")
# List views: named filter terms (me / my team; a feature adds its own)
INVALID_USER_FILTER = Code(
    "TRL-E079", "a view filter on a user field has a value that is not a user id, me or my_team"
)
# Link paths (account.industry) and lookup fields
UNKNOWN_PATH_FIELD = Code("TRL-E080", "a link path names a field that does not exist")
PATH_NOT_A_LINK = Code("TRL-E081", "a link path goes on from a field that is not a link")
PATH_TOO_LONG = Code("TRL-E082", "a link path follows more links than allowed (3)")
LOOKUP_WITHOUT_PATH = Code(
    "TRL-E083", "a lookup field has no 'from', or its path ends at a field it cannot show"
)
LOOKUP_CYCLE = Code("TRL-E084", "lookup fields show each other in a cycle")
# Link paths inside expressions (account.industry == 'manufacturing')
EXPRESSION_PATH_UNKNOWN_FIELD = Code(
    "TRL-E056", "an expression's link path names a field that does not exist"
)
EXPRESSION_PATH_NOT_A_LINK = Code(
    "TRL-E057", "an expression's link path goes on from a field that is not a link"
)
EXPRESSION_PATH_TOO_LONG = Code(
    "TRL-E058", "an expression's link path follows more links than allowed (3)"
)
EXPRESSION_PATH_UNREADABLE = Code(
    "TRL-E059",
    "an expression's link path ends at a field it cannot read (a child table, a "
    "formula computed on read)",
)
EXPRESSION_PATH_NOT_HERE = Code(
    "TRL-E089", "a link path is used where there is no record to start from (a child table row)"
)
# Indexes (entities' ``indexes:``)
UNKNOWN_INDEX_FIELD = Code(
    "TRL-E064", "an index names a field that does not exist", names_field=True
)
DUPLICATE_INDEX = Code("TRL-E066", "two indexes of an entity list the same keys, or share a name")
UNINDEXABLE_FIELD = Code(
    "TRL-E067", "an index names a field whose type has no column an index can hold"
)
REPEATED_INDEX_KEY = Code("TRL-E070", "an index names the same field twice")
INDEX_TOO_WIDE = Code("TRL-E071", "an index has more keys than the ceiling")
INDEX_NAME_TAKEN = Code(
    "TRL-E072", "an index's name is used by another entity's index or names a table"
)
# Rollup fields (an aggregate over the records linking here)
UNKNOWN_ROLLUP_ENTITY = Code("TRL-E085", "a rollup names no entity, or one that does not exist")
INVALID_ROLLUP_LINK = Code(
    "TRL-E086", "a rollup's link is not a link field of its entity targeting this entity"
)
INVALID_ROLLUP_FIELD = Code(
    "TRL-E087", "a rollup's field does not exist or does not suit its function"
)
INVALID_ROLLUP_FILTER = Code("TRL-E088", "a rollup's filter does not compile")
# Row scopes through links and user fields (roles.yaml)
VIA_CYCLE = Code("TRL-E090", "row scopes through links lead back to where they started")
VIA_NOT_A_LINK = Code("TRL-E091", "a via scope names a field that is not a link field")
NOT_A_USER_FIELD = Code("TRL-E092", "an assigned scope names a field that is not a user field")
VIA_WHERE_NOT_SQL = Code(
    "TRL-E093", "a via scope's where cannot be translated to SQL", names_field=True
)
VIA_TOO_DEEP = Code("TRL-E094", "a row scope follows more links than allowed")
# List views: nested filter groups (any / all / not)
FILTER_GROUP_TOO_DEEP = Code("TRL-E095", "a view's filter groups nest too deeply")
EMPTY_FILTER_GROUP = Code("TRL-E096", "a view's filter group holds no condition")
INTERNAL_ERROR = Code("TRL-E099", "the checker failed unexpectedly (a bug in Trellis)")
# Migration plans (runtime.store.migrations): what refuses a plan until the user chooses.
MIGRATION_UNCONVERTIBLE = Code("TRL-E101", "values do not convert to the field's new type")
MIGRATION_DANGLING_LINK = Code("TRL-E102", "links name ids that are no record of the new target")
MIGRATION_VALUE_IN_USE = Code("TRL-E103", "a removed option or value is still used by records")
MIGRATION_BAD_MAP = Code("TRL-E104", "a removed option or value is mapped to an unknown value")
MIGRATION_STALE_PLAN = Code("TRL-E105", "the database changed since the plan was made")
MIGRATION_BAD_DEFAULT = Code("TRL-E106", "a conversion's default is no value of the new type")

# Warnings: the app still runs, but something in its folder is not what it seems
UNREAD_FILE = Code("TRL-W001", "a file in the app folder is not read (unknown folder or name)")
UNREAD_SUFFIX = Code("TRL-W002", "a file in a metadata folder is not .yaml, .yml or .json")
UNCOMPILED_KIND = Code("TRL-W003", "a metadata folder this version of Trellis does not use yet")

ALL_CODES: Mapping[str, Code] = MappingProxyType(
    {value.code: value for value in list(globals().values()) if isinstance(value, Code)}
)


class DuplicateCode(Exception):
    """Two features (or a feature and the core) define the same check code."""


def all_codes(features: Iterable[Any] = ()) -> Mapping[str, Code]:
    """The generic codes plus every feature's ``check_codes()``, by code; a code defined
    twice (with another title, or by two owners) raises ``DuplicateCode``."""
    found: dict[str, tuple[Code, str]] = {c: (v, "the core") for c, v in ALL_CODES.items()}
    for feature in features:
        owner = f"feature {getattr(feature, 'name', '') or type(feature).__name__!r}"
        hook = getattr(feature, "check_codes", None)
        for code in (hook() if hook else None) or ():
            if code.code in found:
                raise DuplicateCode(f"{code.code} is defined by {found[code.code][1]} and {owner}")
            found[code.code] = (code, owner)
    return MappingProxyType({c: v for c, (v, _owner) in found.items()})
