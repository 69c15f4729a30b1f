"""Pipeline screens: the kanban board, lazy columns, moves, the path bar and the
missing-fields form.

Routes (blueprint ``pipelines``):

=====================================  =====================================================
``GET  /p/<pipeline>``                 the board (filters in the query string)
``GET  /p/<pipeline>/column/<stage>``  more cards of one column (htmx, ``?offset=``)
``GET  /p/<pipeline>/records.json``    the filtered records (``?stage=``, ``?idle=1``)
``POST /p/<pipeline>/move``            move a record (JSON answer; 422 with the form)
``GET  /p/<pipeline>/gate``            the missing-fields form for ``record_id``/``to_stage``
``POST /p/<pipeline>/gate-state``      that form again for the values typed (htmx, on change)
``GET  /p/path/<entity>/<id>``         the record page's path bar (htmx refresh)
``POST /p/checklist/<entity>/<id>``    tick or untick a stage checklist item (JSON)
=====================================  =====================================================

Every move goes through ``repo.update`` like any other write: the pipeline write hook
enforces transitions and gates there, so the board, the path bar, the API and
imports give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_symbol
from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError

from runtime.definition.model import Entity, FieldDef
from runtime.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from runtime.features.pipelines import stage_checklist
from runtime.features.pipelines.board_queries import (
    BoardFilters,
    BoardQueries,
    StageTotals,
    add_totals,
    as_mapping,
)
from runtime.features.pipelines.definition import (
    Pipeline,
    Stage,
    pipeline_for_record,
    pipelines_for_entity,
    pipelines_of,
)
from runtime.features.pipelines.flow import (
    Question,
    check_move,
    checklist_item_label,
    format_duration,
    idle_days,
    is_idle,
    last_touch,
    move_questions,
    time_in_stages,
)
from runtime.features.pipelines.stage_history import entries_of
from runtime.features.pipelines.system_fields import has_stage
from runtime.fieldtypes import CoerceContext, type_of
from runtime.store.permissions import record_in_scope
from runtime.web import forms as F
from runtime.web.i18n import get_babel_locale, get_locale, get_timezone
from runtime.web.i18n import gettext as _
from runtime.web.templating import can_read_entity, record_url

bp = Blueprint("pipelines", __name__)

PAGE = 20  # cards per column load
COMPACT_FROM = Decimal(10_000)  # totals from here on read "CN¥1.2M" / "¥125万"
CLOSE_PERIODS = (
    "overdue",
    "this_month",
    "next_month",
    "this_quarter",
    "next_quarter",
    "next_90_days",
    "this_year",
)


# --------------------------------------------------------------------------- plumbing


def _services():
    return current_app.extensions["trellis"]


def _principal():
    return current_user.principal


def _today() -> date:
    return datetime.now(get_timezone()).date()


def _queries() -> BoardQueries:
    services = _services()
    return BoardQueries(services.db, services.repo.permissions)


def _pipeline(pipeline_id: str) -> tuple[Pipeline, Entity]:
    model = _services().model
    pipeline = pipelines_of(model).get(pipeline_id)
    if pipeline is None or not can_read_entity(model, _principal(), pipeline.entity):
        abort(404)
    return pipeline, model.entities[pipeline.entity]


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def close_period(name: str, today: date) -> tuple[date | None, date | None]:
    """The date range of a close-period filter (inclusive)."""
    month = today.replace(day=1)
    quarter = _quarter_start(today)
    ranges = {
        "overdue": (None, today - timedelta(days=1)),
        "this_month": (month, _add_months(month, 1) - timedelta(days=1)),
        "next_month": (_add_months(month, 1), _add_months(month, 2) - timedelta(days=1)),
        "this_quarter": (quarter, _add_months(quarter, 3) - timedelta(days=1)),
        "next_quarter": (_add_months(quarter, 3), _add_months(quarter, 6) - timedelta(days=1)),
        "next_90_days": (today, today + timedelta(days=90)),
        "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
    }
    return ranges.get(name, (None, None))


def _int_arg(name: str) -> int | None:
    return _whole_number((request.args.get(name) or "").strip())


def _whole_number(raw: str) -> int | None:
    """A database id or version (1 to 18 ASCII digits); None for anything else."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def read_filters(pipeline: Pipeline, today: date) -> tuple[BoardFilters, dict[str, str]]:
    """Filters from the query string, and the raw values to refill the filter bar."""
    args = request.args
    raw = {k: (args.get(k) or "").strip() for k in ("owner", "team", "close", "q", "idle")}
    close_from, close_to = close_period(raw["close"], today)
    fields = []
    for fid in pipeline.filter_fields:
        value = (args.get(fid) or "").strip()
        raw[fid] = value
        if value:
            fields.append((fid, value))
    filters = BoardFilters(
        owner_id=_int_arg("owner"),
        team_id=_int_arg("team"),
        close_from=close_from,
        close_to=close_to,
        fields=tuple(fields),
        search=raw["q"][:200],
        idle_only=raw["idle"] in ("1", "on", "true"),
    )
    return filters, raw


