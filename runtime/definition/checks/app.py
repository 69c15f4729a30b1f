"""Check app.yaml's own settings: the tagline's locales and the time zone."""

from __future__ import annotations

from runtime.errors import Problem
from runtime.timezones import DEFAULT_ZONE, is_zone

from .. import codes
from ..loader import Document
from ..model import Label
from .base import CheckContext, Checker, did_you_mean


def check_app_settings(
    ctx: CheckContext, app_doc: Document, locales: tuple[str, ...]
) -> tuple[Label | None, str, list[Problem]]:
    """The app's tagline and time zone, and the problems found."""
    checker = _AppChecker(ctx)
    tagline = checker._tagline(app_doc, locales)
    timezone = checker._timezone(app_doc)
    return tagline, timezone, checker.problems


class _AppChecker(Checker):
    def _tagline(self, app_doc: Document, locales: tuple[str, ...]) -> Label | None:
        raw = app_doc.data.get("tagline")
        if raw is None:
            return None
        if isinstance(raw, dict):
            missing = [locale for locale in locales if locale not in raw]
            if missing:
                self.report(
                    codes.TAGLINE_MISSING_LOCALE,
                    app_doc,
                    ("tagline",),
                    "app tagline",
                    f"the tagline has no text for {', '.join(repr(m) for m in missing)}, "
                    "a locale the app lists",
                    "add " + ", ".join(f"{m}: ..." for m in missing) + " to the tagline",
                )
        return Label.of(raw)

    def _timezone(self, doc: Document) -> str:
        name = doc.data.get("timezone")
        if name is None:
            return DEFAULT_ZONE
        if is_zone(name):
            return str(name).strip()
        self.report(
            codes.UNKNOWN_TIMEZONE,
            doc,
            ("timezone",),
            f"app '{doc.data['id']}'",
            f"unknown time zone '{name}'",
            zone_hint(str(name)),
        )
        return DEFAULT_ZONE


def zone_hint(name: str) -> str:
    """Suggest the IANA name closest to a mistyped one (``Asia/Shanghi``, ``shanghai``)."""
    import zoneinfo

    zones = zoneinfo.available_timezones()
    by_city = {z.rsplit("/", 1)[-1].lower(): z for z in zones}
    if name.strip().lower().replace(" ", "_") in by_city:
        return f"did you mean '{by_city[name.strip().lower().replace(' ', '_')]}'?"
    close = did_you_mean(name, zones)
    return close or "use an IANA time zone name such as 'Asia/Shanghai' or 'UTC'"
