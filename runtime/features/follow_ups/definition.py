"""Compile each entity's ``follow_up`` key: the record (e.g. a task) a date field creates.

The follow-ups feature (``runtime.features.follow_ups``) contributes the step under ``"follow_ups"``; it reads
the entity files; its result, entity id -> ``FollowUp``, is
``model.extensions["follow_ups"]`` (read it with ``follow_ups_of(model)``). The flow
that acts on it lives in ``runtime.features.follow_ups.flow``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from runtime.definition.codes import Code
from runtime.definition.compiler import CompileContext
from runtime.definition.loader import Document
from runtime.definition.model import AppModel, Entity, FieldDef, Label
from runtime.fieldtypes import type_of

from . import codes as own_codes

EXTENSION_KEY = "follow_ups"
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class FollowUp:
    """When ``entity``'s ``date`` is set (or changed), one ``creates`` record exists for it,
    due on that date, owned by (and assigned to) the record's owner."""

    entity: str
    date: str  # the date field of ``entity``
    creates: str  # the entity of the follow-up record
    due: str  # its date field that receives the date
    source: str  # its link field back to ``entity``: how the follow-up is found again
    assignee: str | None = None  # its user field that receives the owner
    title: Label | None = None  # text of its title field; {field} = a value of the record
    copy: tuple[str, ...] = ()  # fields copied over (same id on both entities)
    done_field: str | None = None  # a follow-up whose done_field is in done_values is finished
    done_values: tuple[str, ...] = ()

    def render_title(self, record: Mapping[str, Any], locale: str) -> str:
        if self.title is None:
            return ""

        def value(match: re.Match[str]) -> str:
            found = record.get(match[1])
            return "" if found is None else str(found)

        return PLACEHOLDER.sub(value, self.title.get(locale)).strip()


def follow_ups_of(model: AppModel) -> Mapping[str, FollowUp]:
    return (model.extensions or {}).get(EXTENSION_KEY) or MappingProxyType({})


def compile_follow_ups(context: CompileContext, docs: list[Document]) -> Mapping[str, FollowUp]:
    found: dict[str, FollowUp] = {}
    for doc in docs:
        raw = doc.data.get("follow_up")
        entity = context.entities.get(doc.data["id"])
        if raw is None or entity is None:
            continue
        follow_up = _FollowUpCompiler(context, doc, entity, raw).compile()
        if follow_up is not None:
            found[entity.id] = follow_up
    return MappingProxyType(found)


compile_follow_ups.kind = "entity"  # type: ignore[attr-defined]


def _field(entity: Entity, field_id: str) -> FieldDef | None:
    return entity.field(field_id) if entity.has_field(field_id) else None


