"""ECharts option JSON built on the server from grouped rows: labels in the viewer's
language, big amounts as 万/亿 (zh) or K/M (en) strings set on each datum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .numbers import as_float, short_number


def datum(value: Any, locale: str, name: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "value": as_float(value),
        "label": {"formatter": short_number(value, locale)},
    }
    if name is not None:
        item["name"] = name
    return item


def cartesian(
    kind: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Any]]],
    locale: str,
    *,
    horizontal: bool = False,
) -> dict[str, Any]:
    """Bar, stacked bar, line or area: one category axis, a series per name."""
    chart = "line" if kind in ("line", "area") else "bar"
    built = []
    for name, values in series:
        item: dict[str, Any] = {
            "name": name,
            "type": chart,
            "data": [datum(v, locale) for v in values],
            "label": {"show": chart == "bar" and len(series) == 1, "position": "top"},
        }
        if kind == "stacked_bar":
            item["stack"] = "total"
            item["label"] = {"show": False}
        if kind == "area":
            item["areaStyle"] = {}
            item["smooth"] = True
        built.append(item)
    category_axis = {"type": "category", "data": list(categories)}
    value_axis = {"type": "value"}
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1, "data": [name for name, _ in series]},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 32, "containLabel": True},
        "xAxis": value_axis if horizontal else category_axis,
        "yAxis": category_axis if horizontal else value_axis,
        "series": built,
    }


def pie(kind: str, names: Sequence[str], values: Sequence[Any], locale: str) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "item"},
        "legend": {"type": "scroll", "bottom": 0},
        "series": [
            {
                "type": "pie",
                "radius": ["45%", "70%"] if kind == "donut" else "70%",
                "data": [datum(v, locale, n) for n, v in zip(names, values, strict=True)],
                "label": {"show": True},
            }
        ],
    }


def funnel(names: Sequence[str], values: Sequence[Any], locale: str) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "funnel",
                "sort": "none",
                "left": "10%",
                "width": "80%",
                "data": [datum(v, locale, n) for n, v in zip(names, values, strict=True)],
                "label": {"show": True, "position": "inside"},
            }
        ],
    }


def heatmap(
    rows: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[Any]], locale: str
) -> dict[str, Any]:
    data = [
        {"value": [x, y, as_float(v)], "label": {"formatter": short_number(v, locale)}}
        for y, line in enumerate(cells)
        for x, v in enumerate(line)
    ]
    top = max((as_float(v) for line in cells for v in line), default=0.0)
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 8, "right": 8, "bottom": 48, "top": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": list(columns)},
        "yAxis": {"type": "category", "data": list(rows)},
        "visualMap": {"min": 0, "max": top or 1, "calculable": True, "orient": "horizontal",
                      "left": "center", "bottom": 0},
        "series": [{"type": "heatmap", "data": data, "label": {"show": True}}],
    }  # fmt: skip


def gauge(value: float | None, locale: str, text: str) -> dict[str, Any]:
    return {
        "series": [
            {
                "type": "gauge",
                "min": 0,
                "max": 100,
                "progress": {"show": True},
                "detail": {"formatter": text},
                "data": [{"value": round((value or 0) * 100, 1)}],
            }
        ]
    }
