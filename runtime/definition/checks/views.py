"""Check and compile ``views/*.yaml``: each entity's list views, their columns, sort
keys and filters (a feature's named terms and values are checked by the feature), and
the generated view of an entity that has none."""

from __future__ import annotations

from collections.abc import Mapping

from runtime import fieldtypes
from runtime.errors import Problem

from .. import codes
from ..filter_terms import USER_FILTER_TOKENS
from ..loader import Document, JsonPath
from ..model import MAX_FILTER_DEPTH, Entity, FilterGroup, Label, ListView, ViewFilter
from ..paths import PathError, is_path, walk_path
from .base import CheckContext, Checker, FilterCheck, did_you_mean, prettify
from .paths import path_problem_code, shown_through_path


def check_views(
    ctx: CheckContext, entities: Mapping[str, Entity]
) -> tuple[dict[str, tuple[ListView, ...]], list[Problem]]:
    """The list views of every entity (first = default) and the problems found."""
    checker = _ViewChecker(ctx)
    return checker.compile(entities), checker.problems


class _ViewChecker(Checker):
    def compile(self, entities: Mapping[str, Entity]) -> dict[str, tuple[ListView, ...]]:
        self.entities = entities
        views: dict[str, list[ListView]] = {}
        ids: dict[str, dict[str, str]] = {}
        for doc in self.ctx.loaded.of_kind("view"):
            entity = self.entity_of(doc, entities, "views")
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
        filters = [
            self._filter_item(doc, path + ("filters", m), f, entity, obj, 0)
            for m, f in enumerate(raw.get("filters") or [])
        ]
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

    def _filter_item(
        self, doc: Document, fpath: JsonPath, f: dict, entity: Entity, obj: str, depth: int
    ) -> ViewFilter | FilterGroup:
        """One filter or group of a view, each condition inside checked like a top one."""
        if "field" not in f:
            return self._filter_group(doc, fpath, f, entity, obj, depth)
        self.check_condition(doc, fpath, f, entity, obj)
        return ViewFilter(f["field"], f["op"], f.get("value"))

    def check_condition(
        self,
        doc: Document,
        fpath: JsonPath,
        f: dict,
        entity: Entity,
        obj: str,
        what: str = "filter",
    ) -> bool:
        """One condition (field, op, value) checked: a feature's named term by the term's
        own check, else the field, its operator and value. True when it named a field of
        ``entity`` that was checked (a term, or an unknown field, gives False)."""
        term = self.ctx.filter_terms.get(f["field"])
        if term is not None and not entity.has_field(f["field"]):
            self.problems.extend(term(self._filter_check(doc, fpath, f, entity, obj)))
            return False
        if self._view_field(doc, fpath + ("field",), f["field"], entity, obj, what, sortable=True):
            self._check_filter(doc, fpath, f, entity, obj)
            return True
        return False

    def _filter_group(
        self, doc: Document, fpath: JsonPath, f: dict, entity: Entity, obj: str, depth: int
    ) -> FilterGroup:
        kind = next(iter(f))
        items = f[kind]
        gpath = fpath + (kind,)
        if depth >= MAX_FILTER_DEPTH:
            self.report(
                codes.FILTER_GROUP_TOO_DEEP,
                doc,
                fpath,
                obj,
                f"filter groups nest more than {MAX_FILTER_DEPTH} levels deep",
                "flatten the conditions: any inside any (or all inside all) is one group",
            )
            return FilterGroup(kind, ())
        if isinstance(items, dict):  # not: one condition
            return FilterGroup(
                kind, (self._filter_item(doc, gpath, items, entity, obj, depth + 1),)
            )
        if not items:
            self.report(
                codes.EMPTY_FILTER_GROUP,
                doc,
                gpath,
                obj,
                f"the '{kind}' group holds no condition",
                "add a condition {field, op, value} or remove the group",
            )
        return FilterGroup(
            kind,
            tuple(
                self._filter_item(doc, gpath + (k,), item, entity, obj, depth + 1)
                for k, item in enumerate(items)
            ),
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
        system = entity.system_column_ids
        if fid in system:
            return True
        if is_path(fid):
            return self._view_path(doc, path, fid, entity, obj, role)
        if not entity.has_field(fid):
            self.report(
                codes.UNKNOWN_VIEW_FIELD,
                doc,
                path,
                obj,
                f"{role} '{fid}' is not a field of '{entity.id}'",
                did_you_mean(fid, [f.id for f in entity.fields] + list(system)),
            )
            return False
        fdef = entity.field(fid)
        ftype = fieldtypes.type_of(fdef)
        if ftype.holds_rows or (sortable and not ftype.filter_operators(fdef)):
            self.report(
                codes.UNKNOWN_VIEW_FIELD,
                doc,
                path,
                obj,
                f"{role} '{fid}' cannot be used: a {fdef.type} field has no column",
            )
            return False
        return True

    def _view_path(
        self, doc: Document, path: JsonPath, fid: str, entity: Entity, obj: str, role: str
    ) -> bool:
        """A link path (``account.industry``): every hop a link, the end a field with a
        value to show, sort and filter on."""
        try:
            walked = walk_path(self.entities, entity.id, fid)
        except PathError as exc:
            self.report(path_problem_code(exc), doc, path, obj, f"{role} {exc.message}", exc.hint)
            return False
        why = shown_through_path(walked.field)
        if why:
            self.report(
                codes.UNKNOWN_PATH_FIELD,
                doc,
                path,
                obj,
                f"{role} '{fid}' cannot be used: {why}",
            )
            return False
        return True

    def _check_filter_values(
        self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str
    ) -> None:
        """A feature's field takes what the feature says; user fields take a user id,
        ``me`` or ``my_team``."""
        fid, value = raw["field"], raw.get("value")
        if raw["op"] == "isnull":
            return
        for check in self.ctx.filter_value_checks:
            found = check(self._filter_check(doc, path, raw, entity, obj))
            if found is not None:
                self.problems.extend(found)
                return
        values = value if isinstance(value, list) else [value]
        is_user = fid in ("owner_id", "created_by") or (
            entity.has_field(fid) and fieldtypes.type_of(entity.field(fid)).references == "user"
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
                    did_you_mean(str(item), USER_FILTER_TOKENS)
                    or "use me (the viewer), my_team (the viewer's teams) or a user id",
                )

    def _check_filter(
        self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str
    ) -> None:
        op, value, fid = raw["op"], raw.get("value"), raw["field"]
        if entity.has_field(fid):
            fdef = entity.field(fid)
            allowed = fieldtypes.type_of(fdef).operators
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

    def _filter_check(
        self, doc: Document, path: JsonPath, raw: dict, entity: Entity, obj: str
    ) -> FilterCheck:
        documents = tuple(self.ctx.loaded.documents)
        return FilterCheck(doc, path, raw, entity, obj, documents)


def default_view(entity: Entity) -> ListView:
    """The first six fields that have a column, newest first."""
    columns = [
        f.id for f in entity.fields
        if not fieldtypes.type_of(f).holds_rows and fieldtypes.type_of(f).is_stored(f)
    ][:6]  # fmt: skip
    return ListView(
        id="all",
        entity=entity.id,
        label=entity.plural,
        columns=tuple(columns or ("id",)),
        sort=("-updated_at",),
    )
