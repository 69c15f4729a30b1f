"""Turn a list query string (filters, sort, paging, search) into repository arguments.

Shared by the REST API and the HTML list view, so it knows nothing of JSON or
templates: it reads a multi-valued mapping of strings and returns a ``ListQuery`` or
raises ``QueryError`` naming the parameter at fault.

Syntax (one parameter per condition, all conditions ANDed)::

    field=value            eq           field__ne=value       not equal
    field__gt= __gte= __lt= __lte=      comparisons (numbers, dates, date-times)
    field__between=a,b     inclusive range
    field__in=a,b,c        one of       field__contains=text  substring / has option
    field__isnull=true     is empty (false: is not empty)
    sort=-amount,name      "-" = descending; at most MAX_SORT_KEYS keys
    after=<cursor>         the page after a row (``next_cursor`` of a list response)
    before=<cursor>        the page before a row (``prev_cursor``); keyset paging: a
                           deep page costs what page 1 costs
    page=1                 1-based OFFSET paging (deprecated, bounded by MAX_PAGE; not
                           with a cursor)
    page_size=50           1..MAX_PAGE_SIZE; more is an error
    q=text                 full-text search over the entity's search fields
    term=value             a feature's named term (``QueryTerm``, given as ``terms=``),
                           e.g. pipelines' stage_kind=open (also __in=won,lost; __ne)
    owner_id=me            the signed-in user; owner_id=my_team: the members of their
                           teams (any user field; also in __in lists and with __ne)
    match=any              the conditions above hold if ANY of them does (default: all)
    where=<JSON>           nested and/or groups, ANDed with the rest: a condition
                           {"field": "amount", "op": "gte", "value": 1000} or a group
                           {"any": [...]}, {"all": [...]}, {"not": ...}; a list is
                           {"all": list}. At most MAX_FILTER_DEPTH levels of groups and
                           MAX_WHERE_CONDITIONS conditions; values as in the parameters
                           (relative dates, me / my_team, terms such as stage_kind)

Which operators a field accepts comes from its type (``FieldType.operators``); values
are coerced by the type too, so ``amount__gte=1,000`` and ``close_date=2024/5/1`` work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from runtime.definition.model import (
    BASE_SYSTEM_FIELDS,
    FILTER_GROUP_KINDS,
    MAX_FILTER_DEPTH,
    Entity,
    FieldDef,
    FilterGroup,
    ViewFilter,
)
from runtime.errors import FieldMessage
from runtime.fieldtypes import BIGINT_MAX, CoerceContext, FieldInvalid, type_of
from runtime.relative_dates import RELATIVE_OPERATORS, is_relative
from runtime.store.keyset import Position, normalise_sort
from runtime.store.list_terms import USER_TOKEN_OPERATORS, USER_TOKENS

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 100_000  # keeps OFFSET far from any integer limit
MAX_SORT_KEYS = 5
MAX_IN_VALUES = 100
MAX_VALUE_LENGTH = 1000
MAX_SEARCH_LENGTH = 200
MAX_WHERE_LENGTH = 20_000
MAX_WHERE_CONDITIONS = 50
MATCH_WORDS = ("all", "any")

# A link path (account.industry, account.owner.team): ids joined by dots.
PATH_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){1,7}$")
RESERVED_PARAMS = ("sort", "page", "page_size", "q", "after", "before", "where", "match")
CURSOR_PARAMS = ("after", "before")

# Query suffix -> repository operator. "eq" has no suffix (``field=value``).
SUFFIXES: Mapping[str, str] = MappingProxyType(
    {
        "ne": "ne",
        "gt": "gt",
        "gte": "gte",
        "lt": "lt",
        "lte": "lte",
        "between": "between",
        "in": "in",
        "contains": "contains",
        "isnull": "isnull",
    }
)
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


# row_version is a 32-bit column: a larger filter value overflows on PostgreSQL.
INT32_MAX = 2**31 - 1
_INT32_SYSTEM_FIELDS = frozenset({"row_version"})


def _limit(field: FieldDef) -> int:
    """The largest magnitude a filter value may have to fit the field's column."""
    return INT32_MAX if field.id in _INT32_SYSTEM_FIELDS and field.readonly else BIGINT_MAX


