"""Check and compile rollup fields across entities, once every entity is compiled: the
child entity, its link back to this one, the aggregated field and the filter; then fill
in what the value is (``result_type``, ``precision``, ``currency``) from the source."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from runtime import fieldtypes
from runtime.errors import Problem

from .. import codes
from ..filter_terms import USER_FILTER_TOKENS
from ..loader import Document, JsonPath
from ..model import Entity, FieldDef, Rollup, ViewFilter
from .base import CheckContext, Checker, did_you_mean
from .views import _ViewChecker

# What each function may aggregate (a count takes any field, or none).
NUMERIC_FUNCTIONS = ("sum", "avg")
ORDERED_FUNCTIONS = ("min", "max")


def check_rollups(
    ctx: CheckContext, entities: dict[str, Entity], failed: Mapping[str, Mapping] | None = None
) -> tuple[dict[str, Entity], list[Problem]]:
    """``entities`` with every rollup field compiled (``FieldDef.rollup`` and its value
    type set), and the problems found; a rollup with a problem keeps no ``rollup``.
    ``failed``: entity id -> the fields whose own definition failed (a rollup naming
    one is left uncompiled without a problem of its own: it would only echo that one)."""
    checker = _RollupChecker(ctx, failed or {})
    compiled = {eid: checker.entity(entity, entities) for eid, entity in entities.items()}
    return compiled, checker.problems


class _RollupChecker(Checker):
    def __init__(self, ctx: CheckContext, failed: Mapping[str, Mapping]):
        super().__init__(ctx)
        self.failed = failed
        self.docs = {
            d.data["id"]: d for d in ctx.loaded.of_kind("entity") if isinstance(d.data, dict)
        }

    def entity(self, entity: Entity, entities: Mapping[str, Entity]) -> Entity:
        doc = self.docs.get(entity.id)
        if doc is None or not any(_is_rollup(f) for f in entity.fields):
            return entity
        raw_ids = [f.get("id") for f in doc.data.get("fields") or []]
        fields = []
        for fdef in entity.fields:
            if _is_rollup(fdef) and fdef.id in raw_ids:
                path: JsonPath = ("fields", raw_ids.index(fdef.id))
                fdef = self.field(doc, path, entity, fdef, entities)
            fields.append(fdef)
        return dataclasses.replace(entity, fields=tuple(fields))

    def field(
        self,
        doc: Document,
        path: JsonPath,
        parent: Entity,
        fdef: FieldDef,
        entities: Mapping[str, Entity],
    ) -> FieldDef:
        raw = fdef.settings.get("rollup")
        if not isinstance(raw, Mapping):
            return fdef  # the type's own check says it is missing
        before = len(self.problems)
        obj = f"entity '{parent.id}' field '{fdef.id}'"
        here = path + ("rollup",)
        child = self._child(doc, here, raw, obj, entities)
        if child is None:
            return fdef
        broken = self.failed.get(child.id, {})
        if raw.get("link") in broken or raw.get("field") in broken:
            return fdef  # that field's own problem is reported; this would only echo it
        self._link(doc, here, raw, obj, parent, child)
        source = self._source(doc, here, raw, obj, child)
        where = self._where(doc, here, raw, obj, child)
        if len(self.problems) > before:
            return fdef
        return _compiled(fdef, raw, child, source, where, self.ctx)

    def _child(
        self, doc: Document, path: JsonPath, raw: Mapping, obj: str, entities: Mapping
    ) -> Entity | None:
        name = raw.get("entity")
        child = entities.get(name)
        if child is None:
            hint = did_you_mean(str(name), entities) or f"entities: {', '.join(sorted(entities))}"
            self.report(
                codes.UNKNOWN_ROLLUP_ENTITY,
                doc,
                path + ("entity",),
                obj,
                f"rollup entity '{name}' is not an entity",
                hint,
            )
        return child

    def _link(
        self, doc: Document, path: JsonPath, raw: Mapping, obj: str, parent: Entity, child: Entity
    ) -> None:
        name = raw.get("link")
        links = [
            f.id
            for f in child.fields
            if fieldtypes.type_of(f).references == "record" and f.target == parent.id
        ]
        hint = (
            f"links of '{child.id}' to '{parent.id}': {', '.join(links)}"
            if links
            else f"add a link field with target '{parent.id}' to '{child.id}'"
        )
        if not child.has_field(name):
            message = f"rollup link '{name}' is not a field of '{child.id}'"
        elif name not in links:
            field = child.field(name)
            what = f"a link to '{field.target}'" if field.target else f"a {field.type} field"
            message = f"rollup link '{child.id}.{name}' is {what}, not a link to '{parent.id}'"
        else:
            return
        self.report(codes.INVALID_ROLLUP_LINK, doc, path + ("link",), obj, message, hint)

    def _source(
        self, doc: Document, path: JsonPath, raw: Mapping, obj: str, child: Entity
    ) -> FieldDef | None:
        function, name = raw.get("function"), raw.get("field")
        where = path + ("field",)
        if name is None:
            if function != "count":
                self.report(
                    codes.INVALID_ROLLUP_FIELD,
                    doc,
                    path,
                    obj,
                    f"a {function} rollup needs a 'field' of '{child.id}'",
                )
            return None
        if not child.has_field(name):
            self.report(
                codes.INVALID_ROLLUP_FIELD,
                doc,
                where,
                obj,
                f"rollup field '{name}' is not a field of '{child.id}'",
                did_you_mean(name, [f.id for f in child.fields]),
            )
            return None
        source = child.field(name)
        ftype = fieldtypes.type_of(source)
        value = ftype.value_type(source)
        problem = ""
        if ftype.aggregates_links or not ftype.is_stored(source) or ftype.holds_rows:
            problem = (
                f"rollup field '{child.id}.{name}' is a {source.type} field without its own column"
            )
        elif function in NUMERIC_FUNCTIONS and not (value.numeric and value.summable):
            problem = (
                f"{function} needs a number or money field; '{child.id}.{name}' is {value.name}"
            )
        elif function in ORDERED_FUNCTIONS and not (value.numeric or value.temporal):
            problem = (
                f"{function} needs a number, money, date or date-time field; "
                f"'{child.id}.{name}' is {value.name}"
            )
        if problem:
            self.report(codes.INVALID_ROLLUP_FIELD, doc, where, obj, problem)
            return None
        return source

    def _where(
        self, doc: Document, path: JsonPath, raw: Mapping, obj: str, child: Entity
    ) -> tuple[ViewFilter, ...]:
        """The filter, checked as a view filter of the child is (fields, operators,
        values, a feature's named terms), reported as E088."""
        views = _ViewChecker(self.ctx)
        filters = []
        for m, f in enumerate(raw.get("where") or []):
            fpath = path + ("where", m)
            if views.check_condition(doc, fpath, f, child, obj, "rollup filter"):
                self._no_user_tokens(doc, fpath, f, obj)
            filters.append(ViewFilter(f["field"], f["op"], f.get("value")))
        self.problems += [
            dataclasses.replace(p, code=codes.INVALID_ROLLUP_FILTER.code) for p in views.problems
        ]
        return tuple(filters)

    def _no_user_tokens(self, doc: Document, path: JsonPath, raw: Mapping, obj: str) -> None:
        values = raw.get("value")
        values = values if isinstance(values, list) else [values]
        tokens = [v for v in values if isinstance(v, str) and v in USER_FILTER_TOKENS]
        if tokens:
            self.report(
                codes.INVALID_ROLLUP_FILTER,
                doc,
                path + ("value",),
                obj,
                f"'{tokens[0]}' depends on who reads; a rollup is stored once for everyone",
                "name a user id, or leave the filter out",
            )


def _is_rollup(fdef: FieldDef) -> bool:
    return fieldtypes.type_of(fdef).aggregates_links


def _compiled(
    fdef: FieldDef,
    raw: Mapping[str, Any],
    child: Entity,
    source: FieldDef | None,
    where: tuple[ViewFilter, ...],
    ctx: CheckContext,
) -> FieldDef:
    """The rollup with its aggregate and its value type: a count is an integer, an
    average a decimal (money stays money), a sum, min or max the source's own type."""
    function = raw["function"]
    changes: dict[str, Any] = {}
    currency = None
    if function == "count" or source is None:
        changes["result_type"] = "integer"
    else:
        value = fieldtypes.type_of(source).value_type(source)
        result = value.name if value.name in fieldtypes.FORMULA_RESULT_TYPES else "decimal"
        if function == "avg" and value.integral:
            result = "decimal"
        changes["result_type"] = result
        if result in ("decimal", "money", "percent"):
            changes["precision"] = source.precision
        if value.has_currency:
            app_currency = _app_currency(ctx)
            currency = value.default_currency(source, fieldtypes.CoerceContext(app_currency))
            changes["currency"] = currency
    spec = Rollup(
        entity=child.id,
        link=raw["link"],
        function=function,
        field=source.id if source is not None else None,
        where=where,
        currency=currency,
    )
    settings = MappingProxyType(dict(fdef.settings))
    return dataclasses.replace(fdef, rollup=spec, settings=settings, **changes)


def _app_currency(ctx: CheckContext) -> str:
    apps = ctx.loaded.of_kind("app")
    data = apps[0].data if apps else {}
    return (data.get("default_currency") if isinstance(data, dict) else None) or "CNY"
