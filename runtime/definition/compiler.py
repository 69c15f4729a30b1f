"""Check what schema-valid metadata means and compile it into the frozen AppModel.

Each check reports a ``Problem`` with a stable code (``codes.py``), the file and line,
and the object, in the manner of Django's admin checks; compilation goes on after a
problem so that one run reports every mistake.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from runtime import fieldtypes
from runtime.errors import ExpressionError, ExpressionLimitError, Problem
from runtime.expressions import CompiledExpression, compile_expression
from runtime.timezones import DEFAULT_ZONE, is_zone

from . import codes
from .codes import Code
from .filter_terms import (
    STAGE_KIND_FILTER,
    STAGE_KIND_OPERATORS,
    STAGE_KIND_VALUES,
    USER_FILTER_TOKENS,
)
from .loader import Document, JsonPath, LoadedApp, SourceFile, load_documents
from .model import (
    AppModel,
    Entity,
    EntityPermission,
    FieldDef,
    FormLayout,
    Label,
    ListView,
    NavGroup,
    NavItem,
    Option,
    Role,
    Rule,
    Scope,
    Section,
    ViewFilter,
)
from .model import Place as ModelPlace
from .reserved import BASE_SYSTEM_COLUMNS, STAGE_COLUMNS, reserved_reason

MAX_TABLE_NAME = 63  # PostgreSQL's identifier limit
ROW_RESERVED = frozenset({"position"})  # child-table rows carry id and position
FORM_EXTRA_FIELDS = ("owner_id",)  # system columns a form may show
# Built-in types whose definition mistakes have their own codes below (date and
# datetime: their min/max, by _check_bounds); other types' FieldType.problems() are
# reported as INVALID_TYPE_SETTING.
OWN_CHECKED_TYPES = frozenset(
    {"select", "multi_select", "autonumber", "formula", "child_table", "link", "money"}
    | {"date", "datetime"}
)

# Codes of problems that only say "this names a field" (and any problem saying "... is
# not a field", whatever its code): when the field itself failed (an unknown type drops
# it), they are echoes of that one mistake and are not reported.
REFERENCE_CODES = frozenset(
    {
        codes.UNKNOWN_ENTITY_FIELD.code,
        codes.INVALID_EXPRESSION.code,
        codes.SCOPE_NOT_SQL.code,
        codes.UNKNOWN_FORM_FIELD.code,
        codes.UNKNOWN_VIEW_FIELD.code,
        codes.UNKNOWN_PERMISSION_FIELD.code,
        codes.UNKNOWN_GATE_FIELD.code,
        codes.INVALID_PIPELINE_SETTING.code,
    }
)
_QUOTED_NAME = re.compile(r"'(?:old\.)?([a-z][a-z0-9_]*)'")

# A feature's compile step: step(context, documents) -> AppModel.extensions[key].
CompileStep = Callable[["CompileContext", list[Document]], Any]


def compile_sources(
    app_dir: Path,
    sources: list[SourceFile],
    problems: list[Problem],
    steps: Mapping[str, CompileStep] | None = None,
) -> tuple[AppModel | None, list[Problem]]:
    """Parse, schema-check and compile; the model is None when there is any problem.

    Meaning is only checked once every file is well-formed: checking references in a
    half-read app would report mistakes that are only echoes of the first one.
    """
    loaded = load_documents(app_dir, sources, list(problems))
    if loaded.problems:
        return None, sort_problems(loaded.problems)
    compiler = _Compiler(loaded, steps or {})
    model = compiler.compile()
    compiler._note_echoes()
    if compiler.problems:
        return None, sort_problems(compiler.problems)
    return model, []


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line))


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


@dataclass
class CompileContext:
    """What compile steps of later kinds need: the entities compiled so far and a way
    to report problems."""

    entities: Mapping[str, Entity]
    report: Callable[..., None]


@dataclass
class _Scope:
    """The fields visible where an entity (or a child table's row) is compiled."""

    obj: str  # "entity 'opportunity'" or "entity 'opportunity' field 'lines'"
    field_ids: tuple[str, ...]
    names: frozenset[str]  # what expressions may read
    in_row: bool = False
    formulas: dict[str, CompiledExpression] = field(default_factory=dict)
    formula_paths: dict[str, JsonPath] = field(default_factory=dict)


class _Compiler:
    def __init__(self, loaded: LoadedApp, steps: Mapping[str, CompileStep]):
        self.loaded = loaded
        self.steps = steps
        self.problems: list[Problem] = []
        self.entity_ids: set[str] = set()
        self.staged: set[str] = set()
        # entity id -> field id -> index in self.problems of the mistake that dropped it
        self.failed_fields: dict[str, dict[str, int]] = {}
        self.echoes: dict[int, int] = {}  # that index -> references not reported

    # -------------------------------------------------------------- reporting

    def report(
        self,
        code: Code,
        doc: Document | None,
        path: JsonPath,
        obj: str,
        message: str,
        hint: str = "",
    ) -> None:
        if self._echoes_failed_field(code, doc, message):
            return
        file = doc.file if doc else ""
        line = doc.line(*path) if doc else 0
        self.problems.append(Problem(code.code, file, line, obj, message, hint))

    def _echoes_failed_field(self, code: Code, doc: Document | None, message: str) -> bool:
        """Whether the problem only names a field whose own definition failed."""
        if not self.failed_fields:
            return False
        if code.code not in REFERENCE_CODES and "is not a field" not in message:
            return False
        data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
        entity = data.get("entity") if doc is not None and doc.kind != "entity" else data.get("id")
        if isinstance(entity, str) and entity in self.entity_ids:
            failed = self.failed_fields.get(entity, {})
        else:  # roles and the like name several entities: any failed field counts
            failed = {k: v for by_field in self.failed_fields.values() for k, v in by_field.items()}
        causes = [failed[name] for name in _QUOTED_NAME.findall(message) if name in failed]
        if not causes:
            return False
        self.echoes[causes[0]] = self.echoes.get(causes[0], 0) + 1
        return True

    def _note_echoes(self) -> None:
        """Tell, on each failed field's problem, how many references wait on it."""
        names = {i: f for by_field in self.failed_fields.values() for f, i in by_field.items()}
        for index, count in self.echoes.items():
            cause = self.problems[index]
            what = "1 reference to it is" if count == 1 else f"{count} references to it are"
            note = f"{what} checked again once '{names[index]}' is fixed"
            hint = f"{cause.hint}; {note}" if cause.hint else note
            self.problems[index] = dataclasses.replace(cause, hint=hint)

    def place(self, doc: Document, path: JsonPath) -> ModelPlace:
        return ModelPlace(doc.file, doc.line(*path))

    def expression(
        self, doc: Document, path: JsonPath, source: str, names: Iterable[str], obj: str
    ) -> CompiledExpression | None:
        what = str(path[-1]) if path else "expression"
        where = f"{obj} {what}"
        try:
            return compile_expression(source, names, where=where)
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

    def check_reserved(
        self, doc: Document, path: JsonPath, ident: str, obj: str, *, in_row: bool = False
    ) -> None:
        reason = reserved_reason(ident)
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

    # -------------------------------------------------------------- the app

    def compile(self) -> AppModel | None:
        app_docs = self.loaded.of_kind("app")
        if not app_docs:
            return None
        app_doc = app_docs[0]
        raw_app = app_doc.data
        self.staged = self._staged_entities()
        entities = self._entities()
        forms = self._forms(entities)
        views = self._views(entities)
        roles = self._roles(entities)
        locales = tuple(raw_app.get("locales") or ("en",))
        label = Label.of(raw_app.get("label"), prettify(raw_app["id"]))
        navigation = self._navigation(app_doc, entities, label)
        context = CompileContext(MappingProxyType(entities), self.report)
        extensions = {
            # a step may read another kind of file than its key: ``step.kind``
            kind: step(context, self.loaded.of_kind(getattr(step, "kind", kind)))
            for kind, step in self.steps.items()
        }
        return AppModel(
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
            source_dir=str(self.loaded.root),
            digest=self.loaded.digest,
            tagline=self._tagline(app_doc, locales),
            timezone=self._timezone(app_doc),
        )

    def _tagline(self, app_doc: Document, locales: tuple[str, ...]) -> Label | None:
        raw = app_doc.data.get("tagline")
        if raw is None:
            return None
        if isinstance(raw, dict):
            missing = [locale for locale in locales if locale not in raw]
            if missing:
                self.report(
                    codes.TAGLINE_MISSING_LOCALE,
                    app_doc,
                    ("tagline",),
                    "app tagline",
                    f"the tagline has no text for {', '.join(repr(m) for m in missing)}, "
                    "a locale the app lists",
                    "add " + ", ".join(f"{m}: ..." for m in missing) + " to the tagline",
                )
        return Label.of(raw)

    def _timezone(self, doc: Document) -> str:
        name = doc.data.get("timezone")
        if name is None:
            return DEFAULT_ZONE
        if is_zone(name):
            return str(name).strip()
        self.report(
            codes.UNKNOWN_TIMEZONE,
            doc,
            ("timezone",),
            f"app '{doc.data['id']}'",
            f"unknown time zone '{name}'",
            _zone_hint(str(name)),
        )
        return DEFAULT_ZONE

    def _staged_entities(self) -> set[str]:
        # Pipelines are compiled by a later issue; that a pipeline names an entity is
        # already enough to know the entity has the stage columns.
        return {
            doc.data["entity"]
            for doc in self.loaded.of_kind("pipeline")
            if isinstance(doc.data, dict) and isinstance(doc.data.get("entity"), str)
        }

    # -------------------------------------------------------------- entities

    def _entities(self) -> dict[str, Entity]:
        docs = self.loaded.of_kind("entity")
        self.unique_across_files(docs, "entity")
        self.entity_ids = {d.data["id"] for d in docs}
        entities: dict[str, Entity] = {}
        for doc in docs:
            entity = self._entity(doc)
            if entity is not None and entity.id not in entities:
                entities[entity.id] = entity
        return entities

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

    def _entity(self, doc: Document) -> Entity | None:
        raw = doc.data
        entity_id = raw["id"]
        obj = f"entity '{entity_id}'"
        self.check_reserved(doc, ("id",), entity_id, obj)
        if len(f"ent_{entity_id}") > MAX_TABLE_NAME:
            self.report(
                codes.ID_TOO_LONG,
                doc,
                ("id",),
                obj,
                f"the table name 'ent_{entity_id}' is longer than {MAX_TABLE_NAME} characters",
                "use a shorter id",
            )
        system = BASE_SYSTEM_COLUMNS + (STAGE_COLUMNS if entity_id in self.staged else ())
        scope = self._scope(doc, ("fields",), raw["fields"], obj, system, in_row=False)
        fields = self._fields(doc, ("fields",), raw["fields"], scope)
        self._check_formula_cycles(doc, scope)
        by_id = {f.id: f for f in fields}
        title_field = self._title_field(doc, raw, fields, by_id, obj)
        search_fields = self._search_fields(doc, raw, fields, by_id, obj)
        fields = tuple(
            _replace(f, searchable=True) if f.id in search_fields and not f.searchable else f
            for f in fields
        )
        rules = self._rules(doc, raw.get("rules") or [], scope, obj)
        label = Label.of(raw.get("label"), prettify(entity_id))
        return Entity(
            id=entity_id,
            label=label,
            plural=Label.of(raw["plural"]) if raw.get("plural") else pluralize(label),
            fields=fields,
            rules=rules,
            title_field=title_field,
            search_fields=search_fields,
            icon=raw.get("icon"),
            has_stage=entity_id in self.staged,
            place=self.place(doc, ()),
        )

    def _scope(
        self,
        doc: Document,
        path: JsonPath,
        raw_fields: list[dict],
        obj: str,
        system: tuple[str, ...],
        *,
        in_row: bool,
    ) -> _Scope:
        ids = [f["id"] for f in raw_fields]
        names = set(ids) | set(system)
        names |= {
            fieldtypes.currency_key(_stub(f["id"])) for f in raw_fields if f["type"] == "money"
        }
        self.unique(doc, [(path + (n, "id"), i) for n, i in enumerate(ids)], "field", obj)
        for n, f in enumerate(raw_fields):
            if f.get("type") == "money":
                key = fieldtypes.currency_key(_stub(f["id"]))
                if key in ids:
                    clash = ids.index(key)
                    self.report(
                        codes.DUPLICATE_ID,
                        doc,
                        path + (clash, "id"),
                        f"{obj} field '{key}'",
                        f"'{key}' is the currency column of money field '{f['id']}' (line "
                        f"{doc.line(*path, n)})",
                        "rename the field",
                    )
        return _Scope(obj, tuple(ids), frozenset(names), in_row=in_row)

    def _fields(
        self, doc: Document, path: JsonPath, raw_fields: list[dict], scope: _Scope
    ) -> tuple[FieldDef, ...]:
        built: list[FieldDef] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_fields):
            before = len(self.problems)
            fdef = self._field(doc, path + (index,), raw, scope)
            if fdef is None and not scope.in_row and len(self.problems) > before:
                entity_id = doc.data.get("id") if isinstance(doc.data, dict) else None
                self.failed_fields.setdefault(str(entity_id), {})[raw["id"]] = before
            if fdef is not None and fdef.id not in seen:
                seen.add(fdef.id)
                built.append(fdef)
        return tuple(built)

    def _field(self, doc: Document, path: JsonPath, raw: dict, scope: _Scope) -> FieldDef | None:
        field_id, type_name = raw["id"], raw["type"]
        obj = f"{scope.obj} field '{field_id}'"
        self.check_reserved(doc, path + ("id",), field_id, obj, in_row=scope.in_row)
        ftype = fieldtypes.TYPES.get(type_name)
        if ftype is None:
            self.report(
                codes.UNKNOWN_TYPE,
                doc,
                path + ("type",),
                obj,
                f"unknown type '{type_name}'",
                _did_you_mean(type_name, fieldtypes.TYPES)
                or f"known types: {', '.join(sorted(fieldtypes.TYPES))}",
            )
            return None
        for key in raw:
            if not ftype.accepts(key):
                users = sorted(n for n, t in fieldtypes.TYPES.items() if key in t.props)
                hint = f"it applies to: {', '.join(users)}" if users else ""
                self.report(
                    codes.INVALID_PROPERTY_FOR_TYPE,
                    doc,
                    path + (key,),
                    obj,
                    f"'{key}' does not apply to a {type_name} field",
                    hint,
                )
        values: dict[str, Any] = {
            "id": field_id,
            "type": type_name,
            "label": Label.of(raw.get("label"), prettify(field_id)),
            "help": Label.of(raw["help"]) if raw.get("help") else None,
            "place": self.place(doc, path),
        }
        for key in ("required", "unique", "readonly", "track_history", "searchable", "index",
                    "stored", "min", "max", "min_length", "max_length", "target", "currency",
                    "precision", "pattern", "region", "result_type", "max_rows"):  # fmt: skip
            if key in raw:
                values[key] = raw[key]
        values["readonly"] = bool(raw.get("readonly") or ftype.always_readonly)
        values["settings"] = self._settings(doc, path, raw, ftype, obj)
        values["currencies"] = tuple(raw.get("currencies") or ())
        values["options"] = self._options(doc, path, raw, obj)
        for key in ("visible_if", "required_if", "readonly_if"):
            if key in raw:
                values[key] = self.expression(doc, path + (key,), raw[key], scope.names, obj)
        if type_name == "formula" and "expression" in raw:
            values["expression"] = compiled = self.expression(
                doc, path + ("expression",), raw["expression"], scope.names, obj
            )
            if compiled is not None:
                scope.formulas[field_id] = compiled
                scope.formula_paths[field_id] = path + ("expression",)
        if type_name == "child_table":
            values["fields"] = self._child_fields(doc, path, raw, scope, obj)
        fdef = FieldDef(**values)
        self._check_type_settings(doc, path, raw, fdef, ftype, obj)
        if "default" in raw:
            fdef = _replace(
                fdef, default=self._default(doc, path, raw["default"], fdef, ftype, scope, obj)
            )
        return fdef

    def _settings(
        self, doc: Document, path: JsonPath, raw: dict, ftype: fieldtypes.FieldType, obj: str
    ) -> Mapping[str, Any]:
        settings, problems = ftype.read_settings(raw, fieldtypes.FIELD_PROPERTIES)
        for problem in problems:
            code = codes.INVALID_SETTING if problem.kind == "invalid" else codes.UNKNOWN_SETTING
            where = path + ("settings", problem.key)
            self.report(code, doc, where, obj, problem.message, problem.hint)
        return MappingProxyType(settings)

    def _options(self, doc: Document, path: JsonPath, raw: dict, obj: str) -> tuple[Option, ...]:
        raw_options = raw.get("options") or []
        self.unique(
            doc,
            [(path + ("options", n, "id"), o["id"]) for n, o in enumerate(raw_options)],
            "option",
            obj,
        )
        return tuple(
            Option(o["id"], Label.of(o.get("label"), prettify(o["id"])), o.get("color"))
            for o in raw_options
        )

    def _child_fields(
        self, doc: Document, path: JsonPath, raw: dict, parent: _Scope, obj: str
    ) -> tuple[FieldDef, ...]:
        if parent.in_row:
            self.report(
                codes.NESTED_CHILD_TABLE,
                doc,
                path + ("type",),
                obj,
                "a child table cannot contain another child table",
                "make it a separate entity with a link field back to this one",
            )
            return ()
        raw_fields = raw.get("fields") or []
        if not raw_fields:
            self.report(
                codes.EMPTY_CHILD_TABLE,
                doc,
                path,
                obj,
                "a child table needs 'fields'",
                "list the row's fields under 'fields:'",
            )
            return ()
        scope = self._scope(doc, path + ("fields",), raw_fields, obj, ("id",), in_row=True)
        fields = self._fields(doc, path + ("fields",), raw_fields, scope)
        self._check_formula_cycles(doc, scope)
        return fields

    def _check_type_settings(
        self,
        doc: Document,
        path: JsonPath,
        raw: dict,
        fdef: FieldDef,
        ftype: fieldtypes.FieldType,
        obj: str,
    ) -> None:
        t = fdef.type
        if t in ("select", "multi_select") and not fdef.options:
            self.report(
                codes.MISSING_OPTIONS,
                doc,
                path,
                obj,
                f"a {t} field needs 'options'",
                "add options: [{id: ..., label: ...}, ...]",
            )
        if t == "link":
            if not fdef.target:
                self.report(
                    codes.UNKNOWN_LINK_TARGET,
                    doc,
                    path,
                    obj,
                    "a link field needs a 'target' entity",
                )
            elif fdef.target not in self.entity_ids:
                self.report(
                    codes.UNKNOWN_LINK_TARGET,
                    doc,
                    path + ("target",),
                    obj,
                    f"link target '{fdef.target}' is not an entity",
                    _did_you_mean(fdef.target, self.entity_ids)
                    or f"entities: {', '.join(sorted(self.entity_ids))}",
                )
        if t == "autonumber":
            pattern = fdef.pattern or fieldtypes.DEFAULT_AUTONUMBER_PATTERN
            for message in fieldtypes.autonumber_pattern_problems(pattern):
                self.report(
                    codes.INVALID_AUTONUMBER_PATTERN,
                    doc,
                    path + ("pattern",),
                    obj,
                    f"pattern '{pattern}' {message}",
                    "for example 'OPP-{YYYY}-{0000}'",
                )
        if t == "child_table" and (fdef.max_rows or 0) > fieldtypes.MAX_ROWS_CEILING:
            self.report(
                codes.TOO_MANY_ROWS_ALLOWED,
                doc,
                path + ("max_rows",),
                obj,
                f"max_rows {fdef.max_rows:,} is above the ceiling of "
                f"{fieldtypes.MAX_ROWS_CEILING:,} rows",
                "rows beyond a few hundred belong in a separate entity with a link field",
            )
        if t == "formula":
            for key in ("expression", "result_type"):
                if key not in raw:
                    self.report(
                        codes.INCOMPLETE_FORMULA, doc, path, obj, f"a formula needs '{key}'"
                    )
        if (
            t == "money"
            and fdef.currency
            and fdef.currencies
            and fdef.currency not in fdef.currencies
        ):
            self.report(
                codes.INVALID_CURRENCY,
                doc,
                path + ("currency",),
                obj,
                f"currency '{fdef.currency}' is not in currencies {list(fdef.currencies)}",
                "add it to currencies or change it",
            )
        self._check_bounds(doc, path, raw, fdef, ftype, obj)
        if t not in OWN_CHECKED_TYPES:
            try:
                messages = ftype.problems(fdef)
            except Exception as exc:  # a plugin type's check must not break the compiler
                messages = [f"the type's own check failed: {exc}"]
            for message in messages:
                self.report(codes.INVALID_TYPE_SETTING, doc, path, obj, message)

    def _check_bounds(
        self,
        doc: Document,
        path: JsonPath,
        raw: dict,
        fdef: FieldDef,
        ftype: fieldtypes.FieldType,
        obj: str,
    ) -> None:
        bounds: dict[str, Any] = {}
        for key in ("min", "max"):
            if key in raw and key in ftype.props:
                try:
                    bounds[key] = ftype.coerce(
                        _replace(fdef, min=None, max=None), raw[key], fieldtypes.CoerceContext()
                    )
                except Exception as exc:
                    self.report(
                        codes.INVALID_RANGE,
                        doc,
                        path + (key,),
                        obj,
                        f"{key} {raw[key]!r} is not a valid {fdef.type}: {exc}",
                    )
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and high is not None and _greater(low, high):
            self.report(
                codes.INVALID_RANGE,
                doc,
                path + ("min",),
                obj,
                f"min {raw['min']!r} is greater than max {raw['max']!r}",
            )
        if fdef.min_length is not None and fdef.max_length is not None:
            if fdef.min_length > fdef.max_length:
                self.report(
                    codes.INVALID_RANGE,
                    doc,
                    path + ("min_length",),
                    obj,
                    f"min_length {fdef.min_length} is greater than max_length {fdef.max_length}",
                )

    def _default(
        self,
        doc: Document,
        path: JsonPath,
        value: Any,
        fdef: FieldDef,
        ftype: fieldtypes.FieldType,
        scope: _Scope,
        obj: str,
    ) -> Any:
        if isinstance(value, str) and value.startswith("="):
            return self.expression(doc, path + ("default",), value[1:], scope.names, obj)
        try:
            coerced = ftype.coerce(fdef, value, fieldtypes.CoerceContext())
            messages = ftype.check_bounds(fdef, coerced) if coerced is not None else []
        except fieldtypes.FieldInvalid as exc:
            messages = [exc.message]
        except Exception as exc:  # a plugin type's coercion must not break the compiler
            self.report(
                codes.INVALID_DEFAULT,
                doc,
                path + ("default",),
                obj,
                f"default {value!r} is not valid: {exc}",
            )
            return value
        for message in messages:
            hint = ""
            if fdef.options:
                hint = f"options: {', '.join(o.id for o in fdef.options)}"
            self.report(
                codes.INVALID_DEFAULT,
                doc,
                path + ("default",),
                obj,
                f"default {value!r} is not valid: {message.text()}",
                hint,
            )
        return value

    def _check_formula_cycles(self, doc: Document, scope: _Scope) -> None:
        graph = {
            fid: sorted(expr.names & scope.formulas.keys()) for fid, expr in scope.formulas.items()
        }
        reported: set[frozenset[str]] = set()
        for start in graph:
            cycle = _find_cycle(graph, start)
            if cycle and frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                self.report(
                    codes.FORMULA_CYCLE,
                    doc,
                    scope.formula_paths[cycle[0]],
                    f"{scope.obj} field '{cycle[0]}'",
                    "formulas depend on each other in a cycle: " + " -> ".join(cycle + [cycle[0]]),
                    "one of them must not read the others",
                )

    def _title_field(
        self, doc: Document, raw: dict, fields: tuple[FieldDef, ...], by_id: dict, obj: str
    ) -> str:
        if "title_field" in raw:
            title = raw["title_field"]
            if title not in by_id and title not in BASE_SYSTEM_COLUMNS:
                self.report(
                    codes.UNKNOWN_ENTITY_FIELD,
                    doc,
                    ("title_field",),
                    obj,
                    f"title_field '{title}' is not a field",
                    _did_you_mean(title, by_id),
                )
            elif title in by_id and by_id[title].type == "child_table":
                self.report(
                    codes.UNKNOWN_ENTITY_FIELD,
                    doc,
                    ("title_field",),
                    obj,
                    f"title_field '{title}' is a child table",
                )
            return title
        if "name" in by_id:
            return "name"
        textual = [f.id for f in fields if f.type in ("text", "autonumber", "email")]
        return textual[0] if textual else "id"

    def _search_fields(
        self, doc: Document, raw: dict, fields: tuple[FieldDef, ...], by_id: dict, obj: str
    ) -> tuple[str, ...]:
        if "search_fields" not in raw:
            found = [f.id for f in fields if f.searchable or fieldtypes.TYPES[f.type].search]
            return tuple(found)
        chosen: list[str] = []
        for n, fid in enumerate(raw["search_fields"]):
            fdef = by_id.get(fid)
            if fdef is None:
                self.report(
                    codes.UNKNOWN_ENTITY_FIELD,
                    doc,
                    ("search_fields", n),
                    obj,
                    f"search field '{fid}' is not a field",
                    _did_you_mean(fid, by_id),
                )
            elif not fieldtypes.TYPES[fdef.type].is_stored(fdef):
                self.report(
                    codes.UNKNOWN_ENTITY_FIELD,
                    doc,
                    ("search_fields", n),
                    obj,
                    f"search field '{fid}' has no column to search",
                )
            else:
                chosen.append(fid)
        chosen += [f.id for f in fields if f.searchable and f.id not in chosen]
        return tuple(chosen)

    def _rules(
        self, doc: Document, raw_rules: list[dict], scope: _Scope, obj: str
    ) -> tuple[Rule, ...]:
        self.unique(
            doc, [(("rules", n, "id"), r["id"]) for n, r in enumerate(raw_rules)], "rule", obj
        )
        rules: list[Rule] = []
        for n, raw in enumerate(raw_rules):
            path: JsonPath = ("rules", n)
            rule_obj = f"{obj} rule '{raw['id']}'"
            compiled = self.expression(
                doc, path + ("expression",), raw["expression"], scope.names, rule_obj
            )
            for m, fid in enumerate(raw.get("fields") or []):
                if fid not in scope.field_ids:
                    self.report(
                        codes.UNKNOWN_ENTITY_FIELD,
                        doc,
                        path + ("fields", m),
                        rule_obj,
                        f"rule field '{fid}' is not a field",
                        _did_you_mean(fid, scope.field_ids),
                    )
            rules.append(
                Rule(
                    raw["id"],
                    compiled,
                    Label.of(raw["message"]),
                    tuple(raw.get("fields") or ()),
                    self.place(doc, path),
                )
            )
        return tuple(rules)

    # -------------------------------------------------------------- forms and views

    def _entity_of(self, doc: Document, entities: Mapping[str, Entity], kind: str) -> Entity | None:
        entity_id = doc.data["entity"]
        entity = entities.get(entity_id)
        if entity is None and entity_id not in self.entity_ids:
            self.report(
                codes.UNKNOWN_ENTITY,
                doc,
                ("entity",),
                f"{kind} of '{entity_id}'",
                f"entity '{entity_id}' does not exist",
                _did_you_mean(entity_id, self.entity_ids),
            )
        return entity

    def _forms(self, entities: Mapping[str, Entity]) -> dict[str, FormLayout]:
        forms: dict[str, FormLayout] = {}
        first_file: dict[str, str] = {}
        for doc in self.loaded.of_kind("form"):
            entity = self._entity_of(doc, entities, "form")
            if entity is None:
                continue
            if entity.id in first_file:
                self.report(
                    codes.DUPLICATE_FILE,
                    doc,
                    ("entity",),
                    f"form of '{entity.id}'",
                    f"{first_file[entity.id]} already lays out '{entity.id}'",
                    "keep one form file per entity",
                )
                continue
            first_file[entity.id] = doc.file
            forms[entity.id] = self._form(doc, entity)
        for entity in entities.values():
            forms.setdefault(entity.id, default_form(entity))
        return {e: forms[e] for e in entities}

    def _form(self, doc: Document, entity: Entity) -> FormLayout:
        obj = f"form of '{entity.id}'"
        raw_sections = doc.data["sections"]
        self.unique(
            doc,
            [(("sections", n, "id"), s["id"]) for n, s in enumerate(raw_sections)],
            "section",
            obj,
        )
        names = _entity_names(entity)
        placed: dict[str, int] = {}
        sections: list[Section] = []
        for n, raw in enumerate(raw_sections):
            path: JsonPath = ("sections", n)
            section_obj = f"{obj} section '{raw['id']}'"
            for m, fid in enumerate(raw["fields"]):
                line = doc.line(*path, "fields", m)
                if not entity.has_field(fid) and fid not in FORM_EXTRA_FIELDS:
                    self.report(
                        codes.UNKNOWN_FORM_FIELD,
                        doc,
                        path + ("fields", m),
                        section_obj,
                        f"field '{fid}' is not a field of '{entity.id}'",
                        _did_you_mean(fid, [f.id for f in entity.fields]),
                    )
                elif fid in placed:
                    self.report(
                        codes.FIELD_PLACED_TWICE,
                        doc,
                        path + ("fields", m),
                        section_obj,
                        f"field '{fid}' is already placed on line {placed[fid]}",
                        "a field appears once per form",
                    )
                else:
                    placed[fid] = line
            visible_if = None
            if "visible_if" in raw:
                visible_if = self.expression(
                    doc, path + ("visible_if",), raw["visible_if"], names, section_obj
                )
            sections.append(
                Section(
                    id=raw["id"],
                    label=Label.of(raw["label"]) if raw.get("label") else None,
                    columns=raw.get("columns", 1),
                    fields=tuple(raw["fields"]),
                    collapsed=bool(raw.get("collapsed", False)),
                    visible_if=visible_if,
                )
            )
        return FormLayout(
            doc.data.get("id") or entity.id, entity.id, tuple(sections), self.place(doc, ())
        )

    def _views(self, entities: Mapping[str, Entity]) -> dict[str, tuple[ListView, ...]]:
        views: dict[str, list[ListView]] = {}
        ids: dict[str, dict[str, str]] = {}
        for doc in self.loaded.of_kind("view"):
            entity = self._entity_of(doc, entities, "views")
            if entity is None:
                continue
            seen = ids.setdefault(entity.id, {})
            for n, raw in enumerate(doc.data["views"]):
                obj = f"view '{entity.id}.{raw['id']}'"
                if raw["id"] in seen:
                    self.report(
                        codes.DUPLICATE_ID,
                        doc,
                        ("views", n, "id"),
                        obj,
                        f"view id '{raw['id']}' is used twice (first in {seen[raw['id']]})",
                    )
                    continue
                seen[raw["id"]] = f"{doc.file}:{doc.line('views', n)}"
                views.setdefault(entity.id, []).append(
                    self._view(doc, ("views", n), raw, entity, obj)
                )
        for entity in entities.values():
            if not views.get(entity.id):
                views[entity.id] = [default_view(entity)]
        return {e: tuple(views[e]) for e in entities}

    def _view(self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str) -> ListView:
        columns = raw.get("columns") or [c for c in default_view(entity).columns]
        for m, fid in enumerate(raw.get("columns") or []):
            self._view_field(doc, path + ("columns", m), fid, entity, obj, "column", sortable=False)
        for m, key in enumerate(raw.get("sort") or []):
            self._view_field(
                doc, path + ("sort", m), key.lstrip("-"), entity, obj, "sort", sortable=True
            )
        for m, fid in enumerate(raw.get("filter_fields") or []):
            self._view_field(
                doc, path + ("filter_fields", m), fid, entity, obj, "filter field", sortable=True
            )
        filters: list[ViewFilter] = []
        for m, f in enumerate(raw.get("filters") or []):
            fpath = path + ("filters", m)
            if f["field"] == STAGE_KIND_FILTER and not entity.has_field(STAGE_KIND_FILTER):
                self._check_stage_kind_filter(doc, fpath, f, entity, obj)
            elif self._view_field(
                doc, fpath + ("field",), f["field"], entity, obj, "filter", sortable=True
            ):
                self._check_filter(doc, fpath, f, entity, obj)
            filters.append(ViewFilter(f["field"], f["op"], f.get("value")))
        return ListView(
            id=raw["id"],
            entity=entity.id,
            label=Label.of(raw.get("label"), prettify(raw["id"])),
            columns=tuple(columns),
            sort=tuple(raw.get("sort") or ("-updated_at",)),
            filters=tuple(filters),
            filter_fields=tuple(raw.get("filter_fields") or ()),
            page_size=raw.get("page_size", 50),
            place=self.place(doc, path),
        )

    def _view_field(
        self,
        doc: Document,
        path: JsonPath,
        fid: str,
        entity: Entity,
        obj: str,
        role: str,
        *,
        sortable: bool,
    ) -> bool:
        system = _system_columns(entity)
        if fid in system:
            return True
        if not entity.has_field(fid):
            self.report(
                codes.UNKNOWN_VIEW_FIELD,
                doc,
                path,
                obj,
                f"{role} '{fid}' is not a field of '{entity.id}'",
                _did_you_mean(fid, [f.id for f in entity.fields] + list(system)),
            )
            return False
        fdef = entity.field(fid)
        ftype = fieldtypes.TYPES[fdef.type]
        if fdef.type == "child_table" or (sortable and not ftype.is_stored(fdef)):
            self.report(
                codes.UNKNOWN_VIEW_FIELD,
                doc,
                path,
                obj,
                f"{role} '{fid}' cannot be used: a {fdef.type} field has no column",
            )
            return False
        return True

    def _stage_ids(self, entity_id: str) -> list[str]:
        """The stage ids of the pipelines of ``entity_id`` (as written; they compile later)."""
        found: dict[str, None] = {}
        for doc in self.loaded.of_kind("pipeline"):
            data = doc.data if isinstance(doc.data, dict) else {}
            if data.get("entity") != entity_id:
                continue
            for stage in data.get("stages") or ():
                if isinstance(stage, dict) and isinstance(stage.get("id"), str):
                    found.setdefault(stage["id"])
        return list(found)

    def _check_stage_kind_filter(
        self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str
    ) -> None:
        if not entity.has_stage:
            self.report(
                codes.STAGE_KIND_WITHOUT_PIPELINE,
                doc,
                path + ("field",),
                obj,
                f"'{entity.id}' has no pipeline, so its records have no stage kind",
                "remove the filter, or add a pipeline for this entity",
            )
            return
        op, value = raw["op"], raw.get("value")
        if op not in STAGE_KIND_OPERATORS:
            self.report(
                codes.INVALID_STAGE_KIND,
                doc,
                path + ("op",),
                obj,
                f"operator '{op}' does not apply to stage_kind",
                f"use one of: {', '.join(STAGE_KIND_OPERATORS)}",
            )
            return
        values = value if isinstance(value, list) else [value]
        if op == "in" and not isinstance(value, list) or op != "in" and isinstance(value, list):
            self.report(
                codes.INVALID_FILTER, doc, path + ("value",), obj,
                "in needs a list of values" if op == "in" else f"{op} needs a single value",
            )  # fmt: skip
            return
        for kind in values:
            if kind not in STAGE_KIND_VALUES:
                self.report(
                    codes.INVALID_STAGE_KIND,
                    doc,
                    path + ("value",),
                    obj,
                    f"'{kind}' is not a stage kind",
                    _did_you_mean(str(kind), STAGE_KIND_VALUES)
                    or f"use one of: {', '.join(STAGE_KIND_VALUES)}",
                )

    def _check_filter_values(
        self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str
    ) -> None:
        """Stage ids must exist; user fields take a user id, ``me`` or ``my_team``."""
        fid, value = raw["field"], raw.get("value")
        if raw["op"] == "isnull":
            return
        values = value if isinstance(value, list) else [value]
        if fid == "stage" and entity.has_stage:
            stages = self._stage_ids(entity.id)
            for item in values:
                if item not in stages:
                    self.report(
                        codes.UNKNOWN_FILTER_STAGE,
                        doc,
                        path + ("value",),
                        obj,
                        f"'{item}' is not a stage of a pipeline of '{entity.id}'",
                        _did_you_mean(str(item), stages)
                        or "to follow every open stage, filter on stage_kind: open",
                    )
            return
        is_user = fid in ("owner_id", "created_by") or (
            entity.has_field(fid) and entity.field(fid).type == "user"
        )
        if not is_user:
            return
        for item in values:
            if isinstance(item, bool) or not (
                (isinstance(item, int) and item > 0) or item in USER_FILTER_TOKENS
            ):
                self.report(
                    codes.INVALID_USER_FILTER,
                    doc,
                    path + ("value",),
                    obj,
                    f"'{item}' is not a user id, me or my_team",
                    _did_you_mean(str(item), USER_FILTER_TOKENS)
                    or "use me (the viewer), my_team (the viewer's teams) or a user id",
                )

    def _check_filter(
        self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str
    ) -> None:
        op, value, fid = raw["op"], raw.get("value"), raw["field"]
        if entity.has_field(fid):
            fdef = entity.field(fid)
            allowed = fieldtypes.TYPES[fdef.type].operators
            if op not in allowed:
                self.report(
                    codes.INVALID_FILTER,
                    doc,
                    path + ("op",),
                    obj,
                    f"operator '{op}' does not apply to {fdef.type} field '{fid}'",
                    f"use one of: {', '.join(allowed)}",
                )
                return
        problem = ""
        if op == "isnull" and not isinstance(value, bool):
            problem = "isnull needs value true or false"
        elif op == "in" and not isinstance(value, list):
            problem = "in needs a list of values"
        elif op == "between" and not (isinstance(value, list) and len(value) == 2):
            problem = "between needs a list of two values [low, high]"
        elif op not in ("isnull", "in", "between") and isinstance(value, list | dict):
            problem = f"{op} needs a single value"
        if problem:
            self.report(codes.INVALID_FILTER, doc, path + ("value",), obj, problem)
            return
        self._check_filter_values(doc, path, raw, entity, obj)

    # -------------------------------------------------------------- roles and navigation

    def _roles(self, entities: Mapping[str, Entity]) -> dict[str, Role]:
        docs = self.loaded.of_kind("roles")
        if not docs:
            return {"admin": default_admin_role()}
        doc = docs[0]
        raw_roles = doc.data["roles"]
        self.unique(
            doc, [(("roles", n, "id"), r["id"]) for n, r in enumerate(raw_roles)], "role", ""
        )
        roles: dict[str, Role] = {}
        for n, raw in enumerate(raw_roles):
            if raw["id"] in roles:
                continue
            path: JsonPath = ("roles", n)
            obj = f"role '{raw['id']}'"
            permissions = {
                entity_id: self._permission(
                    doc, path + ("permissions", entity_id), entity_id, grant, entities, obj
                )
                for entity_id, grant in (raw.get("permissions") or {}).items()
            }
            roles[raw["id"]] = Role(
                raw["id"],
                Label.of(raw.get("label"), prettify(raw["id"])),
                MappingProxyType(permissions),
                self.place(doc, path),
            )
        return roles

    def _permission(
        self,
        doc: Document,
        path: JsonPath,
        entity_id: str,
        grant: dict,
        entities: Mapping[str, Entity],
        role_obj: str,
    ) -> EntityPermission:
        obj = f"{role_obj} permissions '{entity_id}'"
        entity = entities.get(entity_id)
        if entity_id != "*" and entity_id not in self.entity_ids:
            self.report(
                codes.UNKNOWN_PERMISSION_ENTITY,
                doc,
                path,
                role_obj,
                f"entity '{entity_id}' does not exist",
                _did_you_mean(entity_id, self.entity_ids) or "use '*' for every entity",
            )
        if entity is not None:
            names = _entity_names(entity)
            known = {f.id for f in entity.fields} | set(_system_columns(entity))
        else:
            names = frozenset(BASE_SYSTEM_COLUMNS)
            known = set(BASE_SYSTEM_COLUMNS) | {f.id for e in entities.values() for f in e.fields}
        for fid in grant.get("fields") or {}:
            if fid not in known:
                where = f"of '{entity_id}'" if entity_id != "*" else "of any entity"
                self.report(
                    codes.UNKNOWN_PERMISSION_FIELD,
                    doc,
                    path + ("fields", fid),
                    obj,
                    f"field '{fid}' is not a field {where}",
                    _did_you_mean(fid, known),
                )
        scopes = {
            action: self._scope_of(doc, path + (action,), grant.get(action, False), names, obj)
            for action in ("read", "update", "archive")
        }
        return EntityPermission(
            create=bool(grant.get("create", False)),
            fields=MappingProxyType(dict(grant.get("fields") or {})),
            **scopes,
        )

    def _scope_of(
        self, doc: Document, path: JsonPath, value: Any, names: frozenset[str], obj: str
    ) -> Scope:
        if value is False or value is None:
            return Scope("none")
        if isinstance(value, str):
            return Scope(value)
        compiled = self.expression(doc, path + ("expression",), value["expression"], names, obj)
        if compiled is not None:
            try:
                compiled.check_row_scope()
            except ExpressionError as exc:
                message = exc.message.removeprefix(f"{compiled.where}: ")
                self.report(
                    codes.SCOPE_NOT_SQL,
                    doc,
                    path + ("expression",),
                    f"{obj} {path[-1]}",
                    message,
                    exc.hint,
                )
        return Scope("expression", compiled)

    def _navigation(
        self, doc: Document, entities: Mapping[str, Entity], app_label: Label
    ) -> tuple[NavGroup, ...]:
        raw_groups = doc.data.get("navigation")
        if raw_groups is None:
            items = tuple(NavItem(entity=e) for e in entities)
            return (NavGroup("main", app_label, items),) if items else ()
        self.unique(
            doc,
            [(("navigation", n, "id"), g["id"]) for n, g in enumerate(raw_groups)],
            "navigation group",
            "",
        )
        groups: list[NavGroup] = []
        for n, raw in enumerate(raw_groups):
            items: list[NavItem] = []
            for m, item in enumerate(raw["items"]):
                entity_id = item.get("entity")
                if entity_id is not None and entity_id not in self.entity_ids:
                    self.report(
                        codes.UNKNOWN_NAVIGATION_ENTITY,
                        doc,
                        ("navigation", n, "items", m, "entity"),
                        f"navigation group '{raw['id']}'",
                        f"entity '{entity_id}' does not exist",
                        _did_you_mean(entity_id, self.entity_ids),
                    )
                label = Label.of(item["label"]) if item.get("label") else None
                items.append(NavItem(entity=entity_id, label=label, url=item.get("url")))
            groups.append(
                NavGroup(raw["id"], Label.of(raw.get("label"), prettify(raw["id"])), tuple(items))
            )
        return tuple(groups)


