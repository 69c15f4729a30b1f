"""Run the per-kind checks over schema-valid metadata and assemble the frozen AppModel.

Each check (``checks/``) returns what it compiled and a list of problems, each with a
stable code (``codes.py``), the file and line, and the object, in the manner of
Django's admin checks; compilation goes on after a problem so that one run reports
every mistake. Features add their kinds' compile steps, the system fields they give
entities, and their view filter checks; nothing here knows which features exist.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from runtime import fieldtypes
from runtime.errors import Problem
from runtime.features import FeatureError, FeatureSet

from .checks.app import check_app_settings
from .checks.base import CheckContext, FilterCheck, pluralize, prettify, problem_at
from .checks.entities import check_entities
from .checks.expression_paths import check_expression_paths
from .checks.forms import check_forms, default_form
from .checks.navigation import check_navigation
from .checks.paths import resolve_lookups
from .checks.roles import check_roles, default_admin_role
from .checks.rollups import check_rollups
from .checks.views import check_views, default_view
from .codes import Code, all_codes
from .loader import Document, JsonPath, LoadedApp, SourceFile, load_documents
from .model import AppModel, Entity, FieldDef, Label

_QUOTED_NAME = re.compile(r"'(?:old\.)?([a-z][a-z0-9_]*)'")

# A feature's compile step: step(context, documents) -> AppModel.extensions[key].
CompileStep = Callable[["CompileContext", list[Document]], Any]


def compile_sources(
    app_dir: Path,
    sources: list[SourceFile],
    problems: list[Problem],
    features: FeatureSet | None = None,
) -> tuple[AppModel | None, list[Problem]]:
    """Parse, schema-check and compile; the model is None when there is any problem.

    Meaning is only checked once every file is well-formed: checking references in a
    half-read app would report mistakes that are only echoes of the first one.
    """
    features = features if features is not None else FeatureSet()
    loaded = load_documents(app_dir, sources, list(problems))
    if loaded.problems:
        return None, sort_problems(loaded.problems)
    model, found = _compile(loaded, features)
    if found:
        return None, sort_problems(found)
    return model, []


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line))


@dataclass
class CompileContext:
    """What compile steps of later kinds need: the entities compiled so far and a way
    to report problems."""

    entities: Mapping[str, Entity]
    report: Callable[..., None]


# ------------------------------------------------------------------ orchestration


def check_context(loaded: LoadedApp, features: FeatureSet) -> CheckContext:
    """What the checks share: the entity ids, and what every feature adds to entities."""
    entity_ids = frozenset(d.data["id"] for d in loaded.of_kind("entity"))
    documents = tuple(loaded.documents)
    system_fields = {
        entity_id: _system_fields_of(features, documents, entity_id) for entity_id in entity_ids
    }
    return CheckContext(
        loaded=loaded,
        entity_ids=entity_ids,
        system_fields=MappingProxyType(system_fields),
        reserved_ids=frozenset(features.gather("reserved_field_ids")),
        filter_terms=MappingProxyType(features.merge("view_filter_terms")),
        filter_value_checks=tuple(features.gather("view_filter_value_checks")),
        field_types=fieldtypes.registry_with(features.gather("field_types")),
    )


def _system_fields_of(
    features: FeatureSet, documents: tuple[Document, ...], entity_id: str
) -> tuple[FieldDef, ...]:
    fields: dict[str, FieldDef] = {}
    for fdef in features.gather("entity_system_fields", documents, entity_id):
        if fdef.id in fields:
            raise FeatureError(f"entity {entity_id!r}: two features add system field {fdef.id!r}")
        fields[fdef.id] = fdef
    return tuple(fields.values())


def _compile(loaded: LoadedApp, features: FeatureSet) -> tuple[AppModel | None, list[Problem]]:
    app_docs = loaded.of_kind("app")
    if not app_docs:
        return None, []
    app_doc = app_docs[0]
    raw_app = app_doc.data
    ctx = check_context(loaded, features)
    problems: list[Problem] = []
    entities, failed_fields, found = check_entities(ctx)
    problems += found
    entities, found = check_rollups(
        ctx, entities, failed_fields
    )  # across entities: all are compiled now
    problems += found
    entities, found = resolve_lookups(ctx, entities)
    problems += found
    forms, found = check_forms(ctx, entities)
    problems += found
    views, found = check_views(ctx, entities)
    problems += found
    roles, found = check_roles(ctx, entities)
    problems += found
    problems += check_expression_paths(ctx, entities)
    locales = tuple(raw_app.get("locales") or ("en",))
    label = Label.of(raw_app.get("label"), prettify(raw_app["id"]))
    navigation, found = check_navigation(ctx, app_doc, entities, label)
    problems += found
    extensions = _run_steps(features.merge("compile_steps"), loaded, entities, problems)
    tagline, timezone, found = check_app_settings(ctx, app_doc, locales)
    problems += found
    problems = _drop_echoes(problems, failed_fields, ctx, _field_naming_codes(features))
    model = AppModel(
        id=raw_app["id"],
        label=label,
        version=str(raw_app.get("version") or "1.0.0"),
        locales=locales,
        default_locale=locales[0],
        default_currency=raw_app.get("default_currency") or "CNY",
        default_region=raw_app.get("default_region") or "CN",
        entities=MappingProxyType(entities),
        forms=MappingProxyType(forms),
        views=MappingProxyType(views),
        roles=MappingProxyType(roles),
        navigation=navigation,
        extensions=MappingProxyType(extensions),
        source_dir=str(loaded.root),
        digest=loaded.digest,
        tagline=tagline,
        timezone=timezone,
    )
    return model, problems


def _run_steps(
    steps: Mapping[str, CompileStep],
    loaded: LoadedApp,
    entities: Mapping[str, Entity],
    problems: list[Problem],
) -> dict[str, Any]:
    """Every feature's compile step; what they report is appended to ``problems``."""

    def report(
        code: Code, doc: Document | None, path: JsonPath, obj: str, message: str, hint: str = ""
    ) -> None:
        problems.append(problem_at(code, doc, path, obj, message, hint))

    context = CompileContext(MappingProxyType(entities), report)
    return {
        # a step may read another kind of file than its key: ``step.kind``
        kind: step(context, loaded.of_kind(getattr(step, "kind", kind)))
        for kind, step in steps.items()
    }


