"""The sales analytics of docs/reports.md (DOMAIN's formulas) as widget kinds.

Each works on an entity a pipeline runs on and pushes its arithmetic into SQL: win rate
and deal size are grouped queries through ``Repository.aggregate``; sales cycle and the
stage-history funnel run on ``Repository.readable_rows`` (the viewer's row scope and
the widget's filters applied there) and ``sys_stage_history``.

* win_rate: won / (won + lost) among the deals the filters keep (closed in the period:
  filter the closed date), by count and by value (sum of amount won / won + lost).
* avg_deal_size: sum(amount won) / number won.
* sales_cycle: mean and median of (closed date - created date) in days, won deals.
* stage_conversion: for each open stage k and won, the records that reached stage >= k
  (from stage history and the current stage: re-entries count once), and
  reached(k+1) / reached(k).
* sales_velocity: open deals x win rate x average deal size / mean cycle, per day.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, Integer, case, cast, func, literal, select, union_all

from . import charts
from .kinds import WidgetKind
from .numbers import as_float, percent, short_number
from .spec import Problem


def pipeline_of(model: Any, entity_id: str) -> Any:
    from runtime.features.pipelines.definition import pipelines_for_entity

    found = pipelines_for_entity(model, entity_id)
    return found[0] if found else None


def stage_kinds(model: Any, entity_id: str) -> dict[str, str]:
    """Stage id -> open / won / lost across every pipeline of the entity."""
    from runtime.features.pipelines.definition import pipelines_for_entity

    return {s.id: s.kind for p in pipelines_for_entity(model, entity_id) for s in p.stages}


class PipelineKind(WidgetKind):
    """An analytic of an entity a pipeline runs on (no dimensions or measures)."""

    dimensions = (0, 0)
    measures = (0, 0)

    def check(self, widget, entity, checker, at):
        if entity.id not in checker.staged:
            return [
                Problem(
                    "MISSING_WIDGET_PART",
                    (*at, "entity"),
                    f"a {self.name} widget needs an entity a pipeline runs on; "
                    f"'{entity.id}' has none",
                )
            ]
        return super().check(widget, entity, checker, at)

    def closed_totals(self, ctx, widget, filters) -> dict[str, tuple[int, float]]:
        """Stage kind -> (count, sum of the pipeline's amount) of the closed deals."""
        pipeline = pipeline_of(ctx.model, widget["entity"])
        amount = pipeline.fields.amount
        measures = [{"fn": "count"}] + ([{"fn": "sum", "field": amount}] if amount else [])
        kinds = stage_kinds(ctx.model, widget["entity"])
        result = ctx.aggregate(
            widget["entity"],
            [*filters, {"field": "stage_kind", "op": "in", "value": ["won", "lost"]}],
            [{"field": "stage"}],
            measures,
        )
        totals: dict[str, tuple[int, float]] = {"won": (0, 0.0), "lost": (0, 0.0)}
        for row in result.rows:
            kind = kinds.get(row["stage"])
            if kind in totals:
                count, value = totals[kind]
                totals[kind] = (count + row["count"], value + as_float(row.get(f"sum:{amount}")))
        return totals

    def won_filters(self, filters):
        return [*filters, {"field": "stage_kind", "op": "eq", "value": "won"}]


class WinRateKind(PipelineKind):
    name = "win_rate"

    def run(self, ctx, widget, filters):
        totals = self.closed_totals(ctx, widget, filters)
        (won, won_value), (lost, lost_value) = totals["won"], totals["lost"]
        by_count = won / (won + lost) if won + lost else None
        by_value = won_value / (won_value + lost_value) if won_value + lost_value else None
        closed = [*filters, {"field": "stage_kind", "op": "in", "value": ["won", "lost"]}]
        return {
            "value": by_count,
            "text": percent(by_count),
            "by_value": by_value,
            "by_value_text": percent(by_value),
            "won": won,
            "lost": lost,
            "drill": [
                {"label": percent(by_count), "url": ctx.drill(widget["entity"], closed)},
                {"label": "won", "url": ctx.drill(widget["entity"], self.won_filters(filters))},
            ],
            "echarts": charts.gauge(by_count, ctx.locale, percent(by_count)),
        }


class AverageDealSizeKind(PipelineKind):
    name = "avg_deal_size"

    def run(self, ctx, widget, filters):
        won, value = self.closed_totals(ctx, widget, filters)["won"]
        average = value / won if won else None
        return {
            "value": average,
            "text": short_number(average, ctx.locale) if average is not None else "-",
            "won": won,
            "drill": [
                {"label": str(won), "url": ctx.drill(widget["entity"], self.won_filters(filters))}
            ],
            "echarts": None,
        }


def cycle_days(ctx, widget, filters) -> tuple[int, float | None, float | None]:
    """(won deals, mean days, median days) from created to closed, in SQL."""
    pipeline = pipeline_of(ctx.model, widget["entity"])
    closed_field = pipeline.fields.closed_date
    if closed_field is None:
        return 0, None, None
    rows = ctx.repo.readable_rows(
        ctx.user,
        widget["entity"],
        filters=[tuple_of(f) for f in PipelineKind().won_filters(filters)],
    )
    ctx.queries.append(widget["entity"])
    closed, created = rows.c[closed_field], rows.c.created_at
    dialect = ctx.repo.db.engine.dialect.name
    if dialect == "postgresql":
        days = cast(closed, Date) - cast(created, Date)
    else:
        days = func.julianday(closed) - func.julianday(func.date(created))
    days = cast(days, Integer).label("days")
    measured = select(days).where(closed.is_not(None)).subquery("cycle")
    with ctx.repo.db.engine.connect() as conn:
        count, mean = conn.execute(select(func.count(), func.avg(measured.c.days))).one()
        median = None
        if count:
            ordered = select(measured.c.days).order_by(measured.c.days)
            low = conn.execute(ordered.offset((count - 1) // 2).limit(1)).scalar()
            high = conn.execute(ordered.offset(count // 2).limit(1)).scalar()
            median = (low + high) / 2
    return int(count or 0), (float(mean) if mean is not None else None), median


def tuple_of(item):
    return (item["field"], item.get("op", "eq"), item.get("value"))


class SalesCycleKind(PipelineKind):
    name = "sales_cycle"

    def run(self, ctx, widget, filters):
        count, mean, median = cycle_days(ctx, widget, filters)
        unit = "天" if ctx.locale.startswith("zh") else "days"
        return {
            "value": mean,
            "median": median,
            "won": count,
            "text": "-" if mean is None else f"{mean:.1f} {unit}",
            "median_text": "-" if median is None else f"{median:.1f} {unit}",
            "drill": [
                {
                    "label": str(count),
                    "url": ctx.drill(widget["entity"], PipelineKind().won_filters(filters)),
                }
            ],
            "echarts": None,
        }


class StageConversionKind(PipelineKind):
    """The cohort funnel from stage history: records reaching each stage or a later one."""

    name = "stage_conversion"

    def entities(self, widget):
        return [widget["entity"]]  # stage history is written in the entity's own writes

    def run(self, ctx, widget, filters):
        from runtime.features.pipelines.stage_history import table as history

        pipeline = pipeline_of(ctx.model, widget["entity"])
        steps = [s for s in pipeline.stages if s.kind in ("open", "won") and not s.retired]
        rank = {s.id: i for i, s in enumerate(steps)}
        readable = ctx.repo.readable_rows(
            ctx.user, widget["entity"], filters=[tuple_of(f) for f in filters]
        )
        ctx.queries.append(widget["entity"])
        ranked = case(
            {sid: literal(i) for sid, i in rank.items()}, value=history.c.to_stage, else_=-1
        )
        current = case(
            {sid: literal(i) for sid, i in rank.items()}, value=readable.c.stage, else_=-1
        )
        reached_rows = union_all(
            select(history.c.record_id.label("rid"), ranked.label("r")).where(
                history.c.entity == widget["entity"],
                history.c.record_id.in_(select(readable.c.id)),
            ),
            select(readable.c.id.label("rid"), current.label("r")),
        ).subquery("reached")
        best = (
            select(reached_rows.c.rid, func.max(reached_rows.c.r).label("top"))
            .group_by(reached_rows.c.rid)
            .subquery("best")
        )
        query = select(best.c.top, func.count()).group_by(best.c.top)
        with ctx.repo.db.engine.connect() as conn:
            at_top = {int(top): int(n) for top, n in conn.execute(query) if top is not None}
        rows, drill, running = [], [], 0
        for i in range(len(steps) - 1, -1, -1):
            running += at_top.get(i, 0)
            rows.append(
                {"stage": steps[i].id, "label": ctx.label(steps[i].label), "reached": running}
            )
        rows.reverse()
        for before, row in zip([None, *rows], rows, strict=False):
            row["conversion"] = (
                row["reached"] / before["reached"] if before and before["reached"] else None
            )
            row["conversion_text"] = percent(row["conversion"]) if before else ""
            drill.append(
                {
                    "label": row["label"],
                    "url": ctx.drill(
                        widget["entity"],
                        [*filters, {"field": "stage", "op": "eq", "value": row["stage"]}],
                    ),
                }
            )
        option = charts.funnel([r["label"] for r in rows], [r["reached"] for r in rows], ctx.locale)
        return {"rows": rows, "drill": drill, "echarts": option}


class SalesVelocityKind(PipelineKind):
    name = "sales_velocity"

    def run(self, ctx, widget, filters):
        totals = self.closed_totals(ctx, widget, filters)
        (won, won_value), (lost, _) = totals["won"], totals["lost"]
        _, mean_cycle, _ = cycle_days(ctx, widget, filters)
        open_filters = [
            *((widget.get("options") or {}).get("open_filters") or []),
            {"field": "stage_kind", "op": "eq", "value": "open"},
        ]
        open_count = ctx.aggregate(widget["entity"], open_filters).rows[0]["count"]
        rate = won / (won + lost) if won + lost else 0.0
        size = won_value / won if won else 0.0
        velocity = open_count * rate * size / mean_cycle if mean_cycle else None
        return {
            "value": velocity,
            "text": "-" if velocity is None else short_number(velocity, ctx.locale),
            "open": open_count,
            "win_rate": rate,
            "avg_deal_size": size,
            "cycle_days": mean_cycle,
            "drill": [{"label": str(open_count), "url": ctx.drill(widget["entity"], open_filters)}],
            "echarts": None,
        }


ANALYTICS = (
    WinRateKind,
    AverageDealSizeKind,
    SalesCycleKind,
    StageConversionKind,
    SalesVelocityKind,
)
