"""Stage changes: which moves are allowed, what their gates ask for, what a move sets,
how long a record spent in each stage and whether it is idle.

Pure functions over the compiled pipelines and plain record dicts, so the repository
hook (``runtime.features.pipelines.write_steps``), the board, the API and tests share one answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from runtime.definition.model import AppModel, Entity, Label
from runtime.errors import ExpressionError, FieldMessage, ValidationError
from runtime.expressions import is_blank
from runtime.features.pipelines.definition import (
    GateRule,
    Pipeline,
    RequiredField,
    Stage,
    pipeline_for_record,
    pipelines_for_entity,
)
from runtime.features.pipelines.system_fields import has_stage

STAGE = "stage"
STAGE_ENTERED_AT = "stage_entered_at"


# ------------------------------------------------------------------ gates


@dataclass(frozen=True)
class GateResult:
    """What stops a record from entering ``stage``: blank required fields, failed rules."""

    stage: Stage
    missing: tuple[str, ...] = ()
    failed: tuple[GateRule, ...] = ()
    unchecked: tuple[tuple[str, str], ...] = ()  # checklist items (stage, item) not ticked

    @property
    def ok(self) -> bool:
        return not self.missing and not self.failed and not self.unchecked


def evaluate_gate(
    stage: Stage,
    values: Mapping[str, Any],
    *,
    old: Mapping[str, Any] | None = None,
    user: Any = None,
    ticked: frozenset[tuple[str, str]] = frozenset(),
) -> GateResult:
    """Check the gate of ``stage`` against the record as it would be saved (``values``)
    and the checklist items ticked on it (``ticked``: (stage, item) pairs)."""
    missing: list[str] = []
    for req in stage.gate.required:
        if req.condition is not None and not _holds(req.condition, values, old, user):
            continue
        if is_blank(values.get(req.field)) and req.field not in missing:
            missing.append(req.field)
    failed = tuple(
        rule for rule in stage.gate.rules if not _holds(rule.expression, values, old, user)
    )
    unchecked = tuple(pair for pair in stage.gate.checklist if pair not in ticked)
    return GateResult(stage, tuple(missing), failed, unchecked)


def _holds(expression: Any, values: Mapping[str, Any], old: Any, user: Any) -> bool:
    try:
        return bool(expression.evaluate(values, old=old, user=user))
    except ExpressionError:
        return False  # a rule that cannot be evaluated (a blank operand) does not hold


@dataclass(frozen=True)
class MoveCheck:
    """The verdict on moving one record from ``from_stage`` to ``to_stage``."""

    pipeline: Pipeline
    from_stage: str | None
    to_stage: str
    allowed: bool
    gates: tuple[GateResult, ...] = ()

    @property
    def ok(self) -> bool:
        return self.allowed and all(g.ok for g in self.gates)

    @property
    def missing(self) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for gate in self.gates:
            for fid in gate.missing:
                found.setdefault(fid)
        return tuple(found)

    @property
    def failed(self) -> tuple[GateRule, ...]:
        return tuple(rule for gate in self.gates for rule in gate.failed)

    @property
    def unchecked(self) -> tuple[tuple[str, str], ...]:
        found: dict[tuple[str, str], None] = {}
        for gate in self.gates:
            for pair in gate.unchecked:
                found.setdefault(pair)
        return tuple(found)

    @property
    def asked_fields(self) -> tuple[str, ...]:
        """What the missing-fields form asks for: blank fields, then the failed rules' fields."""
        found: dict[str, None] = dict.fromkeys(self.missing)
        for rule in self.failed:
            for fid in rule.fields:
                found.setdefault(fid)
        return tuple(found)


def check_move(
    pipeline: Pipeline,
    from_stage: str | None,
    to_stage: str,
    values: Mapping[str, Any],
    *,
    old: Mapping[str, Any] | None = None,
    user: Any = None,
    creating: bool = False,
    ticked: frozenset[tuple[str, str]] = frozenset(),
) -> MoveCheck:
    """Transition rules, then the gates of every stage the move enters."""
    target = pipeline.stage(to_stage)
    if target is None or target.retired:
        return MoveCheck(pipeline, from_stage, to_stage, False)
    allowed = True if creating else pipeline.allows(from_stage, to_stage)
    if not allowed:
        return MoveCheck(pipeline, from_stage, to_stage, False)
    entered = pipeline.stages_entered(None if creating else from_stage, to_stage)
    gates = tuple(
        evaluate_gate(stage, values, old=old, user=user, ticked=ticked) for stage in entered
    )
    return MoveCheck(pipeline, from_stage, to_stage, True, gates)