def _query_string(raw: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in raw.items() if v}


# --------------------------------------------------------------------------- cards


@dataclass
class Card:
    id: int
    title: str
    url: str
    stage: str
    row_version: int
    amount: Any = None
    currency: str | None = None
    owner: str = ""
    close_date: date | None = None
    overdue: bool = False
    idle: bool = False
    idle_days: int | None = None
    in_stage: str = ""
    extras: tuple[str, ...] = ()
    idle_label: str = ""
    idle_title: str = ""
    amount_text: str = ""
    movable: bool = True
    fixed_reason: str = ""  # why the user may not move it (the card's tooltip)


def fixed_reason(entity: Entity) -> str:
    """Why this user may not move a card that is drawn fixed."""
    grant = _services().repo.grant(_principal(), entity.id)
    if not grant.unrestricted and not grant.may_write_field("stage"):
        return _("Your role may not change the stage of these records.")
    return _("You may not edit this record, so you cannot move it.")


def build_cards(
    pipeline: Pipeline, entity: Entity, rows: list[dict[str, Any]], today: date
) -> list[Card]:
    fields = pipeline.fields
    titles: dict[str, dict[int, str]] = {}
    links = [entity.field(f) for f in pipeline.card_fields if entity.has_field(f)]
    services = _services()
    for f in links:
        if type_of(f).references == "record" and f.target:
            ids = [r[f.id] for r in rows if r.get(f.id)]
            titles[f.id] = services.repo.titles(_principal(), f.target, ids) if ids else {}
    locale = get_locale()
    default_currency = services.model.default_currency
    now = datetime.now(UTC)
    reason = fixed_reason(entity) if any(not r.get("movable", True) for r in rows) else ""
    cards = []
    for row in rows:
        stage = pipeline.stage(row["stage"])
        touched = last_touch(row.get("stage_entered_at"), row.get("last_activity"))
        close = row.get(fields.close_date) if fields.close_date else None
        extras = []
        for f in links:
            value = row.get(f.id)
            if value in (None, ""):
                continue
            if type_of(f).references == "record":
                extras.append(titles.get(f.id, {}).get(value, f"#{value}"))
            elif f.options:
                option = f.option(str(value))
                extras.append(option.label.get(locale) if option else str(value))
            else:
                extras.append(str(value))
        entered = row.get("stage_entered_at")
        days = idle_days(touched, today)
        idle = is_idle(stage, touched, today)
        cards.append(
            Card(
                id=row["id"],
                title=str(row.get(entity.title_field) or f"#{row['id']}"),
                url=record_url(entity.id, row["id"]),
                stage=row["stage"],
                row_version=row["row_version"],
                amount=row.get(fields.amount) if fields.amount else None,
                currency=row.get(f"{fields.amount}_currency") if fields.amount else None,
                amount_text=money_text(
                    row.get(fields.amount) if fields.amount else None,
                    (row.get(f"{fields.amount}_currency") if fields.amount else None)
                    or default_currency,
                    locale,
                ),
                owner=row.get("owner_name") or "",
                close_date=close,
                overdue=bool(close and close < today and stage is not None and stage.is_open),
                idle=idle,
                idle_days=days,
                idle_label=_("Idle %(days)dd", days=days) if idle else "",
                idle_title=_("No activity for %(days)d days", days=days) if idle else "",
                in_stage=format_duration((now - entered).total_seconds(), locale)
                if entered
                else "",
                extras=tuple(extras),
                movable=bool(row.get("movable", True)),
                fixed_reason="" if row.get("movable", True) else reason,
            )
        )
    return cards


@lru_cache(maxsize=64)
def _currency_symbol(currency: str, locale: str) -> str:
    try:
        return get_currency_symbol(currency, locale=locale)
    except Exception:  # an unknown currency or locale: the code reads fine
        return currency + " "


