"""The home page (my open tasks, the features' sections, recently updated records),
completing a task from it, global search, /healthz.

Everything here is driven by metadata: the entities come from the app's navigation,
the task list appears only when the model has a ``task`` entity, and the features'
``HomeSection`` objects add their own (pipelines: my open pipeline, closing this month).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user

from runtime.definition.model import AppModel, Entity, FieldDef
from runtime.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from runtime.fieldtypes import FieldType, type_of
from runtime.web.i18n import get_locale, get_timezone
from runtime.web.i18n import gettext as _
from runtime.web.templating import can_read_entity, record_title, render_screen

log = logging.getLogger("trellis.web")

bp = Blueprint("home", __name__)

TASK_ENTITY = "task"
# Status options that mean "finished"; any other option counts as open.
CLOSED_STATUSES = frozenset({"done", "completed", "closed", "cancelled", "canceled", "resolved"})
# The option a task completed from home gets: the first of these its status offers.
DONE_STATUSES = ("done", "completed", "closed", "resolved")
RECENT_LIMIT = 5
SEARCH_LIMIT = 5
CLOSING_LIMIT = 5


@dataclass
class EntityRows:
    """Rows of one entity for a home or search panel."""

    entity: Entity
    rows: list[dict[str, Any]]
    columns: list[Any] = field(default_factory=list)  # FieldDefs shown beside the title
    due_field: Any = None  # tasks: the FieldDef of the due date, if any
    counts: dict[str, int] = field(default_factory=dict)  # tasks: open / due_today / overdue
    related: dict[int, RelatedRecord] = field(default_factory=dict)  # tasks: row id -> parent
    can_complete: bool = False  # tasks: the status has a "done" option


@dataclass(frozen=True)
class RelatedRecord:
    """The record a task belongs to (its first filled link), as its reader may see it."""

    entity: Entity
    id: int
    title: str


def _services():
    return current_app.extensions["trellis"]


def navigation_entities(model: AppModel) -> list[str]:
    """Entity ids in navigation order, each once."""
    seen: list[str] = []
    for group in model.navigation:
        for item in group.items:
            if item.entity and item.entity in model.entities and item.entity not in seen:
                seen.append(item.entity)
    return seen


# What a summary column may be, in order of preference: a select, money, a date.
SUMMARY_KINDS: tuple[Callable[[FieldType], bool], ...] = (
    lambda t: t.has_options and not t.json_list,
    lambda t: t.has_currency,
    lambda t: t.temporal and not t.instant,
)


def _summary_columns(entity: Entity, limit: int = 2) -> list[Any]:
    """A couple of informative fields to show next to the title: selects, money, dates."""
    picked = []
    for wanted in SUMMARY_KINDS:
        for f in entity.fields:
            if wanted(type_of(f)) and f.id != entity.title_field and f not in picked:
                picked.append(f)
                break
        if len(picked) >= limit:
            break
    return picked


def open_tasks(model: AppModel, repo, principal, today: date) -> EntityRows | None:
    """The user's unfinished tasks, soonest due first, and how many are open, due today
    and overdue; None when the model has no task entity or the user cannot read it."""
    entity = model.entities.get(TASK_ENTITY)
    if entity is None or not can_read_entity(model, principal, TASK_ENTITY):
        return None
    assignee = next((f for f in entity.fields if f.id == "assignee"), None) or next(
        (f for f in entity.fields if type_of(f).references == "user"), None
    )
    filters: list[tuple[str, str, Any]] = [
        (assignee.id if assignee else "owner_id", "eq", principal.id)
    ]
    status = next((f for f in entity.fields if f.id == "status" and f.options), None)
    if status is not None:
        open_ids = [o.id for o in status.options if o.id not in CLOSED_STATUSES]
        filters.append((status.id, "in", open_ids))
    due = _due_field(entity)
    sort = [due.id, "-updated_at"] if due else ["-updated_at"]
    try:
        page = repo.list(principal, TASK_ENTITY, filters=filters, sort=sort, page_size=10)
        counts = {"open": repo.count(principal, TASK_ENTITY, filters=filters)}
        if due is not None and type_of(due).temporal and not type_of(due).instant:
            day = today.isoformat()
            for key, op in (("due_today", "eq"), ("overdue", "lt")):
                counts[key] = repo.count(
                    principal, TASK_ENTITY, filters=[*filters, (due.id, op, day)]
                )
    except PermissionDenied:
        return None
    panel = _task_panel(entity, list(page.rows))
    panel.counts = counts
    panel.related = related_records(model, repo, principal, entity, panel.rows)
    return panel


def _due_field(entity: Entity) -> FieldDef | None:
    return next((f for f in entity.fields if type_of(f).temporal and "due" in f.id), None)


def _task_panel(entity: Entity, rows: list[dict[str, Any]]) -> EntityRows:
    """The task table's rows and columns: due date, status, priority."""
    due = _due_field(entity)
    status = next((f for f in entity.fields if f.id == "status" and f.options), None)
    columns = [f for f in (due, status) if f is not None]
    columns += [f for f in entity.fields if f.id == "priority"]
    return EntityRows(
        entity, rows, columns, due_field=due, can_complete=done_option(entity) is not None
    )


