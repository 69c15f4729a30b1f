"""Widget and dashboard configurations checked against the compiled model.

The same checks serve the definition compiler (``reports/``, ``dashboards/``: problems
with a check code) and the API (a user's own board: a 400 naming the field), so a
configuration a user saves can never be one the compiler would refuse.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.definition.model import Entity, FieldDef
from runtime.fieldtypes import type_of
from runtime.relative_dates import is_relative

BUCKETS = ("day", "week", "month", "quarter", "year")
MEASURE_FNS = ("count", "sum", "avg", "min", "max", "count_distinct")
FILTER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "contains", "isnull")
NAMED_TERMS = ("stage_kind",)  # the pipelines' named term, valid where a pipeline runs


@dataclass(frozen=True)
class Problem:
    """One mistake: ``code`` (a ``codes`` attribute name), the JSON path of the part at
    fault, what is wrong and what to do."""

    code: str
    path: tuple[Any, ...]
    message: str
    hint: str = ""

    @property
    def field(self) -> str:
        """The path as the API names it: ``widgets[0].measures[1].field``."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


def resolve_path(entities: Mapping[str, Entity], entity: Entity, path: str) -> FieldDef | None:
    """The field a (link) path ends at, or None when a hop is unknown or not a link."""
    hops = path.split(".")
    current = entity
    for hop in hops[:-1]:
        fdef = _field_of(current, hop)
        if fdef is None or fdef.target is None or fdef.target not in entities:
            return None
        current = entities[fdef.target]
    return _field_of(current, hops[-1])


def _field_of(entity: Entity, field_id: str) -> FieldDef | None:
    for fdef in (*entity.fields, *entity.all_system_fields):
        if fdef.id == field_id:
            return fdef
    return None


