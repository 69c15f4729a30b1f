"""Saved list views: a user's named filters, sort and columns for one entity.

The table is a system table (``runtime.store.system_tables``), so
``Database.create_or_upgrade()`` creates it; the store also creates it on first use, so a database initialised before this module existed
works without a migration step. A saved view belongs to one user: every read and
delete is filtered by ``user_id``, so another user's view is simply "not found".

What is saved is the list's query, not its result: ``filters`` holds the query-string
pairs (``[["amount__gte", "1000"], ["q", "acme"]]``) that ``runtime.web.query`` parses,
so a saved view keeps working when records change and is re-checked against the
user's permissions every time it is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from runtime.errors import FieldMessage, ValidationError

from .system_tables import MAX_VIEW_NAME_LENGTH, saved_views, utcnow

MAX_NAME_LENGTH = MAX_VIEW_NAME_LENGTH
MAX_VIEWS_PER_ENTITY = 50  # per user: the switcher stays a list, not a database
MAX_PAIRS = 60


@dataclass(frozen=True)
class SavedView:
    id: int
    user_id: int
    entity: str
    name: str
    base_view: str | None
    filters: tuple[tuple[str, str], ...]
    sort: tuple[str, ...]
    columns: tuple[str, ...]
    created_at: datetime | None


def _row_to_view(row: Any) -> SavedView:
    return SavedView(
        id=int(row.id),
        user_id=int(row.user_id),
        entity=row.entity,
        name=row.name,
        base_view=row.base_view,
        filters=tuple((str(k), str(v)) for k, v in (row.filters or [])),
        sort=tuple(str(s) for s in (row.sort or [])),
        columns=tuple(str(c) for c in (row.columns or [])),
        created_at=row.created_at,
    )


class SavedViewStore:
    """Create, list, read and delete one user's saved views (``db``: a ``Database``)."""

    def __init__(self, db: Any):
        self.db = db
        db.memo(("saved_views_table",), self._ensure_table)

    def _ensure_table(self) -> bool:
        saved_views.create(self.db.engine, checkfirst=True)
        return True

    def list_for(self, user_id: int, entity: str) -> list[SavedView]:
        query = (
            select(saved_views)
            .where(saved_views.c.user_id == user_id, saved_views.c.entity == entity)
            .order_by(saved_views.c.name, saved_views.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_row_to_view(row) for row in conn.execute(query)]

    def get(self, user_id: int, view_id: int) -> SavedView | None:
        query = select(saved_views).where(
            saved_views.c.id == view_id, saved_views.c.user_id == user_id
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return _row_to_view(row) if row is not None else None

    def create(
        self,
        user_id: int,
        entity: str,
        name: str,
        *,
        base_view: str | None,
        filters: Sequence[tuple[str, str]],
        sort: Sequence[str],
        columns: Sequence[str],
    ) -> SavedView:
        name = " ".join((name or "").split())
        if not name:
            raise ValidationError({"name": [FieldMessage("required")]})
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationError({"name": [FieldMessage("max_length", {"max": MAX_NAME_LENGTH})]})
        pairs = [[str(k), str(v)] for k, v in filters][:MAX_PAIRS]
        with self.db.engine.begin() as conn:
            existing = conn.execute(
                select(saved_views.c.id, saved_views.c.name).where(
                    saved_views.c.user_id == user_id, saved_views.c.entity == entity
                )
            ).all()
            if len(existing) >= MAX_VIEWS_PER_ENTITY:
                raise ValidationError(
                    {"name": [FieldMessage("too_many", {"max": MAX_VIEWS_PER_ENTITY})]}
                )
            # Saving under an existing name replaces that view: what users expect.
            for row in existing:
                if row.name.casefold() == name.casefold():
                    conn.execute(delete(saved_views).where(saved_views.c.id == row.id))
            result = conn.execute(
                insert(saved_views).values(
                    user_id=user_id,
                    entity=entity,
                    name=name,
                    base_view=base_view,
                    filters=pairs,
                    sort=list(sort),
                    columns=list(columns),
                    created_at=utcnow(),
                )
            )
            new_id = int(result.inserted_primary_key[0])
        view = self.get(user_id, new_id)
        assert view is not None
        return view

    def delete(self, user_id: int, view_id: int) -> bool:
        """Delete the user's own view; False when there is none (or it is someone else's)."""
        with self.db.engine.begin() as conn:
            result = conn.execute(
                delete(saved_views).where(
                    saved_views.c.id == view_id, saved_views.c.user_id == user_id
                )
            )
        return bool(result.rowcount)


__all__ = ["MAX_NAME_LENGTH", "SavedView", "SavedViewStore", "saved_views"]