# ------------------------------------------------------------------ echoes


def _field_naming_codes(features: FeatureSet) -> frozenset[str]:
    return frozenset(c.code for c in all_codes(features).values() if c.names_field)


def _drop_echoes(
    problems: list[Problem],
    failed_fields: Mapping[str, Mapping[str, Problem]],
    ctx: CheckContext,
    naming_codes: frozenset[str],
) -> list[Problem]:
    """Leave out the problems that only name a field whose own definition failed (an
    unknown type drops it) and were found after it; the failed field's problem tells
    how many references wait on it."""
    if not failed_fields:
        return problems
    index = {id(p): n for n, p in enumerate(problems)}
    by_file = {d.file: d for d in ctx.loaded.documents}
    echoes: dict[int, int] = {}  # index of the cause -> references left out
    kept: list[Problem] = []
    for n, problem in enumerate(problems):
        cause = _echoed_cause(problem, by_file.get(problem.file), failed_fields, ctx, naming_codes)
        if cause is not None and index[id(cause)] < n:
            echoes[index[id(cause)]] = echoes.get(index[id(cause)], 0) + 1
        else:
            kept.append(problem)
    names = {id(p): f for by_field in failed_fields.values() for f, p in by_field.items()}
    noted = {id(problems[i]): count for i, count in echoes.items()}
    return [_with_echo_note(p, names[id(p)], noted[id(p)]) if id(p) in noted else p for p in kept]


def _echoed_cause(
    problem: Problem,
    doc: Document | None,
    failed_fields: Mapping[str, Mapping[str, Problem]],
    ctx: CheckContext,
    naming_codes: frozenset[str],
) -> Problem | None:
    """The failed field's problem that ``problem`` only echoes, or None."""
    if problem.code not in naming_codes and "is not a field" not in problem.message:
        return None
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    entity = data.get("entity") if doc is not None and doc.kind != "entity" else data.get("id")
    if isinstance(entity, str) and entity in ctx.entity_ids:
        failed = failed_fields.get(entity, {})
    else:  # roles and the like name several entities: any failed field counts
        failed = {k: v for by_field in failed_fields.values() for k, v in by_field.items()}
    causes = [failed[name] for name in _QUOTED_NAME.findall(problem.message) if name in failed]
    return causes[0] if causes else None


def _with_echo_note(cause: Problem, field_id: str, count: int) -> Problem:
    what = "1 reference to it is" if count == 1 else f"{count} references to it are"
    note = f"{what} checked again once '{field_id}' is fixed"
    hint = f"{cause.hint}; {note}" if cause.hint else note
    return dataclasses.replace(cause, hint=hint)


__all__ = [
    "CheckContext",
    "CompileContext",
    "CompileStep",
    "FilterCheck",
    "compile_sources",
    "default_admin_role",
    "default_form",
    "default_view",
    "pluralize",
    "prettify",
]
