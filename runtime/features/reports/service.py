"""The reports service of one web app: which boards a viewer sees, a board's widgets
resolved (reports named by id, layouts), configurations checked (schema, then the
model: the same checks as the compiler), and widgets run through the engine."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from runtime.features.reports.board_store import BoardStore, may_see
from runtime.features.reports.definition import (
    checker_for,
    dashboard_problems,
    dashboards_of,
    reports_of,
)
from runtime.reports.cache import ResultCache
from runtime.reports.engine import ReportContext, board_conditions, run_widget
from runtime.reports.kinds import kind_registry
from runtime.reports.spec import Problem

_HERE = str(Path(__file__).resolve().parent)


class ConfigInvalid(Exception):
    """A board or widget configuration the API refuses: ``problems`` name the fields."""

    def __init__(self, problems: Sequence[Problem]):
        super().__init__(problems[0].message if problems else "invalid")
        self.problems = list(problems)


def schema_problems(schema_file: str, doc: Any) -> list[Problem]:
    from runtime.definition.loader import Schemas

    validator = Schemas().validator(schema_file, _HERE)
    return [
        Problem("SCHEMA", tuple(error.absolute_path), error.message)
        for error in sorted(
            validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))
        )
    ]


class ReportService:
    def __init__(self, services: Any):
        self.services = services
        self.kinds = kind_registry()
        self.cache = ResultCache(services.db.engine)
        self.store = BoardStore(services.db.engine)

    @property
    def model(self):
        return self.services.model

    # -- boards

    def boards(self, user) -> list[dict[str, Any]]:
        shipped = [
            {**copy.deepcopy(dict(b)), "stored": False}
            for b in dashboards_of(self.model).values()
            if not b.get("roles") or set(b["roles"]) & set(user.roles)
        ]
        return shipped + self.store.visible(user)

    def board(self, user, board_id: str) -> dict[str, Any] | None:
        shipped = dashboards_of(self.model).get(board_id)
        if shipped is not None:
            if shipped.get("roles") and not set(shipped["roles"]) & set(user.roles):
                return None
            board = {**copy.deepcopy(dict(shipped)), "stored": False}
        else:
            board = self.store.get(board_id)
            if board is None or not may_see(user, board):
                return None
        board["widgets"] = [self.resolve(w) for w in board.get("widgets") or []]
        return board

    def resolve(self, widget: Mapping[str, Any]) -> dict[str, Any]:
        """An inline widget as it is; ``{report, layout}`` as the named report there."""
        if "report" not in widget:
            return dict(widget)
        report = reports_of(self.model).get(widget["report"])
        if report is None:
            return {"id": widget.get("id") or widget["report"], "layout": widget["layout"],
                    "missing_report": widget["report"]}  # fmt: skip
        return {**copy.deepcopy(dict(report)), "id": widget.get("id") or report["id"],
                "layout": widget["layout"]}  # fmt: skip

    def check_board(self, doc: Any) -> None:
        problems = schema_problems("dashboard.schema.json", doc)
        if not problems:
            problems = dashboard_problems(checker_for(self.model.entities), doc)
            for i, widget in enumerate(doc.get("widgets") or []):
                if "report" in widget and widget["report"] not in reports_of(self.model):
                    problems.append(Problem("UNKNOWN_REPORT", ("widgets", i, "report"),
                                            f"no report '{widget['report']}'"))  # fmt: skip
        if problems:
            raise ConfigInvalid(problems)

    def check_widget(self, doc: Any) -> None:
        problems = schema_problems("widget.schema.json", doc)
        if not problems:
            problems = checker_for(self.model.entities).check(doc)
        if problems:
            raise ConfigInvalid(problems)

    def may_edit(self, user, board: Mapping[str, Any]) -> bool:
        return board.get("stored") and board["owner_id"] == user.id

    # -- running

    def context(self, user, locale: str, today: date | None, list_url: str) -> ReportContext:
        return ReportContext(
            self.services.repo, self.model, user, locale, today, self.cache, list_url
        )

    def run(
        self, ctx: ReportContext, widget: Mapping, board: Mapping | None, values: Mapping
    ) -> dict:
        """One widget's result, or ``{"error": ...}`` for that widget alone (a report
        that no longer exists, an entity the viewer may not read, a refused field)."""
        from runtime.errors import PermissionDenied, ValidationError

        base = {"id": widget.get("id"), "kind": widget.get("kind"), "layout": widget.get("layout")}
        if "missing_report" in widget:
            return {
                **base,
                "error": {"code": "unknown_report", "message": widget["missing_report"]},
            }
        extra = board_conditions(
            self.model, widget["entity"], (board or {}).get("filters") or [], values
        )
        try:
            result = run_widget(ctx, widget, self.kinds, extra)
        except PermissionDenied as exc:
            return {**base, "error": {"code": "forbidden", "message": str(exc)}}
        except ValidationError as exc:
            fields = exc.as_dict(ctx.locale)
            return {**base, "error": {"code": "invalid", "message": "invalid", "fields": fields}}
        return {**result, "layout": widget.get("layout")}