# ------------------------------------------------------------------ generated defaults


def default_form(entity: Entity) -> FormLayout:
    """One two-column section with every field; child tables last (they span the form)."""
    plain = [f.id for f in entity.fields if f.type != "child_table"]
    tables = [f.id for f in entity.fields if f.type == "child_table"]
    section = Section(id="main", label=None, columns=2, fields=tuple(plain + tables))
    return FormLayout(id=entity.id, entity=entity.id, sections=(section,))


def default_view(entity: Entity) -> ListView:
    """The first six fields that have a column, newest first."""
    columns = [
        f.id for f in entity.fields
        if f.type != "child_table" and fieldtypes.TYPES[f.type].is_stored(f)
    ][:6]  # fmt: skip
    return ListView(
        id="all",
        entity=entity.id,
        label=entity.plural,
        columns=tuple(columns or ("id",)),
        sort=("-updated_at",),
    )


def default_admin_role() -> Role:
    """Without roles.yaml an app still needs someone who may do everything."""
    grant = EntityPermission(
        create=True, read=Scope("all"), update=Scope("all"), archive=Scope("all")
    )
    return Role(
        "admin", Label.of({"en": "Administrator", "zh": "管理员"}), MappingProxyType({"*": grant})
    )


# ------------------------------------------------------------------ helpers


