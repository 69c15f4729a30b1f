"""The one list context: a view of an entity resolved against a request, its rows presented.

The HTML page, its htmx partial, the ``.json`` variant and the CSV/XLSX exports all
start here, so they cannot disagree about which rows and which fields a user sees::

    request = resolve_list_request(env, "deal", request.args)   # view, filters, sort, columns
    page = fetch_page(env, request)                              # one repo.list call, no COUNT
    rows = present_rows(env, request, page.rows)                 # formatted cells, link titles
    context = build_list_context(env, "deal", request.args)      # all of the above + controls

Everything goes through ``repo.list`` with the signed-in user, so row scope and field
permissions are the repository's; columns, filters and sort keys on fields the user
may not read are dropped before the repository is asked. Query strings are parsed by
``runtime.web.query`` (the REST API's parser), so ``amount__gte=1000`` means the same
thing in the page, in an export and in the API.

Entities with a pipeline also get the idle ("rotting") flag: ``?idle=1`` keeps only
records idle in their stage, and the title cell of an idle record carries a badge.
Both use the board's SQL condition (``BoardQueries.idle_clause``), so the list, the
board and the API agree on which records are idle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from runtime.definition.model import AppModel, Entity, FieldDef, Label, ListView, Option
from runtime.errors import PermissionDenied
from runtime.features.pipelines.definition import (
    STAGE_KINDS,
    Pipeline,
    Stage,
    pipeline_for_record,
    pipelines_for_entity,
)
from runtime.fieldtypes import CoerceContext, FieldInvalid, FieldType, currency_key, type_of
from runtime.store.list_terms import ME, MY_TEAM, STAGE_KIND
from runtime.timezones import as_utc
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
CONTROL_PARAMS = ("view", "columns", "archived", "saved", "page", "page_size", "after", "before")
STATE_ORDER = ("view", "saved", "q", "sort", "columns", "archived", "idle", "page_size")
IDLE_PARAM = "idle"  # ?idle=1: records idle in their stage only (entities with a pipeline)
ON_WORDS = ("1", "true", "yes", "on")
# System columns a user may add with the column chooser (stage ones only where they exist).
CHOOSABLE_SYSTEM = (
    "stage", "owner_id", "created_at", "updated_at", "created_by", "stage_entered_at",
)  # fmt: skip
STAGE_FILTER = "stage"  # the stage filter (stage kinds and stages) of pipeline entities
MAX_COLUMNS = 30
CARD_FIELDS = 4  # fields besides the title on a record's card at phone width
MAX_QUERY_ERRORS = 10
EMPTY = "—"


# --------------------------------------------------------------------------- environment


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
    errors: tuple[str, ...] = ()
    idle_only: bool = False  # ?idle=1 (only where the entity has a pipeline)
    after: Any = None  # keyset paging: a runtime.store.Position (then page is a label)
    before: Any = None

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
            "idle": "1" if self.idle_only else None,
            "page_size": str(self.page_size) if self.page_size != self.default_page_size else None,
        }
        filters = changes.pop("filter_pairs", self.filter_pairs)
        for key, value in changes.items():
            state[key] = value
        pairs = [(k, str(state[k])) for k in STATE_ORDER if state.get(k)]
        pairs += [(k, v) for k, v in filters]
        return pairs

    @property
    def default_page_size(self) -> int:
        return max(1, min(self.view.page_size or 50, MAX_PAGE_SIZE))

    @property
    def default_sort(self) -> tuple[str, ...]:
        return tuple(s for s in self.view.sort if s.lstrip("-") in self.readable)

    def has_user_filters(self) -> bool:
        return bool(self.filter_pairs or self.search or self.idle_only)


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
    errors: list[str] = []
    idle_only = False
    if has_idle(model, entity):
        idle_only = (_first(pairs, IDLE_PARAM) or "").strip().lower() in ON_WORDS
        pairs = [(k, v) for k, v in pairs if k != IDLE_PARAM]

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
            )
            break
        except QueryError as exc:
            errors.append(f"{exc.param}: {exc.message}")
            candidates = [(k, v) for k, v in candidates if k != exc.param]
    if query is None:  # pragma: no cover - every failing parameter is removed above
        query = parse_list_query(entity, [], default_page_size=default_size)
    filter_pairs = tuple(
        (k, v) for k, v in candidates if k not in ("q", "sort", "page_size", "page", *CURSOR_PARAMS)
    )
    page_number = query.page
    if query.after is not None or query.before is not None:
        page_number = min(max(_int_or_none(_first(pairs, "page")) or 2, 1), MAX_PAGE)

    columns = _choose_columns(pairs, view, fields, readable, entity)
    custom_columns = bool(_first(pairs, "columns"))

    sort = query.sort or default_sort

    filters = _view_filters(view, show_archived, readable)
    filters += list(query.filters)
    if idle_only:
        filters.append(idle_filter(env, entity))
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
        idle_only=idle_only,
        after=query.after,
        before=query.before,
    )


def column_candidates(entity: Entity, readable: set[str] | frozenset[str]) -> list[FieldDef]:
    """Fields the column chooser offers: readable, shown in a cell (no child tables)."""
    fields = all_fields(entity)
    found = [f for f in entity.fields if f.id in readable and not type_of(f).holds_rows]
    found += [fields[fid] for fid in CHOOSABLE_SYSTEM if fid in fields and fid in readable]
    return found


def _choose_columns(pairs, view, fields, readable, entity) -> tuple[FieldDef, ...]:
    wanted: list[str] = []
    for raw in _all(pairs, "columns"):
        wanted += [part.strip() for part in raw.split(",") if part.strip()]
    if not wanted:
        wanted = list(view.columns)
    allowed = {f.id for f in column_candidates(entity, readable)} | (
        set(view.columns) & set(readable)
    )
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


# --------------------------------------------------------------------------- idle records


def idle_pipelines(model: AppModel, entity: Entity) -> tuple[Pipeline, ...]:
    """The pipelines of ``entity`` (none unless it has the stage columns)."""
    return pipelines_for_entity(model, entity.id) if entity.has_stage else ()


def has_idle(model: AppModel, entity: Entity) -> bool:
    """Whether ``?idle=1`` and the idle badge apply: a pipeline, no field named ``idle``."""
    return bool(idle_pipelines(model, entity)) and not entity.has_field(IDLE_PARAM)


def today_in(zone: tzinfo) -> date:
    return datetime.now(zone).date()


def _board_queries(services: Any):
    from runtime.store.board_queries import BoardQueries

    permissions = getattr(services.repo, "permissions", None)
    return BoardQueries(services.db, permissions)


def idle_condition(services: Any, entity: Entity, today: date) -> Any:
    """SQL: the record is idle in its stage. Each pipeline's own stages and thresholds
    apply to its own records (``membership``), with the board's ``idle_clause``."""
    from sqlalchemy import and_, false, or_

    queries = _board_queries(services)
    parts = [
        and_(queries.membership(p), queries.idle_clause(p, today))
        for p in idle_pipelines(services.model, entity)
    ]
    return or_(*parts) if parts else false()


