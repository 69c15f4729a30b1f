"""The home page (my open tasks, recently updated records), global search, /healthz.

Everything here is driven by metadata: the entities come from the app's navigation,
and the task list appears only when the model has a ``task`` entity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import text

from runtime.definition.model import AppModel, Entity
from runtime.errors import PermissionDenied
from runtime.web.i18n import get_timezone
from runtime.web.templating import can_read_entity, render_screen

log = logging.getLogger("trellis.web")

bp = Blueprint("home", __name__)

TASK_ENTITY = "task"
# Status options that mean "finished"; any other option counts as open.
CLOSED_STATUSES = frozenset({"done", "completed", "closed", "cancelled", "canceled", "resolved"})
RECENT_LIMIT = 5
SEARCH_LIMIT = 5


@dataclass
class EntityRows:
    """Rows of one entity for a home or search panel."""

    entity: Entity
    rows: list[dict[str, Any]]
    columns: list[Any] = field(default_factory=list)  # FieldDefs shown beside the title
    due_field: Any = None  # tasks: the FieldDef of the due date, if any
    counts: dict[str, int] = field(default_factory=dict)  # tasks: open / due_today / overdue


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


def _summary_columns(entity: Entity, limit: int = 2) -> list[Any]:
    """A couple of informative fields to show next to the title: selects, money, dates."""
    preferred = ("select", "money", "date")
    picked = []
    for kind in preferred:
        for f in entity.fields:
            if f.type == kind and f.id != entity.title_field and f not in picked:
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
        (f for f in entity.fields if f.type == "user"), None
    )
    filters: list[tuple[str, str, Any]] = [
        (assignee.id if assignee else "owner_id", "eq", principal.id)
    ]
    status = next((f for f in entity.fields if f.id == "status" and f.options), None)
    if status is not None:
        open_ids = [o.id for o in status.options if o.id not in CLOSED_STATUSES]
        filters.append((status.id, "in", open_ids))
    due = next((f for f in entity.fields if f.type in ("date", "datetime") and "due" in f.id), None)
    sort = [due.id, "-updated_at"] if due else ["-updated_at"]
    try:
        page = repo.list(principal, TASK_ENTITY, filters=filters, sort=sort, page_size=10)
        counts = {"open": repo.count(principal, TASK_ENTITY, filters=filters)}
        if due is not None and due.type == "date":
            day = today.isoformat()
            for key, op in (("due_today", "eq"), ("overdue", "lt")):
                counts[key] = repo.count(
                    principal, TASK_ENTITY, filters=[*filters, (due.id, op, day)]
                )
    except PermissionDenied:
        return None
    columns = [f for f in (due, status) if f is not None]
    columns += [f for f in entity.fields if f.id == "priority"]
    return EntityRows(entity, list(page.rows), columns, due_field=due, counts=counts)


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
        recent=recent_records(services.model, services.repo, principal),
        creatable=creatable_entities(services.model, services.repo, principal),
    )


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
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
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
