"""The check codes of the reports feature (reports/*.yaml, dashboards/*.yaml), listed by
``ReportsFeature.check_codes()`` and documented in ``docs/check-codes.md``."""

from __future__ import annotations

from runtime.definition.codes import Code

UNKNOWN_REPORT_ENTITY = Code("TRL-E120", "a widget's source entity does not exist")
UNKNOWN_REPORT_FIELD = Code(
    "TRL-E121",
    "a widget's dimension, measure, filter or sort names an unknown field or link path",
    names_field=True,
)
INVALID_MEASURE = Code(
    "TRL-E122", "a widget's measure kind does not fit its field's type", names_field=True
)
UNKNOWN_WIDGET_KIND = Code("TRL-E123", "a widget names a kind that does not exist")
MISSING_WIDGET_PART = Code(
    "TRL-E124", "a widget lacks a part its kind needs (dimensions, measures, a pipeline)"
)
INVALID_BUCKET = Code(
    "TRL-E125", "a widget buckets a dimension that is not a date or date-time field by period"
)
INVALID_REPORT_FILTER = Code("TRL-E126", "a widget or board filter has an unusable operator")
DUPLICATE_REPORT_ID = Code(
    "TRL-E127", "two reports, two dashboards or two widgets of one dashboard share an id"
)

CODES: tuple[Code, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Code)
)