@dataclass(frozen=True)
class Question:
    """One field the move dialog asks for, and whether the move needs it filled."""

    field: str
    required: bool


def move_questions(
    pipeline: Pipeline,
    entity: Entity,
    from_stage: str | None,
    to_stage: str,
    values: Mapping[str, Any],
    *,
    old: Mapping[str, Any] | None = None,
    user: Any = None,
    asked: Iterable[str] = (),
) -> tuple[Question, ...]:
    """Everything one dialog asks for a move, at once, for the values typed so far.

    ``asked`` (what earlier rounds showed) stays, so a choice is never dropped; then
    the gates' blank fields and failed rules; then, to a fixed point, the fields whose
    gate condition or entity ``required_if`` / ``visible_if`` / rule reads a field
    already asked: choosing "Lost to a competitor" brings the competitor into the same
    dialog. A field stays in the dialog only while its condition holds.
    """
    check = check_move(pipeline, from_stage, to_stage, values, old=old, user=user)
    shown: dict[str, bool] = {}
    for fid in (*asked, *check.asked_fields):
        if fid not in shown:
            shown[fid] = fid in check.missing
    conditional: list[RequiredField] = []
    for gate in check.gates:
        for req in gate.stage.gate.required:
            if req.condition is None:
                if req.field in shown:
                    shown[req.field] = True
            else:
                conditional.append(req)
    changed = True
    while changed:
        changed = False
        names = set(shown)
        for req in conditional:
            if req.condition.names & names and _holds(req.condition, values, old, user):
                changed |= _ask(shown, req.field, True)
        for f in entity.fields:
            if f.visible_if is not None and not _holds(f.visible_if, values, old, user):
                continue
            if f.required_if is not None and f.required_if.names & names:
                if _holds(f.required_if, values, old, user):
                    changed |= _ask(shown, f.id, True)
                    continue
            if f.visible_if is not None and f.visible_if.names & names:
                changed |= _ask(shown, f.id, bool(f.required))
        for rule in entity.rules:
            if rule.expression.names & names and not _holds(rule.expression, values, old, user):
                for fid in rule.fields:
                    changed |= _ask(shown, fid, False)
    return tuple(Question(fid, required) for fid, required in shown.items())


def _ask(shown: dict[str, bool], field_id: str, required: bool) -> bool:
    """Add ``field_id`` to the dialog (or make it required); True when that changed."""
    before = shown.get(field_id)
    shown[field_id] = bool(before) or required
    return before is None or (required and not before)


# ------------------------------------------------------------------ errors


def _joined(labels: Sequence[Label]) -> Label:
    """One translatable list: "A, B" in English, "A、B" in Chinese."""
    locales = {loc for label in labels for loc in label.texts} | {"en"}
    texts = {}
    for loc in locales:
        sep = "、" if loc.startswith("zh") else ", "
        texts[loc] = sep.join(label.get(loc) for label in labels)
    return Label(MappingProxyType(texts))


def _field_label(entity: Entity, field_id: str) -> Label:
    if entity.has_field(field_id):
        return entity.field(field_id).label
    return Label.of(None, field_id.replace("_", " ").capitalize())


def checklist_item_label(pipeline: Pipeline, stage_id: str, item_id: str) -> Label:
    stage = pipeline.stage(stage_id)
    for item in stage.checklist if stage else ():
        if item.id == item_id:
            return item.label
    return Label.of(None, item_id)


