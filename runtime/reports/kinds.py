"""Widget kinds: a registry of small classes, each saying which parts it needs, how it
queries (through ``ReportContext.aggregate``: SQL with the viewer's scope) and how its
result is shown (rows or a value, the ECharts option, the drill-down of each datum).

An extension adds a kind by subclassing ``WidgetKind`` and passing the registry made by
``kind_registry(extra)`` (the built-in kinds are registered the same way)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from . import charts
from .engine import ReportContext, datum_filters
from .numbers import as_float, percent, short_number
from .spec import Problem, dimension_key, measure_key

PERIOD_SHIFT = {f"this_{u}": f"last_{u}" for u in ("week", "month", "quarter", "year")}


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class WidgetKind:
    """One kind. ``dimensions``/``measures``: how many of each it takes (min, max)."""

    name: ClassVar[str] = ""
    dimensions: ClassVar[tuple[int, int]] = (0, 4)
    measures: ClassVar[tuple[int, int]] = (1, 10)
    default_limit: ClassVar[int] = 1000

    def check(self, widget, entity, checker, at) -> list[Problem]:
        problems = []
        for part, (low, high) in (("dimensions", self.dimensions), ("measures", self.measures)):
            count = len(widget.get(part) or [])
            if part == "measures" and count == 0 and low > 0:
                continue  # no measures means count
            if not low <= count <= high:
                problems.append(
                    Problem(
                        "MISSING_WIDGET_PART",
                        (*at, part),
                        f"a {self.name} widget takes {low} to {high} {part}, not {count}",
                    )
                )
        return problems

    def entities(self, widget: Mapping[str, Any]) -> list[str]:
        """The entities whose writes make this widget's cached results stale."""
        return [widget["entity"]]

    # -- the common grouped query

    def measures_of(self, widget) -> list[dict]:
        return list(widget.get("measures") or [{"fn": "count"}])

    def grouped(self, ctx: ReportContext, widget, filters, dims=None) -> Any:
        dims = list(widget.get("dimensions") or []) if dims is None else dims
        return ctx.aggregate(
            widget["entity"],
            filters,
            dims,
            self.measures_of(widget),
            widget.get("sort") or (),
            widget.get("limit") or self.default_limit,
        )

    def rows_of(self, ctx, widget, filters, result) -> tuple[list[dict], list[dict]]:
        """JSON rows (with each dimension's label) and each row's drill-down."""
        dims = list(widget.get("dimensions") or [])
        stages = (
            stage_labels(ctx.model, widget["entity"])
            if any(d["field"] == "stage" for d in dims)
            else {}
        )
        rows, drill = [], []
        for row in result.rows:
            labels = dict(row.get("labels") or {})
            if stages and row.get("stage") in stages:
                labels.setdefault("stage", stages[row["stage"]])
            out = {k: jsonable(v) for k, v in row.items() if k != "labels"}
            out["labels"] = {
                dimension_key(d): self.text(
                    labels.get(dimension_key(d)), row.get(dimension_key(d)), ctx
                )
                for d in dims
            }
            rows.append(out)
            text = " / ".join(out["labels"].values()) or ctx.label(widget.get("title"))
            where = [*filters, *datum_filters(widget, dims, row)]
            drill.append({"label": text, "url": ctx.drill(widget["entity"], where)})
        return rows, drill

    @staticmethod
    def text(label: Any, value: Any, ctx: ReportContext) -> str:
        if label not in (None, ""):
            return ctx.label(label)
        if value is None:
            return "-" if ctx.locale.startswith("zh") else "(none)"
        return str(jsonable(value))

    def run(self, ctx: ReportContext, widget, filters) -> dict[str, Any]:
        raise NotImplementedError


class TableKind(WidgetKind):
    name = "table"

    def run(self, ctx, widget, filters):
        result = self.grouped(ctx, widget, filters)
        rows, drill = self.rows_of(ctx, widget, filters, result)
        return {"rows": rows, "drill": drill, "has_more": result.has_more, "echarts": None,
                "columns": columns_of(widget, result)}  # fmt: skip


def columns_of(widget, result) -> list[str]:
    return [
        *(dimension_key(d) for d in widget.get("dimensions") or []),
        *result.currency_keys,
        *(measure_key(m) for m in widget.get("measures") or [{"fn": "count"}]),
    ]


