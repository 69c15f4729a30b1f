"""What pipelines add to the generic list screen and the API's lists, through the
``list_columns`` / ``list_filters`` hooks: the stage cell, the stage filter (kinds and
stages), the ``stage_kind`` term, the ``?idle=1`` switch and the idle badges.

The switch and the badges follow the repository's ``idle`` clause
(``runtime.features.pipelines.clauses``), so the list, the board and the API agree on
which records are idle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from runtime.definition.model import AppModel, Entity, FieldDef, Option
from runtime.features.pipelines.definition import (
    STAGE_KIND_FILTER,
    STAGE_KIND_OPERATORS,
    STAGE_KINDS,
    Pipeline,
    Stage,
    pipeline_for_record,
    pipelines_for_entity,
)
from runtime.features.screens import (
    ListBadges,
    ListColumn,
    ListFilter,
    ListSwitch,
    QueryTerm,
    RowBadge,
)
from runtime.web.list_cells import EMPTY, Cell
from runtime.web.list_controls import Choice, FilterControl, term_chip_text
from runtime.web.list_request import today_in
from runtime.web.query import SUFFIXES, QueryError

STAGE = "stage"  # the system field a pipeline entity's records carry
IDLE_PARAM = "idle"  # ?idle=1: records idle in their stage only
STAGE_FILTER_TEMPLATE = "runtime/_filter_stage.html"


def entity_pipelines(model: AppModel, entity: Entity) -> tuple[Pipeline, ...]:
    """The pipelines of ``entity`` (none unless it has the stage columns)."""
    if entity.system_field(STAGE) is None:
        return ()
    return pipelines_for_entity(model, entity.id)


def has_idle(model: AppModel, entity: Entity) -> bool:
    """Whether ``?idle=1`` and the idle badge apply: a pipeline, no field named ``idle``."""
    return bool(entity_pipelines(model, entity)) and not entity.has_field(IDLE_PARAM)


# --------------------------------------------------------------------------- stages


def stages_by_id(model: AppModel, entity: Entity) -> dict[str, tuple[Stage, ...]]:
    """Stage id -> the stages of that id in the entity's pipelines (usually one)."""
    found: dict[str, list[Stage]] = {}
    for pipeline in entity_pipelines(model, entity):
        for stage in pipeline.stages:
            found.setdefault(stage.id, []).append(stage)
    return {sid: tuple(stages) for sid, stages in found.items()}


def stage_of(model: AppModel, entity: Entity, record: Mapping[str, Any]) -> Stage | None:
    """The stage ``record`` is in, as its own pipeline defines it (label, colour, kind)."""
    stage_id = record.get(STAGE)
    candidates = stages_by_id(model, entity).get(str(stage_id)) if stage_id else None
    if not candidates:
        return None
    first = candidates[0]
    if all(
        (s.label, s.color, s.kind) == (first.label, first.color, first.kind) for s in candidates
    ):
        return first
    pipeline = pipeline_for_record(model, entity.id, record)
    return (pipeline.stage(stage_id) if pipeline else None) or candidates[0]


def stage_label(env: Any, entity: Entity, stage_id: str) -> str:
    stages = stages_by_id(env.model, entity).get(stage_id)
    return stages[0].label.get(env.locale) if stages else stage_id


def stage_cell(env: Any, entity: Entity, record: Mapping[str, Any]) -> Cell:
    """The stage as a badge in the stage's colour (the path bar's), labelled per locale."""
    value = record.get(STAGE)
    if value in (None, ""):
        return Cell("empty", EMPTY)
    stage = stage_of(env.model, entity, record)
    if stage is None:  # a stage removed from the metadata: its id, in gray
        return Cell("badge", str(value), value=str(value))
    text = stage.label.get(env.locale)
    return Cell("badge", text, options=(Option(stage.id, stage.label, stage.color),), value=text)


