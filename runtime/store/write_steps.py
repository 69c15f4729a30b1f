"""The write path as ordered, named steps: what create, update, archive and restore do,
in order, and where a feature's own steps go in between.

Each operation runs the core steps named in ``CORE_STEPS`` on one ``Write`` (the record
being written and everything known about it so far), inside the write's transaction.
A feature adds a ``WriteStep`` placed ``before`` or ``after`` a core step, for the
operations it names; a "locked while pending approval" step placed before ``write``
refuses an update, an archive and a restore alike by raising. Steps may raise
``ValidationError``/``PermissionDenied``/``ConflictError`` (the write is rolled back)
or add field errors to ``write.errors`` before ``validation``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from runtime.errors import FieldMessage

from .principal import Principal

OPERATIONS = ("create", "update", "archive", "restore")

# The core steps of each operation, in order.
CORE_STEPS: Mapping[str, tuple[str, ...]] = {
    "create": (
        "permissions", "coercion", "defaults", "formulas", "validation",
        "write", "field_history", "events",
    ),
    "update": (
        "load", "permissions", "coercion", "defaults", "formulas", "validation",
        "changes", "write", "field_history", "events",
    ),
    "archive": ("load", "permissions", "write", "field_history", "events"),
    "restore": ("load", "permissions", "write", "field_history", "events"),
}  # fmt: skip


@dataclass
class Write:
    """One record being written: what the caller asked and what the steps found."""

    op: str
    user: Principal
    plan: Any  # runtime.store.plan.EntityPlan
    grant: Any  # runtime.store.permissions.Grant
    conn: Connection
    ctx: Any  # runtime.fieldtypes.CoerceContext
    values: Mapping[str, Any] = field(default_factory=dict)  # what the caller sent
    record_id: int | None = None
    row_version: int | None = None  # the version the caller saw (update, archive)
    index: int = 0  # the row's position in a bulk create
    # Every write of that bulk create (shared; empty for a single write): a step may
    # act once for all of them, on the last (the rollups recompute each parent once).
    batch: list[Any] = field(default_factory=list)
    current: dict[str, Any] | None = None  # the stored record (None on create)
    may: bool = True  # the row scope allows the operation
    item: Any = None  # the prepared record (create, update)
    changes: dict[str, Any] = field(default_factory=dict)  # key -> (old, new)
    now: datetime | None = None
    saved: dict[str, Any] | None = None  # the record as written
    # System columns a step sets on the row besides the changes (the pipelines' stage
    # entry time): written and returned, but neither field history nor an event.
    stamped: dict[str, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    done: bool = False  # a step found nothing to write: the rest is skipped

    @property
    def entity(self):
        return self.plan.entity

    @property
    def creating(self) -> bool:
        return self.op == "create"

    @property
    def errors(self) -> dict[str, list[FieldMessage]]:
        return self.item.errors if self.item is not None else {}


@dataclass(frozen=True)
class WriteStep:
    """A feature's step: ``run(repository, write)`` before or after a core step."""

    name: str
    run: Callable[[Any, Write], None]
    before: str | None = None
    after: str | None = None
    ops: frozenset[str] = frozenset(OPERATIONS)

    def __post_init__(self) -> None:
        if (self.before is None) == (self.after is None):
            raise ValueError(f"write step {self.name!r}: give exactly one of before= or after=")
        unknown = set(self.ops) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"write step {self.name!r}: unknown operation {sorted(unknown)[0]!r}")


def hook_steps(hook: Any) -> list[WriteStep]:
    """The steps of a write hook object (``before_write``/``after_write``, see write_hooks)."""
    from .write_hooks import PendingWrite

    name = getattr(hook, "name", None) or type(hook).__name__
    steps = []
    if hasattr(hook, "before_write"):

        def before(_repo: Any, w: Write) -> None:
            item = w.item
            pending = PendingWrite(w.user, w.entity, w.current, item.values, item.written,
                                   item.errors)  # fmt: skip
            hook.before_write(w.conn, pending)
            item.written = pending.written

        steps.append(WriteStep(f"{name}.before_write", before, before="formulas",
                               ops=frozenset({"create", "update"})))  # fmt: skip
    if hasattr(hook, "after_write"):

        def after(_repo: Any, w: Write) -> None:
            hook.after_write(w.conn, w.user, w.entity, w.current, w.saved)

        steps.append(WriteStep(f"{name}.after_write", after, after="field_history",
                               ops=frozenset({"create", "update"})))  # fmt: skip
    return steps


def as_steps(contributions: Iterable[Any]) -> list[WriteStep]:
    """WriteStep objects as they are; write hook objects turned into their steps."""
    steps: list[WriteStep] = []
    for item in contributions:
        steps.extend([item] if isinstance(item, WriteStep) else hook_steps(item))
    return steps


def order_steps(steps: Iterable[WriteStep]) -> dict[str, tuple[str | WriteStep, ...]]:
    """Each operation's steps in order: core step names, feature steps in between (in the
    order given, for one anchor). A step naming an anchor the operation lacks is an error."""
    steps = list(steps)
    ordered: dict[str, tuple[str | WriteStep, ...]] = {}
    for op, core in CORE_STEPS.items():
        mine = [s for s in steps if op in s.ops]
        for step in mine:
            anchor = step.before or step.after
            if anchor not in core:
                raise ValueError(
                    f"write step {step.name!r}: {op} has no step {anchor!r} "
                    f"(its steps: {', '.join(core)})"
                )
        sequence: list[str | WriteStep] = []
        for name in core:
            sequence.extend(s for s in mine if s.before == name)
            sequence.append(name)
            sequence.extend(s for s in mine if s.after == name)
        ordered[op] = tuple(sequence)
    return ordered


def step_names(ordered: Mapping[str, tuple[str | WriteStep, ...]], op: str) -> list[str]:
    """The names of ``op``'s steps in order (core and feature steps)."""
    return [s if isinstance(s, str) else s.name for s in ordered[op]]


__all__ = [
    "CORE_STEPS",
    "OPERATIONS",
    "Write",
    "WriteStep",
    "as_steps",
    "hook_steps",
    "order_steps",
    "step_names",
]
