"""Check and compile an entity's ``indexes:``: each index's keys name indexable fields or
system columns, once each, and no two indexes are the same (``IndexDef`` objects)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from runtime import fieldtypes

from .. import codes
from ..loader import Document
from ..model import Entity, FieldDef, IndexDef
from .base import Checker, did_you_mean

MAX_INDEX_KEYS = 8  # beyond this an index costs every write more than it saves any read


def indexable(field: FieldDef) -> bool:
    """Whether ``field`` has one column an index can order (not long text, JSON lists,
    child tables or formulas computed on read)."""
    ftype = fieldtypes.type_of(field)
    return not ftype.holds_rows and not ftype.json_list and ftype.sort_column(field) is not None


def compile_indexes(
    checker: Checker,
    doc: Document,
    raw_indexes: list[dict],
    fields: Iterable[FieldDef],
    system_ids: Iterable[str],
    obj: str,
) -> tuple[IndexDef, ...]:
    """The declared indexes of one entity; every mistake is reported on ``checker``."""
    by_id = {f.id: f for f in fields}
    system = set(system_ids)
    known = sorted(set(by_id) | system)
    found: list[IndexDef] = []
    seen_keys: dict[tuple[str, ...], int] = {}
    seen_names: dict[str, int] = {}
    for n, raw in enumerate(raw_indexes):
        path = ("indexes", n)
        index_obj = f"{obj} index {raw.get('name') or n + 1}"
        keys = _keys(checker, doc, path, raw["fields"], by_id, system, known, index_obj)
        if keys is None:
            continue
        line = doc.line(*path)
        columns = tuple(k.lstrip("-+") for k in keys)
        if columns in seen_keys:
            checker.report(
                codes.DUPLICATE_INDEX,
                doc,
                path + ("fields",),
                index_obj,
                f"an index on {', '.join(columns)} is declared already (line {seen_keys[columns]})",
                "remove one of them",
            )
            continue
        seen_keys[columns] = line
        name = raw.get("name")
        if name is not None:
            if name in seen_names:
                checker.report(
                    codes.DUPLICATE_INDEX,
                    doc,
                    path + ("name",),
                    index_obj,
                    f"index name '{name}' is used twice (first on line {seen_names[name]})",
                    "give each index its own name, or leave name out",
                )
                continue
            seen_names[name] = line
        found.append(IndexDef(keys=keys, name=name, place=checker.place(doc, path)))
    return tuple(found)


def _keys(
    checker: Checker,
    doc: Document,
    path: tuple,
    raw_keys: list[str],
    by_id: Mapping[str, FieldDef],
    system: set[str],
    known: list[str],
    obj: str,
) -> tuple[str, ...] | None:
    """The keys of one index, or None (reported) when one of them is wrong."""
    ok = True
    if len(raw_keys) > MAX_INDEX_KEYS:
        checker.report(
            codes.INDEX_TOO_WIDE,
            doc,
            path + ("fields",),
            obj,
            f"the index has {len(raw_keys)} keys; at most {MAX_INDEX_KEYS} are allowed",
            "keep the keys a filter compares for equality, then the sort keys",
        )
        ok = False
    seen: set[str] = set()
    for m, key in enumerate(raw_keys):
        name = key.lstrip("-+")
        where = path + ("fields", m)
        if name in seen:
            checker.report(
                codes.REPEATED_INDEX_KEY,
                doc,
                where,
                obj,
                f"'{name}' appears twice in the index",
                "name each field once",
            )
            ok = False
            continue
        seen.add(name)
        if name in system:
            continue
        field = by_id.get(name)
        if field is None:
            checker.report(
                codes.UNKNOWN_INDEX_FIELD,
                doc,
                where,
                obj,
                f"index key '{name}' is not a field",
                did_you_mean(name, known),
            )
            ok = False
        elif not indexable(field):
            checker.report(
                codes.UNINDEXABLE_FIELD,
                doc,
                where,
                obj,
                f"field '{name}' ({field.type}) has no column an index can hold",
                "index fields that can be sorted: text, numbers, dates, choices, links",
            )
            ok = False
    return tuple(raw_keys) if ok else None


def check_index_names(checker: Checker, entities: Mapping[str, Entity], docs: Mapping) -> None:
    """A declared name is one index of the whole database (PostgreSQL keeps index and
    table names in one namespace): not another entity's index, not a table's name."""
    tables = {entity.table_name for entity in entities.values()}
    first: dict[str, str] = {}
    for entity in entities.values():
        doc = docs.get(entity.id)
        raw = (doc.data.get("indexes") or []) if doc is not None else []
        for index in entity.indexes:
            if index.name is None:
                continue
            n = next((i for i, r in enumerate(raw) if r.get("name") == index.name), 0)
            obj = f"entity '{entity.id}' index {index.name}"
            if index.name in tables or index.name.startswith(("ent_", "sys_")):
                checker.report(
                    codes.INDEX_NAME_TAKEN,
                    doc,
                    ("indexes", n, "name"),
                    obj,
                    f"index name '{index.name}' is (or may become) a table's name",
                    "start the name with ix_",
                )
            elif index.name in first and first[index.name] != entity.id:
                checker.report(
                    codes.INDEX_NAME_TAKEN,
                    doc,
                    ("indexes", n, "name"),
                    obj,
                    f"index name '{index.name}' is used by entity '{first[index.name]}' too",
                    "give each index its own name, or leave name out",
                )
            else:
                first.setdefault(index.name, entity.id)