def money_text(value: Any, currency: str, locale: str) -> str:
    """A whole-unit amount for a card ("CN¥125,000"): the money filter's look, without
    parsing a locale per card (2,000 cards must stay cheap)."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value)).quantize(Decimal(1))
    except ArithmeticError:
        return str(value)
    sign = "-" if number < 0 else ""
    return f"{sign}{_currency_symbol(currency, locale)}{abs(number):,}"


# --------------------------------------------------------------------------- totals


@dataclass(frozen=True)
class BoardSum:
    """What the board's columns total for this reader: ``field`` (None: counts only),
    whether a weighted figure makes sense, and the currency an empty column shows."""

    field: str | None = None
    label: Any = None
    weighted: bool = False
    currency: str | None = None


def board_sum(pipeline: Pipeline, entity: Entity, queries: BoardQueries) -> BoardSum:
    grant = _services().repo.grant(_principal(), entity.id)
    fid = queries.sum_column(pipeline, grant)
    if fid is None:
        return BoardSum()
    _column, currency = queries.currency_of(pipeline, fid)
    return BoardSum(fid, entity.field(fid).label, pipeline.has_probabilities, currency)


def compact_figure(value: Decimal, currency: str | None) -> Markup:
    """One total that fits a column: compact from ten thousand on ("CN¥1.2M", in
    Chinese "¥125万"), the full figure on hover."""
    from runtime.web.templating import compact_number, money_filter, number_filter

    locale = get_babel_locale()
    full = money_filter(value, currency, 0) if currency else number_filter(value, 0)
    if abs(value) < COMPACT_FROM:
        text = full
    else:
        text = compact_number(value, currency, locale)  # "CN¥1.2M", "¥1369万"
    return Markup('<span class="board-figure" title="{full}">{text}</span>').format(
        full=full, text=text
    )


def board_figures(totals: StageTotals, key: str, summing: BoardSum) -> Markup:
    """A column's (or the board's) ``amount`` or ``weighted`` total, one figure per
    currency; an empty column reads zero in the field's currency."""
    figures = []
    for part in totals.sums:
        value = part.amount if key == "amount" else part.weighted
        if value is not None:
            figures.append(compact_figure(value, part.currency))
    if not figures:
        figures.append(compact_figure(Decimal(0), summing.currency))
    return Markup("").join(figures)


def totals_html(totals: StageTotals, summing: BoardSum) -> dict[str, Any]:
    """What a move sends back for one column (or the header): rendered, escaped figures."""
    out: dict[str, Any] = {"count": totals.count}
    if summing.field:
        out["amount"] = str(board_figures(totals, "amount", summing))
        if summing.weighted:
            out["weighted"] = str(board_figures(totals, "weighted", summing))
    return out


# --------------------------------------------------------------------------- board


@dataclass
class Column:
    stage: Stage
    totals: StageTotals
    cards: list[Card]
    retired: bool = False

    @property
    def has_more(self) -> bool:
        return len(self.cards) < self.totals.count


def _board_columns(
    pipeline: Pipeline, totals: Mapping[str, StageTotals]
) -> tuple[list[Stage], list[Stage]]:
    """Open columns (retired ones only while they hold records) and closed drop zones."""
    columns = [
        s
        for s in pipeline.stages
        if s.is_open and (not s.retired or totals.get(s.id, StageTotals()).count)
    ]
    return columns, list(pipeline.closed_stages)


def _can_move(entity: Entity) -> bool:
    grant = _services().repo.grant(_principal(), entity.id)
    return bool(grant.unrestricted or grant.update)


def _owner_team(user_id: int) -> int | None:
    other = _services().users.principal(user_id)
    return other.team_id if other is not None else None


def may_update_record(entity: Entity, record: Mapping[str, Any]) -> bool:
    """Update rights on this record (its row scope); an archived record is read-only."""
    if record.get("archived_at"):
        return False
    grant = _services().repo.grant(_principal(), entity.id)
    if grant.unrestricted:
        return True
    return record_in_scope(grant.update, record, _principal(), _owner_team)


def _ticked(entity_id: str, record_id: int) -> frozenset[tuple[str, str]]:
    with _services().db.engine.connect() as conn:
        return stage_checklist.ticked_items(conn, entity_id, record_id)


def may_move_record(entity: Entity, record: Mapping[str, Any]) -> bool:
    """Whether the user may change this record's stage: update rights on the record
    (its row scope) and write access to the stage; an archived record does not move."""
    if record.get("archived_at"):
        return False
    grant = _services().repo.grant(_principal(), entity.id)
    if grant.unrestricted:
        return True
    if not grant.may_write_field("stage"):
        return False
    return record_in_scope(grant.update, record, _principal(), _owner_team)


