"""Check and compile ``roles.yaml``: each role's permissions per entity, field access
and row scopes (which must translate to SQL), or the admin role of an app without one."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from runtime.errors import ExpressionError, Problem

from .. import codes
from ..loader import Document, JsonPath
from ..model import Entity, EntityPermission, Label, Role, Scope
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


def default_admin_role() -> Role:
    """Without roles.yaml an app still needs someone who may do everything."""
    grant = EntityPermission(
        create=True, read=Scope("all"), update=Scope("all"), archive=Scope("all")
    )
    return Role(
        "admin", Label.of({"en": "Administrator", "zh": "管理员"}), MappingProxyType({"*": grant})
    )
