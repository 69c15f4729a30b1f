"""Template lookup with fallbacks, and the Jinja filters and globals screens use.

Screens are templates chosen by name with fallbacks, so a consultant can restyle one
screen without forking the others::

    render_screen("form", entity="opportunity", record=rec)
    # tries runtime/form-opportunity.html, then runtime/form.html

Templates are looked up first in the app definition's own ``templates/`` folder (for
example ``app_definitions/opportunity/templates/runtime/form-opportunity.html``), then
in the repository's ``templates/``. Autoescaping is on for every template; data and
metadata are never marked safe.

Filters (all follow the request's locale):

=================  ==========================================================
``label``          a ``Label`` / ``{en:, zh:}`` dict / string -> text
``number``         ``1234.5|number`` -> ``1,234.5``; ``|number(2)`` fixes digits
``money``          ``amount|money("CNY")`` (default: the app's currency)
``money_compact``  tight spots: ``¥350万`` / ``¥1.2亿`` in Chinese, full figure in ``title``
``percent``        ``35|percent`` -> ``35%`` (the value is 0..100)
``date``           a ``date``/``datetime``/ISO string -> ``Mar 5, 2025`` / ``2025年3月5日``
``datetime``       shown in the viewer's zone (``runtime.web.i18n.get_timezone``)
``ago``            ``3 hours ago`` / ``3小时前``
``safe_url``       passes http(s), mailto and relative URLs; anything else -> ``#``
``badge_class``    an option colour -> the CSS classes of a badge
=================  ==========================================================

Globals: ``model``, ``current_locale()``, ``locale_choices()``, ``nav_groups()``,
``can_read(entity_id)``, ``entity_url(entity_id)``, ``record_url(entity_id, id)``,
``new_record_url(entity_id)``,
``record_title(entity, record)``, ``field_option(field, value)``, ``icon_name(entity)``.
Macros live in ``templates/macros/`` (``ui.html``: icons, badges, buttons, cards,
empty states, field values, pagination; ``forms.html``: form controls).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask, current_app, render_template, url_for
from flask_login import current_user
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup
from werkzeug.routing import BuildError

from runtime.definition.model import AppModel, Entity, FieldDef, Label, NavGroup, Option
from runtime.errors import TrellisError
from runtime.fieldtypes import max_rows_of, type_of
from runtime.fieldtypes.widgets import widget_template
from runtime.resources import shipped_dir
from runtime.store.permissions import Permissions
from runtime.timezones import as_utc, today_in
from runtime.web.avatars import initials
from runtime.web.i18n import get_babel_locale, get_locale, get_timezone, locale_choices
from runtime.web.i18n import gettext as _

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES_DIR = shipped_dir("templates")

# Option colours the stylesheet knows by name (see .badge-* in trellis.css).
BADGE_COLORS = frozenset(
    {"gray", "red", "orange", "yellow", "green", "teal", "blue", "indigo", "purple", "pink"}
)
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SAFE_URL = re.compile(r"^(https?://|mailto:|/(?!/)|#|\?)", re.IGNORECASE)


# -- template lookup -------------------------------------------------------------


def screen_templates(screen: str, entity: str | None = None) -> list[str]:
    """The candidate template names for a screen, most specific first."""
    names = []
    if entity:
        names.append(f"runtime/{screen}-{entity}.html")
    names.append(f"runtime/{screen}.html")
    return names


def render_screen(screen: str, *, entity: str | None = None, **context: Any) -> str:
    """Render the most specific template for ``screen`` (see the module docstring)."""
    return render_template(screen_templates(screen, entity), **context)


def template_loader(app_dir: str | Path | None) -> ChoiceLoader:
    folders = []
    if app_dir and (Path(app_dir) / "templates").is_dir():
        folders.append(str(Path(app_dir) / "templates"))
    folders.append(str(TEMPLATES_DIR))
    return ChoiceLoader([FileSystemLoader(folders)])


# -- permissions for navigation ---------------------------------------------------


def can_read_entity(model: AppModel, principal: Any, entity_id: str) -> bool:
    """Whether the principal's roles grant any read scope on the entity (the union of
    roles, ``"*"`` included), as ``runtime.store.permissions`` computes it."""
    if principal is None or entity_id not in model.entities:
        return False
    grant = _permissions(model).grant(principal, entity_id)
    return bool(grant.unrestricted or grant.read)


def _permissions(model: AppModel) -> Permissions:
    services = current_app.extensions.get("trellis") if current_app else None
    if services is not None and services.model is model:
        return services.repo.permissions  # computed once per Database
    return Permissions(model)


@dataclass(frozen=True)
class NavLink:
    """One entry of the sidebar, ready to render."""

    label: str
    url: str
    icon: str
    entity: str | None
    active_prefix: str


@dataclass(frozen=True)
class NavSection:
    id: str
    label: str
    links: tuple[NavLink, ...]


def navigation_for(
    model: AppModel,
    principal: Any,
    locale: str,
    groups: Iterable[NavGroup] | None = None,
    screens: Iterable[Any] = (),
) -> list[NavSection]:
    """The app's navigation without entities the principal cannot read; empty groups go.

    ``screens``: the features' ``NavItem`` objects; a link to one of them is shown only
    to users it is ``visible`` to, with its icon."""
    known = {item.url: item for item in screens}
    sections = []
    for group in model.navigation if groups is None else groups:
        links = []
        for item in group.items:
            if item.entity:
                if not can_read_entity(model, principal, item.entity):
                    continue
                entity = model.entities[item.entity]
                label = item.label.get(locale) if item.label else entity.plural.get(locale)
                url = entity_url(item.entity)
                links.append(NavLink(label, url, icon_name(entity), item.entity, url))
            elif item.url:
                screen = known.get(item.url)
                if screen is not None and not screen.visible(principal):
                    continue
                label = item.label.get(locale) if item.label else item.url
                url = safe_url(item.url)
                icon = screen.icon if screen is not None else "link"
                links.append(NavLink(label, url, icon, None, url))
        if links:
            sections.append(NavSection(group.id, group.label.get(locale), tuple(links)))
    return sections


# -- URLs to screens that other blueprints provide --------------------------------

# The entities blueprint (runtime.web.entities) provides these endpoints; until it
# is registered the links fall back to inert anchors rather than failing the page.
ENTITY_LIST_ENDPOINT = "entities.list_view"
RECORD_ENDPOINT = "records.detail"  # runtime.web.records
NEW_RECORD_ENDPOINT = "records.new"


def entity_url(entity_id: str) -> str:
    try:
        return url_for(ENTITY_LIST_ENDPOINT, entity=entity_id)
    except BuildError:
        return "#"


def record_url(entity_id: str, record_id: Any) -> str:
    try:
        return url_for(RECORD_ENDPOINT, entity=entity_id, record_id=record_id)
    except BuildError:
        return "#"


def new_record_url(entity_id: str) -> str:
    try:
        return url_for(NEW_RECORD_ENDPOINT, entity=entity_id)
    except BuildError:
        return "#"


def record_title(entity: Entity, record: Mapping[str, Any]) -> str:
    value = record.get(entity.title_field)
    if value in (None, ""):
        return f"{entity.label.get(get_locale())} #{record.get('id', '')}"
    return str(value)


# Entity icons from metadata map onto the sprite in macros/ui.html; unknown names get
# a neutral one so a typo in YAML never breaks a page.
ICONS = frozenset(
    {
        "briefcase", "building", "user", "users", "check-square", "calendar", "box",
        "file-text", "target", "inbox", "chart", "home", "link", "phone", "mail",
        "flag", "star", "tag", "layers", "activity", "funnel", "dollar",
    }
)  # fmt: skip


def icon_name(entity: Entity | None) -> str:
    name = getattr(entity, "icon", None) or ""
    return name if name in ICONS else "layers"


def attach_link_titles(
    repo: Any, principal: Any, entity: Entity, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add ``<field>_title`` to each row for its link fields (one query per target
    entity), so ``ui.field_value`` shows names instead of ids. Rows are changed in place."""
    for f in entity.fields:
        if type_of(f).references != "record" or not f.target:
            continue
        ids = {row.get(f.id) for row in rows if isinstance(row.get(f.id), int)}
        if not ids:
            continue
        try:
            titles = repo.titles(principal, f.target, ids)
        except TrellisError:  # the user may not read the target entity
            continue
        for row in rows:
            if row.get(f.id) in titles:
                row[f"{f.id}_title"] = titles[row[f.id]]
    return rows