def _system_columns(entity: Entity) -> tuple[str, ...]:
    return BASE_SYSTEM_COLUMNS + (STAGE_COLUMNS if entity.has_stage else ())


def _entity_names(entity: Entity) -> frozenset[str]:
    names = {f.id for f in entity.fields} | set(_system_columns(entity))
    names |= {fieldtypes.currency_key(f) for f in entity.fields if f.type == "money"}
    return frozenset(names)


def _stub(field_id: str) -> FieldDef:
    return FieldDef(id=field_id, type="money", label=Label.of(None, field_id))


def _replace(fdef: FieldDef, **changes: Any) -> FieldDef:
    return dataclasses.replace(fdef, **changes)


def _greater(low: Any, high: Any) -> bool:
    try:
        return bool(low > high)
    except TypeError:
        return False


def _find_cycle(graph: Mapping[str, list[str]], start: str) -> list[str]:
    """A dependency cycle through ``start`` (as a list of nodes), or []."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return trail
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, trail + [nxt]))
    return []


def _zone_hint(name: str) -> str:
    """Suggest the IANA name closest to a mistyped one (``Asia/Shanghi``, ``shanghai``)."""
    import zoneinfo

    zones = zoneinfo.available_timezones()
    by_city = {z.rsplit("/", 1)[-1].lower(): z for z in zones}
    if name.strip().lower().replace(" ", "_") in by_city:
        return f"did you mean '{by_city[name.strip().lower().replace(' ', '_')]}'?"
    close = _did_you_mean(name, zones)
    return close or "use an IANA time zone name such as 'Asia/Shanghai' or 'UTC'"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


__all__ = [
    "CompileStep",
    "CompileContext",
    "compile_sources",
    "default_admin_role",
    "default_form",
    "default_view",
    "prettify",
]
