"""Compile ``pipelines/*.yaml`` into frozen Pipeline/Stage/Gate objects and check them.

The pipelines feature (``runtime.features.pipelines``) contributes the step under ``"pipelines"``; its
result, a mapping of pipeline id -> ``Pipeline``, is ``AppModel.extensions["pipelines"]``.
Nothing here knows what the records are about: stages, gates and transitions are
all data.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from runtime.definition import codes
from runtime.definition.codes import Code
from runtime.definition.compiler import CompileContext, prettify
from runtime.definition.loader import Document, JsonPath
from runtime.definition.model import AppModel, Entity, Label, Place
from runtime.definition.reserved import BASE_SYSTEM_COLUMNS
from runtime.errors import ExpressionError, ExpressionLimitError
from runtime.expressions import compile_expression
from runtime.fieldtypes import TYPES, FieldType, type_of

from . import codes as own_codes
from .system_fields import STAGE_FIELD_IDS

EXTENSION_KEY = "pipelines"
STAGE_KINDS = ("open", "won", "lost")
# A view filter term (a pseudo-field): the kind of the record's stage.
STAGE_KIND_FILTER = "stage_kind"
STAGE_KIND_VALUES = STAGE_KINDS  # the kinds a stage_kind filter may name
STAGE_KIND_OPERATORS = ("eq", "ne", "in")
# What the runtime calls each kind of stage when the app does not say (``kind_labels``):
# neutral words, so an app that is not about sales does not talk about deals.
DEFAULT_KIND_LABELS: Mapping[str, Label] = MappingProxyType(
    {
        "open": Label(MappingProxyType({"en": "In progress", "zh": "进行中"})),
        "won": Label(MappingProxyType({"en": "Successful", "zh": "成功"})),
        "lost": Label(MappingProxyType({"en": "Unsuccessful", "zh": "未成功"})),
    }
)
DEFAULT_COLORS = {"open": "blue", "won": "green", "lost": "gray"}


def _summable(t: FieldType) -> bool:
    return t.summable


def _ratio(t: FieldType) -> bool:
    return t.numeric and not t.has_currency


def _day(t: FieldType) -> bool:
    return t.temporal and not t.instant


def _one_option(t: FieldType) -> bool:
    return t.has_options and not t.json_list


# Field parts a pipeline can name, and what the field's type must be (its attributes,
# so an extension's type qualifies as a built-in one does).
FIELD_PARTS: Mapping[str, Callable[[FieldType], bool]] = MappingProxyType(
    {
        "amount": _summable,
        "close_date": _day,
        "probability": _ratio,
        "forecast_category": _one_option,
        "closed_date": _day,
        "loss_reason": _one_option,
    }
)
# What an idle source's fields must be: the link back, the activity's date, its done flag.
IDLE_PARTS: Mapping[str, Callable[[FieldType], bool]] = MappingProxyType(
    {
        "link": lambda t: t.references == "record",
        "date": lambda t: t.temporal,
        "done": lambda t: t.boolean,
    }
)


def type_names(accepts: Callable[[FieldType], bool]) -> list[str]:
    """The built-in types ``accepts`` takes, sorted, for a message's hint."""
    return sorted(name for name, t in TYPES.items() if accepts(t))


def _shown(fdef: Any) -> FieldType:
    return type_of(fdef).value_type(fdef)  # a formula: its result type


NO_SUM = "none"  # ``board: {sum: none}``: columns count records only
GATE_EXTRA_FIELDS = ("owner_id",)  # system columns a gate may require


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class RequiredField:
    """A field that must not be blank to enter a stage (only when ``condition`` holds)."""

    field: str
    condition: Any = None  # CompiledExpression | None


@dataclass(frozen=True)
class GateRule:
    id: str
    expression: Any  # CompiledExpression: must be truthy to enter
    message: Label
    fields: tuple[str, ...] = ()  # what the user is asked for when it fails


