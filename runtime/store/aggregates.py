"""Grouped aggregates over the records a reader may see: count, sum, avg, min, max and
count_distinct, grouped by fields or by date buckets in the app's calendar, as one
SELECT ... GROUP BY with the row scope, filters and search of a list.

Bucket keys are ISO strings that sort in time order: day ``2026-04-01``, week the
Monday it starts on (ISO weeks, ``2026-03-30``), month ``2026-04``, quarter
``2026-Q2``, year ``2026``. Date-times are stored in UTC and bucketed in the app's zone
(``RepositoryBase._business_zone``): PostgreSQL converts with ``timezone(zone, t)``;
SQLite adds the zone's UTC offset, one constant for a zone without daylight saving in
2000-2100 (Asia/Shanghai), else the offset of each period between its transitions
(exact for those years, the nearest period's offset outside them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, case, cast, distinct, func, literal, select

from runtime.definition.model import FieldDef
from runtime.errors import FieldMessage, PermissionDenied, ValidationError
from runtime.fieldtypes import FieldInvalid, currency_key, type_of

from .principal import Principal
from .repository_base import Errors, RepositoryBase

BUCKETS = ("day", "week", "month", "quarter", "year")
MEASURES = ("count", "sum", "avg", "min", "max", "count_distinct")
MAX_DIMENSIONS = 4
MAX_MEASURES = 10
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Dimension:
    """Group by ``field`` (a field, system column or link path), a date or date-time
    one by ``bucket``. ``key`` names it in the rows: ``owner_id``, ``close_date:month``."""

    field: str
    bucket: str | None = None

    @property
    def key(self) -> str:
        return f"{self.field}:{self.bucket}" if self.bucket else self.field


@dataclass(frozen=True)
class Measure:
    """``fn`` of ``field`` (``count`` needs none: the records; with one, those where it is
    set). ``key`` names it in the rows: ``count``, ``sum:amount``."""

    fn: str
    field: str | None = None

    @property
    def key(self) -> str:
        return f"{self.fn}:{self.field}" if self.field else self.fn


@dataclass(frozen=True)
class AggregateResult:
    """The groups, in order. Each row maps every dimension key, every implicit currency
    key (``amount_currency``: money is summed per currency) and every measure key to its
    value, plus ``labels``: dimension key -> display text for option, user and link
    values. ``has_more``: groups beyond ``limit`` were left out."""

    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...]
    currency_keys: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    has_more: bool = False


def parse_dimension(spec: Any) -> Dimension:
    """``"close_date:month"``, ``"owner_id"``, a mapping ``{field, bucket}`` or a Dimension."""
    if isinstance(spec, Dimension):
        return spec
    if isinstance(spec, Mapping):
        return Dimension(str(spec.get("field")), spec.get("bucket"))
    name, _, bucket = str(spec).partition(":")
    return Dimension(name.strip(), bucket.strip() or None)


def parse_measure(spec: Any) -> Measure:
    """``"count"``, ``"sum:amount"``, a mapping ``{fn, field}`` or a Measure."""
    if isinstance(spec, Measure):
        return spec
    if isinstance(spec, Mapping):
        return Measure(str(spec.get("fn")), spec.get("field"))
    fn, _, name = str(spec).partition(":")
    return Measure(fn.strip(), name.strip() or None)


class RecordAggregates(RepositoryBase):
    """``aggregate``: grouped measures over the records ``user`` may read."""

    def aggregate(
        self,
        user: Principal,
        entity_id: str,
        *,
        filters: Iterable[Any] = (),
        search: str | None = None,
        archived: bool | None = False,
        group_by: Sequence[Any] = (),
        measures: Sequence[Any] = ("count",),
        sort: Sequence[str] = (),
        limit: int = DEFAULT_LIMIT,
    ) -> AggregateResult:
        """One GROUP BY over ``entity_id``'s readable records (filters and search as in
        ``list``). A dimension or measure on a field the reader may not read, or one
        that does not apply, is a ValidationError under its name; ``sort`` takes
        dimension and measure keys (``-`` first: descending), by default the dimensions.
        """
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        if not grant.unrestricted and not grant.read:
            raise PermissionDenied(f"you may not read {entity_id} records")
        dims = tuple(parse_dimension(d) for d in group_by)
        meas = tuple(parse_measure(m) for m in measures) or (Measure("count"),)
        errors: Errors = {}
        if len(dims) > MAX_DIMENSIONS or len(meas) > MAX_MEASURES:
            errors["group_by" if len(dims) > MAX_DIMENSIONS else "measures"] = [
                FieldMessage("invalid")
            ]
        columns: list[Any] = []
        groups: list[Any] = []
        fields: dict[str, FieldDef] = {}
        for dim in dims:
            found = self._dimension(plan, grant, user, dim, errors)
            if found is not None:
                expr, fields[dim.key] = found
                columns.append(expr.label(dim.key))
                groups.append(expr)
        currencies: list[str] = []
        values: list[Any] = []
        for measure in meas:
            found = self._measure(plan, grant, user, measure, errors)
            if found is None:
                continue
            expr, currency = found
            values.append(expr.label(measure.key))
            if currency is not None and currency[0] not in currencies and currency[0] not in fields:
                currencies.append(currency[0])
                columns.append(currency[1].label(currency[0]))
                groups.append(currency[1])
        keys = [c.name for c in columns] + [v.name for v in values]
        if len(set(keys)) != len(keys):
            errors.setdefault("measures", []).append(FieldMessage("invalid"))
        order = self._aggregate_order(sort, columns, columns + values, errors)
        if errors:
            raise ValidationError(errors)
        limit = min(max(int(limit or DEFAULT_LIMIT), 1), MAX_LIMIT)
        query = select(*columns, *values).select_from(plan.table)
        where = self._where(plan, grant, user, filters, search, archived)
        if where:
            query = query.where(*where)
        if groups:
            query = query.group_by(*groups)
        query = query.order_by(*order).limit(limit + 1)
        with self.db.engine.connect() as conn:
            result = conn.execute(query)
            names = list(result.keys())
            rows = [dict(zip(names, row, strict=True)) for row in result.all()]
        more = len(rows) > limit
        rows = rows[:limit]
        for row in rows:
            for measure in meas:
                row[measure.key] = _measure_value(measure, row.get(measure.key))
        self._label_rows(user, rows, dims, fields)
        return AggregateResult(dims, meas, tuple(currencies), rows, more)

    # -- dimensions

    def _dimension(
        self, plan: Any, grant: Any, user: Principal, dim: Dimension, errors: Errors
    ) -> tuple[Any, FieldDef] | None:
        try:
            expr, fdef = self._filter_target(plan, grant, dim.field, user)
        except FieldInvalid as exc:
            errors.setdefault(dim.field, []).append(exc.message)
            return None
        ftype = type_of(fdef)
        if ftype.holds_rows or ftype.json_list:
            errors.setdefault(dim.field, []).append(FieldMessage("not_groupable"))
            return None
        if dim.bucket is None:
            return expr, fdef
        if dim.bucket not in BUCKETS:
            errors.setdefault(dim.key, []).append(FieldMessage("unknown_bucket"))
            return None
        if not ftype.value_type(fdef).temporal:
            errors.setdefault(dim.key, []).append(FieldMessage("not_groupable"))
            return None
        return self._bucket(expr, dim.bucket, ftype.value_type(fdef).instant), fdef

    def _bucket(self, expr: Any, bucket: str, instant: bool) -> Any:
        zone = self._business_zone()
        if self.db.is_sqlite:
            local = _sqlite_local(expr, zone) if instant else expr
            return _sqlite_bucket(local, bucket)
        local = func.timezone(_zone_name(zone), expr) if instant else expr
        return _postgres_bucket(local, bucket)

    # -- measures

    def _measure(
        self, plan: Any, grant: Any, user: Principal, measure: Measure, errors: Errors
    ) -> tuple[Any, tuple[str, Any] | None] | None:
        key = measure.field or measure.fn
        if measure.fn not in MEASURES:
            errors.setdefault(key, []).append(FieldMessage("unknown_measure"))
            return None
        if measure.field is None:
            if measure.fn != "count":
                errors.setdefault(measure.fn, []).append(FieldMessage("not_measurable"))
                return None
            return func.count(), None
        try:
            expr, fdef = self._filter_target(plan, grant, measure.field, user)
        except FieldInvalid as exc:
            errors.setdefault(measure.field, []).append(exc.message)
            return None
        ftype = type_of(fdef)
        value = ftype.value_type(fdef)
        if ftype.holds_rows:
            errors.setdefault(measure.field, []).append(FieldMessage("not_measurable"))
            return None
        if measure.fn == "count":
            return func.count(expr), None
        if measure.fn == "count_distinct":
            return func.count(distinct(expr)), None
        numeric = ftype.is_numeric(fdef) and not value.boolean
        if measure.fn in ("sum", "avg") and not numeric:
            errors.setdefault(measure.field, []).append(FieldMessage("not_measurable"))
            return None
        if measure.fn in ("min", "max") and not (numeric or value.temporal):
            errors.setdefault(measure.field, []).append(FieldMessage("not_measurable"))
            return None
        sql = {"sum": func.sum, "avg": func.avg, "min": func.min, "max": func.max}[measure.fn]
        currency = None
        if value.has_currency:
            # Amounts in different currencies are never added up: group by the currency.
            name = _currency_name(measure.field, fdef)
            try:
                column, _ = self._filter_target(plan, grant, name, user)
            except FieldInvalid:
                column = literal(None, String())
            currency = (name, column)
        return sql(expr), currency

    # -- order and labels

    @staticmethod
    def _aggregate_order(
        sort: Sequence[str], groups: list[Any], labelled: list[Any], errors: Errors
    ) -> list[Any]:
        """ORDER BY of ``sort`` (dimension and measure keys), by default the groups."""
        if not sort:
            return list(groups)
        by_key = {c.name: c for c in labelled}
        order = []
        for item in sort:
            column = by_key.get(item.lstrip("-+"))
            if column is None:
                errors.setdefault("sort", []).append(FieldMessage("unknown_field"))
                continue
            order.append(column.desc() if item.startswith("-") else column.asc())
        return order

    def _label_rows(
        self,
        user: Principal,
        rows: list[dict[str, Any]],
        dims: Sequence[Dimension],
        fields: Mapping[str, FieldDef],
    ) -> None:
        """``row["labels"]``: the option label, user name or record title of each
        option, user and link dimension value (links: only records the reader may read)."""
        texts: dict[str, dict[Any, str]] = {}
        locale = user.locale or self.model.default_locale
        for dim in dims:
            fdef = fields.get(dim.key)
            if fdef is None or dim.bucket:
                continue
            ftype = type_of(fdef)
            wanted = {row[dim.key] for row in rows if row.get(dim.key) is not None}
            if ftype.has_options and not ftype.json_list:
                texts[dim.key] = {
                    o.id: o.label.get(locale) for o in fdef.options or () if o.id in wanted
                }
            elif ftype.references == "user":
                from .users import UserService

                texts[dim.key] = UserService(self.db).names(int(v) for v in wanted)
            elif ftype.references == "record" and fdef.target:
                texts[dim.key] = self.titles(user, fdef.target, wanted)
        for row in rows:
            row["labels"] = {
                key: found[row[key]]
                for key, found in texts.items()
                if row.get(key) is not None and row[key] in found
            }


def _currency_name(name: str, fdef: FieldDef) -> str:
    head, dot, _ = name.rpartition(".")
    return f"{head}{dot}{currency_key(fdef)}"


def _measure_value(measure: Measure, value: Any) -> Any:
    if measure.fn in ("count", "count_distinct"):
        return int(value or 0)
    if measure.fn == "avg" and value is not None:
        return float(value)
    if isinstance(value, float) and measure.fn == "sum":
        return Decimal(str(value))
    return value


# --------------------------------------------------------------------------- buckets


def _postgres_bucket(local: Any, bucket: str) -> Any:
    if bucket == "week":
        return func.to_char(func.date_trunc("week", local), "YYYY-MM-DD", type_=String)
    pattern = {"day": "YYYY-MM-DD", "month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}
    return func.to_char(local, pattern[bucket], type_=String)


def _sqlite_bucket(local: Any, bucket: str) -> Any:
    if bucket == "day":
        return func.date(local, type_=String)
    if bucket == "week":  # the Monday on or before: to the next Sunday, back six days
        return func.date(local, "weekday 0", "-6 days", type_=String)
    if bucket == "month":
        return func.strftime("%Y-%m", local, type_=String)
    if bucket == "year":
        return func.strftime("%Y", local, type_=String)
    month = cast(func.strftime("%m", local, type_=String), Integer)
    quarter = cast((month + 2) // 3, String)
    return func.strftime("%Y-Q", local, type_=String).concat(quarter)


def _sqlite_local(expr: Any, zone: tzinfo) -> Any:
    """``expr`` (a UTC date-time) as the app zone's wall-clock time, in SQLite."""
    periods = _offset_periods(_zone_name(zone))
    if len(periods) == 1:
        return func.datetime(expr, _modifier(periods[0][1]))
    # Newest first: most records are recent, so most rows stop at the first WHEN.
    whens = [(expr >= start, _modifier(offset)) for start, offset in reversed(periods[1:])]
    return func.datetime(expr, case(*whens, else_=_modifier(periods[0][1])))