@bp.get("/p/<pipeline_id>")
def board(pipeline_id: str):
    pipeline, entity = _pipeline(pipeline_id)
    today = _today()
    filters, raw = read_filters(pipeline, today)
    queries = _queries()
    user = _principal()
    totals = queries.totals(user, pipeline, filters, today)
    open_stages, closed_stages = _board_columns(pipeline, totals)
    columns = []
    for stage in open_stages:
        rows = queries.cards(user, pipeline, stage.id, filters, limit=PAGE, today=today)
        columns.append(
            Column(
                stage,
                totals.get(stage.id, StageTotals()),
                build_cards(pipeline, entity, rows, today),
                stage.retired,
            )
        )
    open_totals = add_totals(c.totals for c in columns)
    grant = _services().repo.grant(user, entity.id)
    options = {
        fid: [(o.id, o.label.get(get_locale())) for o in entity.field(fid).options]
        for fid in pipeline.filter_fields
        if entity.has_field(fid) and (grant.unrestricted or grant.may_read_field(fid))
    }
    return render_template(
        [f"runtime/board-{pipeline.id}.html", "runtime/board.html"],
        pipeline=pipeline,
        ent=entity,
        siblings=pipelines_for_entity(_services().model, entity.id),
        columns=columns,
        closed=[(s, totals.get(s.id, StageTotals())) for s in closed_stages],
        open_totals=open_totals,
        filters=raw,
        filter_query=_query_string(raw),
        filter_options=options,
        filter_labels={fid: entity.field(fid).label for fid in options},
        owners=queries.owners(),
        teams=queries.teams(),
        close_periods=CLOSE_PERIODS,
        can_move=_can_move(entity),
        summing=board_sum(pipeline, entity, queries),
        page_size=PAGE,
    )


@bp.get("/p/<pipeline_id>/column/<stage_id>")
def column(pipeline_id: str, stage_id: str):
    pipeline, entity = _pipeline(pipeline_id)
    stage = pipeline.stage(stage_id)
    if stage is None:
        abort(404)
    today = _today()
    filters, raw = read_filters(pipeline, today)
    offset = max(_int_arg("offset") or 0, 0)
    rows = _queries().cards(
        _principal(), pipeline, stage.id, filters, offset=offset, limit=PAGE + 1, today=today
    )
    more = len(rows) > PAGE
    cards = build_cards(pipeline, entity, rows[:PAGE], today)
    return render_template(
        "runtime/_board_column.html",
        pipeline=pipeline,
        ent=entity,
        stage=stage,
        cards=cards,
        next_offset=offset + PAGE if more else None,
        filter_query=_query_string(raw),
        can_move=_can_move(entity),
    )


@bp.get("/p/<pipeline_id>/records.json")
def records_json(pipeline_id: str):
    """The board's records as data: ``?stage=`` one column, ``?idle=1`` idle ones only."""
    pipeline, entity = _pipeline(pipeline_id)
    today = _today()
    filters, _raw = read_filters(pipeline, today)
    stage_id = request.args.get("stage") or ""
    queries = _queries()
    stages = [pipeline.stage(stage_id)] if stage_id else list(pipeline.open_stages)
    out = []
    offset = max(_int_arg("offset") or 0, 0)
    limit = min(_int_arg("limit") or 100, 200)
    for stage in stages:
        if stage is None:
            abort(404)
        rows = queries.cards(
            _principal(), pipeline, stage.id, filters, offset=offset, limit=limit, today=today
        )
        for card in build_cards(pipeline, entity, rows, today):
            out.append(
                {
                    "id": card.id,
                    "title": card.title,
                    "stage": card.stage,
                    "amount": None if card.amount is None else str(card.amount),
                    "currency": card.currency,
                    "close_date": card.close_date.isoformat() if card.close_date else None,
                    "owner": card.owner,
                    "idle": card.idle,
                    "idle_days": card.idle_days,
                    "movable": card.movable,
                }
            )
    totals = queries.totals(_principal(), pipeline, filters, today)
    summing = board_sum(pipeline, entity, queries)
    return jsonify(
        {
            "pipeline": pipeline.id,
            "sum": summing.field,
            "records": out,
            "totals": as_mapping(totals),
        }
    )


# --------------------------------------------------------------------------- moves


KEEP_PREFIX = "keep-"  # a value typed for a field the dialog no longer shows


def pipeline_gate_fields(pipeline: Pipeline) -> tuple[str, ...]:
    """Every field some gate of the pipeline can ask for."""
    ids: dict[str, None] = {}
    for stage in pipeline.stages:
        for fid in stage.gate.field_ids:
            ids.setdefault(fid)
    return tuple(ids)


def _typed_values(entity: Entity) -> dict[str, Any]:
    """What the move dialog sent: its fields, plus the values kept for fields it hid."""
    form = request.form
    typed = F.read_form(entity, entity.fields, form)
    kept = MultiDict(
        [
            (key.removeprefix(KEEP_PREFIX), value)
            for key, value in form.items(multi=True)
            if key.startswith(KEEP_PREFIX) and key.removeprefix(KEEP_PREFIX) not in form
        ]
    )
    return {**F.read_form(entity, entity.fields, kept), **typed}


