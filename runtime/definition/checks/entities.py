"""Check and compile ``entities/*.yaml``: fields, their types' settings, defaults,
formulas, title and search fields, and rules, into ``Entity`` objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from runtime import fieldtypes
from runtime.errors import Problem
from runtime.expressions import CompiledExpression

from .. import codes
from ..loader import Document, JsonPath
from ..model import Entity, FieldDef, Label, Option, Rule
from ..reserved import BASE_SYSTEM_COLUMNS
from .base import CheckContext, Checker, did_you_mean, pluralize, prettify
from .indexes import check_index_names, compile_indexes

MAX_TABLE_NAME = 63  # PostgreSQL's identifier limit


def check_entities(
    ctx: CheckContext,
) -> tuple[dict[str, Entity], dict[str, dict[str, Problem]], list[Problem]]:
    """The compiled entities, the fields whose own definition failed (entity id -> field
    id -> the problem that dropped it), and every problem, in the order found."""
    checker = _EntityChecker(ctx)
    entities = checker.compile()
    return entities, checker.failed_fields, checker.problems


@dataclass
class _Scope:
    """The fields visible where an entity (or a child table's row) is compiled."""

    obj: str  # "entity 'opportunity'" or "entity 'opportunity' field 'lines'"
    field_ids: tuple[str, ...]
    names: frozenset[str]  # what expressions may read
    in_row: bool = False
    entity_id: str | None = None  # where link paths start (None in a child table's row)
    formulas: dict[str, CompiledExpression] = field(default_factory=dict)
    formula_paths: dict[str, JsonPath] = field(default_factory=dict)


class _EntityChecker(Checker):
    def __init__(self, ctx: CheckContext):
        super().__init__(ctx)
        # entity id -> field id -> the problem of the mistake that dropped the field
        self.failed_fields: dict[str, dict[str, Problem]] = {}

    def compile(self) -> dict[str, Entity]:
        docs = self.ctx.loaded.of_kind("entity")
        self.unique_across_files(docs, "entity")
        entities: dict[str, Entity] = {}
        for doc in docs:
            entity = self._entity(doc)
            if entity is not None and entity.id not in entities:
                entities[entity.id] = entity
        check_index_names(self, entities, {d.data["id"]: d for d in docs})
        return entities

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
        system = self.ctx.system_ids(entity_id)
        scope = self._scope(doc, ("fields",), raw["fields"], obj, system, in_row=False)
        scope = dataclasses.replace(scope, entity_id=entity_id)
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
        indexes = compile_indexes(self, doc, raw.get("indexes") or [], fields, system, obj)
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
            system_fields=self.ctx.system_fields.get(entity_id, ()),
            indexes=indexes,
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
        self.unique(doc, [(path + (n, "id"), i) for n, i in enumerate(ids)], "field", obj)
        for n, f in enumerate(raw_fields):
            ftype = self.ctx.field_types.get(f.get("type"))
            if ftype is None:
                continue
            for key in ftype.extra_keys(_stub(f["id"], f["type"], ftype)):
                names.add(key)  # money's currency: expressions may read it
                if key in ids:
                    what = "currency column" if ftype.has_currency else "column"
                    self.report(
                        codes.DUPLICATE_ID,
                        doc,
                        path + (ids.index(key), "id"),
                        f"{obj} field '{key}'",
                        f"'{key}' is the {what} of {f['type']} field '{f['id']}' (line "
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
                self.failed_fields.setdefault(str(entity_id), {})[raw["id"]] = self.problems[before]
            if fdef is not None and fdef.id not in seen:
                seen.add(fdef.id)
                built.append(fdef)
        return tuple(built)

    def _field(self, doc: Document, path: JsonPath, raw: dict, scope: _Scope) -> FieldDef | None:
        field_id, type_name = raw["id"], raw["type"]
        obj = f"{scope.obj} field '{field_id}'"
        self.check_reserved(doc, path + ("id",), field_id, obj, in_row=scope.in_row)
        known = self.ctx.field_types
        ftype = known.get(type_name)
        if ftype is None:
            self.report(
                codes.UNKNOWN_TYPE,
                doc,
                path + ("type",),
                obj,
                f"unknown type '{type_name}'",
                did_you_mean(type_name, known) or f"known types: {', '.join(sorted(known))}",
            )
            return None
        for key in raw:
            if not ftype.accepts(key):
                users = sorted(n for n, t in known.items() if key in t.props)
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
        values["field_type"] = ftype
        values["settings"] = self._settings(doc, path, raw, ftype, obj)
        values["currencies"] = tuple(raw.get("currencies") or ())
        values["options"] = self._options(doc, path, raw, obj)
        for key in ("visible_if", "required_if", "readonly_if"):
            if key in raw:
                values[key] = self.expression(
                    doc, path + (key,), raw[key], scope.names, obj, scope.entity_id
                )
        if ftype.computed and "expression" in raw:
            values["expression"] = compiled = self.expression(
                doc, path + ("expression",), raw["expression"], scope.names, obj, scope.entity_id
            )
            if compiled is not None:
                scope.formulas[field_id] = compiled
                scope.formula_paths[field_id] = path + ("expression",)
        if ftype.holds_rows:
            values["fields"] = self._child_fields(doc, path, raw, scope, obj)
        fdef = FieldDef(**values)
        self._check_type(doc, path, raw, fdef, ftype, scope)
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
        """The row's fields; none inside a row or without ``fields`` (the type says why)."""
        raw_fields = raw.get("fields") or []
        if parent.in_row or not raw_fields:
            return ()
        scope = self._scope(doc, path + ("fields",), raw_fields, obj, ("id",), in_row=True)
        fields = self._fields(doc, path + ("fields",), raw_fields, scope)
        self._check_formula_cycles(doc, scope)
        return fields

    def _check_type(
        self,
        doc: Document,
        path: JsonPath,
        raw: dict,
        fdef: FieldDef,
        ftype: fieldtypes.FieldType,
        scope: _Scope,
    ) -> None:
        """The type's own definition checks (fieldtypes ``check_definition``), each
        problem with the code the type gives it."""
        context = fieldtypes.DefinitionContext(raw, self.ctx.entity_ids, scope.in_row)
        obj = f"{scope.obj} field '{fdef.id}'"
        try:
            found = ftype.check_definition(fdef, context)
        except Exception as exc:  # a plugin type's check must not break the compiler
            found = [
                fieldtypes.DefinitionProblem(
                    codes.INVALID_TYPE_SETTING, f"the type's own check failed: {exc}"
                )
            ]
        for problem in found:
            self.report(problem.code, doc, path + problem.path, obj, problem.message, problem.hint)

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
            return self.expression(
                doc, path + ("default",), value[1:], scope.names, obj, scope.entity_id
            )
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
                    did_you_mean(title, by_id),
                )
            elif title in by_id and fieldtypes.type_of(by_id[title]).holds_rows:
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
        textual = [f.id for f in fields if fieldtypes.type_of(f).title_candidate]
        return textual[0] if textual else "id"

    def _search_fields(
        self, doc: Document, raw: dict, fields: tuple[FieldDef, ...], by_id: dict, obj: str
    ) -> tuple[str, ...]:
        if "search_fields" not in raw:
            found = [f.id for f in fields if f.searchable or fieldtypes.type_of(f).search]
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
                    did_you_mean(fid, by_id),
                )
            elif not fieldtypes.type_of(fdef).is_stored(fdef):
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
                doc, path + ("expression",), raw["expression"], scope.names, rule_obj,
                scope.entity_id,
            )  # fmt: skip
            for m, fid in enumerate(raw.get("fields") or []):
                if fid not in scope.field_ids:
                    self.report(
                        codes.UNKNOWN_ENTITY_FIELD,
                        doc,
                        path + ("fields", m),
                        rule_obj,
                        f"rule field '{fid}' is not a field",
                        did_you_mean(fid, scope.field_ids),
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


# ------------------------------------------------------------------ helpers


def _stub(field_id: str, type_name: str, ftype: fieldtypes.FieldType) -> FieldDef:
    """A field with only its id and type, to ask the type for its record keys."""
    return FieldDef(id=field_id, type=type_name, label=Label.of(None, field_id), field_type=ftype)


def _replace(fdef: FieldDef, **changes: Any) -> FieldDef:
    return dataclasses.replace(fdef, **changes)


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
