"""The stable codes of definition problems: one constant per kind of mistake.

Codes never change meaning and are never reused; a retired code stays listed. Each one
has a heading in ``docs/check-codes.md`` (``tests/test_docs_codes.py`` enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    title: str

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
    "TRL-E022", "title_field, search_fields or a rule names a field that does not exist"
)
INVALID_EXPRESSION = Code("TRL-E023", "an expression does not compile")
FORMULA_CYCLE = Code("TRL-E024", "formulas depend on each other in a cycle")
# Forms and views
UNKNOWN_ENTITY = Code("TRL-E025", "a form or view file is for an entity that does not exist")
UNKNOWN_FORM_FIELD = Code("TRL-E026", "a form section names a field that does not exist")
FIELD_PLACED_TWICE = Code("TRL-E027", "a field is placed more than once on a form")
UNKNOWN_VIEW_FIELD = Code("TRL-E028", "a view names a field that does not exist or cannot be used")
# Roles and navigation
UNKNOWN_PERMISSION_ENTITY = Code("TRL-E029", "a role grants permissions on an unknown entity")
UNKNOWN_PERMISSION_FIELD = Code("TRL-E030", "a role sets access to an unknown field")
UNKNOWN_NAVIGATION_ENTITY = Code("TRL-E031", "a navigation item names an unknown entity")
# More field checks
INVALID_RANGE = Code("TRL-E032", "a min/max bound is not valid, or min is greater than max")
INVALID_CURRENCY = Code("TRL-E033", "a money field's currency is not among its currencies")
ID_TOO_LONG = Code("TRL-E034", "an id is too long to name a database table or column")
SCOPE_NOT_SQL = Code("TRL-E035", "a row-scope expression cannot be translated to SQL")
INVALID_FILTER = Code("TRL-E036", "a view filter's value does not fit its operator")
FILE_TOO_COMPLEX = Code("TRL-E037", "a file is too large or too deeply nested")
INVALID_TYPE_SETTING = Code(
    "TRL-E038", "a field setting is invalid for its type (type's own check)"
)
# Pipelines (pipelines/*.yaml)
UNKNOWN_PIPELINE_ENTITY = Code(
    "TRL-E040", "a pipeline (or its idle source) names an entity that does not exist"
)
UNKNOWN_GATE_FIELD = Code(
    "TRL-E041", "a pipeline's gate, selector, card or idle setting names an unknown field"
)
UNKNOWN_STAGE = Code("TRL-E042", "a transition names a stage that does not exist")
BAD_TRANSITION = Code(
    "TRL-E043", "a transition goes from a stage to itself, into a retired stage, or both ways"
)
UNREACHABLE_STAGE = Code("TRL-E044", "a stage cannot be reached from the pipeline's first stage")
INVALID_STAGE_ORDER = Code(
    "TRL-E045", "a pipeline has no open stage, or lists an open stage after a closed one"
)
AMBIGUOUS_PIPELINE = Code("TRL-E046", "two pipelines of one entity claim the same records")
INVALID_PIPELINE_SETTING = Code(
    "TRL-E047", "a pipeline setting does not fit the field it names (type or option)"
)
INVALID_REOPEN_CLEARS = Code(
    "TRL-E048", "a pipeline's reopen_clears names an unknown field or one that cannot be emptied"
)
UNUSED_KIND_LABEL = Code(
    "TRL-E049", "a pipeline's kind_labels names a stage kind that none of its stages has"
)
UNKNOWN_CHECKLIST_ITEM = Code(
    "TRL-E050", "a gate requires a checklist item that no stage has, or that two stages share"
)
DUPLICATE_CHECKLIST_ITEM = Code("TRL-E051", "a stage lists the same checklist item id twice")
# Pipeline boards (pipelines/*.yaml ``board``)
UNKNOWN_BOARD_SUM = Code("TRL-E053", "a pipeline's board sum names a field that does not exist")
INVALID_BOARD_SUM = Code(
    "TRL-E054", "a pipeline's board sum names a field that is not a money or number field"
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
# Follow-ups (an entity's ``follow_up``)
UNKNOWN_FOLLOW_UP_FIELD = Code(
    "TRL-E060", "a follow-up names an entity or field that does not exist"
)
INVALID_FOLLOW_UP_FIELD = Code(
    "TRL-E061", "a follow-up names a field of the wrong type (date, link back, user, option)"
)
INVALID_FOLLOW_UP_TITLE = Code(
    "TRL-E062", "a follow-up's title names an unknown field, or a copied field does not match"
)
# List views: named filter terms (stage kinds, me / my team)
STAGE_KIND_WITHOUT_PIPELINE = Code(
    "TRL-E076", "a view filters on stage_kind, but no pipeline uses its entity"
)
INVALID_STAGE_KIND = Code(
    "TRL-E077", "a stage_kind filter names an unknown kind or uses an operator it does not take"
)
UNKNOWN_FILTER_STAGE = Code(
    "TRL-E078", "a view filter on stage names a stage no pipeline of the entity has"
)
INVALID_USER_FILTER = Code(
    "TRL-E079", "a view filter on a user field has a value that is not a user id, me or my_team"
)
INTERNAL_ERROR = Code("TRL-E099", "the checker failed unexpectedly (a bug in Trellis)")

# Warnings: the app still runs, but something in its folder is not what it seems
UNREAD_FILE = Code("TRL-W001", "a file in the app folder is not read (unknown folder or name)")
UNREAD_SUFFIX = Code("TRL-W002", "a file in a metadata folder is not .yaml, .yml or .json")
UNCOMPILED_KIND = Code("TRL-W003", "a metadata folder this version of Trellis does not use yet")

ALL_CODES: dict[str, Code] = {
    value.code: value for value in list(globals().values()) if isinstance(value, Code)
}
