"""Interface language: Babel catalogues for the chrome, the request's locale, gettext.

Catalogues live in ``runtime/translations/<locale>/LC_MESSAGES/messages.po`` and are
compiled in memory when the app starts, so no ``.mo`` file is ever committed or
forgotten. After adding ``_()`` strings, refresh the catalogues (commands in
``babel.cfg``)::

    pybabel extract -F babel.cfg -k lazy_gettext -k QueryError:2 --no-location --sort-output \
        --project Trellis --version 0.1.0 \
        -o runtime/translations/messages.pot .
    pybabel update -i runtime/translations/messages.pot -d runtime/translations \
        --no-location --ignore-obsolete

then translate the new ``msgstr`` entries in ``zh/LC_MESSAGES/messages.po``. Strings
use ``%(name)s`` placeholders: ``_("Welcome back, %(name)s", name=user.name)``.

The locale of a request is, in order: the signed-in user's saved locale, the locale
an anonymous visitor picked with the switcher (kept in the session), the browser's
``Accept-Language``, then ``TRELLIS_LOCALE`` or the app's default locale.

The time zone of a request (``get_timezone``) is, in order: the signed-in user's own
(Preferences), ``TRELLIS_TIMEZONE``, the app's ``timezone``, then UTC.
"""

from __future__ import annotations

import io
from datetime import tzinfo
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request, session

from runtime.timezones import is_zone, zone_named

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
SOURCE_LOCALE = "en"  # the language the msgids are written in
LOCALE_NAMES = {"en": "English", "zh": "中文"}
SESSION_KEY = "locale"


def load_catalogues(directory: Path = TRANSLATIONS_DIR) -> dict[str, Translations]:
    """Compile every ``<locale>/LC_MESSAGES/messages.po`` in memory."""
    catalogues: dict[str, Translations] = {}
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        catalogues[locale] = Translations(fp=buffer, domain="messages")
    return catalogues


class I18n:
    """The app's catalogues and supported locales; hangs on ``app.extensions``."""

    def __init__(self, app: Flask, default_locale: str):
        self.catalogues = load_catalogues()
        self.locales: tuple[str, ...] = (SOURCE_LOCALE, *sorted(self.catalogues))
        self.default_locale = self.normalise(default_locale) or SOURCE_LOCALE
        app.extensions["trellis_i18n"] = self
        app.jinja_env.add_extension("jinja2.ext.i18n")
        app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=_jinja_gettext, ngettext=_jinja_ngettext, newstyle=True
        )
        app.jinja_env.policies["ext.i18n.trimmed"] = True

    def normalise(self, locale: str | None) -> str | None:
        """``zh-CN`` / ``zh_Hans`` -> ``zh`` when supported, else None."""
        if not locale:
            return None
        locale = locale.replace("-", "_")
        if locale in self.locales:
            return locale
        base = locale.split("_")[0].lower()
        return base if base in self.locales else None

    def translations(self, locale: str) -> NullTranslations:
        return self.catalogues.get(locale) or NullTranslations()


def _i18n() -> I18n:
    return current_app.extensions["trellis_i18n"]


def negotiate_locale() -> str:
    """Work out the locale of this request (``get_locale`` caches it on ``g``)."""
    from flask_login import current_user

    i18n = _i18n()
    if current_user and current_user.is_authenticated:
        chosen = i18n.normalise(getattr(current_user, "locale", None))
        if chosen:
            return chosen
    chosen = i18n.normalise(session.get(SESSION_KEY))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(_accept_candidates(i18n.locales))
    chosen = i18n.normalise(best)
    return chosen or i18n.default_locale


def _accept_candidates(locales: tuple[str, ...]) -> list[str]:
    # Browsers send zh-CN, zh-TW, en-US; werkzeug matches "zh" against "zh-CN".
    return list(locales)


def get_locale() -> str:
    """The current request's interface locale (the default outside a request)."""
    if has_request_context():
        locale = g.get("locale")
        if locale is None:
            locale = g.locale = negotiate_locale()
        return locale
    if current_app:
        return _i18n().default_locale
    return SOURCE_LOCALE


def get_timezone() -> tzinfo:
    """The zone the viewer sees date-times in: the signed-in user's own, else
    ``TRELLIS_TIMEZONE``, else the app's (``timezone`` in app.yaml), else UTC."""
    if has_request_context():
        zone = g.get("timezone")
        if zone is None:
            zone = g.timezone = zone_named(*_zone_choices(viewer=True))
        return zone
    return zone_named(*_zone_choices(viewer=False))


def app_timezone_name() -> str:
    """The zone of users without their own: ``TRELLIS_TIMEZONE``, then app.yaml's."""
    return next((z for z in _zone_choices(viewer=False) if z), "UTC")


def _zone_choices(viewer: bool) -> list[str]:
    names: list[str] = []
    if viewer:
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            names.append(getattr(current_user, "timezone", "") or "")
    if current_app:
        names.append(current_app.config.get("TRELLIS_TIMEZONE") or "")
        services = current_app.extensions.get("trellis")
        names.append(getattr(getattr(services, "model", None), "timezone", "") or "")
    return [n for n in names if is_zone(n)]


def get_babel_locale() -> Locale:
    return Locale.parse(get_locale())


def gettext(message: str, **variables) -> str:
    """Translate ``message`` into the request's locale; ``%(name)s`` placeholders."""
    text = _i18n().translations(get_locale()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    text = _i18n().translations(get_locale()).ungettext(singular, plural, num)
    return text % variables


_ = gettext


def lazy_gettext(message: str, **variables):
    """For module-level strings: translated when rendered, in the locale of the day."""
    from babel.support import LazyProxy

    return LazyProxy(gettext, message, enable_cache=False, **variables)


# Jinja's newstyle gettext escapes the variables and marks the result safe itself;
# these only translate.
def _jinja_gettext(message: str) -> str:
    return _i18n().translations(get_locale()).ugettext(message)


def _jinja_ngettext(singular: str, plural: str, num: int) -> str:
    return _i18n().translations(get_locale()).ungettext(singular, plural, num)


def locale_choices() -> list[tuple[str, str]]:
    """``[(code, native name)]`` for the switcher."""
    return [(code, LOCALE_NAMES.get(code, code)) for code in _i18n().locales]


__all__ = [
    "I18n",
    "_",
    "get_babel_locale",
    "get_locale",
    "get_timezone",
    "gettext",
    "lazy_gettext",
    "locale_choices",
    "negotiate_locale",
    "ngettext",
]