def _asked(entity: Entity, extra: Any = ()) -> list[str]:
    """The fields earlier rounds of the dialog asked for (``ask`` inputs), then ``extra``."""
    found: dict[str, None] = {}
    for fid in [*request.form.getlist("ask"), *extra]:
        if entity.has_field(fid) or fid == "owner_id":
            found.setdefault(fid)
    return list(found)


def _canonical(entity: Entity, record: Mapping[str, Any], typed: Mapping[str, Any]):
    services = _services()
    ctx = CoerceContext(
        default_currency=services.model.default_currency,
        default_region=services.model.default_region,
        locale=get_locale(),
        timezone=_tz(),
    )
    return F.lenient_values(entity, typed, ctx, base=record)


def dialog_questions(
    pipeline: Pipeline,
    entity: Entity,
    record: Mapping[str, Any],
    to_stage: str,
    typed: Mapping[str, Any],
    asked: list[str],
) -> list[Question]:
    """The dialog's fields for the values typed so far (see ``move_questions``)."""
    return list(
        move_questions(
            pipeline,
            entity,
            record.get("stage"),
            to_stage,
            _canonical(entity, record, typed),
            old=record,
            user=_principal(),
            asked=asked,
        )
    )


def _tz():
    return get_timezone()


def _lookup_url(f: FieldDef) -> str:
    try:
        if type_of(f).references == "user":
            return url_for("records.user_lookup")
        return url_for("entities.lookup", entity=f.target)
    except BuildError:
        return f"{request.script_root}/e/{f.target}/lookup"


def render_gate_form(
    pipeline: Pipeline,
    entity: Entity,
    record: Mapping[str, Any],
    to_stage: str,
    asked: list[str],
    errors: Mapping[str, list[str]],
    message: str,
    values: Mapping[str, Any] | None = None,
) -> str:
    """The move dialog: every field the move needs at once (``dialog_questions``), with
    what was typed so far; it re-renders itself on change (``POST .../gate-state``)."""
    services = _services()
    user = _principal()
    grant = services.repo.grant(user, entity.id)
    access = F.field_access(services.model, user, entity, grant)
    typed = dict(values or {})
    questions = dialog_questions(pipeline, entity, record, to_stage, typed, asked)
    inputs_values = {**F.record_to_input(entity, record, _tz()), **typed}
    canonical = _canonical(entity, record, typed)

    def link_title(f: FieldDef, record_id: int) -> str:
        if type_of(f).references == "user":
            found = services.users.principal(record_id)
            return found.name if found else f"#{record_id}"
        return services.repo.titles(user, f.target, [record_id]).get(record_id, f"#{record_id}")

    inputs = F.FormInputs(
        values=inputs_values,
        canonical=canonical,
        old=record,
        user=F.user_mapping(user),
        access=access,
        errors=errors,
        locale=get_locale(),
        default_currency=services.model.default_currency,
        tz=_tz(),
        link_title=link_title,
        lookup_url=_lookup_url,
    )
    views = []
    for question in questions:
        fid = question.field
        if not entity.has_field(fid) or access.get(fid, "none") == "none":
            continue
        view = F.build_field(
            entity.field(fid), fid, inputs_values, canonical, inputs, access.get(fid, "none")
        )
        view.state = F.FieldState(
            visible=True, required=question.required, readonly=view.state.readonly
        )
        if fid == pipeline.fields.loss_reason and pipeline.loss_reasons:
            view.options = [o for o in view.options if o[0] in pipeline.loss_reasons]
        views.append(view)
    check = check_move(
        pipeline,
        record.get("stage"),
        to_stage,
        canonical,
        old=record,
        user=user,
        ticked=_ticked(entity.id, record["id"]),
    )
    ticking = set(request.form.getlist("checklist")) if request.method == "POST" else set()
    checklist = [
        {
            "value": f"{stage_id}.{item_id}",
            "label": checklist_item_label(pipeline, stage_id, item_id).get(get_locale()),
            "checked": f"{stage_id}.{item_id}" in ticking,
        }
        for stage_id, item_id in check.unchecked
    ]
    shown = {v.field.id for v in views}
    kept = [
        (f"{KEEP_PREFIX}{key}", value)
        for key, value in typed.items()
        if key not in shown
        and key.removesuffix("_currency") not in shown
        and not isinstance(value, list | dict)
    ]
    target = pipeline.stage(to_stage)
    return render_template(
        "runtime/_gate_form.html",
        pipeline=pipeline,
        ent=entity,
        record=record,
        title=str(record.get(entity.title_field) or f"#{record['id']}"),
        target=target,
        fields=views,
        asked=[q.field for q in questions if q.field in asked or q.field in errors],
        kept=kept,
        checklist=checklist,
        message=message,
        can_edit=all(v.kind != "readonly" for v in views),
    )