def idle_record_ids(services: Any, principal: Any, entity: Entity, today: date) -> list[int]:
    """Ids of the active records the user may read that are idle today (one query)."""
    from sqlalchemy import select

    from runtime.store.permissions import scope_clause

    table = services.db.tables[entity.id]
    query = select(table.c.id).where(
        table.c.archived_at.is_(None), idle_condition(services, entity, today)
    )
    grant = services.repo.grant(principal, entity.id)
    if not grant.unrestricted:
        scope = scope_clause(grant.read, table, principal)
        if scope is not None:
            query = query.where(scope)
    with services.db.engine.connect() as conn:
        return [row[0] for row in conn.execute(query.order_by(table.c.id))]


def idle_filter(env: ListEnv, entity: Entity) -> tuple[str, str, Any]:
    """``?idle=1`` as a repository filter: the idle records' ids, found in SQL."""
    ids = idle_record_ids(env.services, env.principal, entity, today_in(env.timezone))
    return ("id", "in", ids)


def idle_days_of(
    services: Any, entity: Entity, record_ids: Iterable[Any], today: date
) -> dict[int, int]:
    """Record id -> days without activity, for the idle ones among ``record_ids``.

    One query for a whole page: the SQL idle condition picks the rows, the days come
    from the same last-touch rule the board uses (``flows.pipeline``).
    """
    from sqlalchemy import select

    from runtime.flows.pipeline import idle_days, last_touch

    ids = sorted({int(i) for i in record_ids if isinstance(i, int) and not isinstance(i, bool)})
    pipelines = idle_pipelines(services.model, entity)
    if not ids or not pipelines:
        return {}
    table = services.db.tables[entity.id]
    selectors = sorted({p.selector.field for p in pipelines if p.selector is not None})
    columns = [table.c.id, table.c.stage, table.c.stage_entered_at]
    columns += [table.c[f] for f in selectors if f in table.c]
    queries = _board_queries(services)
    columns += [
        queries.last_touch_column(p, today).label(f"touch_{n}") for n, p in enumerate(pipelines)
    ]
    query = select(*columns).where(
        table.c.id.in_(ids),
        table.c.archived_at.is_(None),
        idle_condition(services, entity, today),
    )
    found: dict[int, int] = {}
    with services.db.engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        pipeline = pipeline_for_record(services.model, entity.id, row)
        if pipeline is None:
            continue
        touch = row.get(f"touch_{pipelines.index(pipeline)}")
        days = idle_days(last_touch(row.get("stage_entered_at"), touch), today)
        if days is not None:
            found[row["id"]] = days
    return found