def related_records(
    model: AppModel, repo, principal, entity: Entity, rows: list[dict[str, Any]]
) -> dict[int, RelatedRecord]:
    """For each row, the record its first filled link field names (in field order),
    with its title; records the user may not read are left out. One query per target."""
    links = [
        f for f in entity.fields if type_of(f).references == "record" and f.target in model.entities
    ]
    wanted: dict[int, tuple[str, int]] = {}
    for row in rows:
        for f in links:
            if row.get(f.id) is not None and can_read_entity(model, principal, f.target):
                wanted[row["id"]] = (f.target, int(row[f.id]))
                break
    titles: dict[str, dict[int, str]] = {}
    for target in {t for t, _id in wanted.values()}:
        ids = [i for t, i in wanted.values() if t == target]
        titles[target] = repo.titles(principal, target, ids)
    return {
        row_id: RelatedRecord(model.entities[target], record_id, titles[target][record_id])
        for row_id, (target, record_id) in wanted.items()
        if record_id in titles[target]
    }


def done_option(entity: Entity) -> str | None:
    status = next((f for f in entity.fields if f.id == "status" and f.options), None)
    if status is None:
        return None
    ids = [o.id for o in status.options]
    return next((d for d in DONE_STATUSES if d in ids), None)


def month_bounds(day: date) -> tuple[date, date]:
    """The first and the last day of ``day``'s month."""
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following - timedelta(days=1)


@dataclass(frozen=True)
class ShownSection:
    """A feature's home section with its data, ready to include."""

    template: str
    data: Any


def home_sections(services, principal, day: date) -> list[ShownSection]:
    """The features' sections (``HomeSection``) that have something to show."""
    shown = []
    features = getattr(services, "features", None) or ()
    for section in features.gather("home_sections", services.model) if features else ():
        data = section.context(services, principal, day)
        if data:
            shown.append(ShownSection(section.template, data))
    return shown


def recent_records(model: AppModel, repo, principal) -> list[EntityRows]:
    panels = []
    for entity_id in navigation_entities(model):
        if entity_id == TASK_ENTITY or not can_read_entity(model, principal, entity_id):
            continue
        try:
            page = repo.list(principal, entity_id, sort=["-updated_at"], page_size=RECENT_LIMIT)
        except PermissionDenied:
            continue
        if page.rows:  # empty entities would only fill the page with blank cards
            entity = model.entities[entity_id]
            panels.append(EntityRows(entity, list(page.rows), _summary_columns(entity)))
    return panels


