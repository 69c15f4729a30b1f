"""Check the view filters that only pipelines give a meaning: ``stage_kind`` (a named
term, the kind of the record's stage) and the stage ids a filter on ``stage`` names."""

from __future__ import annotations

from runtime.definition import codes
from runtime.definition.checks.base import FilterCheck, did_you_mean, problem_at
from runtime.definition.loader import Document
from runtime.errors import Problem
from runtime.features.pipelines.definition import STAGE_KIND_OPERATORS, STAGE_KIND_VALUES

from . import codes as own_codes
from .system_fields import STAGE


def check_stage_kind_filter(check: FilterCheck) -> list[Problem]:
    """A ``stage_kind`` filter: the entity has stages, the operator and kinds fit."""
    doc, path, raw, entity, obj = check.doc, check.path, check.raw, check.entity, check.obj
    if entity.system_field(STAGE) is None:
        return [
            problem_at(
                own_codes.STAGE_KIND_WITHOUT_PIPELINE,
                doc,
                path + ("field",),
                obj,
                f"'{entity.id}' has no pipeline, so its records have no stage kind",
                "remove the filter, or add a pipeline for this entity",
            )
        ]
    op, value = raw["op"], raw.get("value")
    if op not in STAGE_KIND_OPERATORS:
        return [
            problem_at(
                own_codes.INVALID_STAGE_KIND,
                doc,
                path + ("op",),
                obj,
                f"operator '{op}' does not apply to stage_kind",
                f"use one of: {', '.join(STAGE_KIND_OPERATORS)}",
            )
        ]
    values = value if isinstance(value, list) else [value]
    if op == "in" and not isinstance(value, list) or op != "in" and isinstance(value, list):
        return [
            problem_at(
                codes.INVALID_FILTER, doc, path + ("value",), obj,
                "in needs a list of values" if op == "in" else f"{op} needs a single value",
            )
        ]  # fmt: skip
    return [
        problem_at(
            own_codes.INVALID_STAGE_KIND,
            doc,
            path + ("value",),
            obj,
            f"'{kind}' is not a stage kind",
            did_you_mean(str(kind), STAGE_KIND_VALUES)
            or f"use one of: {', '.join(STAGE_KIND_VALUES)}",
        )
        for kind in values
        if kind not in STAGE_KIND_VALUES
    ]


def check_stage_filter_values(check: FilterCheck) -> list[Problem] | None:
    """A filter on ``stage`` names stages of the entity's pipelines (None: not a stage filter)."""
    raw, entity = check.raw, check.entity
    if raw["field"] != STAGE or entity.system_field(STAGE) is None:
        return None
    value = raw.get("value")
    values = value if isinstance(value, list) else [value]
    stages = stage_ids(check.documents, entity.id)
    return [
        problem_at(
            own_codes.UNKNOWN_FILTER_STAGE,
            check.doc,
            check.path + ("value",),
            check.obj,
            f"'{item}' is not a stage of a pipeline of '{entity.id}'",
            did_you_mean(str(item), stages)
            or "to follow every open stage, filter on stage_kind: open",
        )
        for item in values
        if item not in stages
    ]


def stage_ids(documents: tuple[Document, ...], entity_id: str) -> list[str]:
    """The stage ids of the pipelines of ``entity_id`` (as written; they compile later)."""
    found: dict[str, None] = {}
    for doc in documents:
        data = doc.data if doc.kind == "pipeline" and isinstance(doc.data, dict) else {}
        if data.get("entity") != entity_id:
            continue
        for stage in data.get("stages") or ():
            if isinstance(stage, dict) and isinstance(stage.get("id"), str):
                found.setdefault(stage["id"])
    return list(found)