def _error_text(exc: ValidationError, locale: str) -> str:
    messages = exc.as_dict(locale)
    text = messages.get("stage") or messages.get("__all__") or []
    if not text:
        text = [m for msgs in messages.values() for m in msgs][:1]
    return " ".join(text)


@bp.post("/p/<pipeline_id>/move")
def move(pipeline_id: str):
    pipeline, entity = _pipeline(pipeline_id)
    services = _services()
    user = _principal()
    locale = get_locale()
    record_id = _form_int("record_id")
    to_stage = (request.form.get("to_stage") or "").strip()
    if record_id is None or not to_stage:
        return jsonify({"ok": False, "message": _("Choose a record and a stage.")}), 400
    try:
        record = services.repo.get(user, entity.id, record_id)
    except NotFound:
        return jsonify(
            {"ok": False, "message": _("The record does not exist, or you cannot see it.")}
        ), 404
    if not may_move_record(entity, record):
        return jsonify(
            {
                "ok": False,
                "code": "permission_denied",
                "message": _("You may not move this record."),
            }
        ), 403
    from_stage = record.get("stage")
    typed = F.read_form(entity, entity.fields, request.form)
    asked = _asked(entity)
    # what a move may write: any gate's field, and whatever the dialog asked for
    answerable = set(pipeline_gate_fields(pipeline))
    if typed:
        answerable |= {
            q.field for q in dialog_questions(pipeline, entity, record, to_stage, typed, asked)
        }
    grant = services.repo.grant(user, entity.id)
    writable = {f for f in answerable if grant.unrestricted or grant.may_write_field(f)}
    values = F.to_repository_input(entity, typed, writable, _tz())
    row_version = _form_int("row_version")
    if row_version is None and (request.form.get("row_version") or "").strip():
        return jsonify(
            {
                "ok": False,
                "code": "bad_request",
                "message": _("The record version is not valid. Reload the board."),
            }
        ), 400
    for ref in request.form.getlist("checklist"):
        stage_id, _dot, item_id = ref.partition(".")
        if _checklist_item(pipeline, stage_id, item_id) is not None:
            _tick(pipeline, entity, record_id, stage_id, item_id, True)
    try:
        saved = services.repo.update(
            user, entity.id, record_id, {**values, "stage": to_stage}, row_version=row_version
        )
    except PermissionDenied:
        return jsonify(
            {
                "ok": False,
                "code": "permission_denied",
                "message": _("You may not move this record."),
            }
        ), 403
    except ConflictError:
        return jsonify(
            {
                "ok": False,
                "code": "conflict",
                "message": _(
                    "Someone else changed this record meanwhile. Reload to see their changes."
                ),
            }
        ), 409
    except ValidationError as exc:
        messages = exc.as_dict(locale)
        missing = [k for k in messages if entity.has_field(k)]
        body: dict[str, Any] = {
            "ok": False,
            "code": exc.code,
            "message": _error_text(exc, locale),
            "missing": missing,
            "fields": messages,
        }
        unchecked = (
            check_move(
                pipeline,
                from_stage,
                to_stage,
                record,
                old=record,
                user=user,
                ticked=_ticked(entity.id, record_id),
            ).unchecked
            if "stage" in messages
            else ()
        )
        if missing or unchecked:
            body["form"] = render_gate_form(
                pipeline,
                entity,
                record,
                to_stage,
                _asked(entity, missing),
                messages,
                body["message"],
                typed,
            )
        return jsonify(body), 422
    today = _today()
    filters, _raw = read_filters(pipeline, today)
    rows = _queries().cards(
        user, pipeline, saved["stage"], filters, record_ids=[record_id], today=today
    )
    card_html = ""
    if rows:
        card = build_cards(pipeline, entity, rows, today)[0]
        card_html = render_template(
            "runtime/_board_column.html",
            card_only=card,
            pipeline=pipeline,
            ent=entity,
            can_move=True,
        )
    queries = _queries()
    totals = queries.totals(user, pipeline, filters, today)
    summing = board_sum(pipeline, entity, queries)
    open_stages, _closed = _board_columns(pipeline, totals)
    return jsonify(
        {
            "ok": True,
            "record_id": record_id,
            "from_stage": from_stage,
            "stage": saved["stage"],
            "row_version": saved.get("row_version"),
            "card": card_html,
            "totals": {
                s.id: totals_html(totals.get(s.id, StageTotals()), summing) for s in pipeline.stages
            },
            "summary": totals_html(
                add_totals(totals.get(s.id, StageTotals()) for s in open_stages), summing
            ),
        }
    )