def creatable_entities(model: AppModel, repo, principal) -> list[Entity]:
    """Entities in the navigation the user may create records of (the "New" menu)."""
    return [
        model.entities[entity_id]
        for entity_id in navigation_entities(model)
        if repo.grant(principal, entity_id).create
    ]


def today() -> date:
    """Today's date where the viewer is (their zone, ``TRELLIS_TIMEZONE``, the app's)."""
    return datetime.now(get_timezone()).date()


@bp.route("/")
def index():
    services = _services()
    principal = current_user.principal
    day = today()
    return render_screen(
        "home",
        today=day,
        tasks=open_tasks(services.model, services.repo, principal, day),
        home_sections=home_sections(services, principal, day),
        recent=recent_records(services.model, services.repo, principal),
        creatable=creatable_entities(services.model, services.repo, principal),
    )


@bp.post("/tasks/<int:task_id>/complete")
def complete_task(task_id: int):
    """Mark one of the home page's tasks done (status, and the completion time when the
    task has one), through the repository as the user; htmx swaps the row in place."""
    services = _services()
    entity = services.model.entities.get(TASK_ENTITY)
    done = done_option(entity) if entity is not None else None
    if done is None:
        abort(404)
    principal = current_user.principal
    values: dict[str, Any] = {"status": done}
    stamp = next((f for f in entity.fields if type_of(f).instant and f.id == "completed_at"), None)
    if stamp is not None:
        values[stamp.id] = datetime.now(UTC).isoformat()
    try:
        task = services.repo.get(principal, TASK_ENTITY, task_id)
    except NotFound:
        abort(404)
    error = ""
    try:
        task = services.repo.update(principal, TASK_ENTITY, task_id, values)
    except PermissionDenied:
        error = _("You may not change this task.")
    except ValidationError as exc:
        error = " ".join(m for ms in exc.as_dict(get_locale()).values() for m in ms)
    except ConflictError:
        error = _("Someone else changed this task meanwhile; reload the page.")
    if request.headers.get("HX-Request"):
        # 200 even when refused: htmx swaps only successful answers, and the row says why.
        panel = _task_panel(entity, [task])
        panel.related = related_records(services.model, services.repo, principal, entity, [task])
        return render_screen(
            "_home_task_row",
            entity=entity.id,
            tasks=panel,
            row=task,
            today=today(),
            done=not error,
            error=error,
            counts=(open_tasks(services.model, services.repo, principal, today()) or panel).counts,
        )
    if error:
        flash(error, "error")
    else:
        flash(_("Task “%(title)s” is done.", title=record_title(entity, task)), "success")
    return redirect(url_for("home.index"))


@bp.route("/search")
def search():
    """Search every navigable entity the user can read; a few hits each."""
    services = _services()
    query = (request.args.get("q") or "").strip()[:200]
    results: list[EntityRows] = []
    if query:
        for entity_id in navigation_entities(services.model):
            if not can_read_entity(services.model, current_user.principal, entity_id):
                continue
            try:
                page = services.repo.list(
                    current_user.principal,
                    entity_id,
                    search=query,
                    sort=["-updated_at"],
                    page_size=SEARCH_LIMIT,
                )
            except PermissionDenied:
                continue
            if page.rows:
                entity = services.model.entities[entity_id]
                results.append(EntityRows(entity, list(page.rows), _summary_columns(entity)))
    return render_screen("search", query=query, results=results)


@bp.route("/healthz")
def healthz():
    """Liveness and database reachability, for load balancers; no sign-in needed."""
    services = _services()
    try:
        services.db.ping()
        database = "ok"
    except Exception as exc:  # any driver error means "unreachable" here
        log.warning("healthz: database unreachable: %s", exc)
        database = "unreachable"
    ok = database == "ok"
    body = {
        "status": "ok" if ok else "error",
        "database": database,
        "initialised": services.check_ready() if ok else False,
        "app": services.model.id,
        "version": services.model.version,
    }
    return jsonify(body), 200 if ok else 503