def field_option(field: FieldDef, value: Any) -> Option | None:
    return field.option(str(value)) if value is not None else None


# -- filters ----------------------------------------------------------------------


def label_filter(value: Any, locale: str | None = None) -> str:
    locale = locale or get_locale()
    if value is None:
        return ""
    if isinstance(value, Label):
        return value.get(locale)
    if isinstance(value, Mapping):
        return Label.of(value).get(locale)
    return str(value)


def _to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Decimal(int(value))
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def number_filter(value: Any, digits: int | None = None) -> str:
    number = _to_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    locale = get_babel_locale()
    if digits is None:
        return babel_numbers.format_decimal(number, locale=locale)
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return babel_numbers.format_decimal(number, format=pattern, locale=locale)


def money_filter(value: Any, currency: str | None = None, digits: int | None = None) -> str:
    """Whole amounts drop the cents (``¥116,000``) unless ``digits`` asks for them."""
    number = _to_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    if not currency:
        services = current_app.extensions.get("trellis")
        currency = services.model.default_currency if services else "USD"
    if digits is None and number == number.to_integral_value():
        digits = 0
    if digits is None:
        return babel_numbers.format_currency(number, currency, locale=get_babel_locale())
    locale = get_babel_locale()
    # The locale's own pattern (symbol before or after), with the fraction replaced.
    pattern = re.sub(
        r"0\.0+",
        "0" + ("." + "0" * digits if digits > 0 else ""),
        locale.currency_formats["standard"].pattern,
    )
    return babel_numbers.format_currency(
        number, currency, format=pattern, currency_digits=False, locale=locale
    )