def mark_idle(env: ListEnv, entity: Entity, rows: list[Row]) -> list[Row]:
    """The page's rows with ``idle_days`` set on the idle ones."""
    if not rows or not has_idle(env.model, entity):
        return rows
    days = idle_days_of(env.services, entity, [r.id for r in rows], today_in(env.timezone))
    return [_replace(r, idle_days=days[r.id]) if r.id in days else r for r in rows]


# --------------------------------------------------------------------------- fetching


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
    the title) are read, so child tables and wide text stay in the database.
    """
    wanted = {c.id for c in req.columns} | {req.entity.title_field}
    if any(c.id == "stage" for c in req.columns):
        # A stage id shared by two pipelines is labelled by the record's own pipeline.
        wanted |= {p.selector.field for p in idle_pipelines(env.model, req.entity) if p.selector}
    by_cursor = req.after is not None or req.before is not None
    if after is not None:
        keys = {"after": after}
    elif page is None and by_cursor:
        keys = {"after": req.after} if req.after is not None else {"before": req.before}
    else:
        keys = {}
    return env.repo.list(
        env.principal,
        req.entity.id,
        filters=list(req.filters),
        sort=list(req.sort),
        search=req.search,
        page=1 if after is not None or (page is None and by_cursor) else page or req.page,
        page_size=page_size or req.page_size,
        fields=sorted(f.id for f in req.entity.fields if f.id in wanted),
        archived=None if req.show_archived else False,
        **keys,
    )


# --------------------------------------------------------------------------- presenting


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
    idle_days: int | None = None  # days without activity, when idle in its stage


def record_path(entity_id: str, record_id: Any) -> str:
    """``/e/<entity>/<id>``: the record screen (the record helper's route)."""
    return f"/e/{entity_id}/{record_id}"


def record_title_text(entity: Entity, record: Mapping[str, Any], locale: str) -> str:
    value = record.get(entity.title_field)
    if value in (None, ""):
        return f"{entity.label.get(locale)} #{record.get('id', '')}"
    return str(value)


def link_titles(env: ListEnv, target_id: str, ids: set[Any]) -> dict[Any, str]:
    """Titles of the linked records the user may read: one ``repo.list`` per target."""
    ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not ids or target_id not in env.model.entities:
        return {}
    target = env.model.entities[target_id]
    titles = getattr(env.repo, "titles", None)
    if callable(titles):
        try:
            return dict(titles(env.principal, target_id, ids))
        except PermissionDenied:
            return {}
    try:
        page = env.repo.list(
            env.principal,
            target_id,
            filters=[("id", "in", sorted(ids))],
            page=1,
            page_size=max(1, min(len(ids), MAX_PAGE_SIZE)),
        )
    except PermissionDenied:
        return {}
    rows = list(page.rows)
    found = {row["id"]: record_title_text(target, row, env.locale) for row in rows}
    remaining = sorted(ids - set(found))
    if remaining and len(ids) > MAX_PAGE_SIZE:  # pragma: no cover - pages are <= 200 rows
        found.update(link_titles(env, target_id, set(remaining)))
    return found


def user_names(env: ListEnv, ids: set[Any]) -> dict[Any, str]:
    """Display names of users by id, in one query."""
    ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not ids:
        return {}
    users = env.services.users
    method = getattr(users, "names", None)
    if callable(method):
        return dict(method(ids))
    from sqlalchemy import select

    table = env.services.db.sys.users
    with env.services.db.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.id, table.c.name, table.c.email).where(table.c.id.in_(ids))
        )
        return {row.id: row.name or row.email for row in rows}