def field_ids(entity: Entity) -> list[str]:
    return [f.id for f in (*entity.fields, *entity.all_system_fields)]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), sorted(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


def is_temporal(fdef: FieldDef) -> bool:
    return bool(type_of(fdef).value_type(fdef).temporal)


def measure_fits(fn: str, fdef: FieldDef) -> bool:
    """Whether measure ``fn`` applies to ``fdef`` (as ``Repository.aggregate`` judges)."""
    ftype = type_of(fdef)
    if ftype.holds_rows:
        return False
    if fn in ("count", "count_distinct"):
        return True
    value = ftype.value_type(fdef)
    numeric = ftype.is_numeric(fdef) and not value.boolean
    if fn in ("sum", "avg"):
        return numeric
    return numeric or bool(value.temporal)


class WidgetChecker:
    """The problems of one widget configuration (already shaped by its JSON Schema)."""

    def __init__(
        self,
        entities: Mapping[str, Entity],
        kinds: Mapping[str, Any],
        staged: Sequence[str] = (),
        reports: Sequence[str] | None = None,
    ):
        self.entities = entities
        self.kinds = kinds
        self.staged = set(staged)  # entities a pipeline runs on (stage, stage_kind)
        self.reports = reports  # report ids a dashboard widget may name (None: unchecked)

    def check(self, widget: Mapping[str, Any], at: tuple[Any, ...] = ()) -> list[Problem]:
        kind = self.kinds.get(widget.get("kind"))
        if kind is None:
            return [
                Problem(
                    "UNKNOWN_WIDGET_KIND",
                    (*at, "kind"),
                    f"unknown widget kind '{widget.get('kind')}'",
                    did_you_mean(widget.get("kind", ""), list(self.kinds)),
                )
            ]
        entity = self.entities.get(widget.get("entity", ""))
        if entity is None:
            return [
                Problem(
                    "UNKNOWN_REPORT_ENTITY",
                    (*at, "entity"),
                    f"unknown entity '{widget.get('entity')}'",
                    did_you_mean(widget.get("entity", ""), list(self.entities)),
                )
            ]
        return [
            *self._dimensions(entity, widget, at),
            *self._measures(entity, widget, at),
            *self._filters(entity, widget.get("filters") or [], (*at, "filters")),
            *self._sort(widget, at),
            *kind.check(widget, entity, self, at),
        ]

    def unknown_field(self, entity: Entity, path: str, at: tuple[Any, ...]) -> Problem:
        return Problem(
            "UNKNOWN_REPORT_FIELD",
            at,
            f"{entity.id} has no field or link path '{path}'",
            did_you_mean(path, field_ids(entity)),
        )

    def _dimensions(self, entity, widget, at) -> list[Problem]:
        problems = []
        for i, dim in enumerate(widget.get("dimensions") or []):
            place = (*at, "dimensions", i)
            fdef = resolve_path(self.entities, entity, dim["field"])
            if fdef is None:
                problems.append(self.unknown_field(entity, dim["field"], (*place, "field")))
            elif dim.get("bucket") and not is_temporal(fdef):
                problems.append(
                    Problem(
                        "INVALID_BUCKET",
                        (*place, "bucket"),
                        f"'{dim['field']}' is not a date or date-time field: "
                        f"it cannot be bucketed by {dim['bucket']}",
                        "drop the bucket, or group by a date field",
                    )
                )
        return problems

    def _measures(self, entity, widget, at) -> list[Problem]:
        problems = []
        for i, measure in enumerate(widget.get("measures") or []):
            place = (*at, "measures", i)
            name = measure.get("field")
            if name is None:
                if measure["fn"] != "count":
                    problems.append(
                        Problem(
                            "INVALID_MEASURE",
                            (*place, "field"),
                            f"measure '{measure['fn']}' needs a field",
                            "name the field to measure, or use count",
                        )
                    )
                continue
            fdef = resolve_path(self.entities, entity, name)
            if fdef is None:
                problems.append(self.unknown_field(entity, name, (*place, "field")))
            elif not measure_fits(measure["fn"], fdef):
                problems.append(
                    Problem(
                        "INVALID_MEASURE",
                        (*place, "fn"),
                        f"'{measure['fn']}' does not apply to '{name}' ({fdef.type} field)",
                        "sum and avg need a number or money field; min and max a number or date",
                    )
                )
        return problems

    def _filters(self, entity, filters, at) -> list[Problem]:
        problems = []
        for i, item in enumerate(filters):
            place = (*at, i)
            name = item["field"]
            if name in NAMED_TERMS:
                if entity.id not in self.staged:
                    problems.append(self.unknown_field(entity, name, (*place, "field")))
                continue
            fdef = resolve_path(self.entities, entity, name)
            if fdef is None:
                problems.append(self.unknown_field(entity, name, (*place, "field")))
                continue
            op = item.get("op", "eq")
            if is_relative(item.get("value")) and not is_temporal(fdef):
                problems.append(
                    Problem(
                        "INVALID_REPORT_FILTER",
                        (*place, "value"),
                        f"'{item.get('value')}' is a relative date, but '{name}' is not a date",
                    )
                )
            elif op not in _operators(fdef):
                problems.append(
                    Problem(
                        "INVALID_REPORT_FILTER",
                        (*place, "op"),
                        f"operator '{op}' does not apply to '{name}' ({fdef.type} field)",
                        "use one of " + ", ".join(_operators(fdef)),
                    )
                )
        return problems

    def _sort(self, widget, at) -> list[Problem]:
        keys = {dimension_key(d) for d in widget.get("dimensions") or []}
        keys |= {measure_key(m) for m in widget.get("measures") or []}
        return [
            Problem(
                "UNKNOWN_REPORT_FIELD",
                (*at, "sort", i),
                f"sort '{key}' is neither a dimension nor a measure of the widget",
                did_you_mean(key.lstrip("-"), sorted(keys)),
            )
            for i, key in enumerate(widget.get("sort") or [])
            if key.lstrip("-") not in keys
        ]


def _operators(fdef: FieldDef) -> tuple[str, ...]:
    ftype = type_of(fdef)
    return ftype.operators if ftype.is_stored(fdef) else ftype.filter_operators(fdef)


def dimension_key(dim: Mapping[str, Any]) -> str:
    return f"{dim['field']}:{dim['bucket']}" if dim.get("bucket") else dim["field"]


def measure_key(measure: Mapping[str, Any]) -> str:
    return f"{measure['fn']}:{measure['field']}" if measure.get("field") else measure["fn"]