COMPACT_FROM = 10_000  # 1万: below it the full figure is short enough anywhere
# Locales whose readers count large amounts in 万 / 亿 (ten thousands, hundred millions).
WAN_LOCALES = frozenset({"zh", "ja"})


def compact_number(number: Decimal, currency: str | None, locale: Any) -> str:
    """``¥350万`` / ``¥1.2亿`` (``CN¥3.5M`` in English): whole units, one decimal when
    that would leave fewer than three digits, so the figure keeps two significant ones."""

    def render(digits: int) -> str:
        if currency:
            return babel_numbers.format_compact_currency(
                number, currency, locale=locale, fraction_digits=digits
            )
        return babel_numbers.format_compact_decimal(number, locale=locale, fraction_digits=digits)

    text = render(0)
    if sum(ch.isdigit() for ch in text) < 3:
        text = render(1)
    return text


def money_compact_filter(
    value: Any, currency: str | None = None, full: str | None = None, everywhere: bool = False
) -> Markup:
    """A money amount for tight spots (list cells, cards, home panels): in Chinese from
    1万 on ``¥350万`` / ``¥1.2亿``, elsewhere the usual figure (``everywhere=True``
    compacts in every language: ``CN¥3.5M``). The full figure is always on hover
    (``title``); ``full`` passes a figure already formatted by the field type."""
    number = _to_decimal(value)
    if number is None:
        return Markup("") if value is None else Markup("{}").format(value)
    full_text = full or money_filter(number, currency)
    locale = get_babel_locale()
    if abs(number) < COMPACT_FROM or not (everywhere or locale.language in WAN_LOCALES):
        return Markup('<span class="money">{}</span>').format(full_text)
    if not currency:
        services = current_app.extensions.get("trellis")
        currency = services.model.default_currency if services else "USD"
    text = compact_number(number, currency, locale)
    return Markup('<span class="money money-compact" title="{}">{}</span>').format(full_text, text)


def percent_filter(value: Any, digits: int = 0) -> str:
    number = _to_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return babel_numbers.format_percent(number / 100, format=pattern, locale=get_babel_locale())


def _parse_temporal(value: Any) -> date | datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value
    text = str(value).strip().replace("Z", "+00:00")
    try:
        return (
            datetime.fromisoformat(text)
            if ("T" in text or " " in text)
            else date.fromisoformat(text)
        )
    except ValueError:
        return None


