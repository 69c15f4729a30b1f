"""What every per-kind check shares: the app's documents and the features' contributions
(``CheckContext``), and the helpers that turn a mistake into a ``Problem`` (``Checker``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from runtime import fieldtypes
from runtime.errors import ExpressionError, ExpressionLimitError, Problem
from runtime.expressions import CompiledExpression, compile_expression
from runtime.fieldtypes.base import did_you_mean

from .. import codes
from ..codes import Code
from ..loader import Document, JsonPath, LoadedApp
from ..model import Entity, FieldDef, Label
from ..model import Place as ModelPlace
from ..reserved import BASE_SYSTEM_COLUMNS, reserved_reason

ROW_RESERVED = frozenset({"position"})  # child-table rows carry id and position
FEATURE_RESERVED_REASON = "it is a system column"


@dataclass(frozen=True)
class FilterCheck:
    """One filter of a view, as a feature's filter check sees it."""

    doc: Document
    path: JsonPath  # of the filter: ``("views", n, "filters", m)``
    raw: Mapping[str, Any]  # ``{field, op, value}`` as written
    entity: Entity
    obj: str  # "view 'deal.open'"
    documents: tuple[Document, ...]  # every document of the app (later kinds not compiled yet)


FilterTermCheck = Callable[[FilterCheck], list[Problem]]
FilterValueCheck = Callable[[FilterCheck], "list[Problem] | None"]


@dataclass(frozen=True)
class PendingPaths:
    """An expression with link paths, to walk from ``entity_id`` (None: a place where
    paths cannot be used, such as a child table's row)."""

    doc: Document | None
    path: JsonPath
    obj: str
    entity_id: str | None
    expression: CompiledExpression