class BarKind(WidgetKind):
    """Bars per the first dimension; a second dimension makes one series per value."""

    name = "bar"
    dimensions = (1, 2)
    horizontal = False

    def run(self, ctx, widget, filters):
        result = self.grouped(ctx, widget, filters)
        rows, drill = self.rows_of(ctx, widget, filters, result)
        dims = widget["dimensions"]
        measures = self.measures_of(widget)
        first = dimension_key(dims[0])
        categories = list(dict.fromkeys(r["labels"][first] for r in rows))
        if len(dims) == 1:
            series = [
                (self.measure_label(m, ctx), [r[measure_key(m)] for r in rows]) for m in measures
            ]
        else:
            second = dimension_key(dims[1])
            key = measure_key(measures[0])
            names = list(dict.fromkeys(r["labels"][second] for r in rows))
            cells = {(r["labels"][first], r["labels"][second]): r[key] for r in rows}
            series = [(n, [cells.get((c, n), 0) for c in categories]) for n in names]
        option = charts.cartesian(
            self.name, categories, series, ctx.locale, horizontal=self.horizontal
        )
        return {"rows": rows, "drill": drill, "has_more": result.has_more, "echarts": option}

    @staticmethod
    def measure_label(measure, ctx) -> str:
        return ctx.label(measure.get("label")) or measure_key(measure)


class StackedBarKind(BarKind):
    name = "stacked_bar"
    dimensions = (2, 2)
    measures = (1, 1)


class LineKind(BarKind):
    name = "line"


class AreaKind(BarKind):
    name = "area"


class LeaderboardKind(BarKind):
    """The top N of one dimension by one measure, largest first."""

    name = "leaderboard"
    dimensions = (1, 1)
    measures = (1, 1)
    default_limit = 10
    horizontal = True

    def grouped(self, ctx, widget, filters, dims=None):
        widget = {
            **widget,
            "sort": widget.get("sort") or ["-" + measure_key(self.measures_of(widget)[0])],
        }
        return super().grouped(ctx, widget, filters, dims)


class PieKind(WidgetKind):
    name = "pie"
    dimensions = (1, 1)
    measures = (1, 1)

    def run(self, ctx, widget, filters):
        result = self.grouped(ctx, widget, filters)
        rows, drill = self.rows_of(ctx, widget, filters, result)
        key, dim = measure_key(self.measures_of(widget)[0]), dimension_key(widget["dimensions"][0])
        names = [r["labels"][dim] for r in rows]
        option = charts.pie(self.name, names, [r[key] for r in rows], ctx.locale)
        return {"rows": rows, "drill": drill, "has_more": result.has_more, "echarts": option}


class DonutKind(PieKind):
    name = "donut"


class FunnelKind(PieKind):
    """One measure per stage (or any dimension), in the pipeline's order, with each
    step's share of the previous one."""

    name = "funnel"

    def run(self, ctx, widget, filters):
        result = self.grouped(ctx, widget, filters)
        rows, drill = self.rows_of(ctx, widget, filters, result)
        dim = widget["dimensions"][0]["field"]
        order = stage_order(ctx.model, widget["entity"]) if dim == "stage" else {}
        paired = sorted(zip(rows, drill, strict=True), key=lambda p: order.get(p[0].get(dim), 999))
        rows, drill = [p[0] for p in paired], [p[1] for p in paired]
        key = measure_key(self.measures_of(widget)[0])
        for before, row in zip([None, *rows], rows, strict=False):
            share = (
                as_float(row[key]) / as_float(before[key])
                if before and as_float(before[key])
                else None
            )
            row["of_previous"] = share
        names = [r["labels"][dimension_key(widget["dimensions"][0])] for r in rows]
        option = charts.funnel(names, [r[key] for r in rows], ctx.locale)
        return {"rows": rows, "drill": drill, "has_more": result.has_more, "echarts": option}


def _stages_once(model, entity_id: str) -> dict[str, Any]:
    """Each stage id of the entity's pipelines once (the first pipeline's wins), in order."""
    from runtime.features.pipelines.definition import pipelines_for_entity

    stages: dict[str, Any] = {}
    for pipeline in pipelines_for_entity(model, entity_id):
        for stage in pipeline.stages:
            stages.setdefault(stage.id, stage)
    return stages