# --------------------------------------------------------------------------- stages


def stages_by_id(model: AppModel, entity: Entity) -> dict[str, tuple[Stage, ...]]:
    """Stage id -> the stages of that id in the entity's pipelines (usually one)."""
    found: dict[str, list[Stage]] = {}
    for pipeline in idle_pipelines(model, entity):
        for stage in pipeline.stages:
            found.setdefault(stage.id, []).append(stage)
    return {sid: tuple(stages) for sid, stages in found.items()}


def stage_of(model: AppModel, entity: Entity, record: Mapping[str, Any]) -> Stage | None:
    """The stage ``record`` is in, as its own pipeline defines it (label, colour, kind)."""
    stage_id = record.get("stage")
    candidates = stages_by_id(model, entity).get(str(stage_id)) if stage_id else None
    if not candidates:
        return None
    first = candidates[0]
    if all(
        (s.label, s.color, s.kind) == (first.label, first.color, first.kind) for s in candidates
    ):
        return first
    pipeline = pipeline_for_record(model, entity.id, record)
    return (pipeline.stage(stage_id) if pipeline else None) or candidates[0]


def stage_label(model: AppModel, entity: Entity, stage_id: str, locale: str) -> str:
    stages = stages_by_id(model, entity).get(stage_id)
    return stages[0].label.get(locale) if stages else stage_id


def _stage_cell(env: ListEnv, entity: Entity, record: Mapping[str, Any]) -> Cell:
    """The stage as a badge in the stage's colour (the path bar's), labelled per locale."""
    value = record.get("stage")
    if value in (None, ""):
        return Cell("empty", EMPTY)
    stage = stage_of(env.model, entity, record)
    if stage is None:  # a stage removed from the metadata: its id, in gray
        return Cell("badge", str(value), value=str(value))
    text = stage.label.get(env.locale)
    return Cell("badge", text, options=(Option(stage.id, stage.label, stage.color),), value=text)


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
    rows = []
    for record in records:
        cells = tuple(
            _stage_cell(env, req.entity, record)
            if col.id == "stage" and req.entity.has_stage
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


# --------------------------------------------------------------------------- page controls


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
class Choice:
    value: str
    label: str
    color: str | None = None
    selected: bool = False


@dataclass
class FilterControl:
    """One control of the filter bar. ``kind``: range, date_range, choice, select,
    lookup, text. ``params`` name the query parameters it sets."""

    id: str
    label: str
    kind: str
    params: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)
    lookup_url: str = ""
    selected_label: str = ""
    active: bool = False
    input_type: str = "text"
    kind_choices: list[Choice] = field(default_factory=list)  # stage: open / won / lost
    quick_choices: list[Choice] = field(default_factory=list)  # user: me / my team


@dataclass
class Chip:
    label: str
    text: str
    remove_url: str


