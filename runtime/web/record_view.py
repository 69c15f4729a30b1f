"""The record page's context: sections of formatted values, related lists and a timeline.

Everything is generic: related lists come from link fields of other entities that
target this one, the timeline merges the record's field history, its creation and
archiving, related records of entities that carry a date (calls, visits, ...) and the
entries of the features' ``TimelineSource`` objects (pipelines: stage changes).
Every read goes through the repository with the signed-in user, so entities and
records the user may not read never appear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any, ClassVar

from runtime.definition.model import AppModel, Entity, FieldDef, FormLayout
from runtime.errors import ExpressionError, NotFound, PermissionDenied
from runtime.fieldtypes import (
    CoerceContext,
    FieldInvalid,
    format_field,
    sanitize_html,
    type_of,
)
from runtime.timezones import as_day, as_utc, local_date, start_of_day
from runtime.web.forms import form_field, section_visible, user_mapping

RELATED_LIMIT = 5
RELATED_COLUMNS = 3  # besides the title
TIMELINE_LIMIT = 25
HIGHLIGHT_LIMIT = 4


# --------------------------------------------------------------------------- titles


class Titles:
    """Titles of linked records and names of users, looked up once per request."""

    def __init__(self, model: AppModel, repo: Any, users: Any, principal: Any, locale: str):
        self.model, self.repo, self.users = model, repo, users
        self.principal, self.locale = principal, locale
        self._records: dict[tuple[str, int], str | None] = {}
        self._users: dict[int, str] = {}

    def record(self, entity_id: str, record_id: int) -> str | None:
        """The record's title, or None when it is gone or the user may not read it."""
        key = (entity_id, record_id)
        if key not in self._records:
            entity = self.model.entities.get(entity_id)
            title = None
            if entity is not None:
                try:
                    row = self.repo.get(self.principal, entity_id, record_id)
                except (NotFound, PermissionDenied):
                    row = None
                if row is not None:
                    value = row.get(entity.title_field)
                    title = (
                        str(value)
                        if value not in (None, "")
                        else f"{entity.label.get(self.locale)} #{record_id}"
                    )
            self._records[key] = title
        return self._records[key]

    def user(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        if user_id not in self._users:
            principal = None
            try:
                principal = self.users.principal(int(user_id))
            except Exception:  # a deleted or broken user row must not break a page
                principal = None
            self._users[user_id] = (
                (principal.name or principal.email) if principal is not None else f"#{user_id}"
            )
        return self._users[user_id]

    def of(self, f: FieldDef, value: Any) -> str:
        """Title for a link/user field value (an id)."""
        if value in (None, ""):
            return ""
        try:
            record_id = int(value.get("id") if isinstance(value, Mapping) else value)
        except (TypeError, ValueError):
            return str(value)
        if type_of(f).references == "user":
            return self.user(record_id)
        return self.record(f.target or "", record_id) or f"#{record_id}"


# --------------------------------------------------------------------------- values


@dataclass
class DisplayValue:
    """A formatted value and how to draw it (``_display`` macro in record.html)."""

    kind: str  # empty text badge badges link email phone url richtext longtext bool table
    text: str = ""
    href: str = ""
    html: str = ""  # richtext only: sanitised
    options: list[tuple[str, str | None]] = field(default_factory=list)  # label, colour
    value: Any = None
    columns: list[FieldDef] = field(default_factory=list)  # table
    rows: list[list[DisplayValue]] = field(default_factory=list)


@dataclass(frozen=True)
class Formatter:
    locale: str
    tz: tzinfo
    default_currency: str
    titles: Titles
    record_url: Callable[[str, Any], str]

    def display(self, f: FieldDef, record: Mapping[str, Any]) -> DisplayValue:
        value = record.get(f.id)
        if value is None or value == "" or value == []:
            return DisplayValue("empty")
        ftype = type_of(f)
        draw = self._drawn_by_kind.get(ftype.display_kind)
        if draw is not None:
            return draw(self, f, value, record)
        return DisplayValue(
            ftype.display_kind,
            text=self.text(f, record),
            href=ftype.display_href(f, value),
            value="num" if ftype.is_numeric(f) else None,
        )

    def _option_labels(self, f: FieldDef, ids: list[Any]) -> list[tuple[str, str | None]]:
        labels = []
        for item in ids:
            opt = f.option(str(item))
            labels.append((opt.label.get(self.locale), opt.color) if opt else (str(item), None))
        return labels

    def _badge(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        return DisplayValue("badge", options=self._option_labels(f, [value]))

    def _badges(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        return DisplayValue("badges", options=self._option_labels(f, list(value)))

    def _link(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        record_id = value.get("id") if isinstance(value, Mapping) else value
        title = self.titles.record(f.target or "", int(record_id))
        if title is None:
            return DisplayValue("text", text=f"#{record_id}")
        return DisplayValue("link", text=title, href=self.record_url(f.target, record_id))

    def _user(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        return DisplayValue("user", text=self.titles.of(f, value))

    def _richtext(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        return DisplayValue("richtext", html=sanitize_html(str(value)))

    def _bool(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        return DisplayValue("bool", value=bool(value), text=self.text(f, record))

    def _rows(self, f: FieldDef, value: Any, record: Mapping[str, Any]) -> DisplayValue:
        return self._table(f, value)

    # Display kinds that need more than formatted text (the others: text plus a link).
    _drawn_by_kind: ClassVar[dict[str, Callable[..., DisplayValue]]] = {
        "badge": _badge,
        "badges": _badges,
        "link": _link,
        "user": _user,
        "richtext": _richtext,
        "bool": _bool,
        "table": _rows,
    }

    def text(self, f: FieldDef, record: Mapping[str, Any]) -> str:
        if type_of(f).references:
            return self.titles.of(f, record.get(f.id))
        try:
            return format_field(
                f, record, self.locale, tzinfo=self.tz, default_currency=self.default_currency
            )
        except (TypeError, ValueError, ArithmeticError, AttributeError):
            return str(record.get(f.id))

    def _table(self, table: FieldDef, rows: list[Mapping[str, Any]]) -> DisplayValue:
        return DisplayValue(
            "table",
            columns=list(table.fields),
            rows=[[self.display(f, row) for f in table.fields] for row in rows],
        )


# --------------------------------------------------------------------------- sections


@dataclass
class DisplayField:
    field: FieldDef
    label: str
    help: str
    value: DisplayValue

    @property
    def wide(self) -> bool:
        return type_of(self.field).wide_display


@dataclass
class DisplaySection:
    id: str
    label: str
    columns: int
    collapsed: bool
    fields: list[DisplayField]


def record_sections(
    entity: Entity,
    layout: FormLayout,
    record: Mapping[str, Any],
    access: Mapping[str, str],
    principal: Any,
    fmt: Formatter,
) -> list[DisplaySection]:
    """Sections and fields as the form lays them out, minus what the user may not see
    and what ``visible_if`` hides for this record."""
    user = user_mapping(principal)
    sections = []
    for section in layout.sections:
        if not section_visible(section, record, None, user):
            continue
        shown = []
        for field_id in section.fields:
            f = form_field(entity, field_id)
            if f is None or access.get(field_id, "none") == "none" or f.id not in record:
                continue
            if f.visible_if is not None and not _truthy(f.visible_if, record, user):
                continue
            shown.append(
                DisplayField(
                    f,
                    f.label.get(fmt.locale),
                    f.help.get(fmt.locale) if f.help else "",
                    fmt.display(f, record),
                )
            )
        if shown:
            label = section.label.get(fmt.locale) if section.label else ""
            sections.append(
                DisplaySection(
                    section.id, label, max(1, min(section.columns, 4)), section.collapsed, shown
                )
            )
    return sections


def _truthy(expr: Any, record: Mapping[str, Any], user: Mapping[str, Any]) -> bool:
    try:
        return bool(expr.evaluate(record, user=user))
    except ExpressionError:
        return False  # as the repository: a condition that cannot be evaluated is false


def highlights(sections: list[DisplaySection], title_field: str) -> list[DisplayField]:
    """A few telling fields for the header strip: money, status, dates, people."""
    candidates = [
        f
        for s in sections
        for f in s.fields
        if f.field.id != title_field and f.value.kind != "empty"
    ]
    picked: list[DisplayField] = []
    ranks = sorted({r for f in candidates if (r := _highlight_rank(f.field)) is not None})
    for rank in ranks:
        for f in candidates:
            if _highlight_rank(f.field) == rank and f not in picked:
                picked.append(f)
                break
        if len(picked) >= HIGHLIGHT_LIMIT:
            break
    return picked


def _highlight_rank(f: FieldDef) -> int | None:
    return type_of(f).value_type(f).highlight_rank


# --------------------------------------------------------------------------- related lists


@dataclass
class RelatedList:
    entity: Entity
    via: FieldDef  # the link field of ``entity`` that points at this record
    label: str
    columns: list[FieldDef]
    rows: list[dict[str, Any]]
    has_more: bool
    new_url: str | None
    list_url: str
    fmt: Formatter

    @property
    def id(self) -> str:
        return f"related-{self.entity.id}-{self.via.id}"

    def cell(self, f: FieldDef, row: Mapping[str, Any]) -> DisplayValue:
        return self.fmt.display(f, row)


def related_sources(model: AppModel, entity_id: str) -> list[tuple[Entity, FieldDef]]:
    """Every (entity, link field) whose link targets ``entity_id``, in model order."""
    found = []
    for other in model.entities.values():
        for f in other.fields:
            if type_of(f).references == "record" and f.target == entity_id:
                found.append((other, f))
    return found


def related_columns(model: AppModel, other: Entity, via: FieldDef) -> list[FieldDef]:
    views = model.views.get(other.id) or ()
    names = list(views[0].columns) if views else [f.id for f in other.fields]
    columns = []
    for name in names:
        f = form_field(other, name)
        if f is None or f.id in (via.id, other.title_field) or type_of(f).holds_rows:
            continue
        columns.append(f)
    return columns[:RELATED_COLUMNS]


def related_lists(
    model: AppModel,
    repo: Any,
    principal: Any,
    entity: Entity,
    record_id: int,
    fmt: Formatter,
    *,
    can_read: Callable[[str], bool],
    can_create: Callable[[str], bool],
    access_of: Callable[[Entity], Mapping[str, str]],
    urls: Callable[..., str],
) -> list[RelatedList]:
    lists = []
    sources = related_sources(model, entity.id)
    per_entity = {}
    for other, _via in sources:
        per_entity[other.id] = per_entity.get(other.id, 0) + 1
    for other, via in sources:
        if not can_read(other.id):
            continue
        access = access_of(other)
        if access.get(via.id, "none") == "none":
            continue
        views = model.views.get(other.id) or ()
        sort = list(views[0].sort) if views else ["-updated_at"]
        try:
            page = repo.list(
                principal,
                other.id,
                filters=[(via.id, "eq", record_id)],
                sort=sort,
                page=1,
                page_size=RELATED_LIMIT,
            )
        except (PermissionDenied, NotFound):
            continue
        label = other.plural.get(fmt.locale)
        if per_entity[other.id] > 1 or other.id == entity.id:
            label = f"{label} · {via.label.get(fmt.locale)}"
        columns = [
            c for c in related_columns(model, other, via) if access.get(c.id, "none") != "none"
        ]
        lists.append(
            RelatedList(
                entity=other,
                via=via,
                label=label,
                columns=columns,
                rows=list(page.rows),
                has_more=bool(page.has_next),
                new_url=urls("new", other.id, via.id, record_id) if can_create(other.id) else None,
                list_url=urls("list", other.id, via.id, record_id),
                fmt=fmt,
            )
        )
    # Lists with rows first; empty ones (often self-links) go to the bottom.
    lists.sort(key=lambda r: not r.rows)
    return lists


# --------------------------------------------------------------------------- timeline


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class TimelineEntry:
    kind: str  # created updated archived restored related, or a feature's own
    at: datetime
    user: str = ""
    changes: list[Change] = field(default_factory=list)
    title: str = ""
    href: str = ""
    entity_label: str = ""
    icon: str = "clock"
    detail: str = ""
    # kind "related" with a date-only field: the calendar day it happened on, shown as
    # "today" / "3 days ago" (``at`` is then only its place in the order).
    day: date | None = None
    template: str = ""  # a feature's entry: the template that draws its body


def _as_datetime(value: Any) -> datetime | None:
    """A stored instant (history, created_at, ...) as aware UTC."""
    return as_utc(value)


def related_moment(
    row: Mapping[str, Any], when_field: FieldDef, tz: tzinfo
) -> tuple[datetime | None, date | None]:
    """When a related record happened: its instant, or for a date-only field its day.

    A day is not an instant: midnight UTC of today is hours ago for a Shanghai team
    ("7 hours ago" for a call logged a minute earlier). A record logged on the day it
    names takes its creation time; any other day sorts at its midnight in ``tz``.
    """
    value = row.get(when_field.id)
    if type_of(when_field).instant:
        return as_utc(value), None
    day = as_day(value)
    if day is None:
        return None, None
    created = as_utc(row.get("created_at"))
    if created is not None and local_date(created, tz) == day:
        return created, None
    return start_of_day(day, tz), day


def _history_text(
    f: FieldDef, value: Any, record: Mapping[str, Any], fmt: Formatter, ctx: CoerceContext
) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if type_of(f).holds_rows:
        return type_of(f).format(f, value if isinstance(value, list) else [], fmt.locale)
    if type_of(f).references:
        return fmt.titles.of(f, value)
    try:
        canonical = type_of(f).coerce(f, value, ctx)
    except (FieldInvalid, TypeError, ValueError, ArithmeticError):
        return str(value)
    shown = {f.id: canonical, **{key: record.get(key) for key in type_of(f).extra_keys(f)}}
    return fmt.text(f, shown) or "—"


def history_entries(
    entity: Entity,
    history: list[Mapping[str, Any]],
    record: Mapping[str, Any],
    access: Mapping[str, str],
    fmt: Formatter,
) -> list[TimelineEntry]:
    """Field-history rows grouped by change (one save = one entry)."""
    ctx = CoerceContext(default_currency=fmt.default_currency, locale=fmt.locale)
    groups: dict[str, TimelineEntry] = {}
    for row in history:
        action = row.get("action")
        at = _as_datetime(row.get("changed_at") or row.get("at"))
        if at is None:
            continue
        user = fmt.titles.user(row.get("changed_by") or row.get("user_id"))
        if action in ("create", "created"):
            continue  # the record's own created_at / created_by say it (imports back-date them)
        if action in ("archive", "archived", "restore", "restored"):
            kind = {"create": "created", "archive": "archived", "restore": "restored"}.get(
                action, action
            )
            groups[f"audit-{row.get('id')}-{kind}"] = TimelineEntry(kind, at, user)
            continue
        field_id = row.get("field")
        f = form_field(entity, field_id) if field_id else None
        if f is None or access.get(f.id, "none") == "none" or not f.track_history:
            continue
        key = str(row.get("change_id") or f"{at.isoformat()}-{user}")
        entry = groups.setdefault(key, TimelineEntry("updated", at, user, icon="edit"))
        entry.changes.append(
            Change(
                f.label.get(fmt.locale),
                _history_text(f, row.get("old_value"), record, fmt, ctx),
                _history_text(f, row.get("new_value"), record, fmt, ctx),
            )
        )
    return [e for e in groups.values() if e.kind != "updated" or e.changes]


def related_events(lists: list[RelatedList], fmt: Formatter, now: datetime) -> list[TimelineEntry]:
    """Related records of entities with a date field (calls, visits, ...) up to today."""
    entries = []
    for related in lists:
        when_field = next((f for f in related.entity.fields if type_of(f).temporal), None)
        if when_field is None:
            continue
        today = local_date(now, fmt.tz)
        for row in related.rows:
            at, day = related_moment(row, when_field, fmt.tz)
            if at is None or (day is not None and day > today) or (day is None and at > now):
                continue
            entries.append(
                TimelineEntry(
                    "related",
                    at,
                    fmt.titles.user(row.get("owner_id")) if row.get("owner_id") else "",
                    title=_title(related.entity, row, fmt.locale),
                    href=fmt.record_url(related.entity.id, row.get("id")),
                    entity_label=related.entity.label.get(fmt.locale),
                    icon="activity",
                    detail=fmt.text(when_field, row),
                    day=day,
                )
            )
    return entries


def _title(entity: Entity, row: Mapping[str, Any], locale: str) -> str:
    value = row.get(entity.title_field)
    return str(value) if value not in (None, "") else f"{entity.label.get(locale)} #{row.get('id')}"


def timeline(
    entity: Entity,
    record: Mapping[str, Any],
    history: list[Mapping[str, Any]],
    related: list[RelatedList],
    access: Mapping[str, str],
    fmt: Formatter,
    limit: int = TIMELINE_LIMIT,
    sources: Sequence[Any] = (),
) -> tuple[list[TimelineEntry], bool]:
    """Newest first; returns the entries and whether more exist than ``limit``.

    ``sources``: the features' ``TimelineSource`` objects for the entity; each may take
    the field-history rows its own entries tell.
    """
    moves: list[TimelineEntry] = []
    for source in sources:
        history, own = source.entries(fmt, entity, record, list(history))
        moves += own
    entries = history_entries(entity, history, record, access, fmt)
    kinds = {e.kind for e in entries}
    entries.extend(moves)  # before "created": a tie in time keeps a feature's on top
    created = _as_datetime(record.get("created_at"))
    if created is not None and "created" not in kinds:
        entries.append(
            TimelineEntry(
                "created", created, fmt.titles.user(record.get("created_by")), icon="plus"
            )
        )
    archived = _as_datetime(record.get("archived_at"))
    if archived is not None and "archived" not in kinds:
        entries.append(TimelineEntry("archived", archived, "", icon="trash"))
    entries.extend(related_events(related, fmt, datetime.now(UTC)))
    for e in entries:
        if e.kind == "created":
            e.icon = "plus"
        elif e.kind in ("archived", "restored"):
            e.icon = "trash" if e.kind == "archived" else "check"
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit], len(entries) > limit
