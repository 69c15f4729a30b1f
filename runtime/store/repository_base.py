"""What every part of the repository shares: its services (database, permissions, write
steps, events), the prepared record and small helpers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from runtime.definition.model import FieldDef, Scope
from runtime.errors import ExpressionError, FieldMessage, NotFound
from runtime.events import Event, EventBus
from runtime.fieldtypes import CoerceContext, FieldInvalid, type_of
from runtime.timezones import zone_named

from .database import Database
from .permissions import SYSTEM_GRANT, Grant, Linked, Permissions, scope_clause, via_targets
from .plan import EntityPlan, entity_plan
from .principal import Principal
from .rollups import RollupKeeper, rollup_steps
from .write_hooks import WriteHook
from .write_steps import WriteStep, as_steps, order_steps

Errors = dict[str, list[FieldMessage]]


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


def _now() -> datetime:
    return datetime.now(UTC)


def _add(errors: Errors, key: str, code: str, **params: Any) -> None:
    errors.setdefault(key, []).append(FieldMessage(code, params))


def _condition(expression: Any, values: Mapping, old: Mapping | None, user: Principal) -> bool:
    """A visible_if / required_if / readonly_if: a condition that cannot be evaluated is false."""
    if expression is None:
        return False
    try:
        return bool(expression.evaluate(values, old=old, user=user))
    except ExpressionError:
        return False


def _section_paths(model: Any, entity_id: str) -> frozenset[str]:
    """The link paths the entity's form sections' ``visible_if`` name."""
    layout = model.forms.get(entity_id)
    found: set[str] = set()
    for section in getattr(layout, "sections", ()):
        found.update(getattr(section.visible_if, "paths", ()))
    return frozenset(found)


@dataclass
class _Prepared:
    """A record after coercion, defaults and formulas, ready to validate and write."""

    values: dict[str, Any]  # the full record (current values + changes)
    written: set[str]  # record keys the caller wrote (after coercion)
    children: dict[str, list[dict[str, Any]]]  # child tables the caller wrote
    errors: Errors
    set_by_hooks: frozenset[str] = frozenset()  # written keys steps set (not coerced)
    coerced: frozenset[str] = frozenset()  # keys the caller's values coerced into


# The view of every column, used internally by writes (never handed to callers).
_FULL = SYSTEM_GRANT


def _record_id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no record with id {value!r}") from None
    if number <= 0 or number > 2**63 - 1:
        raise NotFound(f"no record with id {value!r}")
    return number


class RepositoryBase:
    """The repository's services; ``Repository`` adds reads, writes, child rows and validation."""

    def __init__(
        self,
        db: Database,
        bus: EventBus | None = None,
        hooks: Iterable[WriteHook | WriteStep] | None = None,
    ):
        self.db = db
        self.model = db.model
        self.bus = bus
        # The features taking part in every write: their steps go between the core steps
        # of each operation (see write_steps). None: those of the database's features.
        if hooks is None:
            hooks = db.features.gather("write_steps", db.model)
        self.hooks: tuple[WriteHook | WriteStep, ...] = tuple(hooks)
        # Rollups are kept by every repository of a model that has them, whatever the
        # hooks: a child's write that left its parents' rollups stale would be a bug.
        self.write_steps = order_steps([*as_steps(self.hooks), *rollup_steps(db.model)])
        self._rollups: Any = None
        # The durable event outbox (runtime.jobs.outbox.Outbox), set by the wiring: events
        # are saved in the write's transaction and handed to the job queue after commit.
        self.outbox: Any = None
        self.permissions: Permissions = db.memo("permissions", lambda: Permissions(db.model))

    def principal(self, user_id: int) -> Principal:
        from .users import UserService

        found = UserService(self.db).principal(user_id)
        if found is None:
            raise NotFound(f"no active user with id {user_id}")
        return found

    def plan(self, entity_id: str) -> EntityPlan:
        if entity_id not in self.model.entities:
            raise NotFound(f"no entity '{entity_id}'")
        return self.db.memo(
            ("plan", entity_id),
            lambda: entity_plan(
                self.model.entity(entity_id), self.db.tables[entity_id], self.db.child_tables
            ),
        )

    @property
    def rollups(self) -> RollupKeeper:
        """What keeps and rebuilds the model's rollup fields (``runtime.store.rollups``)."""
        if self._rollups is None:
            self._rollups = RollupKeeper(self)
        return self._rollups

    def grant(self, user: Principal, entity_id: str) -> Grant:
        return self.permissions.grant(user, entity_id)

    def _statement(self, *key: Any, build: Any) -> Any:
        """A statement built once per Database: plain bound parameters, so SQLAlchemy's
        compiled cache hits and nothing is rebuilt per write."""
        return self.db.memo(("statement", *key), build)

    def _business_zone(self) -> Any:
        """The app's calendar: ``TRELLIS_TIMEZONE``, else the app's ``timezone``. An
        autonumber's {YYYY}/{MM}/{DD} and a filter's "this_quarter" follow it (a Shanghai
        team's numbers and quarters turn over at its midnight, not at the server's)."""
        return zone_named(os.environ.get("TRELLIS_TIMEZONE"), self.db.model.timezone)

    def _context(self, user: Principal) -> CoerceContext:
        return CoerceContext(
            default_currency=self.model.default_currency,
            default_region=self.model.default_region,
            locale=user.locale or self.model.default_locale,
        )

    def _publish(self, events: list[Event]) -> None:
        if self.bus is not None:
            self.bus.publish_all(events)

    def _record_events(self, conn: Connection, events: list[Event]) -> list[int]:
        """Save ``events`` in the outbox, in the write's own transaction."""
        return self.outbox.record(conn, events) if self.outbox is not None and events else []

    def _dispatch(self, event_ids: list[int]) -> None:
        """After commit: the saved events go to the job queue."""
        if event_ids:
            self.outbox.dispatch(event_ids)

    def _label(self, plan: EntityPlan) -> str:
        return plan.entity.label.get("en")

    def _scope(self, plan: EntityPlan, grant: Grant, action: str, user: Principal):
        if grant.unrestricted:
            return None
        return scope_clause(grant.scopes(action), plan.table, user, self._linked(user))

    def _linked(self, user: Principal) -> Linked:
        """How a via scope reaches its target: the table and ``user``'s read scopes."""

        def linked(entity_id: str, alias: str) -> tuple[Any, tuple[Scope, ...] | None]:
            grant = self.grant(user, entity_id)
            table = self.db.memo(
                ("scope_alias", entity_id, alias),
                lambda: self.plan(entity_id).table.alias(alias),
            )
            return table, None if grant.unrestricted else grant.read

        return linked

    def expression_path_values(self, entity_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` (a record being edited, links as typed) with the link paths the
        entity's expressions name under their dotted names, for a form's conditions.
        Read with full access: callers evaluate expressions with them, never show them."""
        from .expression_paths import entity_expression_paths, path_values

        plan = self.plan(entity_id)
        paths = entity_expression_paths(plan.entity) | _section_paths(self.model, entity_id)
        if not paths:
            return dict(values)
        with self.db.engine.connect() as conn:
            return {**values, **path_values(self, conn, plan, values, paths)}

    def linked_in_scope(
        self, user: Principal, conn: Connection | None = None
    ) -> Callable[[Scope, int], bool]:
        """For ``record_in_scope``: whether a via scope lets the linked record with this id
        through, asked of the database (in ``conn``'s transaction when given)."""

        def check(scope: Scope, linked_id: int) -> bool:
            targets = via_targets(scope, user, self._linked(user))
            if targets is None:
                return False
            query = targets.where(targets.selected_columns[0] == linked_id).limit(1)
            if conn is not None:
                return conn.execute(query).first() is not None
            with self.db.engine.connect() as own:
                return own.execute(query).first() is not None

        return check

    def _compute_formulas(
        self, formulas: Iterable[FieldDef], values: dict[str, Any], user: Principal | None
    ) -> None:
        ctx = (
            self._context(user)
            if user is not None
            else CoerceContext(default_currency=self.model.default_currency)
        )
        for field in formulas:
            try:
                result = field.expression.evaluate(values, user=user)
                values[field.id] = type_of(field).coerce(field, result, ctx)
            except (ExpressionError, FieldInvalid):
                values[field.id] = None