@dataclass(frozen=True)
class Gate:
    required: tuple[RequiredField, ...] = ()
    rules: tuple[GateRule, ...] = ()
    # checklist items that must be ticked first, as (stage id, item id)
    checklist: tuple[tuple[str, str], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.required and not self.rules and not self.checklist

    @property
    def field_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for req in self.required:
            seen.setdefault(req.field)
        for rule in self.rules:
            for fid in rule.fields:
                seen.setdefault(fid)
        return tuple(seen)


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    label: Label


@dataclass(frozen=True)
class Stage:
    id: str
    label: Label
    kind: str  # open | won | lost
    index: int  # position in the pipeline (retired stages keep theirs)
    color: str = "blue"
    probability: float | None = None
    forecast_category: str | None = None
    idle_days: int | None = None
    guidance: Label | None = None
    checklist: tuple[ChecklistItem, ...] = ()
    gate: Gate = field(default_factory=Gate)
    retired: bool = False

    @property
    def is_open(self) -> bool:
        return self.kind == "open"

    @property
    def is_closed(self) -> bool:
        return self.kind != "open"


@dataclass(frozen=True)
class Selector:
    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class IdleSource:
    """Records of ``entity`` linked through ``link`` reset the idle clock on ``date``
    (only those with ``done`` true, when given: a planned activity does not count)."""

    entity: str
    link: str
    date: str
    done: str | None = None


@dataclass(frozen=True)
class Transitions:
    skip_forward: bool = True
    backward: bool = True
    reopen: bool = True
    cumulative_gates: bool = True
    allow: frozenset[tuple[str, str]] = frozenset()
    deny: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class PipelineFields:
    amount: str | None = None
    close_date: str | None = None
    probability: str | None = None
    forecast_category: str | None = None
    closed_date: str | None = None
    loss_reason: str | None = None


@dataclass(frozen=True)
class Pipeline:
    id: str
    entity: str
    label: Label
    stages: tuple[Stage, ...]
    description: Label | None = None
    selector: Selector | None = None
    is_default: bool = False
    fields: PipelineFields = field(default_factory=PipelineFields)
    loss_reasons: tuple[str, ...] = ()
    card_fields: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    idle: IdleSource | None = None
    transitions: Transitions = field(default_factory=Transitions)
    place: Place | None = None
    reopen_clears: tuple[str, ...] | None = None  # None: what the closing gate asked for
    kind_labels: Mapping[str, Label] = field(default_factory=dict)  # the app's own words
    board_sum: str | None = None  # the field each board column totals; None: counts only

    @property
    def has_probabilities(self) -> bool:
        """Whether a weighted total means anything (a probability field or stage values)."""
        return self.fields.probability is not None or any(
            s.probability is not None for s in self.stages
        )

    def stage(self, stage_id: str | None) -> Stage | None:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        return None

    @property
    def active_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if not s.retired)

    @property
    def open_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if s.is_open and not s.retired)

    @property
    def closed_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if s.is_closed and not s.retired)

    @property
    def initial_stage(self) -> Stage:
        return self.open_stages[0]

    def kind_label(self, kind: str) -> Label:
        """The app's word for a kind of stage ("Hired"), or a neutral default."""
        return self.kind_labels.get(kind) or DEFAULT_KIND_LABELS.get(kind) or Label.of(None, kind)

    def cleared_on_reopen(self, closed: Stage) -> tuple[str, ...]:
        """Fields emptied when a record leaves ``closed`` for an open stage: the
        ``reopen_clears`` list, else what the closing gate asked for (the pipeline's own
        amount, dates, probability and forecast fields excepted: they describe the deal,
        not the close)."""
        if self.reopen_clears is not None:
            return self.reopen_clears
        kept = {
            self.fields.amount,
            self.fields.close_date,
            self.fields.probability,
            self.fields.forecast_category,
            "owner_id",
        }
        return tuple(f for f in closed.gate.field_ids if f not in kept)

    def first_of_kind(self, kind: str) -> Stage | None:
        return next((s for s in self.active_stages if s.kind == kind), None)

    def allows(self, from_id: str | None, to_id: str) -> bool:
        """Whether a record may move from ``from_id`` to ``to_id`` (gates aside).

        Defaults: forward one step (more with ``skip_forward``), back to any earlier
        open stage (``backward``), to a lost stage from any open one, out of a closed
        stage back to an open one (``reopen``). ``allow``/``deny`` pairs override them.
        A retired stage can be left but never entered; a record in an unknown stage
        (one removed from the metadata) may go anywhere, so nobody is stuck.
        """
        target = self.stage(to_id)
        if target is None or target.retired or from_id == to_id:
            return False
        rules = self.transitions
        if from_id is not None and (from_id, to_id) in rules.deny:
            return False
        if from_id is not None and (from_id, to_id) in rules.allow:
            return True
        source = self.stage(from_id)
        if source is None or source.retired:
            return True
        if source.is_closed:
            return target.is_open and rules.reopen
        if target.kind == "lost":
            return True
        if target.index < source.index:
            return target.is_open and rules.backward
        steps = [
            s
            for s in self.active_stages
            if source.index < s.index <= target.index and s.kind != "lost"
        ]
        return len(steps) == 1 or rules.skip_forward

    def stages_entered(self, from_id: str | None, to_id: str) -> tuple[Stage, ...]:
        """The stages whose gates a move must pass: the target, plus (with
        ``cumulative_gates``) every open stage a forward move skips over."""
        target = self.stage(to_id)
        if target is None:
            return ()
        source = self.stage(from_id)
        if not self.transitions.cumulative_gates or target.kind == "lost":
            return (target,)
        start = source.index if source is not None and source.is_open else -1
        if source is not None and source.is_closed:
            return (target,)
        passed = tuple(
            s for s in self.active_stages if start < s.index < target.index and s.is_open
        )
        return passed + (target,)

    def selects(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` belongs to this pipeline by its selector (not by default)."""
        return self.selector is not None and record.get(self.selector.field) in self.selector.values


# ------------------------------------------------------------------ lookups


def pipelines_of(model: AppModel) -> Mapping[str, Pipeline]:
    return (model.extensions or {}).get(EXTENSION_KEY) or MappingProxyType({})


def pipelines_for_entity(model: AppModel, entity_id: str) -> tuple[Pipeline, ...]:
    return tuple(p for p in pipelines_of(model).values() if p.entity == entity_id)


def pipeline_for_record(
    model: AppModel, entity_id: str, record: Mapping[str, Any]
) -> Pipeline | None:
    """The pipeline ``record`` moves through: the one whose selector matches, else the default."""
    candidates = pipelines_for_entity(model, entity_id)
    for pipeline in candidates:
        if pipeline.selects(record):
            return pipeline
    return next((p for p in candidates if p.is_default), None)


# ------------------------------------------------------------------ compiling


def compile_pipelines(context: CompileContext, docs: list[Document]) -> Mapping[str, Pipeline]:
    first: dict[str, Document] = {}
    pipelines: dict[str, Pipeline] = {}
    for doc in docs:
        pid = doc.data["id"]
        if pid in first:
            context.report(
                codes.DUPLICATE_ID,
                doc,
                ("id",),
                f"pipeline '{pid}'",
                f"pipeline id '{pid}' is already defined in {first[pid].file}",
                "give each pipeline its own id",
            )
            continue
        first[pid] = doc
        pipeline = _PipelineCompiler(context, doc).compile()
        if pipeline is not None:
            pipelines[pid] = pipeline
    _check_entity_pipelines(context, first, pipelines)
    return MappingProxyType(pipelines)


compile_pipelines.kind = "pipeline"  # type: ignore[attr-defined]  # the loader's kind name


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


class _PipelineCompiler:
    def __init__(self, context: CompileContext, doc: Document):
        self.context = context
        self.doc = doc
        self.raw: dict = doc.data
        self.obj = f"pipeline '{self.raw['id']}'"
        self.entity: Entity | None = None

    def report(
        self, code: Code, path: JsonPath, message: str, hint: str = "", obj: str = ""
    ) -> None:
        self.context.report(code, self.doc, path, obj or self.obj, message, hint)

    # -------------------------------------------------------------- top level

    def compile(self) -> Pipeline | None:
        raw = self.raw
        self.entity = self.context.entities.get(raw["entity"])
        if self.entity is None:
            self.report(
                own_codes.UNKNOWN_PIPELINE_ENTITY,
                ("entity",),
                f"entity '{raw['entity']}' does not exist",
                _did_you_mean(raw["entity"], self.context.entities),
            )
            return None
        stages = self._stages()
        by_id = {s.id: s for s in stages}
        transitions = self._transitions(by_id)
        pipeline = Pipeline(
            id=raw["id"],
            entity=self.entity.id,
            label=Label.of(raw.get("label"), prettify(raw["id"])),
            description=Label.of(raw["description"]) if raw.get("description") else None,
            stages=tuple(stages),
            selector=self._selector(),
            is_default=bool(raw.get("default", "selector" not in raw)),
            fields=self._fields(),
            loss_reasons=self._loss_reasons(),
            card_fields=self._field_list("card_fields"),
            filter_fields=self._field_list("filter_fields"),
            idle=self._idle(),
            transitions=transitions,
            place=Place(self.doc.file, self.doc.line()),
            reopen_clears=self._reopen_clears(),
            kind_labels=self._kind_labels(stages),
            board_sum=self._board_sum(),
        )
        self._check_order(pipeline)
        if pipeline.open_stages:
            self._check_reachable(pipeline)
        self._check_stage_values(pipeline)
        return pipeline

    # -------------------------------------------------------------- fields

    @property
    def field_ids(self) -> tuple[str, ...]:
        assert self.entity is not None
        return tuple(f.id for f in self.entity.fields)

    @property
    def names(self) -> frozenset[str]:
        assert self.entity is not None
        names = set(self.field_ids) | set(BASE_SYSTEM_COLUMNS) | set(STAGE_FIELD_IDS)
        names |= {key for f in self.entity.fields for key in type_of(f).extra_keys(f)}
        return frozenset(names)

    def _known_field(self, path: JsonPath, fid: str, what: str, extra: Iterable[str] = ()) -> bool:
        allowed = set(self.field_ids) | set(extra)
        if fid in allowed:
            return True
        self.report(
            own_codes.UNKNOWN_GATE_FIELD,
            path,
            f"{what} '{fid}' is not a field of entity '{self.raw['entity']}'",
            _did_you_mean(fid, allowed),
        )
        return False

    def _field_list(self, key: str) -> tuple[str, ...]:
        found = []
        for n, fid in enumerate(self.raw.get(key) or []):
            if self._known_field((key, n), fid, key.replace("_", " ").rstrip("s")):
                found.append(fid)
        return tuple(found)

    def _fields(self) -> PipelineFields:
        assert self.entity is not None
        values: dict[str, str] = {}
        for part, fid in (self.raw.get("fields") or {}).items():
            path = ("fields", part)
            if not self._known_field(path, fid, f"{part} field"):
                continue
            fdef = self.entity.field(fid)
            accepts = FIELD_PARTS[part]
            if not (accepts(type_of(fdef)) or accepts(_shown(fdef))):
                self.report(
                    own_codes.INVALID_PIPELINE_SETTING,
                    path,
                    f"{part} field '{fid}' is of type {fdef.type}",
                    f"use a field of type {' or '.join(type_names(accepts))}",
                )
                continue
            values[part] = fid
        return PipelineFields(**values)

    def _reopen_clears(self) -> tuple[str, ...] | None:
        if "reopen_clears" not in self.raw:
            return None
        assert self.entity is not None
        found = []
        for n, fid in enumerate(self.raw.get("reopen_clears") or ()):
            path = ("reopen_clears", n)
            if not self.entity.has_field(fid):
                self.report(
                    own_codes.INVALID_REOPEN_CLEARS,
                    path,
                    f"reopen_clears names '{fid}', which is not a field of entity "
                    f"'{self.raw['entity']}'",
                    _did_you_mean(fid, self.field_ids),
                )
                continue
            f = self.entity.field(fid)
            kind = type_of(f)
            if f.required or kind.computed or kind.assigned_on_create or kind.holds_rows:
                why = "is required" if f.required else f"is a {f.type} field"
                self.report(
                    own_codes.INVALID_REOPEN_CLEARS,
                    path,
                    f"reopen_clears names '{fid}', which {why} and cannot be emptied",
                    "list only optional fields the close asked for",
                )
                continue
            found.append(fid)
        return tuple(found)

    def _kind_labels(self, stages: list[Stage]) -> Mapping[str, Label]:
        raw = self.raw.get("kind_labels") or {}
        kinds = {s.kind for s in stages}
        labels: dict[str, Label] = {}  # only what the app says; kind_label() falls back
        for kind, label in raw.items():
            if kind not in kinds:
                self.report(
                    own_codes.UNUSED_KIND_LABEL,
                    ("kind_labels", kind),
                    f"kind_labels names '{kind}', but no stage of this pipeline is of kind "
                    f"'{kind}'",
                    f"remove it, or add a stage with 'kind: {kind}'",
                )
                continue
            labels[kind] = Label.of(label)
        return MappingProxyType(labels)

    def _board_sum(self) -> str | None:
        """``board.sum``: a field to total, ``none``; absent: ``fields.amount``, else the
        entity's only money field, else none (a count only)."""
        assert self.entity is not None
        raw = (self.raw.get("board") or {}).get("sum")
        if raw is None:
            amount = (self.raw.get("fields") or {}).get("amount")
            if amount and self.entity.has_field(amount):
                return amount if self._summable(self.entity.field(amount)) else None
            money = [f.id for f in self.entity.fields if type_of(f).has_currency]
            return money[0] if len(money) == 1 else None
        if raw == NO_SUM:
            return None
        path = ("board", "sum")
        if not self.entity.has_field(raw):
            numbers = [f.id for f in self.entity.fields if self._summable(f)]
            self.report(
                own_codes.UNKNOWN_BOARD_SUM,
                path,
                f"board sum '{raw}' is not a field of entity '{self.raw['entity']}'",
                _did_you_mean(raw, numbers)
                or f"name a money or number field, or '{NO_SUM}' to count records only",
            )
            return None
        fdef = self.entity.field(raw)
        if not self._summable(fdef):
            self.report(
                own_codes.INVALID_BOARD_SUM,
                path,
                f"board sum '{raw}' is a {fdef.type} field; a column can only total numbers",
                f"name a money, decimal or integer field, or '{NO_SUM}' to count records only",
            )
            return None
        return raw

    @staticmethod
    def _summable(fdef: Any) -> bool:
        return _shown(fdef).summable

    def _option_ids(self, fid: str | None) -> tuple[str, ...]:
        if fid is None or self.entity is None or not self.entity.has_field(fid):
            return ()
        return tuple(o.id for o in self.entity.field(fid).options)

    def _selector(self) -> Selector | None:
        raw = self.raw.get("selector")
        if not raw:
            return None
        if not self._known_field(("selector", "field"), raw["field"], "selector field"):
            return None
        options = self._option_ids(raw["field"])
        for n, value in enumerate(raw["values"]):
            if options and value not in options:
                self.report(
                    own_codes.INVALID_PIPELINE_SETTING,
                    ("selector", "values", n),
                    f"'{value}' is not an option of field '{raw['field']}'",
                    _did_you_mean(value, options) or f"choose from {', '.join(options)}",
                )
        return Selector(raw["field"], tuple(str(v) for v in raw["values"]))

    def _loss_reasons(self) -> tuple[str, ...]:
        reasons = tuple(self.raw.get("loss_reasons") or ())
        loss_field = (self.raw.get("fields") or {}).get("loss_reason")
        if reasons and not loss_field:
            self.report(
                own_codes.INVALID_PIPELINE_SETTING,
                ("loss_reasons",),
                "loss_reasons are listed but no loss_reason field is named",
                "add 'loss_reason: <field>' under 'fields'",
            )
            return ()
        options = self._option_ids(loss_field)
        for n, reason in enumerate(reasons):
            if options and reason not in options:
                self.report(
                    own_codes.INVALID_PIPELINE_SETTING,
                    ("loss_reasons", n),
                    f"loss reason '{reason}' is not an option of field '{loss_field}'",
                    _did_you_mean(reason, options),
                )
        return reasons

    def _idle(self) -> IdleSource | None:
        raw = self.raw.get("idle")
        if not raw:
            return None
        target = self.context.entities.get(raw["entity"])
        if target is None:
            self.report(
                own_codes.UNKNOWN_PIPELINE_ENTITY,
                ("idle", "entity"),
                f"idle entity '{raw['entity']}' does not exist",
                _did_you_mean(raw["entity"], self.context.entities),
            )
            return None
        ok = True
        target_fields = {f.id: f for f in target.fields}
        for key, accepts in IDLE_PARTS.items():
            fid = raw.get(key)
            if fid is None:
                continue
            fdef = target_fields.get(fid)
            if (
                fdef is None
                or not accepts(type_of(fdef))
                or (key == "link" and fdef.target != self.raw["entity"])
            ):
                ok = False
                what = f"a {'/'.join(type_names(accepts))} field of '{raw['entity']}'"
                if key == "link":
                    what = f"a link field of '{raw['entity']}' to '{self.raw['entity']}'"
                self.report(
                    own_codes.UNKNOWN_GATE_FIELD,
                    ("idle", key),
                    f"idle {key} '{fid}' is not {what}",
                    _did_you_mean(fid, target_fields),
                )
        if not ok:
            return None
        return IdleSource(raw["entity"], raw["link"], raw["date"], raw.get("done"))

    # -------------------------------------------------------------- stages

    def _stages(self) -> list[Stage]:
        raw_stages = self.raw["stages"]
        seen: dict[str, int] = {}
        stages: list[Stage] = []
        self.checklist_index: dict[str, list[str]] = {}  # item id -> stages listing it
        for index, raw in enumerate(raw_stages):
            ids: set[str] = set()
            for n, item in enumerate(raw.get("checklist") or ()):
                if item["id"] in ids:
                    self.report(
                        own_codes.DUPLICATE_CHECKLIST_ITEM,
                        ("stages", index, "checklist", n, "id"),
                        f"stage '{raw['id']}' lists checklist item '{item['id']}' twice",
                        "give each item of a stage its own id",
                    )
                ids.add(item["id"])
                self.checklist_index.setdefault(item["id"], []).append(raw["id"])
        for index, raw in enumerate(raw_stages):
            path: JsonPath = ("stages", index)
            sid = raw["id"]
            if sid in seen:
                self.report(
                    codes.DUPLICATE_ID,
                    path + ("id",),
                    f"stage id '{sid}' is used twice (first on line {seen[sid]})",
                    "give each stage its own id",
                )
                continue
            seen[sid] = self.doc.line(*path)
            kind = raw.get("kind", "open")
            stages.append(
                Stage(
                    id=sid,
                    label=Label.of(raw.get("label"), prettify(sid)),
                    kind=kind,
                    index=index,
                    color=raw.get("color") or DEFAULT_COLORS[kind],
                    probability=raw.get("probability"),
                    forecast_category=raw.get("forecast_category"),
                    idle_days=raw.get("idle_days"),
                    guidance=Label.of(raw["guidance"]) if raw.get("guidance") else None,
                    checklist=tuple(
                        ChecklistItem(item["id"], Label.of(item["label"]))
                        for item in raw.get("checklist") or ()
                    ),
                    gate=self._gate(path + ("gate",), raw.get("gate") or {}, sid),
                    retired=bool(raw.get("retired", False)),
                )
            )
        return stages

    def _expression(self, path: JsonPath, source: str, obj: str) -> Any:
        where = f"{obj} {path[-1]}"
        try:
            return compile_expression(source, self.names, where=where)
        except ExpressionError as exc:
            self.report(
                codes.EXPRESSION_LIMIT
                if isinstance(exc, ExpressionLimitError)
                else codes.INVALID_EXPRESSION,
                path,
                exc.message.removeprefix(f"{where}: "),
                exc.hint,
                obj=where,
            )
            return None

    def _gate(self, path: JsonPath, raw: dict, stage_id: str) -> Gate:
        obj = f"{self.obj} stage '{stage_id}' gate"
        required: list[RequiredField] = []
        for n, item in enumerate(raw.get("required") or ()):
            item_path = path + ("required", n)
            fid, condition = (
                (item, None) if isinstance(item, str) else (item["field"], item.get("if"))
            )
            if not self._known_field(
                item_path if isinstance(item, str) else item_path + ("field",),
                fid,
                "required field",
                GATE_EXTRA_FIELDS,
            ):
                continue
            compiled = self._expression(item_path + ("if",), condition, obj) if condition else None
            required.append(RequiredField(fid, compiled))
        rules: list[GateRule] = []
        for n, rule in enumerate(raw.get("rules") or ()):
            rule_path = path + ("rules", n)
            rule_obj = f"{obj} rule '{rule['id']}'"
            compiled = self._expression(rule_path + ("expression",), rule["expression"], rule_obj)
            fields = []
            for m, fid in enumerate(rule.get("fields") or ()):
                if self._known_field(
                    rule_path + ("fields", m), fid, "rule field", GATE_EXTRA_FIELDS
                ):
                    fields.append(fid)
            if not fields and compiled is not None:
                fields = [f for f in self.field_ids if f in compiled.names]
            if compiled is not None:
                rules.append(
                    GateRule(rule["id"], compiled, Label.of(rule["message"]), tuple(fields))
                )
        return Gate(tuple(required), tuple(rules), self._gate_checklist(path, raw))

    def _gate_checklist(self, path: JsonPath, raw: dict) -> tuple[tuple[str, str], ...]:
        """``item`` (unique in the pipeline) or ``stage.item`` -> (stage id, item id)."""
        found: list[tuple[str, str]] = []
        for n, ref in enumerate(raw.get("checklist") or ()):
            stage_id, _, item_id = ref.rpartition(".")
            owners = self.checklist_index.get(item_id, [])
            if stage_id and stage_id in owners:
                found.append((stage_id, item_id))
                continue
            if not stage_id and len(owners) == 1:
                found.append((owners[0], item_id))
                continue
            if not stage_id and owners:
                message = f"checklist item '{item_id}' is listed by stages {', '.join(owners)}"
                hint = f"name it as '{owners[0]}.{item_id}'"
            else:
                message = f"no stage has checklist item '{ref}'"
                hint = _did_you_mean(item_id, self.checklist_index) or (
                    "list the item under a stage's 'checklist' first"
                )
            self.report(own_codes.UNKNOWN_CHECKLIST_ITEM, path + ("checklist", n), message, hint)
        return tuple(found)

    # -------------------------------------------------------------- transitions

    def _transitions(self, stages: Mapping[str, Stage]) -> Transitions:
        raw = self.raw.get("transitions") or {}
        pairs: dict[str, set[tuple[str, str]]] = {"allow": set(), "deny": set()}
        for key in ("allow", "deny"):
            for n, item in enumerate(raw.get(key) or ()):
                path: JsonPath = ("transitions", key, n)
                source = item["from"]
                if source not in stages:
                    self.report(
                        own_codes.UNKNOWN_STAGE,
                        path + ("from",),
                        f"transition from unknown stage '{source}'",
                        _did_you_mean(source, stages),
                    )
                    continue
                for m, target in enumerate(item["to"]):
                    if target not in stages:
                        self.report(
                            own_codes.UNKNOWN_STAGE,
                            path + ("to", m),
                            f"transition to unknown stage '{target}'",
                            _did_you_mean(target, stages),
                        )
                    elif target == source:
                        self.report(
                            own_codes.BAD_TRANSITION,
                            path + ("to", m),
                            f"a transition from '{source}' to itself",
                            "a record already in a stage does not move",
                        )
                    elif key == "allow" and stages[target].retired:
                        self.report(
                            own_codes.BAD_TRANSITION,
                            path + ("to", m),
                            f"a transition into retired stage '{target}'",
                            "no record may enter a retired stage; remove it or un-retire the stage",
                        )
                    else:
                        pairs[key].add((source, target))
        both = pairs["allow"] & pairs["deny"]
        for source, target in sorted(both):
            self.report(
                own_codes.BAD_TRANSITION,
                ("transitions",),
                f"'{source}' -> '{target}' is both allowed and denied",
                "keep it in one list",
            )
        return Transitions(
            skip_forward=raw.get("skip_forward", True),
            backward=raw.get("backward", True),
            reopen=raw.get("reopen", True),
            cumulative_gates=raw.get("cumulative_gates", True),
            allow=frozenset(pairs["allow"]),
            deny=frozenset(pairs["deny"] - both),
        )

    # -------------------------------------------------------------- whole-pipeline checks

    def _check_order(self, pipeline: Pipeline) -> None:
        if not pipeline.open_stages:
            self.report(
                own_codes.INVALID_STAGE_ORDER,
                ("stages",),
                "the pipeline has no open (not retired) stage",
                "records start in the first open stage; add one",
            )
        seen_closed = False
        for stage in pipeline.stages:
            if stage.is_closed:
                seen_closed = True
            elif seen_closed:
                self.report(
                    own_codes.INVALID_STAGE_ORDER,
                    ("stages", stage.index),
                    f"open stage '{stage.id}' comes after a won or lost stage",
                    "list the open stages first, then the won and lost ones",
                )

    def _check_reachable(self, pipeline: Pipeline) -> None:
        start = pipeline.initial_stage
        reached = {start.id}
        frontier = [start]
        while frontier:
            current = frontier.pop()
            for stage in pipeline.active_stages:
                if stage.id not in reached and pipeline.allows(current.id, stage.id):
                    reached.add(stage.id)
                    frontier.append(stage)
        for stage in pipeline.active_stages:
            if stage.id not in reached:
                self.report(
                    own_codes.UNREACHABLE_STAGE,
                    ("stages", stage.index),
                    f"stage '{stage.id}' cannot be reached from '{start.id}'",
                    "allow a transition into it, or retire it",
                )

    def _check_stage_values(self, pipeline: Pipeline) -> None:
        category_options = self._option_ids(pipeline.fields.forecast_category)
        for stage in pipeline.stages:
            category = stage.forecast_category
            if category and category_options and category not in category_options:
                self.report(
                    own_codes.INVALID_PIPELINE_SETTING,
                    ("stages", stage.index, "forecast_category"),
                    f"forecast category '{category}' is not an option of field "
                    f"'{pipeline.fields.forecast_category}'",
                    _did_you_mean(category, category_options),
                )


def _check_entity_pipelines(
    context: CompileContext, docs: Mapping[str, Document], pipelines: Mapping[str, Pipeline]
) -> None:
    """Pipelines of one entity must not claim the same records."""
    by_entity: dict[str, list[Pipeline]] = {}
    for pipeline in pipelines.values():
        by_entity.setdefault(pipeline.entity, []).append(pipeline)
    for entity_id, group in by_entity.items():
        defaults = [p for p in group if p.is_default]
        for extra in defaults[1:]:
            context.report(
                own_codes.AMBIGUOUS_PIPELINE,
                docs[extra.id],
                ("default",),
                f"pipeline '{extra.id}'",
                f"entity '{entity_id}' already has the default pipeline '{defaults[0].id}'",
                "give this pipeline a selector, or set default: false",
            )
        claimed: dict[str, str] = {}
        selected = [p for p in group if p.selector]
        fields = {p.selector.field for p in selected if p.selector}
        if len(fields) > 1:
            for pipeline in selected[1:2]:
                context.report(
                    own_codes.AMBIGUOUS_PIPELINE,
                    docs[pipeline.id],
                    ("selector", "field"),
                    f"pipeline '{pipeline.id}'",
                    f"the pipelines of '{entity_id}' are chosen by different fields: "
                    f"{', '.join(sorted(fields))}",
                    "choose every pipeline of an entity by the same field",
                )
        for pipeline in group:
            for value in pipeline.selector.values if pipeline.selector else ():
                if value in claimed:
                    context.report(
                        own_codes.AMBIGUOUS_PIPELINE,
                        docs[pipeline.id],
                        ("selector", "values"),
                        f"pipeline '{pipeline.id}'",
                        f"value '{value}' also selects pipeline '{claimed[value]}'",
                        "each value may select one pipeline",
                    )
                else:
                    claimed[value] = pipeline.id


__all__ = [
    "EXTENSION_KEY",
    "ChecklistItem",
    "Gate",
    "GateRule",
    "IdleSource",
    "Pipeline",
    "PipelineFields",
    "RequiredField",
    "Selector",
    "Stage",
    "Transitions",
    "compile_pipelines",
    "pipeline_for_record",
    "pipelines_for_entity",
    "pipelines_of",
]