class _FollowUpCompiler:
    def __init__(self, context: CompileContext, doc: Document, entity: Entity, raw: dict):
        self.context = context
        self.doc = doc
        self.entity = entity
        self.raw = raw
        self.obj = f"entity '{entity.id}' follow_up"
        self.ok = True

    def report(self, code: Code, key: str | tuple, message: str, hint: str = "") -> None:
        path = ("follow_up", *(key if isinstance(key, tuple) else (key,)))
        self.context.report(code, self.doc, path, self.obj, message, hint)
        self.ok = False

    def compile(self) -> FollowUp | None:
        raw = self.raw
        target = self.context.entities.get(raw["creates"])
        if target is None:
            known = ", ".join(sorted(self.context.entities))
            self.report(
                own_codes.UNKNOWN_FOLLOW_UP_FIELD,
                "creates",
                f"creates names the entity '{raw['creates']}', which does not exist",
                f"use one of: {known}",
            )
            return None
        self._date(self.entity, "date", raw["date"], "this entity")
        self._date(target, "due", raw["due"], f"entity '{target.id}'")
        self._source(target, raw["source"])
        if raw.get("assignee"):
            self._assignee(target, raw["assignee"])
        self._title(raw.get("title"))
        self._copy(target, raw.get("copy") or [])
        done = raw.get("done")
        if done:
            self._done(target, done)
        if not self.ok:
            return None
        return FollowUp(
            entity=self.entity.id,
            date=raw["date"],
            creates=target.id,
            due=raw["due"],
            source=raw["source"],
            assignee=raw.get("assignee"),
            title=Label.of(raw["title"]) if raw.get("title") else None,
            copy=tuple(raw.get("copy") or ()),
            done_field=done["field"] if done else None,
            done_values=tuple(done["values"]) if done else (),
        )

    def _known(self, entity: Entity, key: str | tuple, field_id: str) -> FieldDef | None:
        found = _field(entity, field_id)
        if found is None:
            self.report(
                own_codes.UNKNOWN_FOLLOW_UP_FIELD,
                key,
                f"entity '{entity.id}' has no field '{field_id}'",
                "check the spelling against the entity's fields",
            )
        return found

    def _date(self, entity: Entity, key: str, field_id: str, where: str) -> None:
        found = self._known(entity, key, field_id)
        if found is not None and not type_of(found).temporal:
            self.report(
                own_codes.INVALID_FOLLOW_UP_FIELD,
                key,
                f"{key} names '{field_id}' of {where}, a {found.type} field, not a date",
                "name a date or datetime field",
            )

    def _source(self, target: Entity, field_id: str) -> None:
        found = self._known(target, "source", field_id)
        if found is not None and (
            type_of(found).references != "record" or found.target != self.entity.id
        ):
            self.report(
                own_codes.INVALID_FOLLOW_UP_FIELD,
                "source",
                f"source '{field_id}' of entity '{target.id}' must be a link to '{self.entity.id}'",
                f"add {{id: {self.entity.id}, type: link, target: {self.entity.id}}} "
                f"to entity '{target.id}'",
            )

    def _assignee(self, target: Entity, field_id: str) -> None:
        found = self._known(target, "assignee", field_id)
        if found is not None and type_of(found).references != "user":
            self.report(
                own_codes.INVALID_FOLLOW_UP_FIELD,
                "assignee",
                f"assignee '{field_id}' of entity '{target.id}' is a {found.type} field",
                "name a user field",
            )

    def _title(self, title: Any) -> None:
        if not title:
            return
        texts = {"en": title} if isinstance(title, str) else dict(title)
        for locale, text in texts.items():
            for name in PLACEHOLDER.findall(str(text)):
                if not self.entity.has_field(name):
                    self.report(
                        own_codes.INVALID_FOLLOW_UP_TITLE,
                        "title" if isinstance(title, str) else ("title", locale),
                        f"title names {{{name}}}, which is not a field of '{self.entity.id}'",
                        "use {field} with a field id of this entity",
                    )

    def _copy(self, target: Entity, field_ids: list[str]) -> None:
        for index, field_id in enumerate(field_ids):
            mine, theirs = _field(self.entity, field_id), _field(target, field_id)
            if mine is None or theirs is None:
                missing = self.entity.id if mine is None else target.id
                self.report(
                    own_codes.INVALID_FOLLOW_UP_TITLE,
                    ("copy", index),
                    f"copy names '{field_id}', which entity '{missing}' does not have",
                    "copy only fields that both entities have",
                )
            elif mine.type != theirs.type or mine.target != theirs.target:
                self.report(
                    own_codes.INVALID_FOLLOW_UP_TITLE,
                    ("copy", index),
                    f"copy names '{field_id}', a {mine.type} here and a {theirs.type} "
                    f"on '{target.id}'",
                    "copy only fields of the same type (and link target)",
                )

    def _done(self, target: Entity, done: Mapping[str, Any]) -> None:
        found = self._known(target, ("done", "field"), done["field"])
        if found is None:
            return
        if not type_of(found).has_options or type_of(found).json_list:  # one option
            self.report(
                own_codes.INVALID_FOLLOW_UP_FIELD,
                ("done", "field"),
                f"done.field '{done['field']}' is a {found.type} field, not a select",
                "name the select that holds the follow-up's status",
            )
            return
        options = {o.id for o in found.options}
        for index, value in enumerate(done["values"]):
            if value not in options:
                self.report(
                    own_codes.INVALID_FOLLOW_UP_FIELD,
                    ("done", "values", index),
                    f"'{value}' is not an option of '{done['field']}'",
                    f"use one of: {', '.join(sorted(options))}",
                )


__all__ = ["EXTENSION_KEY", "FollowUp", "compile_follow_ups", "follow_ups_of"]