def _form_int(name: str) -> int | None:
    return _whole_number((request.form.get(name) or "").strip())


@bp.get("/p/<pipeline_id>/gate")
def gate(pipeline_id: str):
    """The missing-fields form for a move, before trying it (the path bar asks first)."""
    pipeline, entity = _pipeline(pipeline_id)
    record_id = _int_arg("record_id")
    to_stage = request.args.get("to_stage") or ""
    if record_id is None or pipeline.stage(to_stage) is None:
        abort(404)
    try:
        record = _services().repo.get(_principal(), entity.id, record_id)
    except NotFound:
        abort(404)
    check = check_move(
        pipeline,
        record.get("stage"),
        to_stage,
        record,
        old=record,
        user=_principal(),
        ticked=_ticked(entity.id, record["id"]),
    )
    return render_gate_form(pipeline, entity, record, to_stage, list(check.asked_fields), {}, "")


@bp.post("/p/<pipeline_id>/gate-state")
def gate_state(pipeline_id: str):
    """The move dialog again for what is typed so far (htmx, on change): fields that a
    choice makes necessary appear in the same dialog and nothing typed is lost."""
    pipeline, entity = _pipeline(pipeline_id)
    record_id = _form_int("record_id")
    to_stage = (request.form.get("to_stage") or "").strip()
    if record_id is None or pipeline.stage(to_stage) is None:
        abort(404)
    try:
        record = _services().repo.get(_principal(), entity.id, record_id)
    except NotFound:
        abort(404)
    return render_gate_form(
        pipeline, entity, record, to_stage, _asked(entity), {}, "", _typed_values(entity)
    )


# --------------------------------------------------------------------------- path bar


@dataclass
class PathStep:
    stage: Stage
    state: str  # done | current | todo | closed
    seconds: float = 0.0
    duration: str = ""


