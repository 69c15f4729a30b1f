"""Record screens: the record page, create and edit forms, archive/restore, live form state.

Routes (blueprint ``records``):

=====================================  =====================================================
``GET/POST /e/<entity>/new``           create form; ``?<link>=<id>`` prefills (related "New")
``GET /e/<entity>/<id>``               the record page
``GET/POST /e/<entity>/<id>/edit``     edit form; ``row_version`` travels as a hidden field
``POST /e/<entity>/<id>/archive``      archive (CSRF, confirmed in the browser)
``POST /e/<entity>/<id>/restore``      restore
``POST /e/<entity>/form-state``        htmx: visible/required/readonly + formula previews
``GET /e/<entity>/<id>/timeline``      the timeline partial (``?limit=``)
``GET /users/lookup?q=``               user picker suggestions (JSON)
=====================================  =====================================================

Each view reads the request, makes its repository calls as the signed-in user and
renders one template; permissions, validation and locking are the repository's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from runtime.definition.model import Entity, FieldDef
from runtime.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from runtime.fieldtypes import CoerceContext, type_of
from runtime.store.permissions import record_in_scope
from runtime.web import forms as F
from runtime.web import record_view as RV
from runtime.web.i18n import get_locale, get_timezone
from runtime.web.i18n import gettext as _
from runtime.web.templating import can_read_entity, record_title, render_screen

bp = Blueprint("records", __name__)

LOOKUP_ENDPOINT = "entities.lookup"  # the list-view blueprint's link picker endpoint
LIST_ENDPOINT = "entities.list_view"
USER_LOOKUP_LIMIT = 20


# --------------------------------------------------------------------------- plumbing


def _services():
    return current_app.extensions["trellis"]


def _principal():
    return current_user.principal


def _tz() -> tzinfo:
    return get_timezone()


def _entity(entity_id: str) -> Entity:
    entity = _services().model.entities.get(entity_id)
    if entity is None or not can_read_entity(_services().model, _principal(), entity_id):
        abort(404)
    return entity


def _ctx() -> CoerceContext:
    model = _services().model
    return CoerceContext(
        default_currency=model.default_currency,
        default_region=model.default_region,
        locale=get_locale(),
        timezone=_tz(),
    )


def _titles() -> RV.Titles:
    s = _services()
    return RV.Titles(s.model, s.repo, s.users, _principal(), get_locale())


def _record_url(entity_id: str, record_id: Any) -> str:
    return url_for("records.detail", entity=entity_id, record_id=record_id)


def _list_url(entity_id: str, **args: Any) -> str:
    try:
        return url_for(LIST_ENDPOINT, entity=entity_id, **args)
    except BuildError:
        return "#"


def _lookup_url(f: FieldDef) -> str:
    if type_of(f).references == "user":
        return url_for("records.user_lookup")
    try:
        return url_for(LOOKUP_ENDPOINT, entity=f.target)
    except BuildError:
        return f"{request.script_root}/e/{f.target}/lookup"


def _formatter(titles: RV.Titles) -> RV.Formatter:
    return RV.Formatter(
        get_locale(), _tz(), _services().model.default_currency, titles, _record_url
    )


def _all_fields(entity: Entity) -> list[FieldDef]:
    return [*entity.fields, F.OWNER_FIELD]


def _get(entity: Entity, record_id: int) -> dict[str, Any]:
    return _services().repo.get(_principal(), entity.id, record_id)


# --------------------------------------------------------------------------- permissions


def _grant(entity_id: str) -> Any:
    return _services().repo.grant(_principal(), entity_id)


def _owner_team(user_id: int) -> int | None:
    other = _services().users.principal(user_id)
    return other.team_id if other is not None else None


def may(action: str, entity: Entity, record: Mapping[str, Any]) -> bool:
    """Whether to offer ``update`` or ``archive`` on this record (the repository decides)."""
    grant = _grant(entity.id)
    if grant.unrestricted:
        return True
    user = _principal()
    linked = _services().repo.linked_in_scope(user)  # via scopes: asked of the database
    return record_in_scope(grant.scopes(action), record, user, _owner_team, linked)


def _access(entity: Entity) -> dict[str, str]:
    return F.field_access(_services().model, _principal(), entity, _grant(entity.id))


def _writable(
    entity: Entity, access: Mapping[str, str], canonical: Mapping[str, Any], old: Mapping | None
) -> set[str]:
    """Fields whose input goes to the repository. ``readonly_if`` is judged as the
    repository judges it: on the stored record when editing, on the input when creating."""
    user = F.user_mapping(_principal())
    basis = old if old is not None else canonical
    return {
        f.id
        for f in _all_fields(entity)
        if not F.field_state(f, basis, old, user, access.get(f.id, "none")).readonly
    }


# --------------------------------------------------------------------------- forms


@dataclass
class ConflictRow:
    label: str
    theirs: str
    yours: str
    by: str
    at: datetime | None


@dataclass
class FormPage:
    mode: str  # "new" | "edit"
    record: Mapping[str, Any] | None
    row_version: int | None
    action: str
    cancel_url: str
    hidden: dict[str, str]  # prefilled values of fields not on the form
    return_to: str = ""  # a same-site path to go back to after saving (``_return``)


def _form_inputs(
    entity: Entity, values, canonical, old, access, errors, titles: RV.Titles, duplicates=None
) -> F.FormInputs:
    return F.FormInputs(
        values=values,
        canonical=canonical,
        old=old,
        user=F.user_mapping(_principal()),
        access=access,
        errors=errors or {},
        locale=get_locale(),
        default_currency=_services().model.default_currency,
        tz=_tz(),
        link_title=titles.of,
        lookup_url=_lookup_url,
        duplicates=duplicates or {},
    )


def _render_form(
    entity: Entity,
    page: FormPage,
    values: Mapping[str, Any],
    *,
    errors: Mapping[str, list[str]] | None = None,
    conflict: list[ConflictRow] | None = None,
    duplicates: Mapping[str, tuple[str, str]] | None = None,
    status: int = 200,
):
    model = _services().model
    access = _access(entity)
    canonical = F.lenient_values(entity, values, _ctx(), base=page.record)
    canonical = _services().repo.expression_path_values(entity.id, canonical)
    titles = _titles()
    inputs = _form_inputs(
        entity, values, canonical, page.record, access, errors, titles, duplicates
    )
    form = F.build_form(entity, model.forms[entity.id], inputs)
    placed = {v.field.id for s in form.sections for v in s.fields}
    hidden = {k: v for k, v in page.hidden.items() if k not in placed}
    title = record_title(entity, page.record) if page.record else ""
    html = render_screen(
        "form",
        entity=entity.id,
        ent=entity,
        form=form,
        page=page,
        hidden=hidden,
        conflict=conflict or [],
        record_title_text=title,
        error_count=sum(1 for k in (errors or {}) if k != "__all__"),
    )
    return html, status


RETURN_PARAM = "_return"
MAX_RETURN_LENGTH = 2000


def same_site_path(target: str | None) -> str:
    """``target`` when it is a path on this site, else "": no scheme, no host, no
    ``//`` or backslash (browsers read both as another host), no control characters."""
    if not target or len(target) > MAX_RETURN_LENGTH or not target.startswith("/"):
        return ""
    if target.startswith(("//", "/\\")) or "\\" in target:
        return ""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return ""
    return target


