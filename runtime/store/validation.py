"""Repository validation: every failing check of a prepared record at once (required,
bounds, links, unique values, rules), added to its errors, nothing raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.engine import Connection

from runtime.definition.model import FieldDef
from runtime.errors import ExpressionError, FieldMessage
from runtime.fieldtypes import type_of

from . import system_tables as st
from .paths import lookups_moved
from .plan import EntityPlan
from .principal import Principal
from .repository_base import Errors, RepositoryBase, _add, _condition, _empty, _Prepared


class RecordValidation(RepositoryBase):
    """Checking a record before it is written."""

    def _validate(
        self,
        conn: Connection,
        user: Principal,
        plan: EntityPlan,
        item: _Prepared,
        current: Mapping[str, Any] | None,
    ) -> None:
        """Add every failing check to ``item.errors`` (nothing is raised here)."""
        errors = item.errors
        values = item.values
        creating = current is None
        written = item.written
        if not creating:
            written = written | {
                f.id
                for f in plan.rows.formulas
                if type_of(f).is_stored(f) and values.get(f.id) != current.get(f.id)
            }
        links: list[tuple[str, str, int]] = []  # (target entity or "" for users, error key, id)
        for field in plan.rows.fields:
            if field.id in errors:
                continue
            ftype = type_of(field)
            touched = creating or field.id in written
            if type_of(field).holds_rows:
                if field.id in item.children:
                    self._validate_rows(plan, field, item.children[field.id], errors, links)
                if touched and field.required and not values.get(field.id):
                    _add(errors, field.id, "required")
                continue
            if type_of(field).computed:
                continue
            value = values.get(field.id)
            if _empty(value):
                if self._is_required(field, values, current, user, touched, written):
                    _add(errors, field.id, "required")
                continue
            if not touched:
                continue
            for message in ftype.check_bounds(field, value):
                errors.setdefault(field.id, []).append(message)
            refers_to = type_of(field).references
            if refers_to and (creating or value != current.get(field.id)):
                links.append((field.target if refers_to == "record" else "", field.id, value))
            if field.unique and field.id not in errors:
                taken = self._taken(conn, plan, field, value, None if creating else current["id"])
                if taken is not None:
                    errors.setdefault(field.id, []).append(
                        self._duplicate_message(conn, user, plan, taken)
                    )
        owner = values.get("owner_id")
        if (
            owner is not None
            and "owner_id" in item.written
            and (creating or owner != current.get("owner_id"))
        ):
            links.append(("", "owner_id", owner))
        self._check_links(conn, user, links, errors)
        self._check_rules(plan, values, current, user, written, errors)

    def _is_required(
        self,
        field: FieldDef,
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        user: Principal,
        touched: bool,
        written: set[str],
    ) -> bool:
        """Required, or required_if true - checked on create, and on update for what the
        update touches (the field itself, or a field its condition reads)."""
        if field.visible_if is not None and not _condition(field.visible_if, values, current, user):
            return False
        if field.required and touched:
            return True
        if field.required_if is None:
            return False
        if not touched and not (field.required_if.names & written):
            return False
        return _condition(field.required_if, values, current, user)

    def _validate_rows(
        self,
        plan: EntityPlan,
        field: FieldDef,
        rows: list[dict[str, Any]],
        errors: Errors,
        links: list[tuple[str, str, int]],
    ) -> None:
        _, rows_plan = plan.children[field.id]
        for index, row in enumerate(rows):
            prefix = f"{field.id}.{index}."
            written = row.get("_written", set())
            for child in rows_plan.fields:
                key = prefix + child.id
                if key in errors or type_of(child).computed:
                    continue
                value = row.get(child.id)
                if _empty(value):
                    if child.required:
                        _add(errors, key, "required")
                    continue
                if child.id not in written:
                    continue
                for message in type_of(child).check_bounds(child, value):
                    errors.setdefault(key, []).append(message)
                refers_to = type_of(child).references
                if refers_to:
                    links.append((child.target if refers_to == "record" else "", key, value))

    def _taken(
        self, conn: Connection, plan: EntityPlan, field: FieldDef, value: Any, record_id: int | None
    ) -> int | None:
        """The id of another record holding ``value`` in the unique ``field``, if any."""
        table = plan.table
        query = select(table.c.id).where(table.c[field.id] == value)
        if record_id is not None:
            query = query.where(table.c.id != record_id)
        return conn.execute(query.order_by(table.c.id).limit(1)).scalar()

    def _duplicate_message(
        self, conn: Connection, user: Principal, plan: EntityPlan, record_id: int
    ) -> FieldMessage:
        """ "Account “Acme” already has this value", naming (and letting the web edge link
        to) the record it duplicates - only when the user may read that record and its
        title; otherwise the plain message, so a refusal reveals nothing more."""
        grant = self.grant(user, plan.entity.id)
        title_field = plan.rows.by_id.get(plan.entity.title_field)
        if title_field is None or not type_of(title_field).is_stored(title_field):
            return FieldMessage("not_unique")
        if not grant.may_read_field(title_field.id):
            return FieldMessage("not_unique")
        table = plan.table
        query = select(table.c[title_field.id]).where(table.c.id == record_id)
        clause = self._scope(plan, grant, "read", user)
        if clause is not None:
            query = query.where(clause)
        row = conn.execute(query).first()
        if row is None:
            return FieldMessage("not_unique")
        return FieldMessage(
            "duplicate_of",
            {
                "entity": plan.entity.label,
                "title": "" if row[0] is None else str(row[0]),
                "entity_id": plan.entity.id,
                "record_id": record_id,
            },
        )

    def _check_unique_within(
        self, plan: EntityPlan, prepared: list[_Prepared], errors: Errors
    ) -> None:
        for field in plan.rows.stored:
            if not field.unique:
                continue
            seen: dict[Any, int] = {}
            for index, item in enumerate(prepared):
                value = item.values.get(field.id)
                if value is None:
                    continue
                if value in seen:
                    _add(errors, f"{index}.{field.id}", "not_unique")
                seen.setdefault(value, index)

    def _check_links(
        self,
        conn: Connection,
        user: Principal,
        links: list[tuple[str, str, int]],
        errors: Errors,
    ) -> None:
        """Linked records must exist and be readable; users must exist and be active."""
        by_target: dict[str, set[int]] = {}
        for target, _key, value in links:
            by_target.setdefault(target, set()).add(value)
        found: dict[str, set[int]] = {}
        queries = []
        for target in by_target:
            found[target] = set()
            if target != "" and target not in self.db.tables:
                continue
            queries.append(target)
        if queries:
            # One round trip for every target: the existence checks UNION ALL-ed, each
            # tagged with its position and with its own bound ids.
            params: dict[str, Any] = {}
            parts = []
            tagged = len(queries) > 1
            for index, target in enumerate(queries):
                ids = sorted(by_target[target])
                parts.append(self._link_query(user, target, len(ids), index if tagged else None))
                params.update((f"_link{index}_{i}", v) for i, v in enumerate(ids))
            if not tagged:
                found[queries[0]] = {row[0] for row in conn.execute(parts[0], params)}
            else:
                for row in conn.execute(union_all(*parts), params):
                    found[queries[row[1]]].add(row[0])
        for target, key, value in links:
            if value in found[target]:
                continue
            if target == "":
                _add(errors, key, "unknown_user", value=value)
            else:
                label = (
                    self.model.entities[target].label if target in self.model.entities else target
                )
                _add(errors, key, "unknown_record", entity=label, value=value)

    def _link_query(self, user: Principal, target: str, count: int, tag: int | None) -> Any:
        """SELECT id of ``target`` (``""`` = active users) among ``count`` bound ids
        ``_link<tag>_0`` .. inside the user's read scope; with ``tag``, a second column
        holding it (a part of the UNION ALL of several targets)."""
        part = 0 if tag is None else tag

        def build(clause: Any = None) -> Any:
            t = st.users if target == "" else self.plan(target).table
            ids = [bindparam(f"_link{part}_{i}", type_=t.c.id.type) for i in range(count)]
            columns = [t.c.id] if tag is None else [t.c.id, literal(tag).label("_target")]
            query = select(*columns)
            query = query.where(t.c.id == ids[0] if count == 1 else t.c.id.in_(ids))
            if target == "":
                query = query.where(t.c.is_active.is_(True))
            if clause is not None:
                query = query.where(clause)
            return query

        clause = None
        if target != "":
            target_plan = self.plan(target)
            clause = self._scope(target_plan, self.grant(user, target), "read", user)
        if clause is None and count <= 8:
            return self._statement("links", target, count, tag, build=build)
        return build(clause)

    def _check_rules(
        self,
        plan: EntityPlan,
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        user: Principal,
        written: set[str],
        errors: Errors,
    ) -> None:
        written = written | lookups_moved(plan, written)
        for rule in plan.entity.rules:
            if current is not None and not (rule.expression.names & written):
                continue  # an update is checked for what it touches
            keys = list(rule.fields) or ["__all__"]
            try:
                ok = rule.expression.evaluate(values, old=current, user=user)
            except ExpressionError as exc:
                for key in keys:
                    _add(errors, key, "expression_failed", detail=exc.message)
                continue
            if not ok:
                for key in keys:
                    _add(errors, key, "rule_failed", message=rule.message, rule=rule.id)
