"""Diff two compiled models into a migration plan, with its data impact read from the database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from typing import Any

from sqlalchemy import column, func, inspect, select, table

from runtime.definition.model import AppModel, Entity, FieldDef
from runtime.features import load_features
from runtime.fieldtypes import type_of
from runtime.fieldtypes.base import CoerceContext, FieldInvalid

from ..tables import child_table_name, entity_table_name

MAX_EXAMPLES = 10


@dataclass
class Operation:
    """One change: ``kind`` (add_field, rename_field, ...), where, what and its impact."""

    kind: str
    entity: str
    field: str | None = None
    detail: dict[str, Any] = dc_field(default_factory=dict)
    impact: dict[str, Any] = dc_field(default_factory=dict)

    def describe(self, locale: str = "en") -> str:
        where = f"{self.entity}.{self.field}" if self.field else self.entity
        words = DESCRIPTIONS.get(locale, DESCRIPTIONS["en"]).get(self.kind, self.kind)
        line = f"{words}: {where}"
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.detail.items()) if k != "table")
        if extra:
            line += f" ({extra})"
        if "rows" in self.impact:
            line += f" [{self.impact['rows']} rows]"
        bad = self.impact.get("unconvertible", {}).get("count")
        if bad:
            line += f" [{bad} values do not convert]"
        if self.impact.get("in_use"):
            line += f" [{self.impact['in_use']} records use it]"
        return line


DESCRIPTIONS = {
    "en": {
        "add_field": "add field",
        "rename_field": "rename field",
        "retype_field": "change the type of",
        "retire_field": "retire field (column kept, hidden)",
        "restore_field": "restore field with its data",
        "add_entity": "add entity",
        "rename_entity": "rename entity",
        "retire_entity": "retire entity (table kept, hidden)",
        "restore_entity": "restore entity with its data",
        "add_child": "add child table",
        "retire_child": "retire child table (rows kept)",
        "add_option": "add option",
        "remove_option": "remove option",
        "add_value": "add value",
        "remove_value": "remove value",
        "retarget_link": "change the target of link",
    },
    "zh": {
        "add_field": "新增字段",
        "rename_field": "重命名字段",
        "retype_field": "修改字段类型",
        "retire_field": "停用字段（保留列并隐藏）",
        "restore_field": "恢复字段及其数据",
        "add_entity": "新增实体",
        "rename_entity": "重命名实体",
        "retire_entity": "停用实体（保留表并隐藏）",
        "restore_entity": "恢复实体及其数据",
        "add_child": "新增子表",
        "retire_child": "停用子表（保留数据）",
        "add_option": "新增选项",
        "remove_option": "删除选项",
        "add_value": "新增取值",
        "remove_value": "删除取值",
        "retarget_link": "修改关联目标",
    },
}


@dataclass
class MigrationPlan:
    operations: list[Operation]
    blockers: list[str]
    fingerprint: str
    tables: list[str]  # the tables the fingerprint covers
    old_digest: str = ""
    new_digest: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.operations

    @property
    def plan_id(self) -> str:
        """Stable id of this plan (its operations and the state it was computed on)."""
        body = json.dumps(
            {"ops": [asdict(op) for op in self.operations], "fp": self.fingerprint},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(body.encode()).hexdigest()

    def describe(self, locale: str = "en") -> list[str]:
        lines = [op.describe(locale) for op in self.operations]
        prefix = "阻止：" if locale.startswith("zh") else "blocked: "
        return lines + [prefix + b for b in self.blockers]

    def to_json(self) -> dict[str, Any]:
        return {
            "operations": [asdict(op) for op in self.operations],
            "blockers": list(self.blockers),
            "fingerprint": self.fingerprint,
            "tables": list(self.tables),
            "old_digest": self.old_digest,
            "new_digest": self.new_digest,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> MigrationPlan:
        return cls(
            operations=[Operation(**op) for op in doc.get("operations", [])],
            blockers=list(doc.get("blockers", [])),
            fingerprint=doc.get("fingerprint", ""),
            tables=list(doc.get("tables", [])),
            old_digest=doc.get("old_digest", ""),
            new_digest=doc.get("new_digest", ""),
        )


# --------------------------------------------------------------------------- renames


def merged_renames(new_model: AppModel, renames: Mapping[str, str] | None) -> dict[str, str]:
    """``{"entity.old": "new", "old_entity": "new_entity"}`` from the argument and the
    new model's ``renamed_from`` (entities, fields, options: ``"entity.field:old"``)."""
    merged = dict(renames or {})
    for entity in new_model.entities.values():
        for old in getattr(entity, "renamed_from", ()) or ():
            merged.setdefault(old, entity.id)
        for f in entity.fields:
            for old in getattr(f, "renamed_from", ()) or ():
                merged.setdefault(f"{entity.id}.{old}", f.id)
    return merged