def _timezone() -> tzinfo:
    return get_timezone()


def _aware(moment: datetime) -> datetime:
    # The store keeps UTC; naive values from SQLite are UTC too (runtime.timezones).
    return as_utc(moment) or moment


def date_filter(value: Any, format: str = "medium") -> str:
    parsed = _parse_temporal(value)
    if parsed is None:
        return "" if value is None else str(value)
    if isinstance(parsed, datetime):
        parsed = _aware(parsed).astimezone(_timezone()).date()
    return babel_dates.format_date(parsed, format=format, locale=get_babel_locale())


def datetime_filter(value: Any, format: str = "medium") -> str:
    parsed = _parse_temporal(value)
    if parsed is None:
        return "" if value is None else str(value)
    if not isinstance(parsed, datetime):
        return babel_dates.format_date(parsed, format=format, locale=get_babel_locale())
    return babel_dates.format_datetime(
        _aware(parsed), format=format, tzinfo=_timezone(), locale=get_babel_locale()
    )


JUST_NOW_SECONDS = 45  # closer than this (either way: clocks differ a little) is "just now"


def ago_filter(value: Any) -> str:
    """``3 hours ago`` for an instant; a date-only value counts calendar days in the
    viewer's zone (``today``, ``yesterday``, ``3 days ago``), never hours from midnight UTC."""
    parsed = _parse_temporal(value)
    if parsed is None:
        return ""
    locale = get_babel_locale()
    if not isinstance(parsed, datetime):
        days = (today_in(_timezone()) - parsed).days
        if days == 0:
            return _("today")
        if days == 1:
            return _("yesterday")
        return babel_dates.format_timedelta(
            timedelta(days=-days), add_direction=True, threshold=1.0, locale=locale
        )
    delta = _aware(parsed) - datetime.now(UTC)
    if abs(delta.total_seconds()) < JUST_NOW_SECONDS:
        return _("just now")
    return babel_dates.format_timedelta(delta, add_direction=True, threshold=1.0, locale=locale)


def safe_url(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return text if _SAFE_URL.match(text) else "#"


def badge_class(color: str | None) -> str:
    if color and color in BADGE_COLORS:
        return f"badge badge-{color}"
    return "badge badge-gray"


def badge_style(color: str | None) -> str:
    """Inline custom property for ``#rrggbb`` colours (validated; never raw input)."""
    if color and _HEX_COLOR.match(color):
        return f"--badge-color: {color}"
    return ""


# -- wiring -----------------------------------------------------------------------


def _nav_groups() -> list[NavSection]:
    services = current_app.extensions["trellis"]
    principal = getattr(current_user, "principal", None)
    features = getattr(services, "features", None)
    screens = services.db.memo(
        ("nav_items",), lambda: features.gather("nav_items", services.model) if features else []
    )
    return navigation_for(services.model, principal, get_locale(), screens=screens)


def _can_read(entity_id: str) -> bool:
    services = current_app.extensions["trellis"]
    return can_read_entity(services.model, getattr(current_user, "principal", None), entity_id)


def install_templating(app: Flask, app_dir: str | Path | None) -> None:
    app.jinja_loader = template_loader(app_dir)  # type: ignore[assignment]
    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(
        label=label_filter,
        number=number_filter,
        money=money_filter,
        money_compact=money_compact_filter,
        percent=percent_filter,
        date=date_filter,
        datetime=datetime_filter,
        ago=ago_filter,
        safe_url=safe_url,
        badge_class=badge_class,
        badge_style=badge_style,
        initials=initials,
    )
    app.jinja_env.globals.update(
        current_locale=get_locale,
        locale_choices=locale_choices,
        nav_groups=_nav_groups,
        can_read=_can_read,
        entity_url=entity_url,
        record_url=record_url,
        new_record_url=new_record_url,
        record_title=record_title,
        field_option=field_option,
        icon_name=icon_name,
        max_rows_of=max_rows_of,
        widget_template=widget_template,
    )

    @app.context_processor
    def _model_context() -> dict[str, Any]:
        services = app.extensions.get("trellis")
        return {"model": services.model if services else None}
