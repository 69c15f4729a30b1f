"""The list screen's context: a view of an entity resolved against a request, its rows
presented.

The HTML page, its htmx partial and the ``.json`` variant render it; it starts from
``runtime.web.list_context.read_list``, as the REST API and the exports do, so they
cannot disagree about which rows and which fields a user sees::

    data = read_list(env, "deal", request.args)                  # the request + one repo.list
    rows = present_rows(env, data.request, data.rows)            # formatted cells, link titles
    context = build_list_context(env, "deal", request.args)      # all of the above + controls

Everything goes through ``repo.list`` with the signed-in user, so row scope and field
permissions are the repository's; columns, filters and sort keys on fields the user
may not read are dropped before the repository is asked. The jobs are split: reading
the request (``list_request``), presenting rows (``list_cells``), the filter bar
(``list_controls``); this module puts them together into the page's context. What a
feature adds - its columns' cells, badges, filters, switches - comes through its
``list_columns`` / ``list_filters`` hooks (``runtime.features.screens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from runtime.definition.model import Entity, FieldDef, Label
from runtime.web.list_cells import (
    CARD_FIELDS,
    EMPTY,
    Cell,
    Row,
    _cell,
    link_titles,
    mark_rows,
    present_rows,
    record_path,
    record_title_text,
    row_data,
    user_names,
)
from runtime.web.list_context import read_list
from runtime.web.list_controls import (
    Chip,
    Choice,
    FilterControl,
    Switch,
    build_filters,
    build_switches,
    user_quick_choices,
)
from runtime.web.list_groups import groupable_fields
from runtime.web.list_request import (
    CHOOSABLE_SYSTEM,
    CONTROL_PARAMS,
    MAX_COLUMNS,
    ON_WORDS,
    STATE_ORDER,
    ListEnv,
    ListHooks,
    ListRequest,
    _ordered_by_size,
    all_fields,
    can_create,
    can_read,
    column_candidates,
    fetch_page,
    grant_for,
    list_hooks,
    normalise_filter_pairs,
    pick_view,
    readable_field_ids,
    resolve_list_request,
    shown_type,
    today_in,
    url_of,
    value_type,
    zone_named,
)
from runtime.web.query import sortable_fields

MATCH_PARAM = "match"  # match=any: the user's filters combine with OR (runtime.web.query)
WHERE_PARAM = "where"


@dataclass
class ColumnHead:
    id: str
    label: str
    numeric: bool
    sortable: bool
    direction: str | None  # "asc" | "desc" | None
    sort_url: str
    is_title: bool = False
    card_key: bool = True  # shown on the phone card (the title and the first few columns)


@dataclass
class ViewLink:
    id: str
    label: str
    url: str
    active: bool
    saved_id: int | None = None


@dataclass
class MatchSwitch:
    """How the user's filters combine: all of them (AND, the default) or any (``match=any``,
    OR). The view's own filters and the features' switches always apply."""

    any: bool
    all_url: str
    any_url: str


def _match_switch(req: ListRequest, base_url: str) -> MatchSwitch | None:
    """Offered once two filters are on (or ``match=any`` is), as links to both states."""
    any_ = any(k == MATCH_PARAM and v.lower() == "any" for k, v in req.filter_pairs)
    if len(req.user_filters) < 2 and not any_:
        return None
    others = [(k, v) for k, v in req.filter_pairs if k != MATCH_PARAM]
    return MatchSwitch(
        any=any_,
        all_url=url_of(base_url, req.state_pairs(filter_pairs=others)),
        any_url=url_of(base_url, req.state_pairs(filter_pairs=[*others, (MATCH_PARAM, "any")])),
    )


@dataclass(frozen=True)
class SummaryRow:
    """A group's header (or the totals row): its label, record count and one text per
    column (the sum under a numeric column, else "")."""

    label: str
    count: int
    cells: tuple[str, ...]
    key: Any = None
    filter_url: str | None = None  # the list filtered to this group

    def as_json(self, columns: Sequence[Any]) -> dict[str, Any]:
        return {
            "key": _jsonable(self.key),
            "label": self.label,
            "count": self.count,
            "sums": {c.id: text for c, text in zip(columns, self.cells, strict=True) if text},
        }


@dataclass
class ListContext:
    """Everything the list page, its partial and its JSON show."""

    entity: Entity
    request: ListRequest
    title: str
    views: list[ViewLink]
    saved: list[ViewLink]
    columns: list[ColumnHead]
    column_choices: list[Choice]
    rows: list[Row]
    page: int
    page_size: int
    has_next: bool
    prev_url: str | None
    next_url: str | None
    url: str  # this list's canonical URL (page included)
    base_url: str
    state: list[tuple[str, str]]  # hidden inputs that carry view/sort/columns
    filters: list[FilterControl]
    chips: list[Chip]
    clear_url: str
    errors: list[str]
    search: str
    show_archived: bool
    archived_url: str
    export_csv_url: str
    export_xlsx_url: str
    can_create: bool
    new_url: str
    query_string: str
    switches: list[Switch] = field(default_factory=list)  # the features' ?<param>=1 boxes
    badge_sources: tuple[Any, ...] = ()  # the features' ListBadges (their JSON keys)
    more_columns: int = 0  # columns the picker offers beyond the shown ones
    sort_choices: list[Choice] = field(default_factory=list)  # phones; value: the sorted URL
    match: MatchSwitch | None = None  # "Match all / Match any" (two or more filters)
    group_choices: list[Choice] = field(default_factory=list)  # the "Group by" menu
    group_label: str = ""  # the grouped field's label ("" when not grouped)
    group_heads: list[SummaryRow | None] = field(default_factory=list)  # before each row
    totals: SummaryRow | None = None  # the table's footer
    groups_cut: bool = False  # more groups than were subtotalled

    def as_json(self) -> dict[str, Any]:
        req = self.request
        rows = []
        for row in self.rows:
            item = {
                "id": row.id,
                "url": row.url,
                "title": row.title,
                "archived": row.archived,
                "cells": {
                    c.id: cell.text if cell.kind != "empty" else None
                    for c, cell in zip(self.columns, row.cells, strict=True)
                },
            }
            if self.badge_sources:
                item.update(row_data(self.badge_sources, row))
            rows.append(item)
        data: dict[str, Any] = {
            "entity": self.entity.id,
            "view": req.view.id,
            "saved_view": req.saved_id,
            "columns": [{"id": c.id, "label": c.label, "sort": c.direction} for c in self.columns],
            "rows": rows,
            "filters": [[f, op, _jsonable(v)] for f, op, v in req.user_filters],
            "search": req.search,
            "sort": list(req.sort),
            "page": self.page,
            "page_size": self.page_size,
            "match": "any" if self.match is not None and self.match.any else "all",
            "has_next": self.has_next,
            "next_url": self.next_url,
            "prev_url": self.prev_url,
            "errors": self.errors,
        }
        for switch in self.switches:
            data[switch.param] = switch.on
        if req.group or self.totals is not None:
            data["group"] = req.group
            heads = [h for h in self.group_heads if h is not None]
            data["groups"] = [h.as_json(self.columns) for h in heads]
            data["totals"] = self.totals.as_json(self.columns) if self.totals else None
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _sort_url(req: ListRequest, base: str, f: FieldDef) -> tuple[str | None, str]:
    current = req.sort[0] if req.sort else ""
    direction = None
    if current.lstrip("-") == f.id:
        direction = "desc" if current.startswith("-") else "asc"
    if direction == "asc":
        key = "-" + f.id
    elif direction == "desc":
        key = f.id
    else:
        key = ("-" + f.id) if _ordered_by_size(f) else f.id
    return direction, url_of(base, req.state_pairs(sort=key))


def build_list_context(
    env: ListEnv,
    entity_id: str,
    args: Any,
    *,
    base_url: str,
    gettext=lambda s, **kw: s % kw if kw else s,
    saved_views: Any = None,
) -> ListContext:
    """Resolve, fetch one page and present it, with every control the page needs."""
    data = read_list(env, entity_id, args, saved_views=saved_views)
    req, page = data.request, data.page
    rows = mark_rows(env, req.entity, present_rows(env, req, list(page.rows)), gettext)
    hooks = list_hooks(env.services, req.entity)
    entity = req.entity
    locale = env.locale
    state = req.state_pairs()

    def page_url(n: int, *cursor: tuple[str, str]) -> str:
        return url_of(base_url, state + ([("page", str(n))] if n > 1 else []) + list(cursor))

    prev_url, next_url, current_url, page_number = _pager_urls(env, req, page, page_url)

    sortable = set(sortable_fields(entity)) & req.readable
    title_col = next((c.id for c in req.columns if c.id == entity.title_field), req.columns[0].id)
    heads = []
    others = [c.id for c in req.columns if c.id != title_col]
    card_keys = {title_col, *others[:CARD_FIELDS]}
    for f in req.columns:
        direction, url = _sort_url(req, base_url, f)
        heads.append(
            ColumnHead(
                id=f.id,
                label=f.label.get(locale),
                numeric=shown_type(f).numeric,
                sortable=f.id in sortable,
                direction=direction,
                sort_url=url,
                is_title=f.id == title_col,
                card_key=f.id in card_keys,
            )
        )
    # Phones show cards without a header row: a select offers the same sorts.
    current_sort = req.sort[0] if req.sort else ""
    sort_choices = [
        Choice(url_of(base_url, req.state_pairs(sort=key)), f"{f.label.get(locale)} {arrow}",
               None, key == current_sort)
        for f in req.columns if f.id in sortable
        for key, arrow in ((f.id, "↑"), ("-" + f.id, "↓"))
    ]  # fmt: skip
    chosen = {c.id for c in req.columns}
    ordered = list(req.columns) + [
        f for f in column_candidates(entity, req.readable, hooks) if f.id not in chosen
    ]
    column_choices = [Choice(f.id, f.label.get(locale), None, f.id in chosen) for f in ordered]

    views = [
        ViewLink(v.id, v.label.get(locale), url_of(base_url, [("view", v.id)]),
                 v.id == req.view.id and req.saved_id is None)
        for v in env.model.views.get(entity_id, ())
    ]  # fmt: skip
    saved = []
    if saved_views is not None:
        for sv in saved_views.list_for(env.principal.id, entity_id):
            saved.append(ViewLink(f"saved-{sv.id}", sv.name, url_of(base_url, [("saved", str(sv.id))]),
                                  sv.id == req.saved_id, saved_id=sv.id))  # fmt: skip
    controls, chips = build_filters(env, req, base_url, gettext)
    # match= and where= ride along as hidden inputs: the bar has no input of its own for them.
    kept = (
        "view",
        "saved",
        "sort",
        "columns",
        "group",
        "totals",
        "page_size",
        MATCH_PARAM,
        WHERE_PARAM,
    )
    hidden = [(k, v) for k, v in state if k in kept]
    return ListContext(
        entity=entity,
        request=req,
        title=entity.plural.get(locale),
        views=views,
        saved=saved,
        columns=heads,
        column_choices=column_choices,
        rows=rows,
        page=page_number,
        page_size=req.page_size,
        has_next=bool(page.has_next),
        prev_url=prev_url,
        next_url=next_url,
        url=current_url,
        base_url=base_url,
        state=hidden,
        filters=controls,
        chips=chips,
        clear_url=url_of(base_url, req.state_pairs(filter_pairs=[], q=None, **req.switched_off())),
        errors=[f"{e.param}: {e.text(gettext)}" for e in req.errors],
        search=req.search or "",
        show_archived=req.show_archived,
        archived_url=url_of(base_url, req.state_pairs(archived=None if req.show_archived else "1")),
        export_csv_url=url_of(f"{base_url}/export.csv", state),
        export_xlsx_url=url_of(f"{base_url}/export.xlsx", state),
        can_create=can_create(env, entity_id),
        new_url=f"{base_url}/new",
        query_string=urlencode(state),
        switches=build_switches(env, req, gettext),
        badge_sources=hooks.badges,
        more_columns=sum(1 for c in column_choices if not c.selected),
        sort_choices=sort_choices,
        match=_match_switch(req, base_url),
        **_group_parts(env, data, base_url, gettext),
    )


def _group_parts(env: ListEnv, data: Any, base_url: str, gettext) -> dict[str, Any]:
    """The "Group by" menu, each page group's header row and the totals row."""
    req, summary = data.request, data.summary
    locale = env.locale
    parts: dict[str, Any] = {
        "group_choices": [
            Choice(f.id, f.label.get(locale), None, f.id == req.group)
            for f in groupable_fields(req.entity, req.readable)
        ]
    }
    if summary is None:
        return parts
    empty = gettext("(empty)")
    if summary.field is not None:
        parts["group_label"] = summary.field.label.get(locale)
        heads: list[SummaryRow | None] = []
        previous = object()
        for record in data.rows:
            key = record.get(req.group)
            if key == previous:
                heads.append(None)
                continue
            previous = key
            found = summary.groups.get(key)
            if found is None:  # beyond the subtotalled groups: a header without numbers
                heads.append(SummaryRow(empty if key is None else str(key), -1, ()))
                continue
            heads.append(_summary_row(env, req, found, empty, _group_url(req, base_url, key)))
        parts["group_heads"] = heads
        parts["groups_cut"] = summary.has_more
    parts["totals"] = _summary_row(env, req, summary.totals, gettext("Total"), None)
    return parts


