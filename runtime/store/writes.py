"""Repository writes: create, update, archive and restore as the ordered write steps of
``write_steps`` (permissions, coercion, defaults, formulas, validation, changes, the
write itself, field history, events) in one transaction each."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from runtime.definition.model import FieldDef
from runtime.errors import (
    ConflictError,
    ExpressionError,
    FieldMessage,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from runtime.events import RECORD_ARCHIVED, RECORD_CREATED, RECORD_RESTORED, RECORD_UPDATED, Event
from runtime.fieldtypes import CoerceContext, FieldInvalid, format_autonumber, period_key, type_of

from . import history
from . import system_tables as st
from .child_rows import _row_values, _rows_change
from .expression_paths import entity_expression_paths, path_values
from .paths import lookups_of_values
from .permissions import Grant
from .plan import OWNER_FIELD, EntityPlan, RowsPlan
from .principal import Principal
from .repository_base import (
    _FULL,
    Errors,
    RepositoryBase,
    _add,
    _condition,
    _empty,
    _now,
    _Prepared,
    _record_id,
)
from .write_steps import Write, WriteStep


class RecordWrites(RepositoryBase):
    """Running the write steps of each operation."""

    def create(self, user: Principal, entity_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create one record; returns it as the user may read it."""
        records = self._create_many(user, entity_id, [values], single=True)
        return records[0]

    def bulk_create(
        self, user: Principal, entity_id: str, rows: Iterable[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Create many records in one transaction with the same checks; all or nothing.

        A ValidationError names failing fields as ``"<row index>.<field>"``.
        """
        return self._create_many(user, entity_id, list(rows), single=False)

    def _create_many(
        self, user: Principal, entity_id: str, rows: list[Mapping[str, Any]], single: bool
    ) -> list[dict[str, Any]]:
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        if not grant.create:
            raise PermissionDenied(f"you may not create {self._label(plan)} records")
        if not rows:
            return []
        ctx = self._context(user)
        steps = self.write_steps["create"]
        split = steps.index("write")  # every record is checked before any is written
        now = _now()  # known to every step (a feature's step before "write" stamps with it)
        with self.db.engine.begin() as conn:
            writes = [
                Write("create", user, plan, grant, conn, ctx, values=values, index=index, now=now)
                for index, values in enumerate(rows)
            ]
            for w in writes if not single else ():
                w.batch = writes
            errors: Errors = {}
            for w in writes:
                self._run_steps(steps[:split], w)
                prefix = "" if single else f"{w.index}."
                for key, messages in w.item.errors.items():
                    errors.setdefault(prefix + key, []).extend(messages)
            if not single:
                self._check_unique_within(plan, [w.item for w in writes], errors)
            if errors:
                raise ValidationError(errors)
            for w in writes:
                self._run_steps(steps[split:], w)
            events = [event for w in writes for event in w.events]
            event_ids = self._record_events(conn, events)
        self._dispatch(event_ids)
        results = [self._present(plan, grant, w.saved, user) for w in writes]
        self._publish(
            [
                dataclasses.replace(event, record=result)
                for w, result in zip(writes, results, strict=True)
                for event in w.events
            ]
        )
        return results

    def update(
        self,
        user: Principal,
        entity_id: str,
        record_id: int,
        values: Mapping[str, Any],
        row_version: int | None = None,
    ) -> dict[str, Any]:
        """Change fields of one record. With ``row_version``, a stale version raises
        ConflictError naming the fields changed since; without, the last write wins."""
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        record_id = _record_id(record_id)
        return self._run_one(
            "update", user, plan, grant, values=values, record_id=record_id,
            row_version=row_version,
        )  # fmt: skip

    def archive(
        self, user: Principal, entity_id: str, record_id: int, row_version: int | None = None
    ) -> dict[str, Any]:
        return self._set_archived(user, entity_id, record_id, True, row_version)

    def restore(
        self, user: Principal, entity_id: str, record_id: int, row_version: int | None = None
    ) -> dict[str, Any]:
        return self._set_archived(user, entity_id, record_id, False, row_version)

    def _set_archived(
        self,
        user: Principal,
        entity_id: str,
        record_id: int,
        archive: bool,
        row_version: int | None,
    ) -> dict[str, Any]:
        plan = self.plan(entity_id)
        grant = self.grant(user, entity_id)
        record_id = _record_id(record_id)
        op = "archive" if archive else "restore"
        return self._run_one(op, user, plan, grant, record_id=record_id, row_version=row_version)

    def _run_one(self, op: str, user: Principal, plan: EntityPlan, grant: Grant, **given: Any):
        """Run ``op``'s steps on one record in one transaction; the record as the user sees it."""
        with self.db.engine.begin() as conn:
            w = Write(op, user, plan, grant, conn, self._context(user), **given)
            self._run_steps(self.write_steps[op], w)
            event_ids = self._record_events(conn, w.events)
        self._dispatch(event_ids)
        result = self._present(plan, grant, w.saved, user)
        self._publish([dataclasses.replace(event, record=result) for event in w.events])
        return result

    def _run_steps(self, steps: Sequence[str | WriteStep], w: Write) -> None:
        for step in steps:
            if w.done:
                return
            if isinstance(step, str):
                getattr(self, f"_step_{step}")(w)
            else:
                step.run(self, w)

    def _step_load(self, w: Write) -> None:
        action = "update" if w.op == "update" else "archive"
        w.current, w.may = self._load_for_write(w.conn, w.user, w.plan, w.grant, w.record_id,
                                                action)  # fmt: skip

    def _step_permissions(self, w: Write) -> None:
        plan, current = w.plan, w.current
        if w.op == "create":
            self._check_field_permissions(plan, w.grant, w.values, None, w.ctx)
            return
        if not w.may:
            verb = "change" if w.op == "update" else w.op
            raise PermissionDenied(f"you may not {verb} this {self._label(plan)}")
        if w.op == "update" and current["archived_at"] is not None:
            raise ValidationError({"__all__": [FieldMessage("record_archived")]})
        if w.row_version is not None and int(w.row_version) != current["row_version"]:
            raise self._conflict(
                w.conn, plan, w.grant, w.record_id, int(w.row_version), current["row_version"]
            )
        if w.op != "update":
            if (current["archived_at"] is not None) == (w.op == "archive"):
                w.saved = self._reload(w.conn, plan, w.record_id, w.user)  # nothing to do
                w.done = True
            return
        needed = self._children_needed(plan, w.values)
        if needed:  # before the permission check: it compares rows with the stored ones
            self._attach_children(w.conn, plan, [current], needed)
        self._check_field_permissions(plan, w.grant, w.values, current, w.ctx)

    def _step_coercion(self, w: Write) -> None:
        w.item = self._prepare(w.conn, w.user, w.plan, w.grant, w.values, w.current, w.ctx)

    def _step_defaults(self, w: Write) -> None:
        item, user = w.item, w.user
        if w.current is None:
            if item.values.get("owner_id") is None:  # not given, or blank: the creator owns it
                item.values["owner_id"] = user.actor_id
            self._load_paths(w)  # computed defaults may read across links
            self._apply_defaults(w.plan.rows, item.values, set(item.coerced), user, w.ctx,
                                 item.errors)  # fmt: skip
        elif (
            "owner_id" in item.coerced
            and item.values.get("owner_id") is None
            and not w.grant.unrestricted
        ):
            _add(item.errors, "owner_id", "owner_required")  # a record never loses its owner
        if w.current is not None:
            self._load_paths(w)

    def _load_paths(self, w: Write) -> None:
        """The link paths the entity's expressions name, as the links now stand, under
        their dotted names (``account.industry``); never written, never returned."""
        paths = entity_expression_paths(w.plan.entity)
        if paths:
            w.item.values.update(path_values(self, w.conn, w.plan, w.item.values, paths))

    def _step_formulas(self, w: Write) -> None:
        item = w.item
        item.set_by_hooks = frozenset(item.written.difference(item.coerced))
        # Lookups as the links now stand, for the formulas, rules and gates of this write.
        item.values.update(lookups_of_values(self, w.conn, w.plan, item.values))
        self._load_paths(w)  # again: a gate's stage values may have re-pointed a link
        # Every formula, stored or not: stored ones may read computed-on-read ones, rules too.
        self._compute_formulas(w.plan.rows.formulas, item.values, w.user)

    def _step_validation(self, w: Write) -> None:
        self._validate(w.conn, w.user, w.plan, w.item, w.current)
        if w.op == "update" and w.item.errors:
            raise ValidationError(w.item.errors)

    def _step_changes(self, w: Write) -> None:
        w.changes = self._changes(w.plan, w.item, w.current)
        if not w.changes:
            w.saved = self._reload(w.conn, w.plan, w.record_id, w.user)
            w.done = True
            return
        w.now = _now()

    def _step_write(self, w: Write) -> None:
        if w.op == "create":
            w.saved = self._insert(w.conn, w.user, w.plan, w.item, w.now, w.stamped)
        elif w.op == "update":
            self._write_update(w)
        else:
            self._write_archived(w)

    def _step_field_history(self, w: Write) -> None:
        plan, conn, user, saved = w.plan, w.conn, w.user, w.saved
        entity_id = plan.entity.id
        if w.op == "create":
            history.write_audit(conn, entity_id, saved["id"], "create", user_id=user.actor_id,
                                at=w.now)  # fmt: skip
            return
        if w.op != "update":
            history.write_audit(conn, entity_id, w.record_id, w.op, user_id=user.actor_id,
                                at=w.now)  # fmt: skip
            return
        changes = w.changes
        tracked = {k: v for k, v in changes.items() if self._tracked(plan, k)}
        history.write_field_changes(
            conn, entity_id, w.record_id, tracked,
            user_id=user.actor_id, at=w.now, row_version=saved["row_version"],
        )  # fmt: skip

    def _step_events(self, w: Write) -> None:
        entity_id, actor, saved = w.plan.entity.id, w.user.actor_id, w.saved
        if w.op == "create":
            changes = {
                k: (None, v)
                for k, v in saved.items()
                if v is not None and k not in w.plan.system_keys and not _empty(v)
            }
            w.events.append(Event(RECORD_CREATED, entity_id, saved["id"], actor, changes, saved))
        elif w.op == "update":
            w.events.append(Event(RECORD_UPDATED, entity_id, w.record_id, actor, w.changes))
        else:
            name = RECORD_ARCHIVED if w.op == "archive" else RECORD_RESTORED
            change = {"archived_at": (w.current["archived_at"], saved["archived_at"])}
            w.events.append(Event(name, entity_id, w.record_id, actor, change))

    def _insert(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        item: _Prepared,
        now: datetime,
        stamped: Mapping[str, Any],
    ) -> dict[str, Any]:
        values = item.values
        for field in plan.autonumbers:
            if values.get(field.id) is None:
                values[field.id] = self._next_number(conn, plan, field, now)
        row: dict[str, Any] = {}
        for field in plan.rows.stored:
            row.update(type_of(field).to_db(field, values))
        row.update(
            created_at=now,
            updated_at=now,
            created_by=user.actor_id,
            owner_id=values.get("owner_id"),
            row_version=1,
        )
        system = {f.id: values.get(f.id) for f in plan.entity.system_fields}
        system.update(stamped)
        row.update(system)
        try:
            stmt = self._statement(
                "insert", plan.entity.id,
                build=lambda: plan.table.insert().returning(plan.table.c.id),
            )  # fmt: skip
            record_id = conn.execute(stmt, row).scalar_one()
        except IntegrityError as exc:
            raise self._integrity_error(exc) from None
        record = {
            "id": record_id,
            "created_at": now,
            "updated_at": now,
            "created_by": user.actor_id,
            "owner_id": row["owner_id"],
            "row_version": 1,
            "archived_at": None,
        }
        record.update(system)
        for key in plan.rows.key_field:
            record[key] = values.get(key)
        for field_id in plan.children:
            rows = values.get(field_id) or []
            record[field_id] = self._sync_children(conn, plan, field_id, record_id, rows, [])
        return record

    def _next_number(
        self, conn: Connection, plan: EntityPlan, field: FieldDef, now: datetime
    ) -> str:
        """The next counter of an autonumber, taken inside the caller's transaction.

        An upsert that increments and returns in one statement: on PostgreSQL the row
        lock it takes serialises concurrent creates until commit; on SQLite the writer
        lock does.
        """
        today = now.astimezone(self._business_zone()).date()
        period = period_key(field.pattern, today)
        stmt = self.db.memo("next_number", self._next_number_statement)
        params = {"entity": plan.entity.id, "field": field.id, "period": period}
        counter = conn.execute(stmt, params).scalar_one()
        return format_autonumber(field.pattern, counter, today)

    def _next_number_statement(self) -> Any:
        t = st.sequences
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        return (
            insert(t)
            .values(
                entity=bindparam("entity"),
                field=bindparam("field"),
                period=bindparam("period"),
                value=1,
            )
            .on_conflict_do_update(
                index_elements=[t.c.entity, t.c.field, t.c.period],
                set_={"value": t.c.value + 1},
            )
            .returning(t.c.value)
        )

    def _write_update(self, w: Write) -> None:
        conn, plan, grant, item, current = w.conn, w.plan, w.grant, w.item, w.current
        changes, now, record_id, user = w.changes, w.now, w.record_id, w.user
        new_version = current["row_version"] + 1
        row: dict[str, Any] = {"updated_at": now, "row_version": new_version}
        for key in changes:
            field = plan.field_of_key(key)
            if field is not None and type_of(field).is_stored(field):
                row.update(type_of(field).to_db(field, {key: item.values[key]}))
            elif key == "owner_id" or key in plan.writable_system:
                row[key] = item.values[key]
        row.update(w.stamped)
        table = plan.table
        stmt = self._statement(
            "update", plan.entity.id,
            build=lambda: table.update().where(
                table.c.id == bindparam("_record_id"),
                table.c.row_version == bindparam("_seen_version"),
            ),
        )  # fmt: skip
        row["_record_id"] = record_id
        row["_seen_version"] = current["row_version"]
        try:
            done = conn.execute(stmt, row).rowcount
        except IntegrityError as exc:
            raise self._integrity_error(exc) from None
        if done != 1:
            raise self._conflict(
                conn, plan, grant, record_id, current["row_version"], current["row_version"] + 1
            )
        for field_id in plan.children:
            if field_id in changes:
                item.values[field_id] = self._sync_children(
                    conn, plan, field_id, record_id, item.children[field_id],
                    current.get(field_id) or [],
                )  # fmt: skip
        w.saved = self._saved(conn, user, plan, item, current, changes, now, new_version)
        w.saved.update(w.stamped)

    def _saved(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        item: _Prepared,
        current: Mapping[str, Any],
        changes: Mapping[str, Any],
        now: datetime,
        new_version: int,
    ) -> dict[str, Any]:
        """The record as just written, built from what was loaded and written (what
        ``_reload`` would read back: coercion already gives the stored, canonical values)."""
        view = plan.read_view(_FULL)
        saved = {key: item.values.get(key) for key in view.keys}
        if item.set_by_hooks:
            # Hooks set plain values (a stage's probability as 25): store them as the
            # column reads them back (Decimal("25.00")), as the field type coerces them.
            ctx = self._context(user)
            for key in item.set_by_hooks:
                field = plan.field_of_key(key)
                if field is None or key != field.id or saved.get(key) is None:
                    continue
                try:
                    saved[key] = type_of(field).coerce(field, saved[key], ctx)
                except FieldInvalid:
                    return self._reload(conn, plan, item.values["id"], user)
        saved["updated_at"] = now
        saved["row_version"] = new_version
        missing = []
        for field_id in view.children:
            if field_id in current and field_id not in changes:
                saved[field_id] = current[field_id]
            else:
                missing.append(field_id)
        if missing:
            self._attach_children(conn, plan, [saved], missing)
        if view.virtual:
            self._compute_formulas(view.virtual, saved, user)
        return saved

    def _write_archived(self, w: Write) -> None:
        w.now = _now()
        table = w.plan.table
        w.conn.execute(
            table.update()
            .where(table.c.id == w.record_id)
            .values(
                archived_at=w.now if w.op == "archive" else None,
                updated_at=w.now,
                row_version=w.current["row_version"] + 1,
            )
        )
        w.saved = self._reload(w.conn, w.plan, w.record_id, w.user)

    def _tracked(self, plan: EntityPlan, key: str) -> bool:
        field = plan.field_of_key(key)
        return field.track_history if field is not None else True

    def _children_needed(self, plan: EntityPlan, values: Mapping[str, Any]) -> list[str]:
        """Child tables an update must load: written ones and those formulas/rules read."""
        if not plan.children:
            return []
        reads: set[str] = set()
        for field in plan.rows.formulas:
            reads |= field.expression.names
        for rule in plan.entity.rules:
            reads |= rule.expression.names
        return [f for f in plan.children if f in values or f in reads]

    def _load_for_write(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        grant: Grant,
        record_id: int,
        action: str,
    ) -> tuple[dict[str, Any], bool]:
        """The full current record (locked on PostgreSQL) and whether ``action`` is allowed."""
        table = plan.table
        view = plan.read_view(_FULL)
        read = self._scope(plan, grant, "read", user)
        allowed = self._scope(plan, grant, action, user)

        def build(read: Any, allowed: Any) -> Any:
            may = literal(True) if allowed is None else allowed
            query = select(*view.columns, may.label("_may")).where(
                table.c.id == bindparam("_record_id")
            )
            if read is not None:
                query = query.where(read)
            if self.db.is_postgres:
                query = query.with_for_update(of=table)
            return query

        if read is None and allowed is None:  # every row: the same statement every time
            query = self._statement("load", plan.entity.id, build=lambda: build(None, None))
        else:
            query = build(read, allowed)
        result = conn.execute(query, {"_record_id": record_id})
        keys = tuple(result.keys())
        row = result.first()
        if row is None:
            raise NotFound(f"no {plan.entity.id} with id {record_id}")
        record = dict(zip(keys, row, strict=True))
        may_act = bool(record.pop("_may"))
        for field, ftype in view.converters:
            record.update(ftype.from_db(field, record))
        return record, may_act

    def _changes(
        self, plan: EntityPlan, item: _Prepared, current: Mapping[str, Any]
    ) -> dict[str, tuple[Any, Any]]:
        changes: dict[str, tuple[Any, Any]] = {}
        keys = set(item.written)
        for field in plan.rows.formulas:
            if type_of(field).is_stored(field):
                keys.add(field.id)
        for key in sorted(keys, key=_key_order(plan)):
            if key in plan.children:
                old_rows = [_row_values(r) for r in current.get(key) or []]
                new_rows = [_row_values(r) for r in item.children.get(key, [])]
                if key in item.children and (
                    old_rows != new_rows
                    or [r.get("id") for r in current.get(key) or []]
                    != [r.get("id") for r in item.children[key]]
                ):
                    changes[key] = (old_rows, new_rows)
                continue
            old, new = current.get(key), item.values.get(key)
            if old != new:
                changes[key] = (old, new)
        return changes

    def _conflict(
        self,
        conn: Connection,
        plan: EntityPlan,
        grant: Grant,
        record_id: int,
        seen: int,
        current: int,
    ) -> ConflictError:
        """The error for a stale version, naming only changes the user may read."""
        # A version from "the future" saw everything; clamping also keeps a 19-digit
        # version out of SQL, where the 32-bit row_version column would overflow.
        seen = min(seen, current)
        changes = {
            key: change
            for key, change in history.changes_since(conn, plan.entity.id, record_id, seen).items()
            if (field := plan.field_of_key(key)) is None or grant.may_read_field(field.id)
        }
        latest = conn.execute(
            select(plan.table.c.row_version).where(plan.table.c.id == record_id)
        ).scalar()
        return ConflictError(latest if latest is not None else current, changes)

    def _check_field_permissions(
        self,
        plan: EntityPlan,
        grant: Grant,
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        ctx: CoerceContext,
    ) -> None:
        """Writing a changed value into a read-only or hidden field is refused outright."""
        if grant.unrestricted or not grant.field_access:
            return
        refused = []
        for key, raw in values.items():
            # a writable system field is guarded by the field permissions of its id
            field = (
                OWNER_FIELD
                if key == "owner_id"
                else plan.writable_system.get(key) or plan.field_of_key(key)
            )
            if field is None or grant.may_write_field(field.id):
                continue
            if _changes_value(plan, field, key, raw, current, ctx):
                refused.append(field.id)
        if refused:
            names = ", ".join(sorted(set(refused)))
            exc = PermissionDenied(f"you may not change: {names}")
            exc.fields = sorted(set(refused))  # type: ignore[attr-defined]
            raise exc

    def _prepare(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        grant: Grant,
        values: Mapping[str, Any],
        current: dict[str, Any] | None,
        ctx: CoerceContext,
    ) -> _Prepared:
        errors: Errors = {}
        rows = plan.rows
        system = grant.unrestricted
        creating = current is None
        out: dict[str, Any] = {}
        touched: list[FieldDef] = []
        seen: set[str] = set()
        for key in values:
            field = rows.key_field.get(key)
            if field is None:
                if key in plan.ignored_on_write:
                    continue
                special = OWNER_FIELD if key == "owner_id" else plan.writable_system.get(key)
                if special is not None:
                    try:
                        out[key] = type_of(special).coerce(special, values[key], ctx)
                    except FieldInvalid as exc:
                        errors.setdefault(key, []).append(exc.message)
                    continue
                _add(errors, key, "unknown_field")
                continue
            kind = type_of(field)
            if kind.aggregates_links:  # a rollup: the store keeps it, nobody writes it
                _add(errors, field.id, "rollup_readonly")
                continue
            if kind.refuses_input:  # derived from other records (a lookup): never written
                _add(errors, field.id, "readonly")
                continue
            if kind.computed or (kind.assigned_on_create and not system):
                continue  # computed by the system; what the caller sent does not matter
            if field.id not in seen:
                seen.add(field.id)
                touched.append(field)
        children: dict[str, list[dict[str, Any]]] = {}
        for field in touched:
            ftype = type_of(field)
            if ftype.holds_rows:
                rows_out = self._coerce_child_rows(
                    plan, field, values[field.id], current, ctx, errors, user
                )
                if rows_out is not None:
                    children[field.id] = rows_out
                    out[field.id] = rows_out
                continue
            try:
                ftype.coerce_into(field, values, out, ctx, current)
            except FieldInvalid as exc:
                errors.setdefault(field.id, []).append(exc.message)
        if not system:
            for field in touched:
                readonly = field.readonly or _condition(
                    field.readonly_if, current if current is not None else {**out}, current, user
                )
                if not readonly:
                    continue
                for key in type_of(field).keys(field):
                    if key not in out:
                        continue
                    new = out.pop(key)
                    old = current.get(key) if current is not None else None
                    if new != old and not (creating and new is None):
                        if FieldMessage("readonly") not in errors.get(field.id, []):
                            _add(errors, field.id, "readonly")
                children.pop(field.id, None)
        merged: dict[str, Any] = dict(current) if current is not None else {}
        merged.update(out)
        # defaults, feature steps and formulas follow as steps of their own
        return _Prepared(merged, set(out), children, errors, coerced=frozenset(out))

    def _apply_defaults(
        self,
        rows: RowsPlan,
        merged: dict[str, Any],
        given: set[str],
        user: Principal,
        ctx: CoerceContext,
        errors: Errors,
        prefix: str = "",
    ) -> None:
        for field in rows.writable:
            if field.id in given or field.default is None:
                continue
            ftype = type_of(field)
            default = field.default
            try:
                if hasattr(default, "evaluate"):
                    default = default.evaluate(merged, user=user)
                ftype.coerce_into(field, {field.id: default}, merged, ctx, None)
            except ExpressionError as exc:
                _add(errors, prefix + field.id, "expression_failed", detail=exc.message)
            except FieldInvalid as exc:
                errors.setdefault(prefix + field.id, []).append(exc.message)

    def _integrity_error(self, exc: IntegrityError) -> ValidationError:
        # A unique value taken by a concurrent writer between our check and the write.
        return ValidationError({"__all__": [FieldMessage("not_unique")]})


def _key_order(plan: EntityPlan):
    order = {f.id: i for i, f in enumerate(plan.rows.fields)}

    def key(name: str) -> tuple[int, str]:
        field = plan.field_of_key(name)
        return (order.get(field.id, -1) if field else -1, name)

    return key


def _changes_value(
    plan: EntityPlan,
    field: FieldDef,
    key: str,
    raw: Any,
    current: Mapping[str, Any] | None,
    ctx: CoerceContext,
) -> bool:
    """Would writing ``raw`` to ``key`` change the stored value (or, on create, the default)?"""
    if type_of(field).computed:
        return False
    out: dict[str, Any] = {}
    try:
        if type_of(field).holds_rows:
            rows = type_of(field).coerce(field, raw, ctx)
            if current is None:
                return bool(rows)
            return _rows_change(plan, field, rows, current.get(field.id) or [], ctx)
        type_of(field).coerce_into(field, {key: raw}, out, ctx, current)
    except FieldInvalid:
        return True
    new = out.get(key)
    if current is None:
        if new is None:
            return False
        default_out: dict[str, Any] = {}
        if field.default is not None and not hasattr(field.default, "evaluate"):
            try:
                type_of(field).coerce_into(field, {field.id: field.default}, default_out, ctx, None)
            except FieldInvalid:
                return True
        return new != default_out.get(key)
    return new != current.get(key)
