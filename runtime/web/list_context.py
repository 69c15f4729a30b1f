"""The one list context: a list request read once and the repository asked once, for the
HTML list, its ``.json`` twin, the REST API's ``GET /api/v1/<entity>`` and the exports.

Like Datasette's table view, every way of showing a list starts from the same two
steps, so they cannot disagree about which records, in which order, on which page::

    data = read_list(env, "deal", request.args)            # the list screen (lenient)
    data = read_list(env, "deal", request.args, api=True)  # the REST API (strict)
    data.request  # ListRequest: filters (relative dates, me / my_team, the features'
                  # terms and switches), search, sort, keyset cursor, page size,
                  # archived, fields, the saved view it came from
    data.page     # the one ``repo.list`` page (rows, has_next, next_key, ...)

Then ``runtime.web.list_view`` presents the rows as cells, ``runtime.web.api`` writes
them as JSON records, and ``runtime.web.export`` walks the same request batch by
batch. The two readings differ only where the contracts do: the screen drops a bad
parameter and says why (``ListRequest.errors``), reads its view's filters, columns and
sort, and offers saved views; the API refuses the first bad parameter with a
``QueryError`` (its documented 400), has no views, and returns every readable field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

from runtime.definition.model import ListView
from runtime.web.list_groups import summarise
from runtime.web.list_request import (
    ON_WORDS,
    ListEnv,
    ListRequest,
    _first,
    _pairs_of,
    fetch_page,
    list_hooks,
    readable_field_ids,
    resolve_list_request,
)
from runtime.web.query import parse_list_query


@dataclass(frozen=True)
class ListData:
    """A resolved list request and the page the repository answered it with."""

    request: ListRequest
    page: Any  # runtime.store.Page
    summary: Any = None  # runtime.web.list_groups.ListSummary: group subtotals, totals

    @property
    def rows(self) -> list[Any]:
        return list(self.page.rows)

    @property
    def by_cursor(self) -> bool:
        return self.request.after is not None or self.request.before is not None

    def cursor(self, env: ListEnv, direction: str) -> str | None:
        """The signed cursor of the page after (``"after"``) or before (``"before"``)."""
        key = self.page.next_key if direction == "after" else self.page.prev_key
        if key is None or env.cursors is None:
            return None
        return env.cursors.encode(self.request.entity.id, direction, key)


def read_list(
    env: ListEnv, entity_id: str, args: Any, *, api: bool = False, saved_views: Any = None
) -> ListData:
    """Read ``args`` the screen's way (or the API's, ``api=True``) and fetch its page."""
    if api:
        req = resolve_api_request(env, entity_id, args)
    else:
        req = resolve_list_request(env, entity_id, args, saved_views=saved_views)
    return ListData(req, fetch_page(env, req), summarise(env, req))


def resolve_api_request(env: ListEnv, entity_id: str, args: Any) -> ListRequest:
    """The REST API's reading of a list query: every parameter but the features'
    switches goes to the parser, and the first bad one raises ``QueryError``; no view
    applies (its filters, columns and sort are the screen's), every readable field is
    returned, and archived records only when a filter on ``archived_at`` asks for them.
    Naive date-times in filters are UTC, as the API writes them."""
    entity = env.model.entities[entity_id]
    hooks = list_hooks(env.services, entity)
    pairs = _pairs_of(args)
    switches = tuple(
        s for s in hooks.switches if (_first(pairs, s.param) or "").strip().lower() in ON_WORDS
    )
    readable = readable_field_ids(env, entity)
    query = parse_list_query(
        entity,
        pairs,
        ctx=replace(env.coerce_context(), timezone=UTC),
        readable=readable,
        ignore=tuple(s.param for s in hooks.switches),
        cursors=env.cursors,
        terms=hooks.terms,
    )
    filters = query.conditions()  # match=any and where= groups included
    for switch in switches:
        filters += switch.where(env, entity)
    views = env.model.views.get(entity_id) or ()
    view = views[0] if views else ListView("all", entity_id, entity.plural, ("id",))
    return ListRequest(
        entity=entity,
        view=view,
        columns=(),
        filters=tuple(filters),
        user_filters=query.filters,
        filter_pairs=(),
        sort=query.sort,
        search=query.search,
        page=query.page,
        page_size=query.page_size,
        show_archived=any(name == "archived_at" for name, _op, _value in query.filters),
        custom_columns=False,
        saved_id=None,
        readable=frozenset(readable),
        switches=tuple(s.param for s in switches),
        after=query.after,
        before=query.before,
        every_field=True,
    )


__all__ = ["ListData", "read_list", "resolve_api_request"]