def selector_fields(model: AppModel, entity: Entity) -> tuple[str, ...]:
    """A stage id shared by two pipelines is labelled by the record's own pipeline:
    the stage cell reads the fields that pick it."""
    return tuple(p.selector.field for p in entity_pipelines(model, entity) if p.selector)


def stage_kind_labels(gettext, pipelines: tuple[Pipeline, ...] = (), locale: str = "en") -> dict:
    """Names of the stage kinds; the app's own words (a pipeline's ``kind_labels``,
    "Hired" rather than "Won") when its pipelines give them."""
    labels = {"open": gettext("Any open stage"), "won": gettext("Won"), "lost": gettext("Lost")}
    for kind in ("won", "lost"):
        own = next((p.kind_labels[kind] for p in pipelines if kind in p.kind_labels), None)
        if own is not None:
            labels[kind] = own.get(locale)
    return labels


def stage_control(
    env: Any, entity: Entity, f: FieldDef, current: Mapping[str, str], gettext
) -> FilterControl:
    """One pill for stages: a stage kind (any open / won / lost) or chosen stages."""
    kind_param, stage_param = f"{STAGE_KIND_FILTER}__in", f"{f.id}__in"
    kinds = set((current.get(kind_param) or current.get(STAGE_KIND_FILTER) or "").split(","))
    stages = set((current.get(stage_param) or current.get(f.id) or "").split(","))
    pipelines = entity_pipelines(env.model, entity)
    labels = stage_kind_labels(gettext, pipelines, env.locale)
    kind_choices = [Choice(k, labels[k], None, k in kinds) for k in STAGE_KINDS]
    choices: list[Choice] = []
    seen: set[str] = set()
    # Pipeline by pipeline (the default one first), each in its own stage order.
    ordered = [
        s
        for p in sorted(pipelines, key=lambda p: not p.is_default)
        for s in p.stages
        if not s.retired
    ]
    for stage in ordered:
        if stage.id not in seen:
            seen.add(stage.id)
            label = stage.label.get(env.locale)
            choices.append(Choice(stage.id, label, stage.color, stage.id in stages))
    active = any(c.selected for c in kind_choices + choices)
    return FilterControl(
        f.id, f.label.get(env.locale), "stage", {"kind": kind_param, "value": stage_param},
        choices=choices, kind_choices=kind_choices, active=active, template=STAGE_FILTER_TEMPLATE,
    )  # fmt: skip


# --------------------------------------------------------------------------- stage_kind


def parse_stage_kind(param: str, suffix: str, raw: str) -> tuple[str, str, Any]:
    """``stage_kind=open`` / ``__ne=`` / ``__in=won,lost`` as a repository filter."""
    op = SUFFIXES.get(suffix, "eq") if suffix else "eq"
    if suffix and suffix not in SUFFIXES or op not in STAGE_KIND_OPERATORS:
        raise QueryError(param, "stage_kind takes =, __ne= or __in=")
    kinds = [part.strip() for part in raw.split(",")]
    bad = [k for k in kinds if k not in STAGE_KINDS]
    if bad or (op != "in" and len(kinds) != 1):
        raise QueryError(param, "expected one of: %(values)s", values=", ".join(STAGE_KINDS))
    return STAGE_KIND_FILTER, op, kinds if op == "in" else kinds[0]


def stage_kind_chip(env: Any, entity: Entity, suffix: str, raw: str, gettext) -> tuple[str, str]:
    labels = stage_kind_labels(gettext, entity_pipelines(env.model, entity), env.locale)
    return gettext("Stage"), term_chip_text(suffix, raw, labels)


