"""What a feature's screen hooks return: small frozen records the generic list, record,
home and API screens ask for instead of importing the feature (docs/internals.md).

Each record names the thing it contributes and carries the callables that compute it
per request; the screens call them with their own context objects (``ListEnv``, the
record page's ``Formatter``...), so a feature imports the generic screens, never the
reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def _nothing(*_args: Any) -> Any:
    return None


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class ListColumn:
    """How the list shows the column of field ``id`` (a feature's system field).

    ``cell(env, entity, record)`` returns the ``runtime.web.list_cells.Cell`` (None: the
    field type's own cell); ``reads(model, entity)`` names the other fields the cell
    needs fetched; ``lead`` offers the column before the base system columns in the
    column chooser."""

    id: str
    cell: Callable[..., Any] = _nothing
    reads: Callable[..., Sequence[str]] = lambda _model, _entity: ()
    lead: bool = False


@dataclass(frozen=True)
class RowBadge:
    """A badge on a row's title cell; ``data`` goes into the row of the JSON list."""

    text: str
    title: str = ""
    css: str = "badge-orange"
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ListBadges:
    """Badges on the title cells of a page: ``fetch(env, entity, record_ids, gettext)`` returns
    ``{record id: RowBadge}`` in one query for the page; ``absent`` is the JSON of a
    row without one (so every row has the same keys)."""

    id: str
    fetch: Callable[..., Mapping[Any, RowBadge]]
    absent: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ListFilter:
    """The filter bar's control for field ``id``, replacing the field type's own.

    ``control(env, entity, field, current, gettext)`` returns a
    ``runtime.web.list_controls.FilterControl`` (``current``: the user's filter params);
    ``lead`` offers it first whether or not the view lists it; ``value_text(env,
    entity, value)`` is one value of it in an active-filter chip."""

    id: str
    control: Callable[..., Any]
    lead: bool = False
    value_text: Callable[..., str] | None = None


@dataclass(frozen=True)
class QueryTerm:
    """A query-string filter on a named term, not a field (``stage_kind=open``), read
    by the list, its exports and the API alike.

    ``parse(param, suffix, raw)`` returns the repository filter ``(name, op, value)`` or
    raises ``ValueError(message)`` (or ``runtime.web.query.QueryError(param, template,
    **variables)``, which the list screen shows translated); ``chip(env, entity, suffix, raw, gettext)`` returns
    ``(label, text)`` of its active-filter chip; ``parameters()`` its OpenAPI query
    parameters."""

    name: str
    parse: Callable[[str, str, str], tuple[str, str, Any]]
    chip: Callable[..., tuple[str, str]] | None = None
    parameters: Callable[[], list[dict[str, Any]]] = list


@dataclass(frozen=True)
class ListSwitch:
    """A ``?<param>=1`` switch of the list and the API (pipelines' ``idle``).

    ``label(gettext)`` is the checkbox's text and its chip; ``where(env, entity)`` the
    repository filters it adds when on (``env`` has the reader's ``timezone``); ``css``
    a class of the checkbox."""

    param: str
    label: Callable[[Callable[..., str]], str]
    where: Callable[..., Sequence[tuple[str, str, Any]]]
    css: str = ""


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class RecordPanel:
    """A panel above the record page's highlights: ``template`` is included with the
    page's context (``ent``, ``record``...) plus ``context(entity, record)`` (None: the
    panel is left out for this record)."""

    id: str
    template: str
    context: Callable[..., Mapping[str, Any] | None] = lambda _entity, _record: {}


@dataclass(frozen=True)
class TimelineSource:
    """Entries of the record page's timeline.

    ``entries(fmt, entity, record, history)`` returns ``(history, entries)``: the
    field-history rows left for the generic entries (a source may take the rows it tells
    itself) and its own ``runtime.web.record_view.TimelineEntry`` objects; an entry
    with a ``template`` is drawn by that template."""

    id: str
    entries: Callable[..., tuple[list[Any], list[Any]]]


# --------------------------------------------------------------------------- navigation, home


@dataclass(frozen=True)
class NavItem:
    """A screen of the feature the sidebar may link to: the app's navigation names it
    by ``url``; ``visible(principal)`` says whether the viewer may open it (a link to
    it is hidden otherwise), ``icon`` replaces the plain link icon."""

    label: Any  # runtime.definition.model.Label
    url: str
    icon: str = "link"
    visible: Callable[[Any], bool] = lambda _principal: True


@dataclass(frozen=True)
class HomeSection:
    """A section of the home page: ``template`` included with ``sections`` of
    ``context(services, principal, day)`` (None or empty: left out)."""

    id: str
    template: str
    context: Callable[..., Any]


__all__ = [
    "HomeSection",
    "ListBadges",
    "ListColumn",
    "ListFilter",
    "ListSwitch",
    "NavItem",
    "QueryTerm",
    "RecordPanel",
    "RowBadge",
    "TimelineSource",
]
