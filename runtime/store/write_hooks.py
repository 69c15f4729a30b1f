"""Write hooks: how higher layers take part in every repository write without the
repository knowing them (a feature's gates, approval locks tomorrow).

A hook is one of a feature's ``write_steps`` (or passed to ``Repository(db, bus,
hooks=[...])``); ``write_steps.hook_steps`` turns it into steps. For each record of a create
or update, after coercion and defaults and before formulas and validation,
``before_write`` sees the record as it would be saved and may add validation errors
or set system-managed values (``PendingWrite.set``). ``after_write`` runs in the same
transaction once the row and its field history are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from runtime.definition.model import Entity
from runtime.errors import FieldMessage

from .principal import Principal


@dataclass
class PendingWrite:
    """One record about to be written. ``current`` is None on create."""

    user: Principal
    entity: Entity
    current: Mapping[str, Any] | None
    values: dict[str, Any]  # the whole record as it will be saved
    written: set[str]  # keys the write changes
    errors: dict[str, list[FieldMessage]]

    @property
    def creating(self) -> bool:
        return self.current is None

    @property
    def changes(self) -> dict[str, Any]:
        """What the caller (and earlier hooks) set in this write."""
        if self.current is None:
            return dict(self.values)
        return {key: self.values.get(key) for key in self.written}

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value
        self.written.add(key)

    def add_errors(self, errors: Mapping[str, list[FieldMessage]]) -> None:
        for key, messages in errors.items():
            mine = self.errors.setdefault(key, [])
            mine.extend(m for m in messages if m not in mine)


class WriteHook(Protocol):
    def before_write(self, conn: Connection, write: PendingWrite) -> None: ...

    def after_write(
        self,
        conn: Connection,
        user: Principal,
        entity: Entity,
        current: Mapping[str, Any] | None,
        record: Mapping[str, Any],
    ) -> None: ...


__all__ = ["PendingWrite", "WriteHook"]
