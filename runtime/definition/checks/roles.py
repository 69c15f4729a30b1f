"""Check and compile ``roles.yaml``: each role's permissions per entity, field access
and row scopes (which must translate to SQL), or the admin role of an app without one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from runtime import fieldtypes
from runtime.errors import ExpressionError, Problem

from .. import codes
from ..loader import Document, JsonPath
from ..model import MAX_VIA_DEPTH, Entity, EntityPermission, FieldDef, Label, Role, Scope
from ..paths import PathError, walk_path
from ..reserved import BASE_SYSTEM_COLUMNS
from .base import CheckContext, Checker, did_you_mean, entity_names, prettify


def check_roles(
    ctx: CheckContext, entities: Mapping[str, Entity]
) -> tuple[dict[str, Role], list[Problem]]:
    """The roles by id and the problems found."""
    checker = _RoleChecker(ctx)
    return checker.compile(entities), checker.problems


class _RoleChecker(Checker):
    def compile(self, entities: Mapping[str, Entity]) -> dict[str, Role]:
        self._entities = entities
        self._via_edges: list[_ViaEdge] = []
        docs = self.ctx.loaded.of_kind("roles")
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
        self._check_via_graph()
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
        if entity_id != "*" and entity_id not in self.ctx.entity_ids:
            self.report(
                codes.UNKNOWN_PERMISSION_ENTITY,
                doc,
                path,
                role_obj,
                f"entity '{entity_id}' does not exist",
                did_you_mean(entity_id, self.ctx.entity_ids) or "use '*' for every entity",
            )
        if entity is not None:
            names = entity_names(entity)
            known = {f.id for f in entity.fields} | set(entity.system_column_ids)
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
                    did_you_mean(fid, known),
                )
        scopes = {
            action: self._scope_of(
                doc, path + (action,), grant.get(action, False), entity, names, obj
            )
            for action in ("read", "update", "archive")
        }
        return EntityPermission(
            create=bool(grant.get("create", False)),
            fields=MappingProxyType(dict(grant.get("fields") or {})),
            **scopes,
        )

    def _scope_of(
        self,
        doc: Document,
        path: JsonPath,
        value: Any,
        entity: Entity | None,
        names: frozenset[str],
        obj: str,
    ) -> Scope:
        if isinstance(value, list):
            parts = [
                self._scope_of(doc, path + (n,), v, entity, names, obj) for n, v in enumerate(value)
            ]
            return _union(parts)
        if value is False or value is None:
            return Scope("none")
        if isinstance(value, str):
            return Scope(value)
        if "assigned" in value:
            return self._assigned(doc, path, value["assigned"], entity, obj)
        if "via" in value:
            return self._via(doc, path, value, entity, obj)
        compiled = self._sql_expression(doc, path + ("expression",), value["expression"], names,
                                        obj, codes.SCOPE_NOT_SQL,
                                        entity.id if entity else None)  # fmt: skip
        return Scope("expression", compiled, paths=self._walked(entity, compiled))

    def _walked(self, entity: Entity | None, compiled: Any) -> tuple[tuple[str, Any], ...]:
        """The link paths of a row scope's expression, walked for SQL (those that do not
        walk are reported once every check ran: checks/expression_paths.py)."""
        found = []
        for path in sorted(getattr(compiled, "paths", ()) or ()):
            try:
                walked = walk_path(self._entities, entity.id, path)
            except (PathError, KeyError, AttributeError):
                continue
            found.append((path, walked))
        return tuple(found)

    def _sql_expression(
        self,
        doc: Document,
        path: JsonPath,
        source: str,
        names: frozenset[str],
        obj: str,
        code,
        entity_id: str | None = None,
    ) -> Any:
        """An expression compiled for ``names`` that SQL can say (else reported as ``code``)."""
        action = next(p for p in reversed(path) if p in ("read", "update", "archive"))
        compiled = self.expression(doc, path, source, names, obj, entity_id)
        if compiled is not None:
            try:
                compiled.check_row_scope()
            except ExpressionError as exc:
                message = exc.message.removeprefix(f"{compiled.where}: ")
                self.report(code, doc, path, f"{obj} {action}", message, exc.hint)
        return compiled

    def _assigned(
        self, doc: Document, path: JsonPath, field_id: str, entity: Entity | None, obj: str
    ) -> Scope:
        users = [f.id for f in entity.fields if _column_of(f, "user")] if entity else []
        if field_id not in users:
            what, hint = _not_a(entity, field_id, "user field", users)
            self.report(codes.NOT_A_USER_FIELD, doc, path + ("assigned",), obj,
                        f"assigned: field '{field_id}' {what}", hint)  # fmt: skip
        return Scope("assigned", field=field_id)

    def _via(
        self, doc: Document, path: JsonPath, value: dict, entity: Entity | None, obj: str
    ) -> Scope:
        field_id = value["via"]
        links = (
            {f.id: f.target for f in entity.fields if _column_of(f, "record") and f.target}
            if entity is not None
            else {}
        )
        target = links.get(field_id)
        if target is not None and target not in self._entities:
            return Scope("none")  # the link's own check reports its unknown target
        if target is None:
            what, hint = _not_a(entity, field_id, "link field", list(links))
            self.report(codes.VIA_NOT_A_LINK, doc, path + ("via",), obj,
                        f"via: field '{field_id}' {what}", hint)  # fmt: skip
            return Scope("none")
        where = None
        if value.get("where") is not None:
            names = entity_names(self._entities[target])
            where = self._sql_expression(doc, path + ("where",), value["where"], names, obj,
                                         codes.VIA_WHERE_NOT_SQL, target)  # fmt: skip
            if where is None:
                return Scope("none")
        action = str(path[4])  # ("roles", n, "permissions", entity, action, ...)
        self._via_edges.append(_ViaEdge(entity.id, action, target, doc, path, obj))
        walked = self._walked(self._entities[target], where)
        return Scope("via", where, field=field_id, target=target, paths=walked)

    def _check_via_graph(self) -> None:
        """Refuse via scopes that come back to where they started, or follow too many
        links: a target is reached through its read scope, that of every role (a user may
        hold several), so the graph is the union of all roles' read scopes."""
        reads: dict[str, set[str]] = {}
        for edge in self._via_edges:
            if edge.action == "read":
                reads.setdefault(edge.source, set()).add(edge.target)
        reported: set[str] = set()
        for edge in self._via_edges:
            chain = _longest_chain(
                edge.target, reads, (edge.source,) if edge.action == "read" else ()
            )
            if chain is _CYCLE:
                if edge.source not in reported:
                    reported.add(edge.source)
                    self.report(codes.VIA_CYCLE, doc=edge.doc, path=edge.path, obj=edge.obj,
                                message=f"via: following '{edge.target}' leads back to "
                                f"'{edge.source}'",
                                hint="end the chain with own, team, all or an expression")  # fmt: skip
            elif len(chain) > MAX_VIA_DEPTH:
                hops = " -> ".join((edge.source, *chain))
                self.report(codes.VIA_TOO_DEEP, edge.doc, edge.path, edge.obj,
                            f"via: the chain {hops} follows {len(chain)} links",
                            f"a row scope follows at most {MAX_VIA_DEPTH} links")  # fmt: skip


