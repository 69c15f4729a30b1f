"""Check and compile ``forms/*.yaml``: the sections of each entity's form, and the
generated form of an entity that has none."""

from __future__ import annotations

from collections.abc import Mapping

from runtime import fieldtypes  # a module: the field types import runtime.definition
from runtime.errors import Problem

from .. import codes
from ..loader import Document, JsonPath
from ..model import Entity, FormLayout, Label, Section
from .base import CheckContext, Checker, did_you_mean, entity_names

FORM_EXTRA_FIELDS = ("owner_id",)  # system columns a form may show


def check_forms(
    ctx: CheckContext, entities: Mapping[str, Entity]
) -> tuple[dict[str, FormLayout], list[Problem]]:
    """One form per entity (its file's, else the generated one) and the problems found."""
    checker = _FormChecker(ctx)
    return checker.compile(entities), checker.problems


class _FormChecker(Checker):
    def compile(self, entities: Mapping[str, Entity]) -> dict[str, FormLayout]:
        forms: dict[str, FormLayout] = {}
        first_file: dict[str, str] = {}
        for doc in self.ctx.loaded.of_kind("form"):
            entity = self.entity_of(doc, entities, "form")
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
        names = entity_names(entity)
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
                        did_you_mean(fid, [f.id for f in entity.fields]),
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
                    doc, path + ("visible_if",), raw["visible_if"], names, section_obj, entity.id
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


def default_form(entity: Entity) -> FormLayout:
    """One two-column section with every field; child tables last (they span the form)."""
    tables = [f.id for f in entity.fields if fieldtypes.type_of(f).holds_rows]
    plain = [f.id for f in entity.fields if f.id not in tables]
    section = Section(id="main", label=None, columns=2, fields=tuple(plain + tables))
    return FormLayout(id=entity.id, entity=entity.id, sections=(section,))
