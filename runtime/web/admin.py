"""The admin page (``/admin``, admin role only): users, teams, roles, API keys, activity.

Every change goes through ``UserService`` with the admin as the actor, so it lands in
the audit trail and shows on the activity tab. Roles themselves are metadata
(``roles.yaml``); here they are assigned, not edited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_user

from runtime.errors import NotFound, ValidationError
from runtime.web.i18n import get_locale, locale_choices
from runtime.web.i18n import gettext as _
from runtime.web.templating import render_screen

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_ROLE = "admin"
MIN_PASSWORD_LENGTH = 10
TABS = ("users", "teams", "roles", "keys", "activity")


def is_admin() -> bool:
    """The signed-in user (not an API key) holds the admin role."""
    return (
        bool(getattr(current_user, "is_authenticated", False))
        and not getattr(current_user, "via_api_key", False)
        and ADMIN_ROLE in current_user.roles
    )


@bp.before_request
def _admins_only():
    if current_user.is_authenticated and not is_admin():
        abort(403)


def _users():
    return current_app.extensions["trellis"].users


def _actor() -> int:
    return current_user.principal.id


# -- reading ---------------------------------------------------------------------------


def _field_errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.as_dict(get_locale())


def _parse_id(raw: str | None, field: str, errors: dict[str, list[str]]) -> int | None:
    """An optional id from a form select; a bad value becomes an error on ``field``."""
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        errors.setdefault(field, []).append(_("Choose one of the listed values."))
        return None


def _password_errors(password: str) -> list[str]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [_("Use at least %(num)d characters.", num=MIN_PASSWORD_LENGTH)]
    return []


def _role_choices() -> list[tuple[str, Any]]:
    model = current_app.extensions["trellis"].model
    return [(role.id, role.label) for role in model.roles.values()]


def _activity(users_by_id: dict[int, dict], teams_by_id: dict[int, dict]) -> list[dict]:
    """The audit entries of account changes, each with a readable target."""
    keys = {k["id"]: k for k in _users().api_keys()}
    entries = []
    for row in _users().account_activity(limit=100):
        target = ""
        if row["entity"] == "sys_users":
            user = users_by_id.get(row["record_id"])
            target = f"{user['name']} <{user['email']}>" if user else f"#{row['record_id']}"
        elif row["entity"] == "sys_teams":
            team = teams_by_id.get(row["record_id"])
            target = team["name"] if team else f"#{row['record_id']}"
        elif row["entity"] == "sys_api_keys":
            key = keys.get(row["record_id"])
            target = f"{key['name'] or '#' + str(key['id'])} ({key['email']})" if key else ""
        entries.append({**row, "target": target})
    return entries


def team_choices(teams: list[dict]) -> list[tuple[int, str]]:
    return [(t["id"], t["name"]) for t in teams]


def user_choices(users: list[dict]) -> list[tuple[int, str]]:
    return [(u["id"], f"{u['name']} <{u['email']}>") for u in users if u["is_active"]]


def action_text(action: str) -> str:
    texts = {
        "user.created": _("created the user"),
        "user.roles": _("changed the roles of"),
        "user.team": _("changed the team of"),
        "user.password": _("reset the password of"),
        "user.deactivated": _("deactivated"),
        "user.activated": _("activated"),
        "team.created": _("created the team"),
        "team.manager": _("changed the manager of"),
        "apikey.created": _("created the API key"),
        "apikey.revoked": _("revoked the API key"),
    }
    return texts.get(action, action)


def _details(entry: dict, users_by_id: dict[int, dict], teams_by_id: dict[int, dict]) -> str:
    """What the change set, in words: the roles given, the team chosen, ..."""
    data = entry.get("data") or {}
    model = current_app.extensions["trellis"].model
    locale = get_locale()
    parts = []
    if data.get("roles") is not None:
        labels = [
            model.roles[r].label.get(locale) if r in model.roles else r for r in data["roles"]
        ]
        parts.append(_("Roles: %(roles)s", roles=", ".join(labels) or "—"))
    if "team_id" in data:
        team = teams_by_id.get(data["team_id"])
        parts.append(_("Team: %(team)s", team=team["name"] if team else "—"))
    if "manager_id" in data:
        manager = users_by_id.get(data["manager_id"])
        parts.append(_("Manager: %(name)s", name=manager["name"] if manager else "—"))
    return " · ".join(parts)


def _page(tab: str, status: int = 200, **context: Any):
    users = _users()
    overview = users.users_overview()
    teams = users.teams()
    users_by_id = {u["id"]: u for u in overview}
    teams_by_id = {t["id"]: t for t in teams}
    role_counts: dict[str, int] = {}
    for user in overview:
        for role in user["roles"]:
            role_counts[role] = role_counts.get(role, 0) + 1
    context.setdefault("form", {})
    context.setdefault("errors", {})
    return (
        render_screen(
            "admin",
            tab=tab,
            tabs=TABS,
            users=overview,
            users_by_id=users_by_id,
            teams=teams,
            teams_by_id=teams_by_id,
            team_sizes={
                t["id"]: sum(1 for u in overview if u["team_id"] == t["id"]) for t in teams
            },
            roles=_role_choices(),
            role_counts=role_counts,
            keys=users.api_keys() if tab == "keys" else [],
            activity=_activity(users_by_id, teams_by_id) if tab == "activity" else [],
            activity_details=lambda entry: _details(entry, users_by_id, teams_by_id),
            **context,
        ),
        status,
    )


@bp.route("")
def index():
    return _page("users")


@bp.route("/<any(teams, roles, keys, activity):tab>")
def tab(tab: str):
    return _page(tab)


def _user_page(user_id: int, status: int = 200, **context: Any):
    users = _users()
    try:
        user = users.get(user_id)
    except NotFound:
        abort(404)
    context.setdefault("errors", {})
    return (
        render_screen(
            "admin_user",
            user=user,
            teams=users.teams(),
            roles=_role_choices(),
            keys=users.api_keys(user_id),
            is_self=user_id == _actor(),
            **context,
        ),
        status,
    )


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    return _user_page(user_id)


# -- changing --------------------------------------------------------------------------


@bp.route("/users", methods=["POST"])
def create_user():
    form = request.form
    errors: dict[str, list[str]] = {}
    password = form.get("password") or ""
    if pw_errors := _password_errors(password):
        errors["password"] = pw_errors
    team_id = _parse_id(form.get("team_id"), "team_id", errors)
    locale = form.get("locale") or current_app.extensions["trellis"].model.default_locale
    if locale not in dict(locale_choices()):
        errors["locale"] = [_("Choose one of the listed values.")]
    roles = form.getlist("roles")
    if not roles:
        errors["roles"] = [_("Give the user at least one role.")]
    if not errors:
        try:
            _users().create_user(
                form.get("email") or "",
                form.get("name") or "",
                password,
                roles=roles,
                team_id=team_id,
                locale=locale,
                actor_id=_actor(),
            )
        except ValidationError as exc:
            errors = _field_errors(exc)
    if errors:
        return _page("users", 422, form=form, errors=errors)
    flash(_("User %(email)s created.", email=form.get("email", "").strip().lower()), "success")
    return redirect(url_for("admin.index"))


@bp.route("/users/<int:user_id>/access", methods=["POST"])
def set_access(user_id: int):
    """Team and roles together: the one form on the user page that assigns them."""
    errors: dict[str, list[str]] = {}
    team_id = _parse_id(request.form.get("team_id"), "team_id", errors)
    roles = request.form.getlist("roles")
    if not roles:
        errors["roles"] = [_("Give the user at least one role.")]
    elif user_id == _actor() and ADMIN_ROLE not in roles:
        errors["roles"] = [_("You cannot take the administrator role from yourself.")]
    if not errors:
        try:
            _users().set_access(user_id, team_id, roles, actor_id=_actor())
        except NotFound:
            abort(404)
        except ValidationError as exc:
            errors = _field_errors(exc)
    if errors:
        return _user_page(user_id, 422, errors=errors)
    flash(_("Team and roles saved."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def reset_password(user_id: int):
    password = request.form.get("password") or ""
    errors = {}
    if pw_errors := _password_errors(password):
        errors["password"] = pw_errors
    elif password != (request.form.get("confirm") or ""):
        errors["confirm"] = [_("The two passwords differ.")]
    if errors:
        return _user_page(user_id, 422, errors=errors)
    try:
        _users().set_password(user_id, password, actor_id=_actor())
    except NotFound:
        abort(404)
    if user_id == _actor():
        # A new password ends every session, this one included: start a fresh one.
        from runtime.web.auth import WebUser

        login_user(WebUser(_users().principal(user_id)))
    flash(_("Password reset. The user's sessions have ended."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def set_active(user_id: int):
    active = request.form.get("active") == "1"
    if user_id == _actor() and not active:
        return _user_page(
            user_id, 422, errors={"active": [_("You cannot deactivate your own account.")]}
        )
    try:
        _users().set_active(user_id, active, actor_id=_actor())
    except NotFound:
        abort(404)
    if active:
        flash(_("User activated."), "success")
    else:
        flash(_("User deactivated. Their sessions have ended."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/teams", methods=["POST"])
def create_team():
    errors: dict[str, list[str]] = {}
    manager_id = _parse_id(request.form.get("manager_id"), "manager_id", errors)
    parent_id = _parse_id(request.form.get("parent_id"), "parent_id", errors)
    if not errors:
        try:
            _users().create_team(
                request.form.get("name") or "",
                manager_id=manager_id,
                parent_id=parent_id,
                actor_id=_actor(),
            )
        except ValidationError as exc:
            errors = _field_errors(exc)
    if errors:
        return _page("teams", 422, form=request.form, errors=errors)
    flash(_("Team %(name)s created.", name=request.form.get("name", "").strip()), "success")
    return redirect(url_for("admin.tab", tab="teams"))


@bp.route("/keys/<int:key_id>/revoke", methods=["POST"])
def revoke_key(key_id: int):
    if _users().revoke_api_key(key_id, actor_id=_actor()):
        flash(_("API key revoked. It no longer works."), "success")
    else:
        flash(_("That API key was already revoked."), "warning")
    back = request.form.get("back_to_user")
    if back and back.isdigit():
        return redirect(url_for("admin.user", user_id=int(back)))
    return redirect(url_for("admin.tab", tab="keys"))


def register(app) -> None:
    """Mount the admin page; ``is_admin()`` in templates shows its navigation link."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        is_admin=is_admin,
        team_choices=team_choices,
        user_choices=user_choices,
        action_text=action_text,
    )
