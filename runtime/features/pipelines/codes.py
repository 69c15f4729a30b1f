"""The check codes of the pipelines feature (pipelines/*.yaml, stage filters of views), listed by ``PipelinesFeature.check_codes()``.

Documented with the others in ``docs/check-codes.md``; never reused, like every code.
"""

from __future__ import annotations

from runtime.definition.codes import Code

# Pipelines (pipelines/*.yaml)
UNKNOWN_PIPELINE_ENTITY = Code(
    "TRL-E040", "a pipeline (or its idle source) names an entity that does not exist"
)
UNKNOWN_GATE_FIELD = Code(
    "TRL-E041",
    "a pipeline's gate, selector, card or idle setting names an unknown field",
    names_field=True,
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
    "TRL-E047",
    "a pipeline setting does not fit the field it names (type or option)",
    names_field=True,
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


CODES: tuple[Code, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Code)
)