class StageBlocked(ValidationError):
    """A stage change refused by a gate: every blank field and failed rule at once.

    ``errors`` holds one summary under ``stage`` ("To enter Solutioning, fill in: ...")
    and one message per field, so forms mark the fields and the API lists them.
    """

    code = "stage_blocked"

    def __init__(self, check: MoveCheck, entity: Entity):
        self.check = check
        target = check.pipeline.stage(check.to_stage)
        stage_label = target.label if target else Label.of(None, check.to_stage)
        errors: dict[str, list[FieldMessage]] = {}
        parts = []
        if check.missing:
            parts.append(
                FieldMessage(
                    "stage_missing_fields",
                    {
                        "stage": stage_label,
                        "fields": _joined([_field_label(entity, f) for f in check.missing]),
                    },
                )
            )
        for rule in check.failed:
            parts.append(
                FieldMessage("stage_rule_failed", {"stage": stage_label, "message": rule.message})
            )
        if check.unchecked:
            parts.append(
                FieldMessage(
                    "stage_checklist_open",
                    {
                        "stage": stage_label,
                        "items": _joined(
                            [checklist_item_label(check.pipeline, s, i) for s, i in check.unchecked]
                        ),
                    },
                )
            )
        errors[STAGE] = parts
        for fid in check.missing:
            errors.setdefault(fid, []).append(FieldMessage("required"))
        for rule in check.failed:
            for fid in rule.fields:
                errors.setdefault(fid, []).append(
                    FieldMessage("rule_failed", {"message": rule.message})
                )
        super().__init__(errors)

    @property
    def missing(self) -> tuple[str, ...]:
        return self.check.missing

    @property
    def asked_fields(self) -> tuple[str, ...]:
        return self.check.asked_fields


def transition_refused(
    pipeline: Pipeline, from_stage: str | None, to_stage: str
) -> ValidationError:
    source = pipeline.stage(from_stage)
    target = pipeline.stage(to_stage)
    if target is None:
        return ValidationError({STAGE: [FieldMessage("unknown_stage", {"value": to_stage})]})
    if target.retired:
        return ValidationError({STAGE: [FieldMessage("stage_retired", {"stage": target.label})]})
    return ValidationError(
        {
            STAGE: [
                FieldMessage(
                    "stage_not_allowed",
                    {
                        "from": source.label if source else Label.of(None, from_stage or "-"),
                        "to": target.label,
                    },
                )
            ]
        }
    )


# ------------------------------------------------------------------ applying a change


@dataclass(frozen=True)
class StageChange:
    """A planned stage change: what to write on the record, and the history row's facts."""

    pipeline: Pipeline
    from_stage: str | None
    to_stage: str
    updates: Mapping[str, Any] = field(default_factory=dict)  # system-set values
    reopened: bool = False


def plan_stage_change(
    model: AppModel,
    entity: Entity,
    old: Mapping[str, Any] | None,
    changes: Mapping[str, Any],
    *,
    user: Any = None,
    now: datetime | None = None,
    ticked: frozenset[tuple[str, str]] = frozenset(),
) -> StageChange | None:
    """What a create (``old`` None) or update implies for the stage; raises
    ``ValidationError`` (``StageBlocked`` for a gate) when the move is refused.

    Returns None when the stage does not change. Values the caller sets in the same
    write (a manager's own probability) win over the stage's defaults.
    """
    if not has_stage(entity) or not pipelines_for_entity(model, entity.id):
        return None
    now = now or datetime.now(UTC)
    merged = {**(old or {}), **changes}
    pipeline = pipeline_for_record(model, entity.id, merged)
    if pipeline is None:
        return None
    creating = old is None
    from_stage = None if creating else (old or {}).get(STAGE)
    requested = changes.get(STAGE)
    if requested in (None, "") and STAGE in changes and not creating:
        raise ValidationError({STAGE: [FieldMessage("required")]})
    if requested in (None, ""):
        if not creating and pipeline.stage(from_stage) is not None:
            return None  # no stage change asked for, and the stage fits the pipeline
        # new record, or it changed pipeline: the same stage id if it has one, else the first
        same = pipeline.stage(from_stage)
        requested = same.id if same and not same.retired else pipeline.initial_stage.id
        if requested == from_stage:
            return None
        creating = True  # joining a pipeline: gates from its start
    elif requested == from_stage:
        return None
    check = check_move(
        pipeline,
        from_stage,
        requested,
        merged,
        old=old,
        user=user,
        creating=creating,
        ticked=ticked,
    )
    if not check.allowed:
        raise transition_refused(pipeline, from_stage, requested)
    if not check.ok:
        raise StageBlocked(check, entity)
    target = pipeline.stage(requested)
    assert target is not None
    source = pipeline.stage(from_stage)
    updates: dict[str, Any] = {STAGE: target.id, STAGE_ENTERED_AT: now}
    fields = pipeline.fields
    if fields.probability and target.probability is not None and fields.probability not in changes:
        updates[fields.probability] = target.probability
    if (
        fields.forecast_category
        and target.forecast_category
        and fields.forecast_category not in changes
    ):
        updates[fields.forecast_category] = target.forecast_category
    if fields.closed_date:
        if target.is_closed:
            updates[fields.closed_date] = now.date()
        elif (old or {}).get(fields.closed_date) is not None:
            updates[fields.closed_date] = None  # reopened
    reopened = bool(source is not None and source.is_closed and target.is_open)
    if reopened:
        # what the close asked for no longer holds (a reopened deal was not lost to
        # anyone); the old values stay in the field history
        for fid in pipeline.cleared_on_reopen(source):
            if fid not in changes and not is_blank(merged.get(fid)):
                updates[fid] = None
    return StageChange(pipeline, from_stage, target.id, MappingProxyType(updates), reopened)