def _summary_row(env: ListEnv, req: ListRequest, sub: Any, empty: str, url: str | None):
    cells = []
    for col in req.columns:
        amounts = sub.sums.get(col.id) or ()
        texts = [_amount_text(env, col, amount, currency) for amount, currency in amounts]
        cells.append(" · ".join(t for t in texts if t))
    return SummaryRow(sub.label or empty, sub.count, tuple(cells), sub.key, url)


def _amount_text(env: ListEnv, col: FieldDef, amount: Any, currency: str | None) -> str:
    from runtime.fieldtypes import currency_key

    record = {col.id: amount}
    if currency:
        record[currency_key(col)] = currency
    cell = _cell(env, col, record, {}, {})
    return "" if cell.kind == "empty" else cell.text


def _group_url(req: ListRequest, base_url: str, key: Any) -> str | None:
    """The list filtered to one group (an empty group: ``<field>__isnull=1``)."""
    if req.group is None:
        return None
    others = [
        (k, v) for k, v in req.filter_pairs if not k.startswith(req.group + "__") and k != req.group
    ]
    if key is None or key == "":
        extra = (f"{req.group}__isnull", "1")
    else:
        extra = (req.group, "true" if key is True else "false" if key is False else str(key))
    return url_of(base_url, req.state_pairs(filter_pairs=[*others, extra], group=None))