def stage_labels(model, entity_id: str) -> dict[str, Any]:
    return {sid: stage.label for sid, stage in _stages_once(model, entity_id).items()}


def stage_order(model, entity_id: str) -> dict[str, int]:
    return {sid: i for i, sid in enumerate(_stages_once(model, entity_id))}


class PivotKind(WidgetKind):
    """Rows x columns x one measure: a matrix and a heat map."""

    name = "pivot"
    dimensions = (2, 2)
    measures = (1, 1)

    def run(self, ctx, widget, filters):
        result = self.grouped(ctx, widget, filters)
        rows, drill = self.rows_of(ctx, widget, filters, result)
        first, second = (dimension_key(d) for d in widget["dimensions"])
        key = measure_key(self.measures_of(widget)[0])
        row_names = list(dict.fromkeys(r["labels"][first] for r in rows))
        col_names = list(dict.fromkeys(r["labels"][second] for r in rows))
        cells = {(r["labels"][first], r["labels"][second]): r[key] for r in rows}
        matrix = [[cells.get((a, b), 0) for b in col_names] for a in row_names]
        return {
            "rows": rows,
            "drill": drill,
            "has_more": result.has_more,
            "pivot": {"rows": row_names, "columns": col_names, "cells": matrix,
                      "row_totals": [sum(as_float(v) for v in line) for line in matrix],
                      "column_totals": [sum(as_float(line[i]) for line in matrix)
                                        for i in range(len(col_names))]},
            "echarts": charts.heatmap(row_names, col_names, matrix, ctx.locale),
        }  # fmt: skip


class KpiKind(WidgetKind):
    """One number; ``options.compare: previous_period`` also runs it for the period
    before (``this_quarter`` filters become ``last_quarter``), ``options.target`` gives
    the share of a target reached."""

    name = "kpi"
    dimensions = (0, 0)
    measures = (1, 1)

    def run(self, ctx, widget, filters):
        key = measure_key(self.measures_of(widget)[0])
        value = self.total(ctx, widget, filters, key)
        out: dict[str, Any] = {"value": value, "text": short_number(value, ctx.locale)}
        options = widget.get("options") or {}
        if options.get("compare") == "previous_period":
            earlier = shifted(filters)
            if earlier is not None:
                previous = self.total(ctx, widget, earlier, key)
                out["previous"] = previous
                out["change"] = (value - previous) / previous if previous else None
                out["change_text"] = percent(out["change"])
        if options.get("target"):
            target = float(options["target"])
            out["target"] = target
            out["of_target"] = value / target if target else None
            out["of_target_text"] = percent(out["of_target"])
        out["drill"] = [{"label": out["text"], "url": ctx.drill(widget["entity"], filters)}]
        out["echarts"] = (
            charts.gauge(out["of_target"], ctx.locale, out["of_target_text"])
            if "target" in out
            else None
        )
        return out

    def total(self, ctx, widget, filters, key) -> float:
        result = self.grouped(ctx, widget, filters, dims=[])
        return sum(as_float(row.get(key)) for row in result.rows)


def shifted(filters: Sequence[Mapping[str, Any]]) -> list[dict] | None:
    """The filters for the period before (None when no filter names a this_ period)."""
    moved = False
    out = []
    for item in filters:
        value = item.get("value")
        if isinstance(value, str) and value in PERIOD_SHIFT:
            item, moved = {**item, "value": PERIOD_SHIFT[value]}, True
        out.append(dict(item))
    return out if moved else None


BUILT_IN: tuple[type[WidgetKind], ...] = (
    KpiKind,
    BarKind,
    StackedBarKind,
    LineKind,
    AreaKind,
    PieKind,
    DonutKind,
    FunnelKind,
    TableKind,
    PivotKind,
    LeaderboardKind,
)


def kind_registry(extra: Iterable[type[WidgetKind]] = ()) -> dict[str, WidgetKind]:
    """Kind name -> kind object: the built-in ones, the sales analytics, then ``extra``."""
    from .analytics import ANALYTICS

    registry: dict[str, WidgetKind] = {}
    for cls in (*BUILT_IN, *ANALYTICS, *extra):
        if cls.name in registry:
            raise ValueError(f"widget kind {cls.name!r} is registered twice")
        registry[cls.name] = cls()
    return registry