# ------------------------------------------------------------------ time in stage


def time_in_stages(
    entries: Iterable[tuple[str | None, datetime]],
    *,
    now: datetime | None = None,
    include_current: bool = True,
) -> dict[str, float]:
    """Seconds spent in each stage, every interval counted (re-entries included).

    ``entries`` are (stage entered, when) in time order. The last interval runs until
    ``now`` when ``include_current``: A on day 0, B on day 3, A again on day 5, closed
    on day 9 gives A = 7 days, B = 2 days.
    """
    ordered = sorted(((s, t) for s, t in entries), key=lambda e: e[1])
    totals: dict[str, float] = {}
    for (stage, start), (_, end) in zip(ordered, ordered[1:], strict=False):
        if stage is not None:
            totals[stage] = totals.get(stage, 0.0) + max((end - start).total_seconds(), 0.0)
    if include_current and ordered:
        stage, start = ordered[-1]
        if stage is not None:
            end = now or datetime.now(UTC)
            totals[stage] = totals.get(stage, 0.0) + max((end - start).total_seconds(), 0.0)
    return totals


def seconds_between(start: datetime | None, end: datetime) -> int | None:
    if start is None:
        return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return max(int((end - start).total_seconds()), 0)


def format_duration(seconds: float | None, locale: str = "en") -> str:
    """``3d 4h`` / ``3天4小时``: short enough for a card or the path bar."""
    if seconds is None:
        return ""
    zh = locale.startswith("zh")
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return (
            f"{days}天{hours}小时"
            if zh and hours
            else (f"{days}天" if zh else (f"{days}d {hours}h" if hours else f"{days}d"))
        )
    if hours:
        return f"{hours}小时" if zh else f"{hours}h"
    return f"{max(mins, 1)}分钟" if zh else f"{max(mins, 1)}m"


# ------------------------------------------------------------------ idle ("rotting")


def _as_date(value: date | datetime | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    return value


def last_touch(
    stage_entered_at: datetime | None, last_activity: date | datetime | None
) -> date | None:
    """When the idle clock last reset: the last completed activity or entering the stage."""
    candidates = [d for d in (_as_date(stage_entered_at), _as_date(last_activity)) if d is not None]
    return max(candidates) if candidates else None


def idle_days(touched: date | None, today: date) -> int | None:
    return None if touched is None else max((today - touched).days, 0)


def is_idle(stage: Stage | None, touched: date | None, today: date) -> bool:
    """A record is idle when its open stage has a threshold and nothing happened for longer."""
    if stage is None or not stage.is_open or stage.idle_days is None:
        return False
    days = idle_days(touched, today)
    return days is not None and days > stage.idle_days


def idle_cutoff(stage: Stage, today: date) -> date | None:
    """The last touch date at or before which a record in ``stage`` is idle (for SQL)."""
    if stage.idle_days is None or not stage.is_open:
        return None
    return today - timedelta(days=stage.idle_days + 1)


__all__ = [
    "GateResult",
    "MoveCheck",
    "Question",
    "StageBlocked",
    "StageChange",
    "check_move",
    "checklist_item_label",
    "evaluate_gate",
    "format_duration",
    "idle_cutoff",
    "idle_days",
    "is_idle",
    "last_touch",
    "move_questions",
    "plan_stage_change",
    "seconds_between",
    "time_in_stages",
    "transition_refused",
]
