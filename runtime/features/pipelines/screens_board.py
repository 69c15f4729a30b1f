"""The pipeline board: its filters, cards, column totals and lazy-loaded columns, and
the filtered records as JSON (``GET /p/<pipeline>``, ``/column/<stage>``, ``/records.json``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_symbol
from flask import abort, jsonify, render_template, request
from markupsafe import Markup

from runtime.definition.model import Entity
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
    pipelines_for_entity,
)
from runtime.features.pipelines.flow import (
    format_duration,
    idle_days,
    is_idle,
    last_touch,
)
from runtime.features.pipelines.screens import (
    _can_move,
    _pipeline,
    _principal,
    _queries,
    _services,
    _today,
    int_arg,
)
from runtime.fieldtypes import type_of
from runtime.web.i18n import get_babel_locale, get_locale
from runtime.web.i18n import gettext as _
from runtime.web.templating import record_url

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
        owner_id=int_arg("owner"),
        team_id=int_arg("team"),
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


def board_columns(
    pipeline: Pipeline, totals: Mapping[str, StageTotals]
) -> tuple[list[Stage], list[Stage]]:
    """Open columns (retired ones only while they hold records) and closed drop zones."""
    columns = [
        s
        for s in pipeline.stages
        if s.is_open and (not s.retired or totals.get(s.id, StageTotals()).count)
    ]
    return columns, list(pipeline.closed_stages)


def board(pipeline_id: str):
    pipeline, entity = _pipeline(pipeline_id)
    today = _today()
    filters, raw = read_filters(pipeline, today)
    queries = _queries()
    user = _principal()
    totals = queries.totals(user, pipeline, filters, today)
    open_stages, closed_stages = board_columns(pipeline, totals)
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


def column(pipeline_id: str, stage_id: str):
    pipeline, entity = _pipeline(pipeline_id)
    stage = pipeline.stage(stage_id)
    if stage is None:
        abort(404)
    today = _today()
    filters, raw = read_filters(pipeline, today)
    offset = max(int_arg("offset") or 0, 0)
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


def records_json(pipeline_id: str):
    """The board's records as data: ``?stage=`` one column, ``?idle=1`` idle ones only."""
    pipeline, entity = _pipeline(pipeline_id)
    today = _today()
    filters, _raw = read_filters(pipeline, today)
    stage_id = request.args.get("stage") or ""
    queries = _queries()
    stages = [pipeline.stage(stage_id)] if stage_id else list(pipeline.open_stages)
    out = []
    offset = max(int_arg("offset") or 0, 0)
    limit = min(int_arg("limit") or 100, 200)
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
