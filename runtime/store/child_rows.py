"""Repository child rows: a child table's rows loaded with their records, coerced from
what a write sends, and synced (update kept ids, insert new, delete missing)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from runtime.definition.model import FieldDef
from runtime.fieldtypes import CoerceContext, FieldInvalid, type_of

from .plan import EntityPlan
from .principal import Principal
from .repository_base import Errors, RepositoryBase, _add


class ChildRows(RepositoryBase):
    """The rows of child-table fields."""

    def _attach_children(
        self,
        conn: Connection,
        plan: EntityPlan,
        records: list[dict[str, Any]],
        field_ids: Iterable[str],
    ) -> None:
        by_id = {r["id"]: r for r in records}
        for field_id in field_ids:
            table, rows_plan = plan.children[field_id]
            for record in records:
                record[field_id] = []
            result = conn.execute(
                select(table)
                .where(table.c.parent_id.in_(list(by_id)))
                .order_by(table.c.parent_id, table.c.position, table.c.id)
            )
            keys = tuple(result.keys())
            for raw in result:
                row = dict(zip(keys, raw, strict=True))
                parent = row.pop("parent_id")
                for field, ftype in rows_plan.converters:
                    row.update(ftype.from_db(field, row))
                virtual = [f for f in rows_plan.formulas if not type_of(f).is_stored(f)]
                if virtual:
                    self._compute_formulas(virtual, row, None)
                by_id[parent][field_id].append(row)

    def _coerce_child_rows(
        self,
        plan: EntityPlan,
        field: FieldDef,
        raw: Any,
        current: Mapping[str, Any] | None,
        ctx: CoerceContext,
        errors: Errors,
        user: Principal,
    ) -> list[dict[str, Any]] | None:
        try:
            raw_rows = type_of(field).coerce(field, raw, ctx)
        except FieldInvalid as exc:
            errors.setdefault(field.id, []).append(exc.message)
            return None
        _, rows_plan = plan.children[field.id]
        existing = {r["id"]: r for r in (current or {}).get(field.id) or []}
        result = []
        for index, raw_row in enumerate(raw_rows):
            prefix = f"{field.id}.{index}."
            base = existing.get(raw_row.get("id")) if raw_row.get("id") is not None else None
            out: dict[str, Any] = {}
            for key in raw_row:
                if key in ("id", "position") or key in rows_plan.key_field:
                    continue
                _add(errors, prefix + key, "unknown_field")
            for child in rows_plan.writable:
                try:
                    type_of(child).coerce_into(child, raw_row, out, ctx, base)
                except FieldInvalid as exc:
                    errors.setdefault(prefix + child.id, []).append(exc.message)
            row = dict(base) if base is not None else {}
            row.update(out)
            if base is None:
                row.pop("id", None)
                self._apply_defaults(rows_plan, row, set(out), user, ctx, errors, prefix)
            row["_written"] = set(out) if base is not None else set(rows_plan.key_field)
            self._compute_formulas(rows_plan.formulas, row, user)
            result.append(row)
        return result

    def _sync_children(
        self,
        conn: Connection,
        plan: EntityPlan,
        field_id: str,
        parent_id: int,
        rows: list[dict[str, Any]],
        existing: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Make the stored rows equal ``rows``: update kept ids, insert new, delete missing."""
        table, rows_plan = plan.children[field_id]
        before = {r["id"]: r for r in existing}
        kept: set[int] = set()
        saved = []
        for position, row in enumerate(rows):
            row = {k: v for k, v in row.items() if k != "_written"}
            db_row: dict[str, Any] = {"position": position}
            for field in rows_plan.stored:
                db_row.update(type_of(field).to_db(field, row))
            row_id = row.get("id")
            if row_id in before:
                kept.add(row_id)
                conn.execute(table.update().where(table.c.id == row_id).values(db_row))
            else:
                db_row["parent_id"] = parent_id
                row_id = conn.execute(table.insert().returning(table.c.id), db_row).scalar_one()
            saved.append(
                {
                    "id": row_id,
                    "position": position,
                    **{k: v for k, v in row.items() if k not in ("id", "position")},
                }
            )
        gone = set(before) - kept
        if gone:
            conn.execute(table.delete().where(table.c.id.in_(sorted(gone))))
        return saved


def _row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", "position", "parent_id", "_written")}


def _rows_change(
    plan: EntityPlan,
    field: FieldDef,
    rows: list[dict[str, Any]],
    stored: list[Mapping[str, Any]],
    ctx: CoerceContext,
) -> bool:
    """Would these rows add, remove, reorder or edit any stored row of ``field``?

    Values are compared after coercion, so rows read from the API and sent back as
    they were (9.99 for a stored Decimal) change nothing.
    """
    if len(rows) != len(stored):
        return True
    _, rows_plan = plan.children[field.id]
    for row, old in zip(rows, stored, strict=True):
        if row.get("id") != old.get("id"):
            return True  # a new row (no id) in place of a stored one, or a reorder
        for child in rows_plan.writable:
            keys = [k for k in type_of(child).keys(child) if k in row]
            if not keys:
                continue  # left out: the stored value stays
            out: dict[str, Any] = {}
            type_of(child).coerce_into(child, row, out, ctx, old)
            if any(k in out and out[k] != old.get(k) for k in keys):
                return True
    return False
