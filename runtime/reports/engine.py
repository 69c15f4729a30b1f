"""Run one widget for one viewer: its filters and the board's, one grouped query per
part through ``Repository.aggregate`` (row scope and field permissions applied in SQL),
the kind's presentation, the drill-down URLs, and the cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from runtime.relative_dates import is_relative
from runtime.store.principal import Principal

from .spec import dimension_key, measure_key, resolve_path


@dataclass
class ReportContext:
    """What a widget runs with: the repository, the model, the viewer, their language
    and day, and where the results may be cached (``cache``: a ``ResultCache``)."""

    repo: Any
    model: Any
    user: Principal
    locale: str = "en"
    today: date | None = None
    cache: Any = None
    list_url: str = "/e/{entity}"
    queries: list[str] = field(default_factory=list)  # the entities read (cache keys)
    versions: dict[str, int] = field(default_factory=dict)  # counters read this request

    def versions_of(self, entities: Sequence[str]) -> dict[str, int]:
        """The change counters of ``entities``, read once per context (before any query
        runs, so a write committed meanwhile only makes the next lookup miss)."""
        missing = [e for e in entities if e not in self.versions]
        if missing:
            from .cache import read_versions

            self.versions.update(read_versions(self.repo.db.engine, missing))
        return {e: self.versions[e] for e in sorted(set(entities))}

    def label(self, value: Any) -> str:
        if isinstance(value, Mapping):
            return str(value.get(self.locale) or value.get("en") or next(iter(value.values()), ""))
        return "" if value is None else str(value)

    def aggregate(self, entity: str, filters, dimensions=(), measures=(), sort=(), limit=None):
        self.queries.append(entity)
        return self.repo.aggregate(
            self.user,
            entity,
            filters=[as_condition(f) for f in filters],
            group_by=[{"field": d["field"], "bucket": d.get("bucket")} for d in dimensions],
            measures=[{"fn": m["fn"], "field": m.get("field")} for m in measures] or ["count"],
            sort=list(sort),
            limit=limit or 1000,
        )

    def drill(self, entity: str, filters: Sequence[Mapping[str, Any]]) -> str:
        """The list of ``entity`` filtered exactly as the datum was (list URL syntax)."""
        pairs = [pair for f in filters for pair in url_pairs(f)]
        base = self.list_url.format(entity=entity)
        return f"{base}?{urlencode(pairs)}" if pairs else base


def as_condition(item: Mapping[str, Any]) -> tuple[str, str, Any]:
    return (item["field"], item.get("op", "eq"), item.get("value"))


def url_pairs(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One filter as list query parameters: ``close_date=this_quarter``,
    ``amount__between=1,5``, ``region__isnull=true``."""
    op = item.get("op", "eq")
    value = item.get("value")
    name = item["field"] if op == "eq" else f"{item['field']}__{op}"
    if isinstance(value, (list, tuple)):
        return [(name, ",".join(str(v) for v in value))]
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    return [(name, "" if value is None else str(value))]


def datum_filters(widget: Mapping[str, Any], dims: Sequence[Mapping], row: Mapping) -> list[dict]:
    """The conditions that select one group's records: each dimension's value (a date
    bucket as its range, an empty value as ``isnull``)."""
    found = []
    for dim in dims:
        value = row.get(dimension_key(dim))
        if value is None:
            found.append({"field": dim["field"], "op": "isnull", "value": True})
        elif dim.get("bucket"):
            start, end = bucket_range(dim["bucket"], str(value))
            found.append({"field": dim["field"], "op": "between", "value": [start, end]})
        else:
            found.append({"field": dim["field"], "op": "eq", "value": value})
    return found


def bucket_range(bucket: str, key: str) -> tuple[str, str]:
    """A bucket key's first and last day (inclusive), ISO strings."""
    from datetime import timedelta

    if bucket == "day":
        return key, key
    if bucket == "week":
        start = date.fromisoformat(key)
        return key, (start + timedelta(days=6)).isoformat()
    if bucket == "year":
        return f"{key}-01-01", f"{key}-12-31"
    if bucket == "quarter":
        year, quarter = int(key[:4]), int(key[-1])
        first = date(year, 3 * quarter - 2, 1)
    else:
        year, month = int(key[:4]), int(key[5:7])
        first = date(year, month, 1)
    months = 3 if bucket == "quarter" else 1
    index = first.year * 12 + first.month - 1 + months
    after = date(index // 12, index % 12 + 1, 1)
    return first.isoformat(), (after - timedelta(days=1)).isoformat()


def board_conditions(
    model: Any, entity_id: str, board_filters: Sequence[Mapping], values: Mapping[str, str]
) -> list[dict]:
    """The board's filters that apply to a widget of ``entity_id`` (those whose field
    the entity has), with the values the viewer chose: a relative date or a single
    value is ``eq``, ``a,b`` on a date is ``between``, other lists ``in``."""
    entity = model.entities[entity_id]
    found = []
    for spec in board_filters:
        raw = values.get(spec["id"], spec.get("default"))
        if raw in (None, ""):
            continue
        fdef = resolve_path(model.entities, entity, spec["field"])
        if fdef is None:
            continue
        raw = str(raw)
        if "," in raw and not is_relative(raw):
            op = "between" if spec.get("kind") == "period" else "in"
            found.append({"field": spec["field"], "op": op, "value": raw.split(",")})
        else:
            found.append({"field": spec["field"], "op": "eq", "value": raw})
    return found


def run_widget(
    ctx: ReportContext,
    widget: Mapping[str, Any],
    kinds: Mapping[str, Any],
    extra_filters: Sequence[Mapping] = (),
) -> dict[str, Any]:
    """The widget's result for ``ctx.user`` (from the cache when nothing it reads has
    been written since and the viewer's scope is the same)."""
    kind = kinds[widget["kind"]]
    filters = [*(widget.get("filters") or []), *extra_filters]
    key = None
    if ctx.cache is not None:
        key = cache_key(ctx, widget, filters)
        versions = ctx.versions_of(kind.entities(widget))
        hit = ctx.cache.get(key, versions)
        if hit is not None:
            return {**hit, "cached": True}
    result = kind.run(ctx, widget, filters)
    result = {
        "id": widget.get("id", ""),
        "kind": widget["kind"],
        "title": ctx.label(widget.get("title")),
        **result,
        "cached": False,
    }
    if key is not None:
        ctx.cache.put(key, versions, result)
    return result


def scope_identity(user: Principal) -> tuple[Any, ...]:
    """Everything the store's row scope and field permissions depend on: two viewers
    with the same identity see the same rows; anything else never shares a result."""
    return (
        user.id,
        user.is_system,
        tuple(sorted(user.roles)),
        user.team_id,
        tuple(sorted(user.managed_team_ids)),
        user.session_version,
    )


def cache_key(ctx: ReportContext, widget: Mapping, filters: Sequence[Mapping]) -> str:
    text = json.dumps(
        {
            "w": widget,
            "f": list(filters),
            "who": scope_identity(ctx.user),
            "lang": ctx.locale,
            "day": str(ctx.today),
            "url": ctx.list_url,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = [
    "ReportContext",
    "board_conditions",
    "bucket_range",
    "datum_filters",
    "measure_key",
    "run_widget",
    "url_pairs",
]