@dataclass
class ViewLink:
    id: str
    label: str
    url: str
    active: bool
    saved_id: int | None = None


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
    idle_supported: bool = False  # the entity has a pipeline: idle badge and filter
    idle_url: str = ""  # this list with the idle filter toggled
    more_columns: int = 0  # columns the picker offers beyond the shown ones
    sort_choices: list[Choice] = field(default_factory=list)  # phones; value: the sorted URL

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
            if self.idle_supported:
                item["idle"] = row.idle_days is not None
                item["idle_days"] = row.idle_days
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
            "has_next": self.has_next,
            "next_url": self.next_url,
            "prev_url": self.prev_url,
            "errors": self.errors,
        }
        if self.idle_supported:
            data["idle"] = req.idle_only
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def url_of(base: str, pairs: Sequence[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(pairs)}" if pairs else base


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


def build_filters(
    env: ListEnv, req: ListRequest, base: str, gettext
) -> tuple[list[FilterControl], list[Chip]]:
    """The filter bar: one control per readable ``filter_fields`` entry, and active chips."""
    fields = all_fields(req.entity)
    current = dict(req.filter_pairs)
    controls: list[FilterControl] = []
    chips: list[Chip] = []
    shown: set[str] = set()
    wanted = list(req.view.filter_fields)
    if idle_pipelines(env.model, req.entity) and STAGE_FILTER not in wanted:
        wanted.insert(0, STAGE_FILTER)  # every pipeline entity filters by stage
    for fid in wanted:
        f = fields.get(fid)
        if f is None or fid not in req.readable or fid in shown:
            continue
        shown.add(fid)
        if fid == STAGE_FILTER and idle_pipelines(env.model, req.entity):
            control = _stage_control(env, req.entity, f, current, gettext)
        else:
            control = _control(env, f, current, gettext)
        if control is not None:
            controls.append(control)
    # A chip per user filter param (including ones not in the bar, e.g. from a link).
    for key, raw in req.filter_pairs:
        name, _, suffix = key.rpartition("__") if "__" in key else (key, "", "")
        remaining = [(k, v) for k, v in req.filter_pairs if k != key]
        if name == STAGE_KIND and name not in fields:
            chips.append(
                Chip(
                    label=gettext("Stage"),
                    text=_kind_chip_text(
                        suffix,
                        raw,
                        gettext,
                        stage_kind_labels(
                            gettext, idle_pipelines(env.model, req.entity), env.locale
                        ),
                    ),
                    remove_url=url_of(base, req.state_pairs(filter_pairs=remaining)),
                )
            )
            continue
        f = fields.get(name)
        if f is None:
            continue
        chips.append(
            Chip(
                label=f.label.get(env.locale),
                text=_chip_text(env, f, suffix, raw, gettext, req.entity),
                remove_url=url_of(base, req.state_pairs(filter_pairs=remaining)),
            )
        )
    if req.idle_only:
        chips.append(
            Chip(
                label="",
                text=gettext("Idle only"),
                remove_url=url_of(base, req.state_pairs(idle=None)),
            )
        )
    return controls, chips


def stage_kind_labels(gettext, pipelines: tuple[Pipeline, ...] = (), locale: str = "en") -> dict:
    """Names of the stage kinds; the app's own words (a pipeline's ``kind_labels``,
    "Hired" rather than "Won") when its pipelines give them."""
    labels = {"open": gettext("Any open stage"), "won": gettext("Won"), "lost": gettext("Lost")}
    for kind in ("won", "lost"):
        own = next((p.kind_labels[kind] for p in pipelines if kind in p.kind_labels), None)
        if own is not None:
            labels[kind] = own.get(locale)
    return labels


def _kind_chip_text(suffix: str, raw: str, gettext, labels: Mapping[str, str]) -> str:
    text = ", ".join(labels.get(k.strip(), k) for k in raw.split(","))
    return OP_TEXT["ne"] % text if suffix == "ne" else text


def _stage_control(
    env: ListEnv, entity: Entity, f: FieldDef, current: Mapping[str, str], gettext
) -> FilterControl:
    """One pill for stages: a stage kind (any open / won / lost) or chosen stages."""
    kind_param, stage_param = f"{STAGE_KIND}__in", f"{f.id}__in"
    kinds = set((current.get(kind_param) or current.get(STAGE_KIND) or "").split(","))
    stages = set((current.get(stage_param) or current.get(f.id) or "").split(","))
    labels = stage_kind_labels(gettext, idle_pipelines(env.model, entity), env.locale)
    kind_choices = [Choice(k, labels[k], None, k in kinds) for k in STAGE_KINDS]
    choices: list[Choice] = []
    seen: set[str] = set()
    # Pipeline by pipeline (the default one first), each in its own stage order.
    pipelines = sorted(idle_pipelines(env.model, entity), key=lambda p: not p.is_default)
    ordered = [s for p in pipelines for s in p.stages if not s.retired]
    for stage in ordered:
        if stage.id not in seen:
            seen.add(stage.id)
            label = stage.label.get(env.locale)
            choices.append(Choice(stage.id, label, stage.color, stage.id in stages))
    active = any(c.selected for c in kind_choices + choices)
    return FilterControl(
        f.id, f.label.get(env.locale), "stage", {"kind": kind_param, "value": stage_param},
        choices=choices, kind_choices=kind_choices, active=active,
    )  # fmt: skip


def user_quick_choices(value: str, gettext) -> list[Choice]:
    """The choices at the top of every user filter: the viewer, and their team."""
    return [
        Choice(ME, gettext("Me"), None, value == ME),
        Choice(MY_TEAM, gettext("My team"), None, value == MY_TEAM),
    ]


def _control(
    env: ListEnv, f: FieldDef, current: Mapping[str, str], gettext
) -> FilterControl | None:
    shown = shown_type(f)
    kind = shown.display_kind
    label = f.label.get(env.locale)
    if shown.numeric or shown.temporal:
        low, high = f"{f.id}__gte", f"{f.id}__lte"
        values = {"low": current.get(low, ""), "high": current.get(high, "")}
        input_type = "date" if shown.temporal else "number"
        return FilterControl(
            f.id, label, "date_range" if shown.temporal else "range",
            {"low": low, "high": high}, values=values,
            active=bool(values["low"] or values["high"]), input_type=input_type,
        )  # fmt: skip
    if kind == "badge":
        param = f"{f.id}__in"
        selected = set((current.get(param) or current.get(f.id) or "").split(","))
        choices = [
            Choice(o.id, o.label.get(env.locale), o.color, o.id in selected) for o in f.options
        ]
        return FilterControl(f.id, label, "choice", {"value": param}, choices=choices,
                             active=any(c.selected for c in choices))  # fmt: skip
    if kind == "badges":
        param = f"{f.id}__contains"
        value = current.get(param, "")
        choices = [Choice(o.id, o.label.get(env.locale), o.color, o.id == value) for o in f.options]
        return FilterControl(
            f.id, label, "select", {"value": param}, choices=choices, active=bool(value)
        )
    if kind == "bool":
        value = current.get(f.id, "")
        choices = [Choice("true", gettext("Yes"), None, value == "true"),
                   Choice("false", gettext("No"), None, value == "false")]  # fmt: skip
        return FilterControl(
            f.id, label, "select", {"value": f.id}, choices=choices, active=bool(value)
        )
    if shown.references:
        value = current.get(f.id, "")
        selected = ""
        record_id = _int_or_none(value)
        if record_id is not None:
            if kind == "link" and f.target:
                selected = link_titles(env, f.target, {record_id}).get(record_id, "")
            else:
                selected = user_names(env, {record_id}).get(record_id, "")
        lookup = f"/e/{f.target}/lookup" if kind == "link" else "/users/lookup"
        quick = user_quick_choices(value, gettext) if kind == "user" else []
        if any(c.selected for c in quick):
            selected = next(c.label for c in quick if c.selected)
        return FilterControl(f.id, label, "lookup", {"value": f.id}, values={"value": value},
                             lookup_url=lookup, selected_label=selected, active=bool(value),
                             quick_choices=quick)  # fmt: skip
    if "contains" in shown.operators:  # text-like: a substring search
        param = f"{f.id}__contains"
        value = current.get(param, "")
        return FilterControl(f.id, label, "text", {"value": param}, values={"value": value},
                             active=bool(value))  # fmt: skip
    return None


OP_TEXT = {
    "gte": "≥ %s", "lte": "≤ %s", "gt": "> %s", "lt": "< %s", "ne": "≠ %s",
}  # fmt: skip


def _chip_text(
    env: ListEnv, f: FieldDef, suffix: str, raw: str, gettext, entity: Entity | None = None
) -> str:
    ftype = shown_type(f)
    kind = ftype.display_kind
    if suffix == "isnull":
        return (
            gettext("is empty") if raw.lower() in ("true", "1", "yes") else gettext("is not empty")
        )
    values = raw.split(",") if suffix in ("in", "between") else [raw]
    shown = []
    for value in values:
        if ftype.has_options:
            option = f.option(value)
            shown.append(option.label.get(env.locale) if option else value)
        elif kind == "bool":
            shown.append(gettext("Yes") if value.lower() in ("true", "1", "yes") else gettext("No"))
        elif kind == "link" and f.target and _int_or_none(value) is not None:
            shown.append(link_titles(env, f.target, {int(value)}).get(int(value), EMPTY))
        elif _ordered_by_size(f):
            shown.append(_format_raw(env, f, value))
        elif kind == "user" and value in (ME, MY_TEAM):
            shown.append(gettext("Me") if value == ME else gettext("My team"))
        elif kind == "user" and _int_or_none(value) is not None:
            shown.append(user_names(env, {int(value)}).get(int(value), EMPTY))
        elif f.id == "stage" and entity is not None:
            shown.append(stage_label(env.model, entity, value, env.locale))
        else:
            shown.append(value)
    text = ", ".join(shown) if suffix != "between" else " – ".join(shown)
    if suffix in OP_TEXT:
        return OP_TEXT[suffix] % text
    if suffix == "contains" and not ftype.json_list:
        return f"“{text}”"
    return text


def _format_raw(env: ListEnv, f: FieldDef, raw: str) -> str:
    """A filter value as the user typed it, shown the way the field shows values."""
    ftype = type_of(f)
    try:
        value = ftype.coerce(f, raw, env.coerce_context())
    except (FieldInvalid, ValueError, TypeError, ArithmeticError):
        return raw
    if value is None:
        return raw
    currency = (f.currency or env.model.default_currency) if shown_type(f).has_currency else None
    return ftype.format(f, value, env.locale, currency=currency, tzinfo=env.timezone)


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
    req = resolve_list_request(env, entity_id, args, saved_views=saved_views)
    page = fetch_page(env, req)
    rows = mark_idle(env, req.entity, present_rows(env, req, list(page.rows)))
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
        f for f in column_candidates(entity, req.readable) if f.id not in chosen
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
    hidden = [(k, v) for k, v in state if k in ("view", "saved", "sort", "columns", "page_size")]
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
        clear_url=url_of(base_url, req.state_pairs(filter_pairs=[], q=None, idle=None)),
        errors=list(req.errors),
        search=req.search or "",
        show_archived=req.show_archived,
        archived_url=url_of(base_url, req.state_pairs(archived=None if req.show_archived else "1")),
        export_csv_url=url_of(f"{base_url}/export.csv", state),
        export_xlsx_url=url_of(f"{base_url}/export.xlsx", state),
        can_create=can_create(env, entity_id),
        new_url=f"{base_url}/new",
        query_string=urlencode(state),
        idle_supported=has_idle(env.model, entity),
        idle_url=url_of(base_url, req.state_pairs(idle=None if req.idle_only else "1")),
        more_columns=sum(1 for c in column_choices if not c.selected),
        sort_choices=sort_choices,
    )


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


__all__ = [
    "Cell",
    "ListContext",
    "ListEnv",
    "ListRequest",
    "Row",
    "build_list_context",
    "can_create",
    "can_read",
    "fetch_page",
    "has_idle",
    "idle_days_of",
    "idle_record_ids",
    "present_rows",
    "resolve_list_request",
    "zone_named",
]