def path_context(entity_id: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``_path_bar.html`` shows for a record (None when it has no pipeline)."""
    services = current_app.extensions.get("trellis")
    if services is None or not record or "stage" not in record:
        return None
    model = services.model
    entity = model.entities.get(entity_id)
    if entity is None or not has_stage(entity):
        return None
    pipeline = pipeline_for_record(model, entity_id, record)
    if pipeline is None:
        return None
    queries = _queries()
    rows = queries.stage_history(entity_id, record["id"])
    now = datetime.now(UTC)
    current = pipeline.stage(record.get("stage"))
    entries = entries_of(rows)
    if not entries and record.get("stage_entered_at"):
        entries = [(record.get("stage"), record["stage_entered_at"])]
    totals = time_in_stages(
        entries, now=now, include_current=current is not None and current.is_open
    )
    locale = get_locale()
    steps = []
    reached = current.index if current is not None else -1
    for stage in pipeline.stages:
        if stage.retired and stage is not current:
            continue
        if stage.is_closed:
            continue  # won/lost are drawn as the final step
        state = "current" if stage is current else ("done" if stage.index < reached else "todo")
        if current is not None and current.is_closed:
            state = "done" if stage.id in totals else "todo"
        seconds = totals.get(stage.id, 0.0)
        steps.append(
            PathStep(stage, state, seconds, format_duration(seconds, locale) if seconds else "")
        )
    entered = record.get("stage_entered_at")
    touched = last_touch(entered, queries.last_activity(pipeline, record["id"]))
    today = _today()
    history = []
    for row in reversed(rows):
        history.append(
            {
                "from": pipeline.stage(row["from_stage"]),
                "from_id": row["from_stage"],
                "to": pipeline.stage(row["to_stage"]),
                "to_id": row["to_stage"],
                "at": row["changed_at"],
                "by": row.get("changed_by_name") or "",
                "spent": format_duration(row["seconds_in_from_stage"], locale)
                if row.get("seconds_in_from_stage")
                else "",
            }
        )
    ticks = _checklist_state(entity_id, record["id"], locale)
    return {
        "pipeline": pipeline,
        "entity": entity,
        "record": record,
        "current": current,
        "checklist": ticks,
        "can_tick": may_update_record(entity, record),
        "steps": steps,
        "won": pipeline.first_of_kind("won"),
        "lost": pipeline.first_of_kind("lost"),
        # every closing stage, in pipeline order: two lost stages (Rejected, Withdrawn)
        # are both reachable from the record page
        "closing": [
            s for s in pipeline.closed_stages if pipeline.allows(record.get("stage"), s.id)
        ],
        "time_in_stage": format_duration((now - entered).total_seconds(), locale)
        if entered
        else "",
        "idle": is_idle(current, touched, today),
        "idle_days": idle_days(touched, today),
        "history": history,
        "reopenable": current is not None and current.is_closed and pipeline.transitions.reopen,
        "can_move": may_move_record(entity, record),
        "allows": lambda to: pipeline.allows(record.get("stage"), to),
    }


def _checklist_state(entity_id: str, record_id: int, locale: str) -> dict[str, dict[str, Any]]:
    """ "stage.item" -> {checked, by, at} for the record's latest tick of each item."""
    with _services().db.engine.connect() as conn:
        rows = stage_checklist.read_ticks(conn, entity_id, record_id)
    return {
        f"{stage}.{item}": {
            "checked": bool(row["checked"]),
            "by": row.get("changed_by_name") or "",
            "at": row["changed_at"],
        }
        for (stage, item), row in stage_checklist.current_state(rows).items()
    }


def _checklist_item(pipeline: Pipeline, stage_id: str, item_id: str) -> Any:
    stage = pipeline.stage(stage_id)
    return next((i for i in stage.checklist if i.id == item_id), None) if stage else None


def _tick(
    pipeline: Pipeline, entity: Entity, record_id: int, stage_id: str, item_id: str, checked: bool
) -> dict[str, Any]:
    with _services().db.engine.begin() as conn:
        return stage_checklist.record_tick(
            conn,
            entity=entity.id,
            record_id=record_id,
            pipeline=pipeline.id,
            stage=stage_id,
            item=item_id,
            checked=checked,
            user_id=_principal().actor_id,
        )


@bp.post("/p/checklist/<entity_id>/<int:record_id>")
def checklist(entity_id: str, record_id: int):
    """Tick (``checked=1``) or untick one key action of a stage, on the record: who and
    when are kept, the timeline shows it, and a gate may require it."""
    services = _services()
    entity = services.model.entities.get(entity_id)
    if entity is None or not has_stage(entity):
        abort(404)
    try:
        record = services.repo.get(_principal(), entity_id, record_id)
    except NotFound:
        return jsonify(
            {"ok": False, "message": _("The record does not exist, or you cannot see it.")}
        ), 404
    pipeline = pipeline_for_record(services.model, entity_id, record)
    stage_id = (request.form.get("stage") or "").strip()
    item_id = (request.form.get("item") or "").strip()
    if pipeline is None or _checklist_item(pipeline, stage_id, item_id) is None:
        return jsonify(
            {
                "ok": False,
                "code": "unknown_checklist_item",
                "fields": {"item": [_("No such checklist item in this stage.")]},
                "message": _("No such checklist item in this stage."),
            }
        ), 422
    if not may_update_record(entity, record):
        return jsonify(
            {
                "ok": False,
                "code": "permission_denied",
                "message": _("You may not change this record's checklist."),
            }
        ), 403
    checked = (request.form.get("checked") or "").strip().lower() in ("1", "true", "on", "yes")
    row = _tick(pipeline, entity, record_id, stage_id, item_id, checked)
    return jsonify(
        {
            "ok": True,
            "stage": stage_id,
            "item": item_id,
            "checked": checked,
            "by": _principal().name,
            "at": row["changed_at"].isoformat(),
        }
    )


@bp.get("/p/path/<entity_id>/<int:record_id>")
def path_bar(entity_id: str, record_id: int):
    if entity_id not in _services().model.entities:
        abort(404)
    try:
        record = _services().repo.get(_principal(), entity_id, record_id)
    except NotFound:
        abort(404)
    return render_template(
        "runtime/_path_bar.html", record=record, ent=_services().model.entities[entity_id]
    )


def board_texts() -> dict[str, str]:
    """Texts every card repeats, translated once per page rather than once per card."""
    return {
        "move": _("Move"),
        "close": _("Expected close"),
        "owner": _("Owner"),
        "age": _("Time in this stage"),
        "fixed": _("You may not move this record."),
    }


def stage_kind_text(pipeline: Pipeline | None, kind: str) -> str:
    """The app's word for a kind of stage in the user's language ("Hired", "录用"):
    ``kind_labels`` of the pipeline, else a neutral default."""
    if pipeline is None:
        from runtime.features.pipelines.definition import DEFAULT_KIND_LABELS

        label = DEFAULT_KIND_LABELS.get(kind)
        return label.get(get_locale()) if label else kind
    return pipeline.kind_label(kind).get(get_locale())


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        pipeline_path=path_context,
        pipelines_of=pipelines_of,
        board_texts=board_texts,
        stage_kind_text=stage_kind_text,
        board_figures=board_figures,
    )