def _modifier(seconds: int) -> str:
    return f"{seconds:+d} seconds"


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone) or "UTC"


@lru_cache(maxsize=32)
def _offset_periods(name: str) -> tuple[tuple[datetime, int], ...]:
    """(UTC start, UTC offset in seconds) of each period of zone ``name`` from 2000 to
    2100 (the first starts at 2000-01-01); one period for a zone that never changes."""
    zone = ZoneInfo(name) if name != "UTC" else UTC
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end = datetime(2100, 1, 1, tzinfo=UTC)

    def offset(at: datetime) -> int:
        found = at.astimezone(zone).utcoffset()
        return int(found.total_seconds()) if found is not None else 0

    periods = [(start.replace(tzinfo=None), offset(start))]
    step = timedelta(days=7)
    at = start
    while at < end:
        nxt = at + step
        if offset(nxt) != periods[-1][1]:
            low, high = at, nxt  # find the change to the second
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if offset(mid) == periods[-1][1]:
                    low = mid
                else:
                    high = mid
            periods.append((high.replace(tzinfo=None, microsecond=0), offset(high)))
        at = nxt
    return tuple(periods)


__all__ = [
    "BUCKETS",
    "MEASURES",
    "AggregateResult",
    "Dimension",
    "Measure",
    "RecordAggregates",
    "parse_dimension",
    "parse_measure",
]
