"""Link paths over the compiled model: ``account.industry`` or ``account.owner.team``
walked hop by hop to the field at its end, or refused with the reason.

A path is field ids joined by dots. Every name but the last is a link field (a record
link, or a user field such as ``owner``), the last is any field of the entity the last
link reaches. A user field reaches the users: their ``name`` and ``team`` (the id of
their team). ``owner`` / ``creator`` stand for the ``owner_id`` / ``created_by``
system columns. At most ``MAX_HOPS`` links are followed. The store turns a walked path
into SQL (``runtime.store.paths``); the compiler checks the paths metadata names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .model import Entity, FieldDef, Label

MAX_HOPS = 3  # links followed by one path; a longer one is refused
# The pseudo-entity a user field reaches (never an entity id: those match the id pattern).
USERS = "@users"
# What a path may read of a user: the display name and the team id.
USER_FIELDS: Mapping[str, FieldDef] = MappingProxyType(
    {
        "name": FieldDef(
            "name", "text", Label(MappingProxyType({"en": "Name", "zh": "姓名"})), readonly=True
        ),
        "team": FieldDef(
            "team", "integer", Label(MappingProxyType({"en": "Team", "zh": "团队"})), readonly=True
        ),
    }
)
# Short names of the system user columns (``account.owner.team``).
SYSTEM_ALIASES: Mapping[str, str] = MappingProxyType({"owner": "owner_id", "creator": "created_by"})


class PathError(ValueError):
    """A path that does not walk: ``kind`` is "unknown_field", "not_link" or "too_long"."""

    def __init__(self, kind: str, message: str, hint: str = "", at: str = ""):
        self.kind = kind
        self.message = message
        self.hint = hint
        self.at = at  # the name where the walk stopped
        super().__init__(message)


@dataclass(frozen=True)
class Hop:
    """One link followed: ``link`` (a field of ``entity``) reaching ``target``."""

    entity: str
    link: FieldDef
    target: str  # an entity id, or USERS


@dataclass(frozen=True)
class WalkedPath:
    """A path that walks: its links in order, and the field at the end (of ``end``)."""

    path: str
    hops: tuple[Hop, ...]
    end: str  # the entity (or USERS) the field belongs to
    field: FieldDef

    @property
    def reads(self) -> tuple[tuple[str, str], ...]:
        """Every (entity, field) the path reads: each link, then the end field."""
        return tuple((h.entity, h.link.id) for h in self.hops) + ((self.end, self.field.id),)


def is_path(name: str) -> bool:
    return isinstance(name, str) and "." in name


def field_named(entity: Entity, name: str) -> FieldDef | None:
    """A field of ``entity`` by id: its own, a system column, or owner / creator."""
    for f in entity.fields:
        if f.id == name:
            return f
    system = {f.id: f for f in entity.all_system_fields}
    return system.get(name) or system.get(SYSTEM_ALIASES.get(name, ""))


def link_target(field: FieldDef) -> str | None:
    """What a link field reaches: its target entity, USERS for a user field, else None."""
    from runtime.fieldtypes import type_of  # fieldtypes imports the model package

    refers = type_of(field).references
    if refers == "record":
        return field.target
    if refers == "user":
        return USERS
    return None


def walk_path(
    entities: Mapping[str, Entity], entity_id: str, path: str, max_hops: int = MAX_HOPS
) -> WalkedPath:
    """The walk of ``path`` from ``entity_id``, or PathError saying where it stops."""
    names = path.split(".")
    if len(names) < 2 or any(not n for n in names):
        raise PathError("unknown_field", f"'{path}' is not a link path", at=path)
    if len(names) - 1 > max_hops:
        raise PathError(
            "too_long",
            f"'{path}' follows {len(names) - 1} links; at most {max_hops} are allowed",
            "add a lookup field on a nearer entity and follow that",
            at=path,
        )
    hops: list[Hop] = []
    here = entity_id
    for n, name in enumerate(names):
        last = n == len(names) - 1
        if here == USERS:
            found = USER_FIELDS.get(name)
            choices = list(USER_FIELDS)
        else:
            entity = entities[here]
            found = field_named(entity, name)
            choices = [f.id for f in entity.fields] + list(entity.system_column_ids)
        where = "a user" if here == USERS else f"'{here}'"
        if found is None:
            from difflib import get_close_matches

            close = get_close_matches(name, choices, n=1)
            hint = f"did you mean '{close[0]}'?" if close else ""
            raise PathError(
                "unknown_field", f"'{path}': '{name}' is not a field of {where}", hint, at=name
            )
        if last:
            return WalkedPath(path, tuple(hops), here, found)
        target = link_target(found) if here != USERS else None
        if target is None or (target != USERS and target not in entities):
            raise PathError(
                "not_link",
                f"'{path}': '{name}' of {where} is not a link, so the path cannot go on",
                "only link and user fields can be followed",
                at=name,
            )
        hops.append(Hop(here, found, target))
        here = target
    raise AssertionError("unreachable")


__all__ = [
    "MAX_HOPS",
    "SYSTEM_ALIASES",
    "USERS",
    "USER_FIELDS",
    "Hop",
    "PathError",
    "WalkedPath",
    "field_named",
    "is_path",
    "link_target",
    "walk_path",
]