def system_fields(entity: Entity) -> tuple[FieldDef, ...]:
    """The system columns of ``entity``'s records, as read-only field definitions: the
    base ones, then those features add (``Entity.system_fields``, e.g. pipelines' stage)."""
    return BASE_SYSTEM_FIELDS + tuple(replace(f, readonly=True) for f in entity.system_fields)


def filter_operators(field: FieldDef) -> tuple[str, ...]:
    """Operators usable on ``field`` in a list query (empty: not filterable)."""
    ftype = type_of(field)
    # A lookup has no column but filters as the field it shows (through its link).
    operators = ftype.operators if ftype.is_stored(field) else ftype.filter_operators(field)
    return tuple(op for op in operators if op == "eq" or op in SUFFIXES.values())


def filterable_fields(entity: Entity) -> dict[str, FieldDef]:
    """Field id -> definition of every field a list query may filter on, system first."""
    found = {f.id: f for f in system_fields(entity)}
    for f in entity.fields:
        if filter_operators(f):
            found[f.id] = f
    return found


def sortable_fields(entity: Entity) -> tuple[str, ...]:
    found = [f.id for f in system_fields(entity)]
    found += [f.id for f in entity.fields if type_of(f).sort_column(f)]
    return tuple(found)


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[tuple[str, str, Any], ...] = ()
    sort: tuple[str, ...] = ()
    search: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    after: Position | None = None  # keyset paging (a decoded, checked cursor)
    before: Position | None = None
    match: str = "all"  # how ``filters`` join: "all" (AND) or "any" (OR)
    where: FilterGroup | None = None  # ``where=``: nested groups, ANDed with the rest

    def conditions(self) -> list[Any]:
        """The repository's ``filters``: the parameters' conditions (one ``any`` group
        when ``match=any``) and the ``where`` group."""
        found: list[Any] = list(self.filters)
        if self.match == "any" and len(found) > 1:
            found = [FilterGroup("any", tuple(ViewFilter(*f) for f in self.filters))]
        if self.where is not None:
            found.append(self.where)
        return found


class QueryError(Exception):
    """A bad query parameter: ``param`` names it, ``message`` says what is wrong (in
    English, for the API); ``text(gettext)`` says it in the reader's language (the list
    screen's notice). ``template`` is the message id, ``variables`` fill its %(name)s."""

    code = "bad_query"

    def __init__(self, param: str, template: str, **variables: Any):
        self.param = param
        self.template = template
        self.variables = variables
        self.message = template % variables if variables else template
        super().__init__(f"{param}: {self.message}")

    def text(self, gettext: Any) -> str:
        """The message translated by ``gettext(message, **variables)``."""
        return gettext(self.template, **self.variables)


class WhereError(QueryError):
    """A mistake inside ``where=``: the message names the condition's field."""

    def __init__(self, field: str, inner: QueryError):
        self.field = field
        self.inner = inner
        super().__init__(inner.param, inner.template, **inner.variables)
        self.param = "where"
        self.message = f"{field}: {inner.message}"
        Exception.__init__(self, f"where: {self.message}")

    def text(self, gettext: Any) -> str:
        return f"{self.field}: {self.inner.text(gettext)}"


def _text_of(message: FieldMessage, locale: str) -> str:
    return message.text(locale)


