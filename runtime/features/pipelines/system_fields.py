"""The system fields a pipeline gives the records of its entity: the current stage and
when it was entered (``Entity.system_fields``; tables and queries read them generically)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from runtime.definition.loader import Document
from runtime.definition.model import Entity, FieldDef, Label

STAGE = "stage"
STAGE_ENTERED_AT = "stage_entered_at"
STAGE_FIELDS: tuple[FieldDef, ...] = (
    # readonly=False: a create or update may set it; the pipeline's write step checks it
    FieldDef(
        STAGE,
        "text",
        Label(MappingProxyType({"en": "Stage", "zh": "阶段"})),
        max_length=63,
        index=True,
    ),
    FieldDef(
        STAGE_ENTERED_AT,
        "datetime",
        Label(MappingProxyType({"en": "Stage entered", "zh": "进入阶段时间"})),
        readonly=True,
    ),
)
STAGE_FIELD_IDS: tuple[str, ...] = tuple(f.id for f in STAGE_FIELDS)


def has_stage(entity: Entity) -> bool:
    """Whether the records of ``entity`` have a stage (a pipeline gave it the fields)."""
    return entity.system_field(STAGE) is not None


def uses_pipeline(documents: Sequence[Document], entity_id: str) -> bool:
    """Whether a pipeline file names ``entity_id``: enough to give it the stage fields
    (the pipelines themselves are compiled later)."""
    return any(
        doc.kind == "pipeline"
        and isinstance(doc.data, dict)
        and doc.data.get("entity") == entity_id
        for doc in documents
    )


def stage_fields_of(documents: Sequence[Document], entity_id: str) -> tuple[FieldDef, ...]:
    return STAGE_FIELDS if uses_pipeline(documents, entity_id) else ()
