"""Reading a list request: the view, columns, filters, search, sort and paging a query
string asks for, resolved against the user's permissions and the features' list hooks,
and the one ``repo.list`` call that fetches its page.

Query strings are parsed by ``runtime.web.query`` (the REST API's parser), so
``amount__gte=1000`` means the same thing in the page, in an export and in the API.
Features add named query terms, ``?<param>=1`` switches and columns through their
``list_filters`` / ``list_columns`` hooks (``runtime.features.screens``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from runtime.definition.model import Entity, FieldDef, FilterGroup, ListView
from runtime.features.screens import ListBadges, ListColumn, ListFilter, ListSwitch, QueryTerm
from runtime.fieldtypes import CoerceContext, FieldType, type_of
from runtime.web.query import (
    CURSOR_PARAMS,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    QueryError,
    parse_list_query,
    sortable_fields,
    system_fields,
)

# Query parameters the list screen reads itself; the rest are filters for the parser.
CONTROL_PARAMS = (
    "view", "columns", "archived", "saved", "page", "page_size", "after", "before", "group", "totals",
)  # fmt: skip
# The order of the controls in a list's URL; the features' switches follow "archived".
STATE_ORDER = ("view", "saved", "q", "sort", "columns", "archived", "page_size")
ON_WORDS = ("1", "true", "yes", "on")
# System columns a user may add with the column chooser; the features' system fields
# follow (their ``ListColumn.lead`` ones come first).
CHOOSABLE_SYSTEM = ("owner_id", "created_at", "updated_at", "created_by")
MAX_COLUMNS = 30
MAX_QUERY_ERRORS = 10


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class ListHooks:
    """What the features contribute to the lists of one entity (``list_columns`` and
    ``list_filters``), sorted by kind."""

    columns: Mapping[str, ListColumn]
    badges: tuple[ListBadges, ...]
    filters: Mapping[str, ListFilter]
    terms: Mapping[str, QueryTerm]
    switches: tuple[ListSwitch, ...]


NO_HOOKS = ListHooks({}, (), {}, {}, ())


def list_hooks_of(features: Any, model: Any, entity: Entity) -> ListHooks:
    """The features' list hooks for ``entity`` (a switch whose param is a field of the
    entity, or a term that is one, gives way to the field)."""
    if not features:
        return NO_HOOKS
    shown = features.gather("list_columns", model, entity)
    offered = features.gather("list_filters", model, entity)
    fields = {f.id for f in system_fields(entity)} | {f.id for f in entity.fields}
    return ListHooks(
        columns={c.id: c for c in shown if isinstance(c, ListColumn)},
        badges=tuple(b for b in shown if isinstance(b, ListBadges)),
        filters={f.id: f for f in offered if isinstance(f, ListFilter)},
        terms={t.name: t for t in offered if isinstance(t, QueryTerm) and t.name not in fields},
        switches=tuple(
            s for s in offered if isinstance(s, ListSwitch) and not entity.has_field(s.param)
        ),
    )


def list_hooks(services: Any, entity: Entity) -> ListHooks:
    """``list_hooks_of`` for the services' features, computed once per Database."""
    features = getattr(services, "features", None)
    if not features:
        return NO_HOOKS
    db = getattr(services, "db", None)

    def compute() -> ListHooks:
        return list_hooks_of(features, services.model, entity)

    return db.memo(("list_hooks", entity.id), compute) if hasattr(db, "memo") else compute()


@dataclass(frozen=True)
class ListEnv:
    """What building a list needs from outside: services, the user, locale and zone."""

    services: Any  # runtime.web.app.Services
    principal: Any  # runtime.store.Principal
    locale: str = "en"
    timezone: tzinfo = UTC
    cursors: Any = None  # runtime.web.cursors.CursorCodec: keyset Next/Previous links

    @property
    def model(self):
        return self.services.model

    @property
    def repo(self):
        return self.services.repo

    def coerce_context(self) -> CoerceContext:
        return CoerceContext(
            default_currency=self.model.default_currency,
            default_region=self.model.default_region,
            locale=self.locale,
            timezone=self.timezone,
        )