class _Parser:
    def __init__(
        self,
        entity: Entity,
        ctx: CoerceContext,
        readable: Container[str] | None,
        max_page_size: int,
        terms: Mapping[str, Any] | None = None,
    ):
        self.entity = entity
        self.terms = terms or {}  # name -> runtime.features.screens.QueryTerm
        self.ctx = ctx
        self.fields = {
            fid: f
            for fid, f in filterable_fields(entity).items()
            if readable is None or fid in readable
        }
        self.sortable = {
            fid for fid in sortable_fields(entity) if readable is None or fid in readable
        }
        self.max_page_size = max_page_size
        self.where_count = 0  # conditions read from ``where=`` so far

    # -- conditions

    def split(self, param: str) -> tuple[FieldDef, str]:
        if param in self.fields:
            field, op = self.fields[param], "eq"
        else:
            name, sep, suffix = param.rpartition("__")
            if not sep or name not in self.fields:
                raise QueryError(param, "unknown field or query parameter")
            if suffix not in SUFFIXES:
                raise QueryError(param, "unknown operator '%(suffix)s'", suffix=suffix)
            field, op = self.fields[name], SUFFIXES[suffix]
        if op not in filter_operators(field):
            allowed = ", ".join(filter_operators(field))
            raise QueryError(
                param, "operator '%(op)s' does not apply to this field (%(allowed)s)",
                op=op, allowed=allowed,
            )  # fmt: skip
        return field, op

    def term(self, param: str, raw: str) -> tuple[str, str, Any]:
        """A feature's named term (``QueryTerm``): it reads its own operators and values."""
        name, _, suffix = param.partition("__")
        self.check_text(param, raw)
        try:
            return self.terms[name].parse(param, suffix, raw)
        except ValueError as exc:
            raise QueryError(param, str(exc)) from None

    def path_condition(self, param: str, raw: str) -> tuple[str, str, Any]:
        """A filter through a link path (``account.industry=manufacturing``): the
        repository walks it for the reader, checks every hop and coerces the value by
        the field at the end (an unreadable hop is refused there as an unknown field)."""
        name, sep, suffix = param.rpartition("__")
        if not sep:
            name, suffix = param, ""
        if not PATH_RE.match(name):
            raise QueryError(param, "unknown field or query parameter")
        if suffix and suffix not in SUFFIXES:
            raise QueryError(param, "unknown operator '%(suffix)s'", suffix=suffix)
        op = SUFFIXES[suffix] if suffix else "eq"
        self.check_text(param, raw)
        if op == "isnull":
            word = raw.strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise QueryError(param, "expected true or false")
            return name, op, word in TRUE_WORDS
        if op in ("in", "between"):
            parts = [part.strip() for part in raw.split(",")]
            if op == "between" and len(parts) != 2:
                raise QueryError(param, "expected two values: low,high")
            if len(parts) > MAX_IN_VALUES:
                raise QueryError(param, "at most %(n)s values", n=MAX_IN_VALUES)
            return name, op, tuple(parts) if op == "between" else parts
        if not raw.strip():
            raise QueryError(param, "expected a value (or use %(field)s__isnull=true)", field=name)
        return name, op, raw.strip()

    def condition(self, param: str, raw: str) -> tuple[str, str, Any]:
        name = param.partition("__")[0]
        if "." in name:
            return self.path_condition(param, raw)
        if name in self.terms and name not in self.fields:
            return self.term(param, raw)
        field, op = self.split(param)
        self.check_text(param, raw)
        if op == "isnull":
            word = raw.strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise QueryError(param, "expected true or false")
            return field.id, op, word in TRUE_WORDS
        if op in ("in", "between"):
            parts = raw.split(",")
            if op == "between" and len(parts) != 2:
                raise QueryError(param, "expected two values: low,high")
            if len(parts) > MAX_IN_VALUES:
                raise QueryError(param, "at most %(n)s values", n=MAX_IN_VALUES)
            values = [self.value(param, field, op, part) for part in parts]
            return field.id, op, tuple(values) if op == "between" else values
        return field.id, op, self.value(param, field, op, raw)

    def value(self, param: str, field: FieldDef, op: str, raw: str) -> Any:
        ftype = type_of(field)
        if ftype.references == "user" and op in USER_TOKEN_OPERATORS and raw.strip() in USER_TOKENS:
            return raw.strip()  # me / my_team: the repository resolves it for the reader
        if ftype.temporal and op in RELATIVE_OPERATORS and is_relative(raw):
            return raw.strip().lower()  # this_quarter, last_30_days: the repository's calendar
        if op == "contains" and ftype.has_options:
            # "has this option": one option id, checked like a single select.
            value = raw.strip()
            if field.option(value) is None:
                raise QueryError(
                    param, FieldMessage("unknown_option", {"value": value}).text(self.ctx.locale)
                )
            return value
        if op == "contains":
            value = " ".join(raw.split())
            if not value:
                raise QueryError(param, "expected a value")
            return value
        try:
            value = type_of(field).coerce(field, raw, self.ctx)
        except FieldInvalid as exc:
            raise QueryError(param, _text_of(exc.message, self.ctx.locale)) from None
        except (ValueError, TypeError, ArithmeticError):
            raise QueryError(param, "invalid value") from None
        if value is None or isinstance(value, list):
            # Empty input, or a multi-value type: neither is a single comparable value.
            raise QueryError(
                param, "expected a value (or use %(field)s__isnull=true)", field=field.id
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _limit(field):
            raise QueryError(param, FieldMessage("number_too_large").text(self.ctx.locale))
        return value

    @staticmethod
    def check_text(param: str, raw: str) -> None:
        if "\x00" in raw:
            raise QueryError(param, "contains a null character")
        if len(raw) > MAX_VALUE_LENGTH:
            raise QueryError(param, "longer than %(n)s characters", n=MAX_VALUE_LENGTH)

    # -- where=: nested groups

    def where(self, raw: str) -> FilterGroup:
        if "\x00" in raw:
            raise QueryError("where", "contains a null character")
        if len(raw) > MAX_WHERE_LENGTH:
            raise QueryError("where", "longer than %(n)s characters", n=MAX_WHERE_LENGTH)
        try:
            data = json.loads(raw)
        except ValueError:
            raise QueryError("where", "expected JSON: a condition or a group") from None
        self.where_count = 0
        if isinstance(data, list):
            data = {"all": data}
        found = self.where_item(data, 1)
        return found if isinstance(found, FilterGroup) else FilterGroup("all", (found,))

    def where_item(self, data: Any, depth: int) -> ViewFilter | FilterGroup:
        if not isinstance(data, dict):
            raise QueryError("where", "expected a condition or a group, not %(what)s",
                             what=type(data).__name__)  # fmt: skip
        if "field" in data:
            return self.where_leaf(data)
        kinds = [k for k in data if k in FILTER_GROUP_KINDS]
        if len(kinds) != 1 or len(data) != 1:
            raise QueryError(
                "where", "a group has exactly one key: any, all or not (a condition: field)"
            )
        if depth > MAX_FILTER_DEPTH:
            raise QueryError("where", "groups nest at most %(n)s levels deep", n=MAX_FILTER_DEPTH)
        kind = kinds[0]
        items = data[kind]
        if kind == "not" and isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise QueryError("where", "%(kind)s takes a list of conditions", kind=kind)
        if not items:
            raise QueryError("where", "a group needs at least one condition")
        return FilterGroup(kind, tuple(self.where_item(item, depth + 1) for item in items))

    def where_leaf(self, data: dict) -> ViewFilter:
        self.where_count += 1
        if self.where_count > MAX_WHERE_CONDITIONS:
            raise QueryError("where", "at most %(n)s conditions", n=MAX_WHERE_CONDITIONS)
        name, op = data.get("field"), data.get("op", "eq")
        extra = set(data) - {"field", "op", "value"}
        if not isinstance(name, str) or not isinstance(op, str) or extra:
            raise QueryError("where", "a condition is {field, op, value}")
        value = data.get("value")
        try:
            if op not in ("eq", *SUFFIXES.values()):
                raise QueryError("where", "unknown operator '%(suffix)s'", suffix=op)
            param = name if op == "eq" else f"{name}__{op}"
            if name in self.terms and name not in self.fields:
                return ViewFilter(*self.term(param, _raw_of(value, joined=True)))
            if name not in self.fields:
                raise QueryError("where", "unknown field or query parameter")
            field, op = self.split(param)
            return ViewFilter(*self.where_value(param, field, op, value))
        except WhereError:
            raise
        except QueryError as exc:
            raise WhereError(name, exc) from None

    def where_value(self, param: str, field: FieldDef, op: str, value: Any) -> tuple:
        if op == "isnull":
            return self.condition(param, _raw_of(value))
        if op in ("in", "between"):
            if not isinstance(value, list):
                raise QueryError(param, "expected a list of values")
            if op == "between" and len(value) != 2:
                raise QueryError(param, "expected two values: low,high")
            if len(value) > MAX_IN_VALUES:
                raise QueryError(param, "at most %(n)s values", n=MAX_IN_VALUES)
            values = [
                None if op == "between" and v is None else self.value(param, field, op, _raw_of(v))
                for v in value
            ]
            return field.id, op, tuple(values) if op == "between" else values
        raw = _raw_of(value)
        self.check_text(param, raw)
        return field.id, op, self.value(param, field, op, raw)

    # -- the rest

    def sort(self, raw: str) -> tuple[str, ...]:
        self.check_text("sort", raw)
        keys: list[str] = []
        seen: set[str] = set()
        for part in raw.split(","):
            name = part.strip()
            bare = name[1:] if name.startswith("-") else name
            # A link path is checked hop by hop by the repository, for the reader.
            if bare not in self.sortable and not PATH_RE.match(bare):
                raise QueryError("sort", "cannot sort by '%(field)s'", field=bare)
            if bare in seen:
                raise QueryError("sort", "'%(field)s' is named twice", field=bare)
            seen.add(bare)
            keys.append(name)
        if len(keys) > MAX_SORT_KEYS:
            raise QueryError("sort", "at most %(n)s sort keys", n=MAX_SORT_KEYS)
        return tuple(keys)

    @staticmethod
    def integer(param: str, raw: str, low: int, high: int) -> int:
        text = raw.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise QueryError(
                param, "expected a whole number from %(low)s to %(high)s", low=low, high=high
            )
        number = int(text)
        if not low <= number <= high:
            raise QueryError(
                param, "expected a whole number from %(low)s to %(high)s", low=low, high=high
            )
        return number

    def search(self, raw: str) -> str | None:
        self.check_text("q", raw)
        text = " ".join(raw.split())
        if len(text) > MAX_SEARCH_LENGTH:
            raise QueryError("q", "longer than %(n)s characters", n=MAX_SEARCH_LENGTH)
        return text or None


def parse_list_query(
    entity: Entity,
    args: Iterable[tuple[str, str]] | Mapping[str, str],
    *,
    ctx: CoerceContext | None = None,
    readable: Container[str] | None = None,
    default_page_size: int = DEFAULT_PAGE_SIZE,
    max_page_size: int = MAX_PAGE_SIZE,
    ignore: Container[str] = (),
    cursors: Any = None,
    default_sort: Sequence[str] = (),
    terms: Mapping[str, Any] | None = None,
) -> ListQuery:
    """Read ``args`` (pairs, or a werkzeug MultiDict) into a ``ListQuery``.

    ``readable`` limits filters and sort keys to the fields the user may read, so a
    hidden field cannot be probed through a filter; a hidden field looks unknown.
    ``ignore`` names parameters the caller handles itself (the HTML view's ``view=``).
    ``cursors`` (a ``runtime.web.cursors.CursorCodec``) decodes ``after`` / ``before``;
    a cursor must have been made for this list's sort (``sort``, else ``default_sort``).
    ``terms`` are the features' named terms (``runtime.features.screens.QueryTerm``).
    """
    parser = _Parser(entity, ctx or CoerceContext(), readable, max_page_size, terms)
    pairs = _pairs(args)
    filters: list[tuple[str, str, Any]] = []
    single: dict[str, str] = {}
    for param, raw in pairs:
        if param in ignore:
            continue
        if param in RESERVED_PARAMS:
            if param in single:
                raise QueryError(param, "given more than once")
            single[param] = raw
            continue
        filters.append(parser.condition(param, raw))
    page_size = default_page_size
    if "page_size" in single:
        page_size = parser.integer("page_size", single["page_size"], 1, max_page_size)
    sort = parser.sort(single["sort"]) if single.get("sort") else ()
    positions = _cursors(entity, single, cursors, sort or tuple(default_sort))
    match = (single.get("match") or "all").strip().lower()
    if match not in MATCH_WORDS:
        raise QueryError("match", "expected all or any")
    where = parser.where(single["where"]) if (single.get("where") or "").strip() else None
    return ListQuery(
        match=match,
        where=where,
        filters=tuple(filters),
        sort=sort,
        search=parser.search(single["q"]) if "q" in single else None,
        page=parser.integer("page", single["page"], 1, MAX_PAGE) if "page" in single else 1,
        page_size=page_size,
        **positions,
    )


AGGREGATE_PARAMS = ("group", "measure", "sort", "limit")
AGGREGATE_REFUSED = ("page", "page_size", "after", "before")  # a list's paging: no meaning here
MAX_AGGREGATE_LIMIT = 10_000
MAX_GROUPS = 4
MAX_MEASURES = 10


@dataclass(frozen=True)
class AggregateQuery:
    """``GET /api/v1/<entity>/aggregate``'s own parameters (the filters are a list's):
    ``group=close_date:month`` (repeated), ``measure=sum:amount`` (repeated; default
    ``count``), ``sort=-count,region`` (keys of groups and measures), ``limit=``."""

    group_by: tuple[str, ...] = ()
    measures: tuple[str, ...] = ("count",)
    sort: tuple[str, ...] = ()
    limit: int = 1000


def parse_aggregate_query(args: Any) -> AggregateQuery:
    """The aggregate parameters of ``args``; their fields are checked by the repository."""
    pairs = _pairs(args)
    for key, _value in pairs:
        if key in AGGREGATE_REFUSED:
            raise QueryError(key, "an aggregate returns all its groups at once: use limit")
    groups = [v.strip() for k, v in pairs if k == "group" and v.strip()]
    measures = [v.strip() for k, v in pairs if k == "measure" and v.strip()] or ["count"]
    for param, values, most in (("group", groups, MAX_GROUPS), ("measure", measures, MAX_MEASURES)):
        if len(values) > most:
            raise QueryError(param, "at most %(n)s values", n=most)
        for value in values:
            _Parser.check_text(param, value)
    single = {k: v for k, v in pairs if k in ("sort", "limit")}
    for key in ("sort", "limit"):
        if sum(1 for k, _ in pairs if k == key) > 1:
            raise QueryError(key, "given more than once")
    sort = tuple(p.strip() for p in (single.get("sort") or "").split(",") if p.strip())
    limit = 1000
    if "limit" in single:
        limit = _Parser.integer("limit", single["limit"], 1, MAX_AGGREGATE_LIMIT)
    return AggregateQuery(tuple(groups), tuple(measures), sort, limit)


def _raw_of(value: Any, *, joined: bool = False) -> str:
    """A JSON value of ``where=`` as the text a query parameter would carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list) and joined:
        return ",".join(_raw_of(v) for v in value)
    if isinstance(value, int | float | str):
        return str(value)
    raise QueryError("where", "expected a single value")


def _cursors(
    entity: Entity, single: Mapping[str, str], cursors: Any, sort: Sequence[str]
) -> dict[str, Position]:
    """``after`` / ``before`` decoded and checked against the list's sort."""
    given = [p for p in CURSOR_PARAMS if p in single]
    if not given:
        return {}
    if len(given) > 1:
        raise QueryError("before", "give after or before, not both")
    param = given[0]
    if "page" in single:
        raise QueryError("page", "give page or %(cursor)s, not both", cursor=param)
    if cursors is None:
        raise QueryError(param, "cursors are not accepted here")
    position = cursors.decode(param, single[param], entity.id)
    if position.sort != normalise_sort(sort):
        raise QueryError(
            param, "was made for another sort of this list; start again from the first page"
        )
    return {param: position}


def _pairs(args: Any) -> list[tuple[str, str]]:
    items: Callable[..., Any] | None = getattr(args, "items", None)
    if items is not None:
        try:
            return [(str(k), str(v)) for k, v in items(multi=True)]
        except TypeError:
            return [(str(k), str(v)) for k, v in items()]
    return [(str(k), str(v)) for k, v in args]


__all__ = [
    "AGGREGATE_PARAMS",
    "AggregateQuery",
    "BASE_SYSTEM_FIELDS",
    "CURSOR_PARAMS",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "ListQuery",
    "MAX_WHERE_CONDITIONS",
    "QueryError",
    "WhereError",
    "SUFFIXES",
    "filter_operators",
    "filterable_fields",
    "parse_aggregate_query",
    "parse_list_query",
    "sortable_fields",
    "system_fields",
]
