"""Compile steps of ``reports/`` and ``dashboards/``: every widget checked against the
entities (``runtime.reports.spec``), problems reported with the feature's codes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from runtime.features.reports import codes as own_codes
from runtime.reports.kinds import kind_registry
from runtime.reports.spec import Problem, WidgetChecker, resolve_path

REPORTS_KEY = "reports"
DASHBOARDS_KEY = "dashboards"


def staged_entities(entities: Mapping[str, Any]) -> list[str]:
    """The entities a pipeline runs on (they have the pipelines' ``stage`` column)."""
    return [eid for eid, e in entities.items() if e.system_field("stage") is not None]


def checker_for(entities: Mapping[str, Any]) -> WidgetChecker:
    return WidgetChecker(entities, kind_registry(), staged_entities(entities))


def _report(context, doc, problem: Problem, obj: str) -> None:
    context.report(
        getattr(own_codes, problem.code), doc, problem.path, obj, problem.message, problem.hint
    )


def _unique(context, doc, seen: dict, key: str, path, what: str) -> bool:
    if key in seen:
        context.report(
            own_codes.DUPLICATE_REPORT_ID, doc, path, f"{what} '{key}'",
            f"{what} id '{key}' is already used in {seen[key]}", f"give each {what} its own id",
        )  # fmt: skip
        return False
    seen[key] = getattr(doc, "file", "")
    return True


def compile_reports(context, docs) -> Mapping[str, Any]:
    checker = checker_for(context.entities)
    found: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for doc in docs:
        widget = doc.data
        if not _unique(context, doc, seen, widget["id"], ("id",), "report"):
            continue
        problems = checker.check(widget)
        for problem in problems:
            _report(context, doc, problem, f"report '{widget['id']}'")
        if not problems:
            found[widget["id"]] = copy.deepcopy(widget)
    return MappingProxyType(found)


compile_reports.kind = "report"  # type: ignore[attr-defined]


def dashboard_problems(checker: WidgetChecker, board: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a dashboard (its filters and inline widgets; a widget naming a
    report is checked when the board is served, against the compiled reports)."""
    problems: list[Problem] = []
    ids: set[str] = set()
    for i, spec in enumerate(board.get("filters") or []):
        fields = [
            resolve_path(checker.entities, entity, spec["field"])
            for entity in checker.entities.values()
        ]
        if not any(fields):
            problems.append(
                Problem("UNKNOWN_REPORT_FIELD", ("filters", i, "field"),
                        f"no entity has a field or link path '{spec['field']}'")
            )  # fmt: skip
    for i, widget in enumerate(board.get("widgets") or []):
        wid = widget.get("id") or widget.get("report")
        if wid in ids:
            problems.append(
                Problem(
                    "DUPLICATE_REPORT_ID", ("widgets", i, "id"), f"widget id '{wid}' is used twice"
                )
            )
        ids.add(wid)
        if "kind" in widget:
            problems.extend(checker.check(widget, ("widgets", i)))
    return problems


def compile_dashboards(context, docs) -> Mapping[str, Any]:
    checker = checker_for(context.entities)
    found: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for doc in docs:
        board = doc.data
        if not _unique(context, doc, seen, board["id"], ("id",), "dashboard"):
            continue
        problems = dashboard_problems(checker, board)
        for problem in problems:
            _report(context, doc, problem, f"dashboard '{board['id']}'")
        if not problems:
            found[board["id"]] = copy.deepcopy(board)
    return MappingProxyType(found)


compile_dashboards.kind = "dashboard"  # type: ignore[attr-defined]


def reports_of(model: Any) -> Mapping[str, Any]:
    return model.extensions.get(REPORTS_KEY) or {}


def dashboards_of(model: Any) -> Mapping[str, Any]:
    return model.extensions.get(DASHBOARDS_KEY) or {}
