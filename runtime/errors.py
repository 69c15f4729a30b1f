"""Error values for every layer: one exception type per kind, each carrying a code.

The web edge turns these into 4xx pages or JSON bodies; nothing else catches them
to hide them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.messages import render_message


class TrellisError(Exception):
    code = "error"


@dataclass(frozen=True)
class Problem:
    """One problem in the app definition: ``CODE file:line: object: message (hint)``."""

    code: str  # e.g. "TRL-E012"
    file: str
    line: int
    obj: str  # e.g. "entity 'opportunity' field 'amount'"
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{self.code} {where}: {self.obj}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class DefinitionError(TrellisError):
    code = "definition_error"

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ExpressionError(TrellisError):
    """An expression that cannot be compiled or evaluated safely."""

    code = "expression_error"

    def __init__(self, message: str, hint: str = "", source: str = ""):
        self.message = message
        self.hint = hint
        self.source = source
        super().__init__(message)


class ExpressionLimitError(ExpressionError):
    """An expression input beyond a bound of the engine (huge text or number)."""

    code = "expression_limit"


@dataclass(frozen=True)
class FieldMessage:
    """A translatable message about one field: a message code plus parameters."""

    code: str  # a key of runtime.messages.MESSAGES, e.g. "required"
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, locale: str = "en") -> str:
        return render_message(self.code, self.params, locale)


class ValidationError(TrellisError):
    """Every failing field at once; ``"__all__"`` holds record-level messages."""

    code = "validation_error"

    def __init__(self, errors: dict[str, list[FieldMessage]]):
        self.errors = errors
        super().__init__(
            "; ".join(f"{k}: {', '.join(m.text() for m in v)}" for k, v in errors.items())
        )

    def as_dict(self, locale: str = "en") -> dict[str, list[str]]:
        return {k: [m.text(locale) for m in v] for k, v in self.errors.items()}


class PermissionDenied(TrellisError):
    code = "permission_denied"


class NotFound(TrellisError):
    """No such record, or one outside the user's read scope (the two look the same)."""

    code = "not_found"


class ConflictError(TrellisError):
    """A stale ``row_version``: someone else saved first."""

    code = "conflict"

    def __init__(self, current_version: int, changes: dict[str, dict[str, Any]]):
        # changes: field -> {"old": value the caller saw?, "new": current value, "by": user id, "at": iso}
        self.current_version = current_version
        self.changes = changes
        names = ", ".join(sorted(changes)) or "the record"
        super().__init__(f"the record was changed meanwhile: {names}")