def _old_entity_id(new_id: str, renames: Mapping[str, str], old_model: AppModel) -> str | None:
    for old, new in renames.items():
        if "." not in old and new == new_id and old in old_model.entities:
            return old
    return new_id if new_id in old_model.entities else None


def _old_field_id(entity_id: str, old_entity_id: str, new_field: str, renames, old: Entity):
    for key, new in renames.items():
        if "." in key and ":" not in key and new == new_field:
            ent, fid = key.split(".", 1)
            if ent in (entity_id, old_entity_id) and old.has_field(fid):
                return fid
    return new_field if old.has_field(new_field) else None


# --------------------------------------------------------------------------- database facts


class _Facts:
    """What the planner reads from the database (nothing when there is none)."""

    def __init__(self, db: Any):
        self.db = db
        self._columns: dict[str, dict[str, str]] = {}
        if db is not None:
            with db.engine.connect() as conn:
                inspector = inspect(conn)
                for name in inspector.get_table_names():
                    self._columns[name] = {
                        c["name"]: str(c["type"]) for c in inspector.get_columns(name)
                    }

    def has_table(self, name: str) -> bool:
        return name in self._columns

    def has_column(self, name: str, col: str) -> bool:
        return col in self._columns.get(name, {})

    def columns(self, name: str) -> dict[str, str]:
        return self._columns.get(name, {})

    def count(self, name: str, where_col: str | None = None, values=None) -> int | None:
        if self.db is None or not self.has_table(name):
            return None
        t = table(name, column("id"), *([column(where_col)] if where_col else []))
        query = select(func.count()).select_from(t)
        if where_col and values is not None:
            query = query.where(t.c[where_col].in_(list(values)))
        elif where_col:
            query = query.where(t.c[where_col].isnot(None))
        with self.db.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def values(self, name: str, col: str):
        t = table(name, column("id"), column(col))
        with self.db.engine.connect() as conn:
            yield from conn.execute(
                select(t.c.id, t.c[col]).where(t.c[col].isnot(None)).order_by(t.c.id)
            )


def fingerprint(db: Any, tables: list[str]) -> str:
    """A digest of the named tables' columns and their data (rows, last id, last write):
    a plan computed on one state is refused on another."""
    if db is None:
        return ""
    parts = []
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        existing = set(inspector.get_table_names())
        for name in sorted(set(tables)):
            if name not in existing:
                parts.append([name, None])
                continue
            cols = sorted((c["name"], str(c["type"])) for c in inspector.get_columns(name))
            names = {c for c, _ in cols}
            t = table(name, *(column(c) for c in names))
            aggregates = [func.count()]
            if "id" in names:
                aggregates.append(func.max(t.c.id))
            if "updated_at" in names:
                aggregates.append(func.max(t.c.updated_at))
            row = conn.execute(select(*aggregates).select_from(t)).one()
            parts.append([name, cols, [str(v) for v in row]])
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- the planner


def plan_migration(
    old_model: AppModel,
    new_model: AppModel,
    renames: Mapping[str, str] | None = None,
    *,
    db: Any = None,
    choices: Mapping[str, Any] | None = None,
    features: Any = None,
) -> MigrationPlan:
    """Every operation that takes the database from ``old_model`` to ``new_model``;
    ``features`` (default: ``db``'s, else the default ones) name the closed value sets
    of their system fields (``Feature.value_sets``)."""
    renames = merged_renames(new_model, renames)
    choices = dict(choices or {})
    facts = _Facts(db)
    if features is None:
        features = db.features if db is not None else load_features()
    value_sets = (features.merge("value_sets", old_model), features.merge("value_sets", new_model))
    planner = _Planner(old_model, new_model, renames, facts, choices, value_sets)
    planner.run()
    tables = sorted({op.detail.get("table") for op in planner.ops if op.detail.get("table")})
    return MigrationPlan(
        operations=planner.ops,
        blockers=planner.blockers,
        fingerprint=fingerprint(db, tables),
        tables=tables,
        old_digest=old_model.digest,
        new_digest=new_model.digest,
    )