def _pager_urls(env: ListEnv, req: ListRequest, page: Any, page_url: Any):
    """Previous / next / this page's URLs and the page's number.

    With a cursor codec the links carry keyset cursors (``after`` / ``before``, and
    ``page`` only as the label); the step back to page 1 is the plain first page.
    Without one (or for old ``page=`` bookmarks on the first request) OFFSET pages.
    """
    number = req.page
    if req.before is not None and not page.has_prev:
        number = 1  # walked back to the start sooner than the label said
    if env.cursors is None:
        prev_url = page_url(number - 1) if number > 1 else None
        next_url = page_url(number + 1) if page.has_next else None
        return prev_url, next_url, page_url(number), number
    entity_id = req.entity.id
    next_url = prev_url = None
    if page.has_next and page.next_key is not None:
        token = env.cursors.encode(entity_id, "after", page.next_key)
        next_url = page_url(number + 1, ("after", token))
    if number > 1 and page.has_prev:
        if number == 2:
            prev_url = page_url(1)
        elif page.prev_key is not None:
            token = env.cursors.encode(entity_id, "before", page.prev_key)
            prev_url = page_url(number - 1, ("before", token))
    current: list[tuple[str, str]] = []
    if req.after is not None and number > 1:
        current = [("after", env.cursors.encode(entity_id, "after", req.after))]
    elif req.before is not None and number > 1:
        current = [("before", env.cursors.encode(entity_id, "before", req.before))]
    return prev_url, next_url, page_url(number, *current), number


def label_text(label: Label | None, locale: str) -> str:
    return label.get(locale) if label is not None else ""


# Every name other modules (and tests) import from here, wherever it now lives.
__all__ = [
    "CARD_FIELDS",
    "CHOOSABLE_SYSTEM",
    "CONTROL_PARAMS",
    "EMPTY",
    "MAX_COLUMNS",
    "ON_WORDS",
    "STATE_ORDER",
    "Cell",
    "Chip",
    "Choice",
    "ColumnHead",
    "FilterControl",
    "ListContext",
    "ListEnv",
    "ListHooks",
    "ListRequest",
    "Row",
    "Switch",
    "ViewLink",
    "all_fields",
    "build_filters",
    "build_list_context",
    "can_create",
    "can_read",
    "column_candidates",
    "fetch_page",
    "grant_for",
    "label_text",
    "link_titles",
    "list_hooks",
    "normalise_filter_pairs",
    "pick_view",
    "present_rows",
    "readable_field_ids",
    "record_path",
    "record_title_text",
    "resolve_list_request",
    "shown_type",
    "today_in",
    "url_of",
    "user_names",
    "user_quick_choices",
    "value_type",
    "zone_named",
]
