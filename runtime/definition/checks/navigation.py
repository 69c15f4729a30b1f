"""Check and compile app.yaml's ``navigation``: groups of items that each open an
entity's list or a URL; without it, one group lists every entity."""

from __future__ import annotations

from collections.abc import Mapping

from runtime.errors import Problem

from .. import codes
from ..loader import Document
from ..model import Entity, Label, NavGroup, NavItem
from .base import CheckContext, Checker, did_you_mean, prettify


def check_navigation(
    ctx: CheckContext, app_doc: Document, entities: Mapping[str, Entity], app_label: Label
) -> tuple[tuple[NavGroup, ...], list[Problem]]:
    """The navigation groups and the problems found."""
    checker = _NavigationChecker(ctx)
    return checker.compile(app_doc, entities, app_label), checker.problems


class _NavigationChecker(Checker):
    def compile(
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
                if entity_id is not None and entity_id not in self.ctx.entity_ids:
                    self.report(
                        codes.UNKNOWN_NAVIGATION_ENTITY,
                        doc,
                        ("navigation", n, "items", m, "entity"),
                        f"navigation group '{raw['id']}'",
                        f"entity '{entity_id}' does not exist",
                        did_you_mean(entity_id, self.ctx.entity_ids),
                    )
                label = Label.of(item["label"]) if item.get("label") else None
                items.append(NavItem(entity=entity_id, label=label, url=item.get("url")))
            groups.append(
                NavGroup(raw["id"], Label.of(raw.get("label"), prettify(raw["id"])), tuple(items))
            )
        return tuple(groups)