def _return_to() -> str:
    return same_site_path(request.values.get(RETURN_PARAM))


def _prefill(entity: Entity) -> dict[str, str]:
    """``?account=42`` on a new form: only plain writable fields, as typed."""
    found = {}
    for f in _all_fields(entity):
        if not type_of(f).holds_rows and f.id in request.args:
            found[f.id] = request.args.get(f.id, "")
    return found


@bp.route("/e/<entity>/new", methods=["GET", "POST"])
def new(entity: str):
    ent = _entity(entity)
    if not _grant(ent.id).create:
        abort(403)
    prefill = _prefill(ent) if request.method == "GET" else {}
    back = _return_to()
    page = FormPage(
        "new",
        None,
        None,
        url_for("records.new", entity=ent.id),
        back or _list_url(ent.id),
        prefill,
        return_to=back,
    )
    if request.method == "GET":
        values = {**F.default_values(ent, F.user_mapping(_principal()), _tz()), **prefill}
        values.setdefault(F.OWNER_FIELD.id, str(_principal().id))  # blank would mean you too
        return _render_form(ent, page, values)
    values = F.read_form(ent, _all_fields(ent), request.form)
    access = _access(ent)
    canonical = F.lenient_values(ent, values, _ctx())
    data = F.to_repository_input(ent, values, _writable(ent, access, canonical, None), _tz())
    page.hidden = {k: str(v) for k, v in values.items() if isinstance(v, str)}
    try:
        record = _services().repo.create(_principal(), ent.id, data)
    except ValidationError as exc:
        return _invalid(ent, page, values, exc)
    flash(
        _(
            "%(entity)s “%(title)s” was created.",
            entity=ent.label.get(get_locale()),
            title=record_title(ent, record),
        ),
        "success",
    )
    if request.form.get("_next") == "new":
        return redirect(url_for("records.new", entity=ent.id, **_next_new_args(ent, values, back)))
    return redirect(back or _record_url(ent.id, record["id"]))


