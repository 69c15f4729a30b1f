"""Walk the link paths expressions name (``account.industry == 'manufacturing'``) once
every entity is compiled: each hop must be a link, the end a field with a column."""

from __future__ import annotations

from collections.abc import Mapping

from runtime.errors import Problem

from .. import codes
from ..model import Entity
from ..paths import PathError, walk_path
from .base import CheckContext, Checker, PendingPaths
from .paths import shown_through_path

PATH_CODES = {
    "unknown_field": codes.EXPRESSION_PATH_UNKNOWN_FIELD,
    "not_link": codes.EXPRESSION_PATH_NOT_A_LINK,
    "too_long": codes.EXPRESSION_PATH_TOO_LONG,
}


def check_expression_paths(ctx: CheckContext, entities: Mapping[str, Entity]) -> list[Problem]:
    """The problems of every link path the checked expressions name (file, object, path)."""
    checker = _PathChecker(ctx)
    for pending in ctx.pending_paths:
        checker.walk(entities, pending)
    return checker.problems


class _PathChecker(Checker):
    def walk(self, entities: Mapping[str, Entity], pending: PendingPaths) -> None:
        if pending.entity_id is None or pending.entity_id not in entities:
            first = sorted(pending.expression.paths)[0]
            self.report(
                codes.EXPRESSION_PATH_NOT_HERE, pending.doc, pending.path, pending.obj,
                f"'{first}': link paths cannot be used here (no record to start from)",
                "use a lookup field on the entity and name it here",
            )  # fmt: skip
            return
        for path in sorted(pending.expression.paths):
            self._walk_one(entities, pending, path)

    def _walk_one(self, entities: Mapping[str, Entity], pending: PendingPaths, path: str) -> None:
        try:
            walked = walk_path(entities, pending.entity_id, path)
        except PathError as exc:
            code = PATH_CODES.get(exc.kind, codes.EXPRESSION_PATH_UNKNOWN_FIELD)
            self.report(code, pending.doc, pending.path, pending.obj, exc.message, exc.hint)
            return
        why = shown_through_path(walked.field) if walked.hops[-1].target in entities else ""
        if why:
            self.report(
                codes.EXPRESSION_PATH_UNREADABLE, pending.doc, pending.path, pending.obj,
                f"'{path}' ends at '{walked.field.id}', which an expression cannot read "
                f"through a link: {why}",
                "name a stored field, or a lookup",
            )  # fmt: skip


__all__ = ["check_expression_paths"]