def stage_kind_parameters() -> list[dict[str, Any]]:
    """``stage_kind=open``: records in any open (won, lost) stage of their pipeline."""
    kind = {"type": "string", "enum": list(STAGE_KINDS)}
    return [
        {"name": STAGE_KIND_FILTER, "in": "query", "required": False, "schema": kind,
         "description": "Records in a stage of this kind (open, won or lost), in any pipeline; "
                        "stages added later are included."},
        {"name": f"{STAGE_KIND_FILTER}__ne", "in": "query", "required": False, "schema": kind,
         "description": "Records not in a stage of this kind."},
        {"name": f"{STAGE_KIND_FILTER}__in", "in": "query", "required": False, "style": "form",
         "explode": False, "description": "Records in a stage of one of these kinds.",
         "schema": {"type": "array", "items": kind, "minItems": 1, "maxItems": 3}},
    ]  # fmt: skip


# --------------------------------------------------------------------------- idle


def idle_filters(env: Any, _entity: Entity) -> list[tuple[str, str, Any]]:
    """``?idle=1``: the repository's ``idle`` clause as of the reader's today, on the
    active records (as the board counts them)."""
    return [
        (IDLE_PARAM, "eq", today_in(env.timezone).isoformat()),
        ("archived_at", "isnull", True),
    ]


def idle_days_of(
    services: Any, entity: Entity, record_ids: Iterable[Any], today: date
) -> dict[int, int]:
    """Record id -> days without activity, for the idle ones among ``record_ids``.

    One query for a whole page (``BoardQueries.idle_touches``): the ``idle`` clause's
    SQL picks the rows, the days come from the same last-touch rule the board uses
    (``flows.pipeline``).
    """
    from runtime.features.pipelines.board_queries import BoardQueries
    from runtime.features.pipelines.flow import idle_days, last_touch

    ids = sorted({int(i) for i in record_ids if isinstance(i, int) and not isinstance(i, bool)})
    pipelines = entity_pipelines(services.model, entity)
    if not ids or not pipelines:
        return {}
    queries = BoardQueries(services.db, services.repo.permissions, services.repo)
    records = queries.idle_touches(
        entity.id, pipelines, ids, selector_fields(services.model, entity), today
    )
    found: dict[int, int] = {}
    for row in records:
        pipeline = pipeline_for_record(services.model, entity.id, row)
        if pipeline is None:
            continue
        touch = row.get(f"touch_{pipelines.index(pipeline)}")
        days = idle_days(last_touch(row.get("stage_entered_at"), touch), today)
        if days is not None:
            found[row["id"]] = days
    return found


def idle_badges(
    env: Any, entity: Entity, record_ids: Iterable[Any], gettext
) -> dict[Any, RowBadge]:
    """The "Idle 12d" badge of each idle record of a page."""
    days = idle_days_of(env.services, entity, record_ids, today_in(env.timezone))
    return {
        record_id: RowBadge(
            gettext("Idle %(days)dd", days=n),
            gettext("No activity for %(days)d days", days=n),
            css="badge-orange idle-badge",
            data={"idle": True, "idle_days": n},
        )
        for record_id, n in days.items()
    }


# --------------------------------------------------------------------------- the hooks


def list_columns(model: AppModel, entity: Entity) -> list[Any]:
    if not entity_pipelines(model, entity):
        return []
    found: list[Any] = [ListColumn(STAGE, stage_cell, selector_fields, lead=True)]
    if has_idle(model, entity):
        found.append(ListBadges(IDLE_PARAM, idle_badges, {"idle": False, "idle_days": None}))
    return found


def list_filters(model: AppModel, entity: Entity) -> list[Any]:
    if entity.system_field(STAGE) is None:
        return []
    found: list[Any] = [
        QueryTerm(STAGE_KIND_FILTER, parse_stage_kind, stage_kind_chip, stage_kind_parameters)
    ]
    if entity_pipelines(model, entity):
        found.append(ListFilter(STAGE, stage_control, lead=True, value_text=stage_label))
    if has_idle(model, entity):
        found.append(
            ListSwitch(
                IDLE_PARAM, lambda gettext: gettext("Idle only"), idle_filters, "idle-toggle"
            )
        )
    return found


__all__ = [
    "has_idle",
    "idle_days_of",
    "list_columns",
    "list_filters",
    "stage_kind_labels",
    "stages_by_id",
]
