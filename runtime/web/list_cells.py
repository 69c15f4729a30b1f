"""Presenting a list's rows: each record's cells formatted for the chosen columns (the
features' own cells for their columns), link titles and user names looked up in
batches, and the features' badges on the title cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as _replace
from datetime import datetime
from typing import Any

from runtime.definition.model import Entity, FieldDef, Option
from runtime.errors import PermissionDenied
from runtime.fieldtypes import currency_key, type_of
from runtime.timezones import as_utc
from runtime.web.list_request import ListEnv, ListRequest, list_hooks, shown_type

CARD_FIELDS = 4  # fields besides the title on a record's card at phone width
EMPTY = "—"


@dataclass(frozen=True)
class Cell:
    """One formatted value. ``kind`` picks the template: text, num, badge, badges,
    link, user, bool, email, url, phone, empty. ``value`` is the export value."""

    kind: str
    text: str = ""
    href: str | None = None
    options: tuple[Option, ...] = ()
    value: Any = None
    currency: str | None = None


@dataclass(frozen=True)
class Row:
    id: Any
    url: str
    title: str
    cells: tuple[Cell, ...]
    archived: bool = False
    badges: tuple[Any, ...] = ()  # the features' RowBadge objects on the title cell


def record_path(entity_id: str, record_id: Any) -> str:
    """``/e/<entity>/<id>``: the record screen (the record helper's route)."""
    return f"/e/{entity_id}/{record_id}"


def record_title_text(entity: Entity, record: Mapping[str, Any], locale: str) -> str:
    value = record.get(entity.title_field)
    if value in (None, ""):
        return f"{entity.label.get(locale)} #{record.get('id', '')}"
    return str(value)


def link_titles(env: ListEnv, target_id: str, ids: set[Any]) -> dict[Any, str]:
    """Titles of the linked records the user may read (``repo.titles``: one query)."""
    ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not ids or target_id not in env.model.entities:
        return {}
    try:
        return dict(env.repo.titles(env.principal, target_id, ids))
    except PermissionDenied:
        return {}


def user_names(env: ListEnv, ids: set[Any]) -> dict[Any, str]:
    """Display names of users by id, in one query (the users service's)."""
    ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not ids:
        return {}
    return dict(env.services.users.names(ids))


def present_rows(env: ListEnv, req: ListRequest, records: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Format ``records`` for ``req.columns``; links and users resolved in batches."""
    links: dict[str, dict[Any, str]] = {}
    wanted: dict[str, set[Any]] = {}
    user_ids: set[Any] = set()
    for col in req.columns:
        refers_to = shown_type(col).references
        if refers_to == "record" and col.target:
            wanted.setdefault(col.target, set()).update(r.get(col.id) for r in records)
        elif refers_to == "user":
            user_ids.update(r.get(col.id) for r in records)
    for target, ids in wanted.items():
        links[target] = link_titles(env, target, ids)
    names = user_names(env, user_ids)
    own = list_hooks(env.services, req.entity).columns
    rows = []
    for record in records:
        cells = tuple(
            _feature_cell(env, req.entity, own[col.id], record)
            or _cell(env, col, record, links, names)
            if col.id in own
            else _cell(env, col, record, links, names)
            for col in req.columns
        )
        rows.append(
            Row(
                id=record.get("id"),
                url=record_path(req.entity.id, record.get("id")),
                title=record_title_text(req.entity, record, env.locale),
                cells=cells,
                archived=record.get("archived_at") is not None,
            )
        )
    return rows


def _feature_cell(env: ListEnv, entity: Entity, column: Any, record: Mapping[str, Any]):
    """A feature's cell for its column (``ListColumn.cell``); None: the type's own."""
    return column.cell(env, entity, record)


def mark_rows(env: ListEnv, entity: Entity, rows: list[Row], gettext) -> list[Row]:
    """The page's rows with the features' badges (``ListBadges``), one fetch per source."""
    sources = list_hooks(env.services, entity).badges
    if not rows or not sources:
        return rows
    ids = [r.id for r in rows]
    found = [source.fetch(env, entity, ids, gettext) for source in sources]
    return [
        _replace(row, badges=tuple(b[row.id] for b in found if row.id in b))
        if any(row.id in b for b in found)
        else row
        for row in rows
    ]


def row_data(sources: Sequence[Any], row: Row) -> dict[str, Any]:
    """The JSON the features' badges add to a row (``absent`` for rows without one)."""
    data: dict[str, Any] = {}
    for source in sources:
        data.update(source.absent)
    for badge in row.badges:
        data.update(badge.data)
    return data


def _cell(env: ListEnv, f: FieldDef, record: Mapping[str, Any], links, names) -> Cell:
    value = record.get(f.id)
    if value is None or value == "" or value == []:
        return Cell("empty", EMPTY)
    shown = shown_type(f)
    kind = shown.display_kind
    locale = env.locale
    if kind == "link":
        title = links.get(f.target or "", {}).get(value)
        if title is None:  # not readable, or gone: never reveal its id or title
            return Cell("empty", EMPTY)
        return Cell("link", title, href=record_path(f.target or "", value), value=title)
    if kind == "user":
        name = names.get(value)
        return Cell("user", name, value=name) if name else Cell("empty", EMPTY)
    ftype = type_of(f)
    currency = None
    if shown.has_currency:
        currency = record.get(currency_key(f)) or f.currency or env.model.default_currency
    text = ftype.format(f, value, locale, currency=currency, tzinfo=env.timezone)
    if kind == "badge":
        option = f.option(str(value))
        return Cell("badge", text, options=(option,) if option else (), value=text)
    if kind == "badges":
        options = tuple(o for o in (f.option(str(v)) for v in value) if o is not None)
        return Cell("badges", text, options=options, value=text)
    if kind == "bool":
        return Cell("bool", text, value=bool(value))
    if shown.numeric:
        return Cell("num", text, value=value, currency=currency)
    if shown.instant and isinstance(value, datetime):
        moment = as_utc(value) or value
        return Cell("date", text, value=moment.astimezone(env.timezone).replace(tzinfo=None))
    if shown.temporal and not shown.instant:
        return Cell("date", text, value=value)
    if kind in ("email", "url", "phone"):
        return Cell(kind, text, value=text)
    if kind in ("longtext", "richtext"):
        text = " ".join(text.split())
        return Cell("text", text if len(text) <= 140 else text[:139] + "…", value=text)
    return Cell("text", text, value=text)
