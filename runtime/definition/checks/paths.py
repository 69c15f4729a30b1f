"""Check link paths metadata names (view columns, sorts and filters; lookup fields'
``from``) and resolve lookup fields to the field they show."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from runtime import fieldtypes
from runtime.errors import Problem

from .. import codes
from ..codes import Code
from ..loader import Document
from ..model import Entity, FieldDef
from ..paths import USERS, PathError, WalkedPath, walk_path
from .base import CheckContext, Checker

PATH_CODES = {
    "unknown_field": codes.UNKNOWN_PATH_FIELD,
    "not_link": codes.PATH_NOT_A_LINK,
    "too_long": codes.PATH_TOO_LONG,
}
MAX_LOOKUP_ROUNDS = 4  # a lookup of a lookup of a lookup...: each round resolves one level


def path_problem_code(error: PathError) -> Code:
    return PATH_CODES.get(error.kind, codes.UNKNOWN_PATH_FIELD)


def shown_through_path(fdef: FieldDef) -> str:
    """Why the field at a path's end cannot be shown there ("" when it can)."""
    ftype = fieldtypes.type_of(fdef)
    if ftype.holds_rows:
        return "a child table has no single value to show"
    if isinstance(ftype, fieldtypes.LookupType):
        return "" if fdef.source is not None else "it is a lookup that does not resolve"
    if not ftype.is_stored(fdef):
        return f"a {fdef.type} field computed on read has no column to read"
    return ""


def resolve_lookups(
    ctx: CheckContext, entities: Mapping[str, Entity]
) -> tuple[dict[str, Entity], list[Problem]]:
    """``entities`` with every lookup field resolved: its ``source`` set, the source's
    display settings copied and its type made from the source's type. Problems name
    the entity file and the path."""
    checker = _LookupChecker(ctx)
    return checker.resolve(dict(entities)), checker.problems


class _LookupChecker(Checker):
    def resolve(self, entities: dict[str, Entity]) -> dict[str, Entity]:
        docs = {d.data.get("id"): d for d in self.ctx.loaded.of_kind("entity")}
        pending = {
            (e.id, f.id)
            for e in entities.values()
            for f in e.fields
            if isinstance(fieldtypes.type_of(f), fieldtypes.LookupType) and f.source is None
        }
        reported: set[tuple[str, str]] = set()
        for _round in range(MAX_LOOKUP_ROUNDS):
            progressed = False
            for entity_id, field_id in sorted(pending):
                done = self._resolve_one(entities, docs.get(entity_id), entity_id, field_id,
                                         reported)  # fmt: skip
                if done:
                    pending.discard((entity_id, field_id))
                    progressed = True
            if not pending or not progressed:
                break
        for entity_id, field_id in sorted(pending - reported):
            self.report(
                codes.LOOKUP_CYCLE,
                docs.get(entity_id),
                self._field_path(docs.get(entity_id), field_id, "from"),
                f"entity '{entity_id}' field '{field_id}'",
                "lookup fields show each other in a cycle",
                "let one of them show a stored field",
            )
        return entities

    def _resolve_one(
        self,
        entities: dict[str, Entity],
        doc: Document | None,
        entity_id: str,
        field_id: str,
        reported: set[tuple[str, str]],
    ) -> bool:
        """Resolve one lookup; True when done (resolved or reported), False to wait for
        the lookup it shows."""
        entity = entities[entity_id]
        fdef = entity.field(field_id)
        path = fieldtypes.LookupType.path(fdef)
        obj = f"entity '{entity_id}' field '{field_id}'"
        where = self._field_path(doc, field_id, "from")
        if not path:
            reported.add((entity_id, field_id))
            return True  # the type's own check reported it (TRL-E083)
        try:
            walked = walk_path(entities, entity_id, path)
        except PathError as exc:
            self.report(path_problem_code(exc), doc, where, obj, exc.message, exc.hint)
            reported.add((entity_id, field_id))
            return True
        end = walked.field
        if isinstance(fieldtypes.type_of(end), fieldtypes.LookupType) and end.source is None:
            return False
        why = shown_through_path(end)
        if why:
            self.report(
                codes.LOOKUP_WITHOUT_PATH,
                doc,
                where,
                obj,
                f"'{path}' ends at '{end.id}', which a lookup cannot show: {why}",
            )
            reported.add((entity_id, field_id))
            return True
        resolved = resolved_lookup(fdef, walked)
        fields = tuple(resolved if f.id == field_id else f for f in entity.fields)
        entities[entity_id] = dataclasses.replace(entity, fields=fields)
        return True

    def _field_path(self, doc: Document | None, field_id: str, key: str) -> tuple:
        if doc is None:
            return ()
        for n, raw in enumerate(doc.data.get("fields") or []):
            if raw.get("id") == field_id:
                return ("fields", n, key)
        return ()


def resolved_lookup(fdef: FieldDef, walked: WalkedPath) -> FieldDef:
    """The lookup field ``fdef`` showing ``walked.field``: the source's settings, a type
    made from the source's type."""
    end = walked.field
    source_type = fieldtypes.type_of(end)
    copied = {
        key: getattr(end, key)
        for key in fieldtypes.lookup.COPIED_SETTINGS
        if getattr(end, key) not in (None, ())
    }
    settings = MappingProxyType({**end.settings, **fdef.settings})
    return dataclasses.replace(
        fdef,
        **copied,
        settings=settings,
        source=end,
        field_type=fieldtypes.lookup_type_for(type(source_type)),
    )


__all__ = [
    "USERS",
    "path_problem_code",
    "resolve_lookups",
    "resolved_lookup",
    "shown_through_path",
]