@bp.route("/e/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
def edit(entity: str, record_id: int):
    ent = _entity(entity)
    record = _get(ent, record_id)
    if not may("update", ent, record):
        abort(403)
    action = url_for("records.edit", entity=ent.id, record_id=record_id)
    back = _return_to()
    page = FormPage(
        "edit",
        record,
        record.get("row_version"),
        action,
        back or _record_url(ent.id, record_id),
        {},
        return_to=back,
    )
    if request.method == "GET":
        return _render_form(ent, page, F.record_to_input(ent, record, _tz()))
    values = F.read_form(ent, _all_fields(ent), request.form)
    version = _posted_version(record)
    page.row_version = version
    access = _access(ent)
    canonical = F.lenient_values(ent, values, _ctx(), base=record)
    data = F.to_repository_input(ent, values, _writable(ent, access, canonical, record), _tz())
    try:
        saved = _services().repo.update(_principal(), ent.id, record_id, data, row_version=version)
    except ValidationError as exc:
        return _invalid(ent, page, values, exc)
    except ConflictError as exc:
        current = _get(ent, record_id)
        page.record, page.row_version = current, exc.current_version
        rows = _conflict_rows(ent, exc, current, values, access)
        return _render_form(ent, page, values, conflict=rows, status=409)
    flash(
        _("Your changes to “%(title)s” were saved.", title=record_title(ent, saved)),
        "success",
    )
    return redirect(back or _record_url(ent.id, record_id))


def _next_new_args(ent: Entity, values: Mapping[str, Any], back: str) -> dict[str, str]:
    """ "Save & new" from a related list: the next form again links to the same records
    and returns to the same page."""
    if not back:
        return {}
    links = {
        f.id: str(values[f.id]).strip()
        for f in ent.fields
        if type_of(f).references == "record" and str(values.get(f.id) or "").strip().isdigit()
    }
    return {**links, RETURN_PARAM: back}


def _invalid(ent: Entity, page: FormPage, values: Mapping[str, Any], exc: ValidationError):
    """The form again with every message, a duplicated value linking to its holder."""
    duplicates = {
        key: (
            str(m.params.get("title") or ""),
            _record_url(m.params["entity_id"], m.params["record_id"]),
        )
        for key, messages in exc.errors.items()
        for m in messages
        if m.code == "duplicate_of"
    }
    errors = exc.as_dict(get_locale())
    return _render_form(ent, page, values, errors=errors, duplicates=duplicates, status=422)


def _posted_version(record: Mapping[str, Any]) -> int:
    raw = request.form.get("row_version", "")
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    abort(400)


def _conflict_rows(
    entity: Entity,
    exc: ConflictError,
    current: Mapping[str, Any],
    values: Mapping[str, Any],
    access,
) -> list[ConflictRow]:
    fmt = _formatter(_titles())
    ctx = _ctx()
    mine = F.lenient_values(entity, values, ctx)
    rows = []
    for field_id, change in exc.changes.items():
        f = F.form_field(entity, field_id)
        if f is None or access.get(field_id, "none") == "none":
            continue
        change = change if isinstance(change, Mapping) else {}
        by = change.get("by")
        rows.append(
            ConflictRow(
                label=f.label.get(get_locale()),
                theirs=fmt.text(f, current) or "—",
                yours=(fmt.text(f, {**current, **mine}) or "—") if f.id in values else "—",
                by=fmt.titles.user(by) if by else "",
                at=RV._as_datetime(change.get("at")),
            )
        )
    return rows


# --------------------------------------------------------------------------- live form state


@bp.post("/e/<entity>/form-state")
def form_state(entity: str):
    ent = _entity(entity)
    old = None
    raw_id = request.form.get("record_id", "")
    if raw_id.isdigit():
        old = _get(ent, int(raw_id))
    values = F.read_form(ent, _all_fields(ent), request.form)
    canonical = F.lenient_values(ent, values, _ctx(), base=old)
    canonical = _services().repo.expression_path_values(ent.id, canonical)
    access = _access(ent)
    user = F.user_mapping(_principal())
    layout = _services().model.forms[ent.id]
    titles = _titles()
    inputs = _form_inputs(ent, values, canonical, old, access, {}, titles)
    fields, sections, previews = [], [], []
    for section in layout.sections:
        ids = [fid for fid in section.fields if access.get(fid, "none") != "none"]
        if not ids:
            continue
        sections.append((section.id, F.section_visible(section, canonical, old, user)))
        for field_id in ids:
            f = F.form_field(ent, field_id)
            if f is None:
                continue
            state = F.field_state(f, canonical, old, user, access[field_id])
            fields.append((f.id, state))
            if type_of(f).computed:
                previews.append(F.build_field(f, f.id, values, canonical, inputs, access[field_id]))
            if type_of(f).holds_rows:
                previews.extend(_row_previews(f, request.form, canonical.get(f.id) or [], inputs))
    return render_screen(
        "_form_state", entity=ent.id, fields=fields, sections=sections, previews=previews
    )


def _row_previews(table: FieldDef, form, rows: list, inputs: F.FormInputs) -> list[F.FieldView]:
    formulas = [f for f in table.fields if type_of(f).computed]
    if not formulas:
        return []
    previews = []
    for position, index in enumerate(F.row_indices(table, form)):
        canonical = rows[position] if position < len(rows) else {}
        for f in formulas:
            name = f"{table.id}-{index}-{f.id}"
            previews.append(F.build_field(f, name, {}, canonical, inputs, "read"))
    return previews


# --------------------------------------------------------------------------- record page


def _related_url(kind: str, entity_id: str, via: str, record_id: int) -> str:
    if kind == "new":
        # Saving the new record goes back to the record page the "New" was clicked on.
        parent = _services().model.entities[entity_id].field(via).target
        back = {RETURN_PARAM: _record_url(parent, record_id)} if parent else {}
        return url_for("records.new", entity=entity_id, **{via: record_id}, **back)
    return _list_url(entity_id, **{via: record_id})


def _page_context(
    ent: Entity, record: Mapping[str, Any], limit: int = RV.TIMELINE_LIMIT
) -> dict[str, Any]:
    s = _services()
    principal = _principal()
    access = _access(ent)
    titles = _titles()
    fmt = _formatter(titles)
    sections = RV.record_sections(ent, s.model.forms[ent.id], record, access, principal, fmt)
    related = RV.related_lists(
        s.model,
        s.repo,
        principal,
        ent,
        record["id"],
        fmt,
        can_read=lambda e: can_read_entity(s.model, principal, e),
        can_create=lambda e: _grant(e).create,
        access_of=_access,
        urls=_related_url,
    )
    history = _history(ent, record["id"])
    sources = s.features.gather("timeline_entries", s.model, ent) if s.features else ()
    entries, more = RV.timeline(ent, record, history, related, access, fmt, limit, sources)
    return {
        "ent": ent,
        "record": record,
        "title": record_title(ent, record),
        "sections": sections,
        "highlights": RV.highlights(sections, ent.title_field),
        "related": related,
        "timeline": entries,
        "panels": _panels(ent, record),
        "timeline_more": more,
        "timeline_limit": limit,
        "owner": titles.user(record.get("owner_id")) if record.get("owner_id") else "",
        "created_by": titles.user(record.get("created_by")) if record.get("created_by") else "",
        "can_edit": may("update", ent, record),
        "can_archive": may("archive", ent, record),
        "can_create": _grant(ent.id).create,
        "list_url": _list_url(ent.id),
        "number": _number(ent, record, access, fmt),
    }


def _panels(ent: Entity, record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The features' panels of this record (``RecordPanel``): (template, its context)."""
    s = _services()
    found = []
    for panel in s.features.gather("record_panels", s.model, ent) if s.features else ():
        context = panel.context(ent, record)
        if context is not None:
            found.append((panel.template, context))
    return found


def _number(ent: Entity, record: Mapping[str, Any], access, fmt: RV.Formatter) -> str:
    for f in ent.fields:
        if (
            type_of(f).assigned_on_create
            and access.get(f.id, "none") != "none"
            and record.get(f.id)
        ):
            return fmt.text(f, record)
    return ""


def _history(ent: Entity, record_id: int) -> list[Mapping[str, Any]]:
    """Field history plus the create / archive / restore audit entries."""
    found: list[Mapping[str, Any]] = []
    for name in ("history", "audit"):
        method = getattr(_services().repo, name, None)
        if method is None:
            continue
        try:
            found.extend(method(_principal(), ent.id, record_id))
        except (NotFound, PermissionDenied):
            continue
    return found


@bp.get("/e/<entity>/<int:record_id>")
def detail(entity: str, record_id: int):
    ent = _entity(entity)
    record = _get(ent, record_id)
    return render_screen("record", entity=ent.id, **_page_context(ent, record))


@bp.get("/e/<entity>/<int:record_id>/timeline")
def timeline(entity: str, record_id: int):
    ent = _entity(entity)
    record = _get(ent, record_id)
    limit = request.args.get("limit", "")
    limit_n = min(int(limit), 500) if limit.isdigit() and int(limit) > 0 else RV.TIMELINE_LIMIT
    context = _page_context(ent, record, limit_n)
    return render_screen("_timeline", entity=ent.id, **context)


@bp.post("/e/<entity>/<int:record_id>/archive")
def archive(entity: str, record_id: int):
    ent = _entity(entity)
    record = _services().repo.archive(_principal(), ent.id, record_id)
    flash(_("“%(title)s” was archived.", title=record_title(ent, record)), "success")
    return redirect(_record_url(ent.id, record_id))


@bp.post("/e/<entity>/<int:record_id>/restore")
def restore(entity: str, record_id: int):
    ent = _entity(entity)
    record = _services().repo.restore(_principal(), ent.id, record_id)
    flash(_("“%(title)s” was restored.", title=record_title(ent, record)), "success")
    return redirect(_record_url(ent.id, record_id))


# --------------------------------------------------------------------------- user picker


@bp.get("/users/lookup")
def user_lookup():
    query = request.args.get("q", "").strip()[:100]
    principal = _principal()
    rows = _services().users.find(
        query, limit=USER_LOOKUP_LIMIT, team_ids=getattr(principal, "team_ids", ())
    )
    return jsonify(
        {
            "results": [
                {
                    "id": r["id"],
                    "title": r.get("name") or r.get("email"),
                    "subtitle": r.get("email", ""),
                }
                for r in rows
            ]
        }
    )
