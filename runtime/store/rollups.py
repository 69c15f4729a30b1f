"""Rollup fields kept current: one aggregate UPDATE of the parents a child write touches,
in the child's transaction, and the rebuild of every rollup from scratch.

A rollup (``FieldDef.rollup``) lives on the parent; what changes it is a write of the
child. The rollups of one parent fed through one link of one child form a group, and a
group is recomputed by ONE statement however many rollups it holds::

    UPDATE ent_account SET
      open_pipeline = (SELECT coalesce(sum(o.amount), 0) FROM ent_opportunity o
                       WHERE o.account = ent_account.id AND o.archived_at IS NULL
                         AND <stage kind is open> AND o.amount_currency = 'CNY'),
      won_amount    = (SELECT ... <stage kind is won> ...)
    WHERE ent_account.id IN (:old_parent, :new_parent)

The filter is compiled by the repository's own filter translation (``_filter``, with
the features' named clauses such as ``stage_kind``) on the child's table, then moved
onto an alias of it, so a rollup over the parent's own entity works too.

A recompute is not a user's edit of the parent: it writes neither field history nor
an event, and leaves ``row_version`` and ``updated_at`` alone (an open edit form of the
account does not turn stale because a deal moved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.sql.util import ClauseAdapter

from runtime.definition.model import AppModel, FieldDef
from runtime.fieldtypes import CoerceContext, currency_key, type_of

from .permissions import SYSTEM_GRANT
from .write_steps import OPERATIONS, Write, WriteStep

ROLLUP_STEP = "rollups"
REBUILD_BATCH = 1000  # parent records recomputed per statement by a rebuild


@dataclass(frozen=True)
class RollupGroup:
    """The rollups of ``parent`` fed by the ``link`` field of ``child``.

    ``reads``: the child's record keys whose change may change one of them (the link,
    the sources, the fields the filters read); None when a filter names a clause that
    does not say what it reads (then every update recomputes)."""

    child: str
    link: str
    parent: str
    fields: tuple[FieldDef, ...]
    reads: frozenset[str] | None


def rollup_fields(model: AppModel) -> list[tuple[str, FieldDef]]:
    """Every compiled rollup of the model as (parent entity id, field)."""
    return [
        (entity.id, f)
        for entity in model.entities.values()
        for f in entity.fields
        if type_of(f).aggregates_links and f.rollup is not None
    ]


def rollup_groups(model: AppModel, clauses: Any = None) -> dict[str, tuple[RollupGroup, ...]]:
    """Child entity id -> the groups its writes recompute. ``clauses(entity_id)`` gives
    the named clauses offered on an entity (to learn what a clause filter reads)."""
    grouped: dict[tuple[str, str, str], list[FieldDef]] = {}
    for parent, field in rollup_fields(model):
        spec = field.rollup
        grouped.setdefault((spec.entity, spec.link, parent), []).append(field)
    found: dict[str, list[RollupGroup]] = {}
    for (child, link, parent), fields in grouped.items():
        reads = _reads(model.entity(child), link, fields, clauses(child) if clauses else {})
        found.setdefault(child, []).append(RollupGroup(child, link, parent, tuple(fields), reads))
    return {child: tuple(groups) for child, groups in found.items()}


def _reads(
    child: Any, link: str, fields: Iterable[FieldDef], clauses: Mapping[str, Any]
) -> frozenset[str] | None:
    keys = {link}
    for field in fields:
        spec = field.rollup
        if spec.field:
            source = child.field(spec.field)
            keys.update(type_of(source).keys(source))
        for item in spec.where:
            if child.has_field(item.field):
                target = child.field(item.field)
                keys.update(type_of(target).keys(target))
            elif item.field in clauses:
                reads = getattr(clauses[item.field], "reads", None)
                if reads is None:
                    return None
                keys.update(reads)
            else:
                keys.add(item.field)  # a system column (owner_id, stage...)
    return frozenset(keys)


def _aggregate(field: FieldDef, source: Any) -> Any:
    spec = field.rollup
    column = source.c[spec.field] if spec.field else None
    if spec.function == "count":
        return func.count(column if column is not None else source.c.id)
    if spec.function == "sum":
        return func.coalesce(func.sum(column), 0)
    return {"avg": func.avg, "min": func.min, "max": func.max}[spec.function](column)


class RollupKeeper:
    """The statements that recompute rollups, built once per repository's database."""

    def __init__(self, repo: Any):
        self.repo = repo
        self.groups = repo.db.memo(
            "rollup_groups",
            lambda: rollup_groups(repo.model, lambda e: repo._clauses(repo.plan(e))),
        )
        self.parents: dict[str, list[FieldDef]] = {}
        for parent, field in rollup_fields(repo.model):
            self.parents.setdefault(parent, []).append(field)

    def value(self, group: RollupGroup, field: FieldDef, parent: Any) -> Any:
        """The scalar subquery of one rollup for the parent row of ``parent``'s table."""
        repo, spec = self.repo, field.rollup
        plan = repo.plan(group.child)
        source = plan.table.alias(f"rollup_{group.child}")
        adapt = ClauseAdapter(source)
        ctx = CoerceContext(default_currency=repo.model.default_currency)
        conditions = [source.c[group.link] == parent.c.id, source.c.archived_at.is_(None)]
        for item in spec.where:
            clause = repo._filter(plan, SYSTEM_GRANT, item.field, item.op, item.value, ctx, None)
            conditions.append(adapt.traverse(clause))
        if spec.currency and spec.field:
            ckey = source.c[currency_key(plan.entity.field(spec.field))]
            conditions.append(or_(ckey == spec.currency, ckey.is_(None)))
        return select(_aggregate(field, source)).where(and_(*conditions)).scalar_subquery()

    def statement(self, group: RollupGroup, fields: tuple[FieldDef, ...] | None = None) -> Any:
        """UPDATE the group's rollups of the parents whose ids are bound as ``ids``."""
        fields = fields or group.fields
        key = ("rollup", group.child, group.link, tuple(f.id for f in fields))

        def build() -> Any:
            parent = self.repo.plan(group.parent).table
            values = {f.id: self.value(group, f, parent) for f in fields}
            where = parent.c.id.in_(bindparam("ids", expanding=True))
            return parent.update().where(where).values(values)

        return self.repo._statement(*key, build=build)

    def range_statement(self, group: RollupGroup, fields: tuple[FieldDef, ...]) -> Any:
        """UPDATE the rollups of the parents with ``lo <= id < hi`` (a rebuild's batch)."""
        key = ("rollup_range", group.child, group.link, tuple(f.id for f in fields))

        def build() -> Any:
            parent = self.repo.plan(group.parent).table
            values = {f.id: self.value(group, f, parent) for f in fields}
            where = and_(parent.c.id >= bindparam("lo"), parent.c.id < bindparam("hi"))
            return parent.update().where(where).values(values)

        return self.repo._statement(*key, build=build)

    # ------------------------------------------------------------------ the write step

    def keep(self, _repo: Any, w: Write) -> None:
        """After the child's row is written: recompute the rollups of the parents it
        was and is linked to (both, when it moved), in the same transaction. A bulk
        create recomputes once, after its last row, for the parents of all its rows."""
        batch = w.batch if w.op == "create" and w.batch else [w]
        if w is not batch[-1]:
            return
        for group in self.groups.get(w.entity.id, ()):
            ids = set().union(*(self._parents(group, each) for each in batch))
            if ids:
                w.conn.execute(self.statement(group), {"ids": sorted(ids)})

    def _parents(self, group: RollupGroup, w: Write) -> set[int]:
        link = group.link
        if w.op == "create":
            found = {(w.saved or {}).get(link)}
        elif w.op == "update":
            if group.reads is not None and not group.reads.intersection(w.changes):
                return set()
            found = {(w.current or {}).get(link), (w.saved or {}).get(link)}
        else:
            found = {(w.current or {}).get(link)}
        return {int(i) for i in found if i is not None}

    def start(self, _repo: Any, w: Write) -> None:
        """Before a parent's row is inserted: nothing links to it yet, so its counts and
        sums are 0 (an average, minimum or maximum of nothing stays empty)."""
        for field in self.parents.get(w.entity.id, ()):
            if field.rollup.function in ("count", "sum"):
                w.item.values[field.id] = type_of(field).coerce(field, 0, w.ctx)

    # ------------------------------------------------------------------ rebuild

    def rebuild(
        self,
        entity_id: str | None = None,
        field_ids: Iterable[str] | None = None,
        batch: int = REBUILD_BATCH,
    ) -> list[tuple[str, str, int]]:
        """Recompute rollups from scratch, ``batch`` parents per statement (one
        transaction each); returns (entity, field, records recomputed) per rollup."""
        wanted = set(field_ids) if field_ids is not None else None
        done: list[tuple[str, str, int]] = []
        for groups in self.groups.values():
            for group in groups:
                if entity_id is not None and group.parent != entity_id:
                    continue
                fields = tuple(f for f in group.fields if wanted is None or f.id in wanted)
                if fields:
                    count = self._rebuild_group(group, fields, batch)
                    done += [(group.parent, f.id, count) for f in fields]
        return done

    def _rebuild_group(self, group: RollupGroup, fields: tuple[FieldDef, ...], batch: int) -> int:
        db = self.repo.db
        table = self.repo.plan(group.parent).table
        with db.engine.connect() as conn:
            low, high = conn.execute(select(func.min(table.c.id), func.max(table.c.id))).one()
        if low is None:
            return 0
        statement = self.range_statement(group, fields)
        count = 0
        for start in range(int(low), int(high) + 1, batch):
            with db.engine.begin() as conn:
                result = conn.execute(statement, {"lo": start, "hi": start + batch})
                count += max(result.rowcount or 0, 0)
        return count


def rollup_steps(model: AppModel) -> list[WriteStep]:
    """The write step that keeps the model's rollups current (none without rollups)."""
    if not rollup_fields(model):
        return []

    def keep(repo: Any, w: Write) -> None:
        repo.rollups.keep(repo, w)

    def start(repo: Any, w: Write) -> None:
        repo.rollups.start(repo, w)

    return [
        WriteStep(f"{ROLLUP_STEP}.start", start, before="write", ops=frozenset({"create"})),
        WriteStep(ROLLUP_STEP, keep, after="write", ops=frozenset(OPERATIONS)),
    ]


__all__ = ["RollupGroup", "RollupKeeper", "rollup_fields", "rollup_groups", "rollup_steps"]