def _stored(f: FieldDef) -> bool:
    ftype = type_of(f)
    return ftype.is_stored(f) and not ftype.holds_rows


def _column_sql(f: FieldDef) -> str:
    return " ".join(str(c.type) for c in type_of(f).columns(f))


class _Planner:
    def __init__(self, old, new, renames, facts: _Facts, choices, value_sets):
        self.old, self.new, self.renames, self.facts, self.choices = (
            old,
            new,
            renames,
            facts,
            choices,
        )
        self.old_sets, self.new_sets = value_sets
        self.ops: list[Operation] = []
        self.blockers: list[str] = []

    def run(self) -> None:
        seen_old: set[str] = set()
        for entity in self.new.entities.values():
            old_id = _old_entity_id(entity.id, self.renames, self.old)
            if old_id is None:
                self._new_entity(entity)
                continue
            seen_old.add(old_id)
            old = self.old.entities[old_id]
            if old_id != entity.id:
                self._add(
                    "rename_entity",
                    entity.id,
                    detail={
                        "from": old_id,
                        "table": entity_table_name(old),
                        "new_table": entity_table_name(entity),
                    },
                )
            self._fields(old, entity)
            self._value_sets(old, entity)
        for old_id, old in self.old.entities.items():
            if old_id not in seen_old:
                table_name = entity_table_name(old)
                self._add(
                    "retire_entity",
                    old_id,
                    detail={"table": table_name},
                    impact=self._rows(table_name),
                )

    def _add(self, kind, entity, field=None, detail=None, impact=None) -> Operation:
        op = Operation(kind, entity, field, dict(detail or {}), dict(impact or {}))
        self.ops.append(op)
        return op

    def _rows(self, table_name: str, col: str | None = None) -> dict[str, Any]:
        rows = self.facts.count(table_name, col)
        return {} if rows is None else {"rows": rows}

    def _new_entity(self, entity: Entity) -> None:
        name = entity_table_name(entity)
        kind = "restore_entity" if self.facts.has_table(name) else "add_entity"
        self._add(kind, entity.id, detail={"table": name}, impact=self._rows(name))

    # -- fields

    def _fields(self, old: Entity, new: Entity) -> None:
        old_table = entity_table_name(old)
        matched: set[str] = set()
        for f in new.fields:
            old_fid = _old_field_id(new.id, old.id, f.id, self.renames, old)
            if type_of(f).holds_rows:
                self._child(old, new, f, old_fid)
                if old_fid:
                    matched.add(old_fid)
                continue
            if not _stored(f):
                if old_fid:
                    matched.add(old_fid)
                continue
            if old_fid is None:
                self._new_field(new, f, old_table)
                continue
            matched.add(old_fid)
            old_f = old.field(old_fid)
            if not _stored(old_f):
                self._new_field(new, f, old_table)
                continue
            if old_fid != f.id:
                self._add(
                    "rename_field",
                    new.id,
                    f.id,
                    detail={"from": old_fid, "table": old_table},
                    impact=self._rows(old_table, old_fid),
                )
            if _column_sql(old_f) != _column_sql(f) or old_f.type != f.type:
                self._retype(new, old_f, f, old_table)
            elif f.target != old_f.target and type_of(f).references == "record":
                self._retarget(new, old_f, f, old_table)
            self._options(new, old_f, f, old_table)
        for old_f in old.fields:
            if old_f.id in matched or not (_stored(old_f) or type_of(old_f).holds_rows):
                continue
            if type_of(old_f).holds_rows:
                name = child_table_name(old, old_f)
                self._add(
                    "retire_child",
                    new.id,
                    old_f.id,
                    detail={"table": name},
                    impact=self._rows(name),
                )
            else:
                self._add(
                    "retire_field",
                    new.id,
                    old_f.id,
                    detail={
                        "table": old_table,
                        "columns": [c.name for c in type_of(old_f).columns(old_f)],
                        "type": old_f.type,
                    },
                    impact=self._rows(old_table, old_f.id),
                )

    def _new_field(self, entity: Entity, f: FieldDef, table_name: str) -> None:
        if self.facts.has_column(table_name, f.id):
            impact = self._rows(table_name, f.id)
            self._add("restore_field", entity.id, f.id, {"table": table_name}, impact)
        else:
            self._add("add_field", entity.id, f.id, {"table": table_name, "type": f.type})

    def _child(self, old: Entity, new: Entity, f: FieldDef, old_fid: str | None) -> None:
        name = child_table_name(new, f)
        if old_fid is None:
            kind = "restore_child" if self.facts.has_table(name) else "add_child"
            self._add(kind, new.id, f.id, {"table": name}, self._rows(name))
            return
        old_f = old.field(old_fid)
        old_name = child_table_name(old, old_f)
        if old_name != name:
            self._add(
                "rename_child",
                new.id,
                f.id,
                {"from": old_fid, "table": old_name, "new_table": name},
            )
        # the rows' own fields: retired, added, renamed like an entity's
        pseudo_old = Entity(old_f.id, old.label, old.plural, old_f.fields)
        pseudo_new = Entity(f.id, new.label, new.plural, f.fields)
        before = len(self.ops)
        sub = _Planner(self.old, self.new, {}, self.facts, self.choices, ({}, {}))
        sub._fields_in(pseudo_old, pseudo_new, old_name, f"{new.id}.{f.id}")
        self.ops[before:before] = sub.ops
        self.blockers += sub.blockers

    def _fields_in(self, old: Entity, new: Entity, table_name: str, entity_label: str) -> None:
        """A child table's row fields (planned like an entity's, on ``table_name``)."""
        for f in new.fields:
            if not _stored(f):
                continue
            if not old.has_field(f.id):
                self._new_field(Entity(entity_label, new.label, new.plural, ()), f, table_name)
                continue
            old_f = old.field(f.id)
            if _column_sql(old_f) != _column_sql(f) or old_f.type != f.type:
                self._retype(Entity(entity_label, new.label, new.plural, ()), old_f, f, table_name)
        for old_f in old.fields:
            if _stored(old_f) and not new.has_field(old_f.id):
                self._add(
                    "retire_field",
                    entity_label,
                    old_f.id,
                    {"table": table_name, "columns": [old_f.id], "type": old_f.type},
                    self._rows(table_name, old_f.id),
                )

    # -- type changes

    def _retype(self, entity: Entity, old_f: FieldDef, f: FieldDef, table_name: str) -> None:
        key = f"{entity.id}.{f.id}"
        choice = (self.choices.get("conversions") or {}).get(key)
        detail = {
            "table": table_name,
            "from_type": old_f.type,
            "to_type": f.type,
            "column": old_f.id,
        }
        if len(type_of(old_f).columns(old_f)) != 1 or len(type_of(f).columns(f)) != 1:
            detail["columns_change"] = True
        if choice:
            detail["choice"] = dict(choice)
        op = self._add("retype_field", entity.id, f.id, detail)
        if self.facts.db is None or not self.facts.has_column(table_name, old_f.id):
            return
        rows, bad = _scan_conversion(self.facts, table_name, old_f, f, self.new)
        op.impact = {"rows": rows, "unconvertible": bad}
        if bad["count"] and not choice:
            ids = ", ".join(str(e["id"]) for e in bad["examples"])
            self.blockers.append(
                f"TRL-E101 {key}: {bad['count']} value(s) do not convert from {old_f.type} to "
                f"{f.type} (records {ids}); choose a default or keep them in an archived column"
            )

    def _retarget(self, entity: Entity, old_f: FieldDef, f: FieldDef, table_name: str) -> None:
        key = f"{entity.id}.{f.id}"
        detail = {"table": table_name, "from": old_f.target, "to": f.target}
        choice = (self.choices.get("conversions") or {}).get(key)
        if choice:
            detail["choice"] = dict(choice)
        op = self._add("retarget_link", entity.id, f.id, detail)
        if self.facts.db is None:
            return
        target = self.new.entities.get(f.target or "")
        if target is None:
            return
        missing = _dangling(self.facts, table_name, f.id, entity_table_name(target))
        op.impact = {"rows": self.facts.count(table_name, f.id), "unconvertible": missing}
        if missing["count"] and not choice:
            self.blockers.append(
                f"TRL-E102 {key}: {missing['count']} record(s) link to an id that is no "
                f"{f.target} (records {', '.join(str(e['id']) for e in missing['examples'])}); "
                "choose a default (empty) or keep them in an archived column"
            )

    # -- options and closed value sets

    def _options(self, entity: Entity, old_f: FieldDef, f: FieldDef, table_name: str) -> None:
        if not (type_of(f).has_options and type_of(old_f).has_options):
            return
        new_ids = {o.id for o in f.options}
        renamed = {
            old: new
            for o in f.options
            for old in (getattr(o, "renamed_from", ()) or ())
            for new in [o.id]
        }
        old_ids = {o.id for o in old_f.options}
        for o in f.options:
            if o.id not in old_ids and o.id not in renamed.values():
                self._add("add_option", entity.id, f.id, {"option": o.id, "table": table_name})
        for oid in sorted(old_ids - new_ids):
            key = f"{entity.id}.{f.id}"
            target = (self.choices.get("maps") or {}).get(key, {}).get(oid) or renamed.get(oid)
            self._removed_value(
                "remove_option", entity, f, oid, target, new_ids, table_name, type_of(f).json_list
            )

    def _value_sets(self, old: Entity, new: Entity) -> None:
        """A feature's closed sets of system-field values (``Feature.value_sets``)."""
        table_name = entity_table_name(old)
        for f in new.system_fields:
            old_ids = set(self.old_sets.get(f"{old.id}.{f.id}", ()))
            new_ids = set(self.new_sets.get(f"{new.id}.{f.id}", ()))
            for value in sorted(new_ids - old_ids):
                self._add("add_value", new.id, f.id, {"value": value, "table": table_name})
            for value in sorted(old_ids - new_ids):
                target = (self.choices.get("maps") or {}).get(f"{new.id}.{f.id}", {}).get(value)
                self._removed_value(
                    "remove_value", new, f, value, target, new_ids, table_name, False
                )

    def _removed_value(self, kind, entity, f, value, target, allowed, table_name, is_list):
        key = f"{entity.id}.{f.id}"
        detail = {"option" if kind == "remove_option" else "value": value, "table": table_name}
        if target:
            detail["map_to"] = target
        op = self._add(kind, entity.id, f.id, detail)
        if self.facts.db is None or not self.facts.has_column(table_name, f.id):
            return
        examples, count = _records_using(self.facts, table_name, f.id, value, is_list)
        op.impact = {"in_use": count, "examples": examples}
        if target and target not in allowed:
            self.blockers.append(
                f"TRL-E104 {key}: '{value}' is mapped to '{target}', not one of its values"
            )
        elif count and not target:
            ids = ", ".join(str(e["id"]) for e in examples)
            code = "TRL-E103"
            self.blockers.append(
                f"{code} {key}: '{value}' is removed but {count} record(s) still use it "
                f"(records {ids}); map it to another in choices['maps']['{key}']"
            )