def zone_named(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return UTC


def grant_for(env: ListEnv, entity_id: str):
    """The user's grant on an entity (``runtime.store.permissions``), cached per Database."""
    repo_grant = getattr(env.repo, "grant", None)
    if callable(repo_grant):
        return repo_grant(env.principal, entity_id)
    from runtime.store.permissions import Permissions

    permissions = env.services.db.memo(("web_list_permissions",), lambda: Permissions(env.model))
    return permissions.grant(env.principal, entity_id)


def readable_field_ids(env: ListEnv, entity: Entity) -> set[str]:
    """Field ids (system columns included) the user may read on ``entity``."""
    repo_method = getattr(env.repo, "readable_fields", None)
    if callable(repo_method):
        try:
            return set(repo_method(env.principal, entity.id)) | {
                f.id for f in system_fields(entity)
            }
        except (TypeError, KeyError):
            pass
    grant = grant_for(env, entity.id)
    found = {f.id for f in system_fields(entity)}
    found |= {f.id for f in entity.fields if grant.may_read_field(f.id)}
    return found


def can_create(env: ListEnv, entity_id: str) -> bool:
    return bool(grant_for(env, entity_id).create)


def can_read(env: ListEnv, entity_id: str) -> bool:
    grant = grant_for(env, entity_id)
    return bool(grant.read) or bool(getattr(grant, "unrestricted", False))


def all_fields(entity: Entity) -> dict[str, FieldDef]:
    """System columns first, then the entity's own fields, by id."""
    found = {f.id: f for f in system_fields(entity)}
    found.update({f.id: f for f in entity.fields})
    return found


def value_type(f: FieldDef) -> str:
    """The name of the type that decides display and filtering (a formula's result type)."""
    return shown_type(f).name


def shown_type(f: FieldDef) -> FieldType:
    """The type that decides display and filtering (a formula's result type)."""
    return type_of(f).value_type(f)


def _ordered_by_size(f: FieldDef) -> bool:
    """Numbers and dates: a first click on the column sorts the largest/latest first."""
    shown = shown_type(f)
    return shown.numeric or shown.temporal


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class ListRequest:
    """A list view resolved against a query string and the user's permissions."""

    entity: Entity
    view: ListView
    columns: tuple[FieldDef, ...]
    filters: tuple[tuple[str, str, Any], ...]  # view filters + user filters
    user_filters: tuple[tuple[str, str, Any], ...]  # what the user chose (for chips)
    filter_pairs: tuple[tuple[str, str], ...]  # the user's filter params, normalised
    sort: tuple[str, ...]
    search: str | None
    page: int
    page_size: int
    show_archived: bool
    custom_columns: bool  # the user chose the columns (vs. the view's)
    saved_id: int | None
    readable: frozenset[str]
    errors: tuple[QueryError, ...] = ()  # the parameters left out (text(gettext) says why)
    switches: tuple[str, ...] = ()  # the features' ``?<param>=1`` switches that are on
    after: Any = None  # keyset paging: a runtime.store.Position (then page is a label)
    before: Any = None
    every_field: bool = False  # read every readable field (the API), not only the columns
    group: str | None = None  # group=<field>: rows sorted by it, each group subtotalled
    totals: bool = False  # totals=1: a totals row (always on with a group)

    def state_pairs(self, **changes: Any) -> list[tuple[str, str]]:
        """The query string that reproduces this list (page excluded), with changes.

        ``changes`` replace a control (``sort="-amount"``; None removes it);
        ``filter_pairs=`` replaces the filters.
        """
        state: dict[str, str | None] = {
            "view": self.view.id,
            "saved": str(self.saved_id) if self.saved_id else None,
            "q": self.search,
            "sort": ",".join(self.sort) if self.sort and self.sort != self.default_sort else None,
            "columns": ",".join(c.id for c in self.columns) if self.custom_columns else None,
            "archived": "1" if self.show_archived else None,
            **{param: "1" for param in self.switches},
            "group": self.group,
            "totals": "1" if self.totals and not self.group else None,
            "page_size": str(self.page_size) if self.page_size != self.default_page_size else None,
        }
        filters = changes.pop("filter_pairs", self.filter_pairs)
        for key, value in changes.items():
            state[key] = value
        order = [*STATE_ORDER[:6], *(k for k in state if k not in STATE_ORDER), *STATE_ORDER[6:]]
        pairs = [(k, str(state[k])) for k in order if state.get(k)]
        pairs += [(k, v) for k, v in filters]
        return pairs

    @property
    def default_page_size(self) -> int:
        return max(1, min(self.view.page_size or 50, MAX_PAGE_SIZE))

    @property
    def default_sort(self) -> tuple[str, ...]:
        return tuple(s for s in self.view.sort if s.lstrip("-") in self.readable)

    def has_user_filters(self) -> bool:
        return bool(self.filter_pairs or self.search or self.switches)

    def switched_off(self) -> dict[str, None]:
        """``state_pairs`` changes that turn every switch off (the "Clear" link)."""
        return dict.fromkeys(self.switches)


def _pairs_of(args: Any) -> list[tuple[str, str]]:
    items = getattr(args, "items", None)
    if items is None:
        return [(str(k), str(v)) for k, v in args]
    try:
        return [(str(k), str(v)) for k, v in items(multi=True)]
    except TypeError:
        return [(str(k), str(v)) for k, v in items()]


def normalise_filter_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop empty values (a filter form sends every input) and join repeated ``__in``."""
    out: list[tuple[str, str]] = []
    joined: dict[str, int] = {}
    for key, value in pairs:
        value = value.strip()
        if not value or key in CONTROL_PARAMS or key in ("q", "sort"):
            continue
        if key.endswith("__in"):
            if key in joined:
                index = joined[key]
                out[index] = (key, out[index][1] + "," + value)
                continue
            joined[key] = len(out)
        out.append((key, value))
    return out


def _first(pairs: Sequence[tuple[str, str]], key: str) -> str | None:
    for k, v in pairs:
        if k == key:
            return v
    return None


def _all(pairs: Sequence[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in pairs if k == key]


def pick_view(views: Sequence[ListView], view_id: str | None) -> ListView:
    for view in views:
        if view.id == view_id:
            return view
    return views[0]


def _int_or_none(raw: str | None) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def _view_filters(view: ListView, show_archived: bool, readable: set[str]):
    found = []
    for vf in view.filters:
        if isinstance(vf, FilterGroup):
            found.append(vf)  # a nested any/all/not group, applied as written
            continue
        if vf.field == "archived_at" and show_archived:
            continue  # the toggle wins over a view that hides archived records
        value = tuple(vf.value) if vf.op == "between" and isinstance(vf.value, list) else vf.value
        found.append((vf.field, vf.op, value))
    return found


def resolve_list_request(
    env: ListEnv,
    entity_id: str,
    args: Any,
    *,
    saved_views: Any = None,
) -> ListRequest:
    """Read ``args`` (a MultiDict or pairs) into a ``ListRequest``; never raises for bad input.

    Bad filter parameters are dropped and described in ``errors``. ``?saved=<id>`` alone
    applies that saved view of the user (``saved_views``: a ``SavedViewStore``).
    """
    model = env.model
    entity = model.entities[entity_id]
    views = model.views.get(entity_id) or ()
    if not views:
        raise KeyError(entity_id)
    pairs = _pairs_of(args)
    errors: list[QueryError] = []
    hooks = list_hooks(env.services, entity)
    switches = tuple(
        s for s in hooks.switches if (_first(pairs, s.param) or "").strip().lower() in ON_WORDS
    )
    params = {s.param for s in hooks.switches}
    pairs = [(k, v) for k, v in pairs if k not in params]

    saved_id = _int_or_none(_first(pairs, "saved"))
    saved = None
    if saved_id is not None and saved_views is not None:
        saved = saved_views.get(env.principal.id, saved_id)
        if saved is None or saved.entity != entity_id:
            saved, saved_id = None, None
    if saved is not None and not ({k for k, _ in pairs} - {"saved", "page"}):
        # The switcher's link: expand the saved query; afterwards the URL carries it all.
        pairs = [("saved", str(saved.id))]
        if saved.base_view:
            pairs.append(("view", saved.base_view))
        pairs += list(saved.filters)
        if saved.sort:
            pairs.append(("sort", ",".join(saved.sort)))
        if saved.columns:
            pairs.append(("columns", ",".join(saved.columns)))
    elif saved_id is not None and saved is None:
        saved_id = None

    view = pick_view(views, _first(pairs, "view"))
    readable = readable_field_ids(env, entity)
    fields = all_fields(entity)
    show_archived = (_first(pairs, "archived") or "").lower() in ("1", "true", "yes", "on")

    # Filters, search, sort and paging through the API's parser, dropping bad params.
    # With a cursor (after/before), page= only labels the page ("Page 3").
    candidates = normalise_filter_pairs(pairs)
    by_cursor = env.cursors is not None and any(_first(pairs, k) for k in CURSOR_PARAMS)
    for key in ("q", "sort", "page_size", *CURSOR_PARAMS, *(() if by_cursor else ("page",))):
        value = _first(pairs, key)
        if value is not None and value.strip():
            candidates.append((key, value))
    default_size = max(1, min(view.page_size or 50, MAX_PAGE_SIZE))
    sortable = set(sortable_fields(entity)) & readable
    default_sort = tuple(s for s in view.sort if s.lstrip("-") in sortable)
    query = None
    for _ in range(MAX_QUERY_ERRORS + 1):
        try:
            query = parse_list_query(
                entity,
                candidates,
                ctx=env.coerce_context(),
                readable=readable,
                default_page_size=default_size,
                cursors=env.cursors,
                default_sort=default_sort,
                terms=hooks.terms,
            )
            break
        except QueryError as exc:
            errors.append(exc)
            candidates = [(k, v) for k, v in candidates if k != exc.param]
    if query is None:  # pragma: no cover - every failing parameter is removed above
        query = parse_list_query(entity, [], default_page_size=default_size)
    filter_pairs = tuple(
        (k, v) for k, v in candidates if k not in ("q", "sort", "page_size", "page", *CURSOR_PARAMS)
    )
    page_number = query.page
    if query.after is not None or query.before is not None:
        page_number = min(max(_int_or_none(_first(pairs, "page")) or 2, 1), MAX_PAGE)

    columns = _choose_columns(
        pairs, view, fields, readable, entity, hooks, _path_fields(env, entity, pairs, view)
    )
    custom_columns = bool(_first(pairs, "columns"))
    from runtime.web.list_groups import read_group, wants_totals  # it builds on this module

    group, group_error = read_group(entity, pairs, readable)
    if group_error is not None:
        errors.append(group_error)

    sort = query.sort or default_sort

    filters = _view_filters(view, show_archived, readable)
    filters += query.conditions()  # match=any and where= groups included
    for switch in switches:
        filters += switch.where(env, entity)
    return ListRequest(
        entity=entity,
        view=view,
        columns=columns,
        filters=tuple(filters),
        user_filters=tuple(query.filters),
        filter_pairs=filter_pairs,
        sort=sort,
        search=query.search,
        page=page_number,
        page_size=query.page_size,
        show_archived=show_archived,
        custom_columns=custom_columns,
        saved_id=saved_id,
        readable=frozenset(readable),
        errors=tuple(errors),
        switches=tuple(s.param for s in switches),
        after=query.after,
        before=query.before,
        group=group,
        totals=group is not None or wants_totals(pairs),
    )


def column_candidates(
    entity: Entity, readable: set[str] | frozenset[str], hooks: ListHooks = NO_HOOKS
) -> list[FieldDef]:
    """Fields the column chooser offers: readable, shown in a cell (no child tables);
    then the system columns: the features' leading ones, the base ones, the others."""
    fields = all_fields(entity)
    found = [f for f in entity.fields if f.id in readable and not type_of(f).holds_rows]
    features = [f.id for f in entity.system_fields]
    lead = [fid for fid in features if fid in hooks.columns and hooks.columns[fid].lead]
    chooser = [*lead, *CHOOSABLE_SYSTEM, *(fid for fid in features if fid not in lead)]
    found += [fields[fid] for fid in chooser if fid in fields and fid in readable]
    return found


def _path_fields(env: ListEnv, entity: Entity, pairs, view) -> dict[str, FieldDef]:
    """The link-path columns (``account.industry``) asked for that the user may follow,
    as fields labelled hop by hop ("Account · Industry")."""
    asked = [p.strip() for raw in _all(pairs, "columns") for p in raw.split(",")]
    asked += list(view.columns)
    found: dict[str, FieldDef] = {}
    for name in dict.fromkeys(n for n in asked if "." in n):
        field = env.repo.path_field(env.principal, entity.id, name)
        if field is not None:
            found[name] = field
    return found


def _choose_columns(
    pairs, view, fields, readable, entity, hooks, paths=None
) -> tuple[FieldDef, ...]:
    fields = {**fields, **(paths or {})}
    readable = set(readable) | set(paths or ())
    wanted: list[str] = []
    for raw in _all(pairs, "columns"):
        wanted += [part.strip() for part in raw.split(",") if part.strip()]
    if not wanted:
        wanted = list(view.columns)
    allowed = {f.id for f in column_candidates(entity, readable, hooks)} | (
        set(view.columns) & set(readable)
    )
    allowed |= set(paths or ())
    chosen: list[FieldDef] = []
    for fid in wanted:
        f = fields.get(fid)
        if f is None or fid not in allowed or f in chosen or type_of(f).holds_rows:
            continue
        chosen.append(f)
    if not chosen:
        title = fields.get(entity.title_field)
        chosen = [title] if title is not None and title.id in readable else [fields["id"]]
    return tuple(chosen[:MAX_COLUMNS])


def today_in(zone: tzinfo) -> date:
    return datetime.now(zone).date()


def fetch_page(
    env: ListEnv,
    req: ListRequest,
    *,
    page: int | None = None,
    page_size: int | None = None,
    after: Any = None,
):
    """One ``repo.list`` call: the repository applies scope and field permissions.

    The request's cursor (``after`` / ``before``) picks the page by keyset; an explicit
    ``page`` or ``after`` (exports walking every page) replaces it.

    Archived records are left out unless the toggle is on; only the shown fields (and
    the title) are read, so child tables and wide text stay in the database (the API's
    requests read ``every_field``).
    """
    wanted = {c.id for c in req.columns} | {req.entity.title_field}
    shown = list_hooks(env.services, req.entity).columns
    for column in req.columns:
        if column.id in shown:  # a feature's cell may read other fields (its own rules)
            wanted |= set(shown[column.id].reads(env.model, req.entity))
    by_cursor = req.after is not None or req.before is not None
    if after is not None:
        keys = {"after": after}
    elif page is None and by_cursor:
        keys = {"after": req.after} if req.after is not None else {"before": req.before}
    else:
        keys = {}
    sort = list(req.sort)
    if req.group:  # the groups' rows together, in the list's order within each group
        sort = [req.group, *(s for s in sort if s.lstrip("-") != req.group)]
    return env.repo.list(
        env.principal,
        req.entity.id,
        filters=list(req.filters),
        sort=sort,
        search=req.search,
        page=1 if after is not None or (page is None and by_cursor) else page or req.page,
        page_size=page_size or req.page_size,
        fields=None
        if req.every_field
        else sorted(f.id for f in req.entity.fields if f.id in wanted)
        + [c.id for c in req.columns if "." in c.id],  # link paths the viewer may follow
        archived=None if req.show_archived else False,
        **keys,
    )


def url_of(base: str, pairs: Sequence[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(pairs)}" if pairs else base