def _column_of(field: FieldDef, references: str) -> bool:
    """A stored column holding a record id (``"record"``: a link) or a user id."""
    ftype = fieldtypes.type_of(field)
    return ftype.references == references and ftype.is_stored(field)


_CYCLE: tuple[str, ...] = ("<cycle>",)


def _longest_chain(
    start: str, reads: Mapping[str, set[str]], seen: tuple[str, ...]
) -> tuple[str, ...]:
    """The longest list of entities reached from ``start`` through read via scopes
    (``start`` first), or ``_CYCLE`` when one of them leads back into ``seen``."""
    if start in seen:
        return _CYCLE
    best: tuple[str, ...] = ()
    for target in sorted(reads.get(start, ())):
        chain = _longest_chain(target, reads, (*seen, start))
        if chain is _CYCLE:
            return _CYCLE
        if len(chain) > len(best):
            best = chain
    return (start, *best)


@dataclass(frozen=True)
class _ViaEdge:
    """One via scope, as the cycle and depth checks see it."""

    source: str
    action: str
    target: str
    doc: Document
    path: JsonPath
    obj: str


def _union(parts: list[Scope]) -> Scope:
    """A list of scopes: their union (flattened, without the empty ones)."""
    flat: list[Scope] = []
    for part in parts:
        for scope in part.flat():
            if scope.kind == "all":
                return scope
            if scope.kind != "none" and scope not in flat:
                flat.append(scope)
    if not flat:
        return Scope("none")
    return flat[0] if len(flat) == 1 else Scope("any", parts=tuple(flat))


def default_admin_role() -> Role:
    """Without roles.yaml an app still needs someone who may do everything."""
    grant = EntityPermission(
        create=True, read=Scope("all"), update=Scope("all"), archive=Scope("all")
    )
    return Role(
        "admin", Label.of({"en": "Administrator", "zh": "管理员"}), MappingProxyType({"*": grant})
    )


def _not_a(entity: Entity | None, field_id: str, kind: str, fields: list[str]) -> tuple[str, str]:
    """What is wrong with ``field_id`` as a ``kind`` ("user field", "link field") of
    ``entity`` (None: a ``*`` entry), and the hint naming the fields that would do."""
    what = f"is not a {kind}" if entity is None or entity.has_field(field_id) else "does not exist"
    if entity is None:
        return what, f"name a {kind} of a named entity (not '*')"
    return what, did_you_mean(field_id, fields) or f"{kind}s: {', '.join(fields) or 'none'}"