@dataclass(frozen=True)
class CheckContext:
    """The app being compiled and what the features add to it; read by every check."""

    loaded: LoadedApp
    entity_ids: frozenset[str] = frozenset()
    # entity id -> the system fields features add (Feature.entity_system_fields)
    system_fields: Mapping[str, tuple[FieldDef, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    reserved_ids: frozenset[str] = frozenset()  # Feature.reserved_field_ids
    filter_terms: Mapping[str, FilterTermCheck] = field(
        default_factory=lambda: MappingProxyType({})
    )
    filter_value_checks: tuple[FilterValueCheck, ...] = ()
    # The field types fields may name: the built-in ones and the features' (field_types)
    field_types: Mapping[str, fieldtypes.FieldType] = field(
        default_factory=lambda: fieldtypes.TYPES
    )
    # Expressions naming link paths, walked once every entity is compiled
    # (checks/expression_paths.py): filled while checking, read after.
    pending_paths: list[PendingPaths] = field(default_factory=list, compare=False)

    def system_ids(self, entity_id: str) -> tuple[str, ...]:
        """The system columns of ``entity_id``'s records, before the entity is compiled."""
        extra = self.system_fields.get(entity_id, ())
        return BASE_SYSTEM_COLUMNS + tuple(f.id for f in extra)


def problem_at(
    code: Code, doc: Document | None, path: JsonPath, obj: str, message: str, hint: str = ""
) -> Problem:
    """A problem at ``path`` of ``doc`` (its line, or the nearest ancestor's)."""
    file = doc.file if doc else ""
    line = doc.line(*path) if doc else 0
    return Problem(code.code, file, line, obj, message, hint)


class Checker:
    """Base of the per-kind checkers: collects the problems of one kind, in order."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx
        self.problems: list[Problem] = []

    def report(
        self,
        code: Code,
        doc: Document | None,
        path: JsonPath,
        obj: str,
        message: str,
        hint: str = "",
    ) -> None:
        self.problems.append(problem_at(code, doc, path, obj, message, hint))

    def place(self, doc: Document, path: JsonPath) -> ModelPlace:
        return ModelPlace(doc.file, doc.line(*path))

    def expression(
        self,
        doc: Document,
        path: JsonPath,
        source: str,
        names: Iterable[str],
        obj: str,
        entity_id: str | None = None,
    ) -> CompiledExpression | None:
        """``source`` compiled for ``names``; link paths it names (``account.industry``)
        are walked from ``entity_id`` once every entity is compiled."""
        what = str(path[-1]) if path else "expression"
        where = f"{obj} {what}"
        try:
            compiled = compile_expression(source, names, where=where, paths=True)
            if compiled.paths:
                self.ctx.pending_paths.append(
                    PendingPaths(doc, path, f"{obj} {what}", entity_id, compiled)
                )
            return compiled
        except ExpressionError as exc:
            message = exc.message.removeprefix(f"{where}: ")
            code = (
                codes.EXPRESSION_LIMIT
                if isinstance(exc, ExpressionLimitError)
                else codes.INVALID_EXPRESSION
            )
            self.report(code, doc, path, f"{obj} {what}", message, exc.hint)
            return None

    def unique(
        self, doc: Document, items: list[tuple[JsonPath, str]], kind: str, owner: str
    ) -> None:
        """Report every id that appears again after its first use."""
        seen: dict[str, int] = {}
        for path, ident in items:
            if ident in seen:
                self.report(
                    codes.DUPLICATE_ID,
                    doc,
                    path,
                    f"{owner} {kind} '{ident}'".strip(),
                    f"{kind} id '{ident}' is used twice (first on line {seen[ident]})",
                    "give each one its own id",
                )
            else:
                seen[ident] = doc.line(*path)

    def unique_across_files(self, docs: list[Document], kind: str) -> None:
        first: dict[str, Document] = {}
        for doc in docs:
            ident = doc.data["id"]
            if ident in first:
                self.report(
                    codes.DUPLICATE_ID,
                    doc,
                    ("id",),
                    f"{kind} '{ident}'",
                    f"{kind} id '{ident}' is already defined in {first[ident].file}",
                )
            else:
                first[ident] = doc

    def entity_of(self, doc: Document, entities: Mapping[str, Entity], kind: str) -> Entity | None:
        entity_id = doc.data["entity"]
        entity = entities.get(entity_id)
        if entity is None and entity_id not in self.ctx.entity_ids:
            self.report(
                codes.UNKNOWN_ENTITY,
                doc,
                ("entity",),
                f"{kind} of '{entity_id}'",
                f"entity '{entity_id}' does not exist",
                did_you_mean(entity_id, self.ctx.entity_ids),
            )
        return entity

    def check_reserved(
        self, doc: Document, path: JsonPath, ident: str, obj: str, *, in_row: bool = False
    ) -> None:
        reason = reserved_reason(ident)
        if not reason and ident in self.ctx.reserved_ids:
            reason = FEATURE_RESERVED_REASON
        if not reason and in_row and ident in ROW_RESERVED:
            reason = "child-table rows have a column of that name"
        if reason:
            self.report(
                codes.RESERVED_ID,
                doc,
                path,
                obj,
                f"'{ident}' is a reserved word: {reason}",
                f"choose another id, such as '{ident}_value'",
            )


# ------------------------------------------------------------------ shared helpers


def prettify(identifier: str) -> str:
    """``close_date`` -> ``Close date``: the label of anything that has none."""
    text = identifier.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def pluralize(label: Label) -> Label:
    """English plural of a label; other locales are left as they are."""
    texts = dict(label.texts)
    word = texts.get("en")
    if word:
        if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
            texts["en"] = word[:-1] + "ies"
        elif word.endswith(("s", "x", "z", "ch", "sh")):
            texts["en"] = word + "es"
        else:
            texts["en"] = word + "s"
    return Label(MappingProxyType(texts))


def entity_names(entity: Entity) -> frozenset[str]:
    """What an expression about ``entity``'s records may read."""
    names = {f.id for f in entity.fields} | set(entity.system_column_ids)
    names |= {key for f in entity.fields for key in fieldtypes.type_of(f).extra_keys(f)}
    return frozenset(names)
