"""Saved views on the list screen: save the current list under a name, delete your own.

``POST /e/<entity>/views`` stores the list's query (filters, search, sort, columns,
archived toggle and the metadata view it started from) after resolving it, so only
parameters that parse and fields the user may read are kept. ``POST
/e/<entity>/views/<id>/delete`` removes the user's own view; someone else's is a 404.
Applying a view is ``GET /e/<entity>?saved=<id>`` (see ``runtime.web.list_view``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, abort, current_app, flash, redirect, request
from flask_login import current_user

from runtime.errors import ValidationError
from runtime.store.saved_views import MAX_NAME_LENGTH, SavedViewStore
from runtime.web.i18n import gettext as _
from runtime.web.list_view import ListEnv, resolve_list_request, url_of

MAX_STATE_LENGTH = 8000


def saved_view_store() -> SavedViewStore:
    """One store per app (it only holds the Database)."""
    services = current_app.extensions["trellis"]
    store = current_app.extensions.get("trellis_saved_views")
    if store is None or store.db is not services.db:
        store = current_app.extensions["trellis_saved_views"] = SavedViewStore(services.db)
    return store


def save_view(env: ListEnv, entity_id: str, base_url: str):
    name = (request.form.get("name") or "").strip()
    state = (request.form.get("state") or "")[:MAX_STATE_LENGTH]
    pairs = parse_qsl(state, keep_blank_values=False)
    if not name:
        flash(_("Give the view a name."), "error")
        return redirect(url_of(base_url, pairs))
    if len(name) > MAX_NAME_LENGTH:
        flash(_("The name is too long (at most %(max)s characters).", max=MAX_NAME_LENGTH), "error")
        return redirect(url_of(base_url, pairs))
    req = resolve_list_request(
        env, entity_id, [(k, v) for k, v in pairs if k not in ("saved", "page")]
    )
    filters = list(req.filter_pairs)
    if req.search:
        filters.append(("q", req.search))
    if req.show_archived:
        filters.append(("archived", "1"))
    if req.group:
        filters.append(("group", req.group))
    elif req.totals:
        filters.append(("totals", "1"))
    try:
        view = saved_view_store().create(
            env.principal.id,
            entity_id,
            name,
            base_view=req.view.id,
            filters=filters,
            sort=list(req.sort) if req.sort != req.default_sort else [],
            columns=[c.id for c in req.columns] if req.custom_columns else [],
        )
    except ValidationError:
        flash(_("You have too many saved views here; delete one first."), "error")
        return redirect(url_of(base_url, pairs))
    flash(_("Saved the view “%(name)s”.", name=view.name), "success")
    return redirect(url_of(base_url, [("saved", str(view.id))]))


def delete_view(entity_id: str, view_id: int, base_url: str):
    store = saved_view_store()
    view = store.get(current_user.principal.id, view_id)
    if view is None or view.entity != entity_id:
        abort(404)
    store.delete(current_user.principal.id, view_id)
    flash(_("Deleted the view “%(name)s”.", name=view.name), "success")
    return redirect(base_url)


def register_routes(bp: Blueprint, env_for, base_url_for) -> None:
    """Add the saved-view routes to the entities blueprint."""

    @bp.post("/e/<entity>/views")
    def save_view_route(entity: str):
        env = env_for(entity)
        return save_view(env, entity, base_url_for(entity))

    @bp.post("/e/<entity>/views/<int:view_id>/delete")
    def delete_view_route(entity: str, view_id: int):
        env_for(entity)
        return delete_view(entity, view_id, base_url_for(entity))


__all__ = ["register_routes", "save_view", "delete_view", "saved_view_store"]