def _records_using(facts: _Facts, table_name: str, col: str, value: str, is_list: bool):
    examples, count = [], 0
    for row_id, stored in facts.values(table_name, col):
        items = _as_list(stored) if is_list else [stored]
        if value in items:
            count += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append({"id": row_id, "value": value})
    return examples, count


def _as_list(stored: Any) -> list:
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            return [stored]
    return list(stored) if isinstance(stored, list | tuple) else [stored]


def conversion_context(model: AppModel) -> CoerceContext:
    return CoerceContext(
        default_currency=model.default_currency, default_region=model.default_region
    )


def convert_value(old_f: FieldDef, f: FieldDef, stored: Any, model: AppModel) -> Any:
    """The stored value of ``old_f`` as a value of ``f`` (FieldInvalid when it has none)."""
    old_value = type_of(old_f).from_db(old_f, {old_f.id: stored}).get(old_f.id)
    if type_of(old_f).json_list and isinstance(old_value, str):
        old_value = _as_list(old_value)
    new_value = type_of(f).convert_from(f, old_f, old_value, conversion_context(model))
    db_values = type_of(f).to_db(f, {f.id: new_value})
    return db_values.get(f.id)


def _scan_conversion(facts: _Facts, table_name: str, old_f: FieldDef, f: FieldDef, model):
    rows, count, examples = 0, 0, []
    for row_id, stored in facts.values(table_name, old_f.id):
        rows += 1
        try:
            convert_value(old_f, f, stored, model)
        except (FieldInvalid, ValueError, TypeError, ArithmeticError):
            count += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append({"id": row_id, "value": str(stored)})
    return rows, {"count": count, "examples": examples}


def _dangling(facts: _Facts, table_name: str, col: str, target_table: str) -> dict[str, Any]:
    targets = set()
    if facts.has_table(target_table):
        targets = {row_id for row_id, _ in facts.values(target_table, "id")}
    count, examples = 0, []
    for row_id, value in facts.values(table_name, col):
        if int(value) not in targets:
            count += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append({"id": row_id, "value": value})
    return {"count": count, "examples": examples}
