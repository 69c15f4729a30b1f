"""The signed-in user's Preferences page: their own time zone and interface language.

``GET /preferences`` shows the form, ``POST /preferences`` saves it (CSRF, like every
page form). An empty time zone means "the app's" (``TRELLIS_TIMEZONE``, else the
``timezone`` of app.yaml); an unknown one is refused with a 422 naming the field.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import lru_cache

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user

from runtime.timezones import is_zone
from runtime.web.i18n import SESSION_KEY, app_timezone_name, get_locale
from runtime.web.i18n import gettext as _
from runtime.web.templating import render_screen

bp = Blueprint("preferences", __name__)

# Offered first; the full IANA list follows.
COMMON_ZONES = (
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
    "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Paris", "Europe/Berlin",
    "America/New_York", "America/Chicago", "America/Los_Angeles", "Australia/Sydney", "UTC",
)  # fmt: skip


@lru_cache(maxsize=1)
def all_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def _render(timezone: str, locale: str, errors: dict[str, list[str]], status: int = 200):
    app_zone = app_timezone_name()
    shown = current_user.principal.timezone or app_zone  # the zone this page is shown in
    now = datetime.now(UTC)
    return (
        render_screen(
            "preferences",
            timezone=timezone,
            locale_value=locale,
            app_zone=app_zone,
            common_zones=[z for z in COMMON_ZONES if is_zone(z)],
            zones=all_zones(),
            now=now,
            shown_zone=shown if is_zone(shown) else "UTC",
            errors=errors,
        ),
        status,
    )


@bp.route("/preferences", methods=["GET"])
def show():
    return _render(current_user.principal.timezone or "", get_locale(), {})


@bp.route("/preferences", methods=["POST"])
def save():
    services = current_app.extensions["trellis"]
    i18n = current_app.extensions["trellis_i18n"]
    timezone = (request.form.get("timezone") or "").strip()
    raw_locale = (request.form.get("locale") or "").strip()
    locale = i18n.normalise(raw_locale)
    errors: dict[str, list[str]] = {}
    if locale is None:
        errors["locale"] = [_("Choose one of the languages offered.")]
    if timezone and not is_zone(timezone):
        errors["timezone"] = [
            _("“%(value)s” is not a time zone (use a name such as Asia/Shanghai).", value=timezone)
        ]
    if errors:
        return _render(timezone, raw_locale or get_locale(), errors, 422)
    user_id = current_user.principal.id
    services.users.set_timezone(user_id, timezone)
    services.users.set_locale(user_id, locale)
    session[SESSION_KEY] = locale
    g.locale = locale  # this request negotiated the old one; the message is in the new
    flash(_("Your preferences are saved."), "success")
    return redirect(url_for("preferences.show"))
