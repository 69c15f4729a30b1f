"""Generate the REST API's OpenAPI 3.1 document from the compiled app model.

Field schemas come from the field-type registry (``FieldType.json_properties``), list
parameters from the same tables ``runtime.web.query`` parses with, so the document
cannot drift from what the API accepts and answers. Per entity ``<Entity>`` there are
the components ``<Entity>`` (a record as read), ``<Entity>Input`` (create),
``<Entity>Patch`` (partial update) and ``<Entity>List`` (a page of records).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runtime.definition.filter_terms import USER_FILTER_TOKENS, USER_TOKEN_OPERATORS
from runtime.definition.model import MAX_FILTER_DEPTH, AppModel, Entity, FieldDef
from runtime.definition.paths import USERS, link_target
from runtime.fieldtypes import BIGINT_MAX, max_rows_of, type_of
from runtime.fieldtypes.base import non_null_schema
from runtime.relative_dates import PATTERN as RELATIVE_PATTERN
from runtime.relative_dates import RELATIVE_OPERATORS
from runtime.web.cursors import MAX_CURSOR_LENGTH
from runtime.web.list_request import list_hooks_of
from runtime.web.query import (
    DEFAULT_PAGE_SIZE,
    MAX_IN_VALUES,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_LENGTH,
    MAX_SORT_KEYS,
    MAX_VALUE_LENGTH,
    MAX_WHERE_CONDITIONS,
    SUFFIXES,
    filter_operators,
    filterable_fields,
    sortable_fields,
    system_fields,
)

API_PREFIX = "/api/v1"
OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
# Keys of a record every reader sees, whatever their field permissions.
ALWAYS_PRESENT = ("id", "created_at", "updated_at", "row_version")
ERROR_COMPONENTS = ("Error", "ConflictError")
# System columns a caller may set: who owns the record (and the features' system
# fields that are not read-only, ``writable_system_fields``).
WRITABLE_SYSTEM_FIELDS = ("owner_id",)

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Malformed JSON, or a bad query parameter (the message names it)",
    401: "No credentials, or an unknown or revoked API key",
    403: "The user's roles do not allow this action or field",
    404: "No such entity or record, or a record outside the user's scope",
    409: "The request conflicts with the record's state or another record",
    412: "If-Match (or row_version) names an outdated version: someone saved first",
    413: "The request body is too large",
    415: "The body is not application/json",
    422: "Invalid field values; `fields` maps each field to its messages",
    428: "If-Match (or row_version in the body) is required for updates",
    429: "Too many requests; slow down and retry later",
}


def exposed_entities(model: AppModel) -> list[Entity]:
    """Entities the API serves: every entity some role may read or create."""
    granted: set[str] = set()
    for role in model.roles.values():
        for entity_id, perm in role.permissions.items():
            if perm.create or perm.read.kind != "none":
                granted.add(entity_id)
    if "*" in granted:
        return list(model.entities.values())
    return [e for e in model.entities.values() if e.id in granted]


def component_names(model: AppModel) -> dict[str, str]:
    """Entity id -> component name (``sales_order`` -> ``SalesOrder``), collision-free."""
    taken = set(ERROR_COMPONENTS)
    names: dict[str, str] = {}
    for entity in sorted(model.entities.values(), key=lambda e: e.id):
        base = "".join(part.capitalize() for part in entity.id.split("_") if part) or "Entity"
        name, n = base, 1
        while any(f"{name}{suffix}" in taken for suffix in ("", "Input", "Patch", "List")):
            n += 1
            name = f"{base}{n}"
        for suffix in ("", "Input", "Patch", "List"):
            taken.add(f"{name}{suffix}")
        names[entity.id] = name
    return names


# --------------------------------------------------------------------------- schemas


_non_null = non_null_schema  # the field types' own: without null among types and enum


def writable_system_fields(entity: Entity) -> frozenset[str]:
    """System columns a write may set: the owner, and the features' writable fields."""
    own = {f.id for f in entity.system_fields if not f.readonly}
    return frozenset(WRITABLE_SYSTEM_FIELDS) | own


def _system_property(field: FieldDef, writable: frozenset[str] = frozenset()) -> dict[str, Any]:
    schema = dict(type_of(field).json_schema(field))
    if field.id in ALWAYS_PRESENT:
        schema = _non_null(schema)
    if field.id in ("id", "row_version"):
        schema.update(minimum=1, maximum=BIGINT_MAX)
    if field.id not in (writable or WRITABLE_SYSTEM_FIELDS):
        schema.pop("maxLength", None)
        schema["readOnly"] = True
    schema["title"] = field.label.get("en")
    return schema


def _field_properties(field: FieldDef, locale: str) -> dict[str, dict[str, Any]]:
    props = copy.deepcopy(type_of(field).json_properties(field))
    main = props.get(field.id)
    if main is not None:
        main.setdefault("title", field.label.get(locale))
        if field.readonly or type_of(field).always_readonly:
            main["readOnly"] = True
    return props


def _writable(field: FieldDef) -> bool:
    return not (field.readonly or type_of(field).always_readonly)


def _row_input_schema(table: FieldDef, locale: str, *, partial: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {
            "type": "integer",
            "minimum": 1,
            "maximum": BIGINT_MAX,
            "description": "Id of an existing row to keep and update; omit for a new row.",
        },
        # What a read gives back may be sent again: the order sent is the rows' order.
        "position": {"type": "integer", "description": "Ignored: rows keep the order sent."},
    }
    required: list[str] = []
    for child in table.fields:
        if not _writable(child):
            continue
        child_props = _field_properties(child, locale)
        if child.required and not partial and child.default is None and child.required_if is None:
            child_props[child.id] = _non_null(child_props[child.id])
            required.append(child.id)
        props.update(child_props)
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def record_schema(entity: Entity, locale: str = "en") -> dict[str, Any]:
    """A record as the API returns it (fields the user may not read are absent)."""
    writable = writable_system_fields(entity)
    props: dict[str, Any] = {f.id: _system_property(f, writable) for f in system_fields(entity)}
    for field in entity.fields:
        props.update(_field_properties(field, locale))
    return {
        "type": "object",
        "title": entity.label.get(locale),
        "properties": props,
        "required": list(ALWAYS_PRESENT),
    }


def input_schema(entity: Entity, locale: str = "en", *, partial: bool = False) -> dict[str, Any]:
    """The body of a create (``partial=False``) or of a PATCH (``partial=True``)."""
    props: dict[str, Any] = {
        "owner_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": BIGINT_MAX,
            "description": "id of the user who owns the record (default: you, on create)",
        }
    }
    for system in entity.system_fields:  # a feature's field a write may set (stage)
        if not system.readonly:
            props[system.id] = {"type": "string", "minLength": 1, "maxLength": system.max_length}
    required: list[str] = []
    for field in entity.fields:
        if not _writable(field):
            continue
        if type_of(field).holds_rows:
            props[field.id] = {
                "type": ["array", "null"],
                "title": field.label.get(locale),
                "description": "Every row of the table: rows left out are removed.",
                "maxItems": max_rows_of(field),
                "items": _row_input_schema(field, locale, partial=False),
            }
            continue
        field_props = _field_properties(field, locale)
        if field.required and not partial and field.default is None and field.required_if is None:
            field_props[field.id] = _non_null(field_props[field.id])
            required.append(field.id)
        props.update(field_props)
    if partial:
        props["row_version"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": BIGINT_MAX,
            "description": "The version the change is based on, instead of If-Match.",
        }
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def list_schema(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [
            "data",
            "page",
            "page_size",
            "has_next",
            "has_prev",
            "next_cursor",
            "prev_cursor",
            "links",
        ],
        "properties": {
            "data": {"type": "array", "items": {"$ref": ref}},
            "page": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The page= asked for (1 without it); null when paging by cursor.",
            },
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "has_next": {"type": "boolean"},
            "has_prev": {"type": "boolean"},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as after= for the next page; null on the last page.",
            },
            "prev_cursor": {
                "type": ["string", "null"],
                "description": "Pass as before= for the previous page; null on the first.",
            },
            "links": {
                "type": "object",
                "required": ["next", "prev"],
                "properties": {
                    "next": {"type": ["string", "null"]},
                    "prev": {"type": ["string", "null"]},
                },
            },
        },
    }


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": "string", "description": "The query parameter at fault."},
                "fields": {
                    "type": "object",
                    "description": "Field id (or __all__) -> messages in the request locale.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
                "duplicates": {
                    "type": "object",
                    "description": "Unique field id -> the readable record that already has the value.",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "entity": {"type": "string"},
                            "id": {"type": "integer"},
                            "title": {"type": "string"},
                            "url": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}

CONFLICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "current_version"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "current_version": {"type": "integer"},
                "fields": {
                    "type": "object",
                    "description": "Fields changed since your version: their value now, who and when.",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "new": {},
                            "by": {"type": ["integer", "null"]},
                            "at": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        }
    },
}


# --------------------------------------------------------------------------- parameters


def _value_schema(field: FieldDef) -> dict[str, Any]:
    """The schema of one filter value of ``field`` (a query string, never null)."""
    return type_of(field).filter_value_schema(field, MAX_VALUE_LENGTH)


def _filter_parameter(field: FieldDef, op: str) -> dict[str, Any]:
    suffix = next((s for s, o in SUFFIXES.items() if o == op), "")
    name = field.id if op == "eq" else f"{field.id}__{suffix}"
    value = _value_schema(field)
    user_tokens = type_of(field).references == "user" and op in USER_TOKEN_OPERATORS
    if user_tokens:
        # me / my_team: the caller, or the members of the caller's teams.
        value = {"oneOf": [value, {"type": "string", "enum": list(USER_FILTER_TOKENS)}]}
    relative = type_of(field).temporal and op in RELATIVE_OPERATORS
    if relative:
        # today, this_quarter, last_30_days...: days in the app's calendar
        value = {"oneOf": [value, {"type": "string", "pattern": RELATIVE_PATTERN}]}
    param: dict[str, Any] = {"name": name, "in": "query", "required": False}
    if op == "isnull":
        param["schema"] = {"type": "boolean"}
        param["description"] = f"true: {field.id} is empty; false: it is not"
    elif op in ("in", "between"):
        size = (2, 2) if op == "between" else (1, MAX_IN_VALUES)
        param.update(style="form", explode=False)
        param["schema"] = {
            "type": "array",
            "items": value,
            "minItems": size[0],
            "maxItems": size[1],
        }
        param["description"] = (
            f"{field.id} between two values (inclusive), comma-separated"
            if op == "between"
            else f"{field.id} is one of these comma-separated values"
        )
    else:
        if op == "contains" and value.get("type") == "string" and "enum" not in value:
            value = {"type": "string", "minLength": 1, "maxLength": MAX_VALUE_LENGTH}
        param["schema"] = value
        param["description"] = f"{field.id} {op} value"
    if user_tokens:
        param["description"] += " (a user id, me, or my_team: the members of the caller's teams)"
    if relative:
        param["description"] += (
            " (or a relative date: today, yesterday, tomorrow, this_/last_/next_ week, month,"
            " quarter or year, last_N_days, next_N_days; in the app's time zone)"
        )
    return param


def _linked_entities(entity: Entity, entities: Mapping[str, Entity]) -> list[tuple[str, Entity]]:
    """(link field id, entity it reaches) of ``entity``'s record links: the first hop of
    the link paths a list may filter and sort by (``account.industry__in=``)."""
    found = []
    for f in entity.fields:
        target = link_target(f)
        if target is not None and target != USERS and target in entities:
            found.append((f.id, entities[target]))
    return found


def _path_filter_parameters(entity: Entity, entities: Mapping[str, Entity]) -> list[dict[str, Any]]:
    """One hop of link paths: a filter per operator of each field of a linked entity.
    Deeper paths (account.owner.team) are accepted too, but not enumerated here."""
    params = []
    for link, target in _linked_entities(entity, entities):
        for field in filterable_fields(target).values():
            hop = dataclasses.replace(field, id=f"{link}.{field.id}")
            for op in filter_operators(field):
                param = _filter_parameter(hop, op)
                param["description"] += f" (through the link {link}; the reader's scope applies)"
                params.append(param)
    return params


def list_parameters(
    entity: Entity,
    terms: Mapping[str, Any] | None = None,
    entities: Mapping[str, Entity] | None = None,
) -> list[dict[str, Any]]:
    """A list's query parameters; with ``entities`` (the app's), the one-hop link paths
    too (``account.industry__in``, ``sort=-account.open_pipeline``)."""
    sort_keys = [k for f in sortable_fields(entity) for k in (f, f"-{f}")]
    for link, target in _linked_entities(entity, entities or {}):
        sort_keys += [k for f in sortable_fields(target) for k in (f"{link}.{f}", f"-{link}.{f}")]
    params: list[dict[str, Any]] = [
        {
            "name": "sort",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": 'Sort keys, comma-separated; "-" in front sorts descending.',
            "schema": {
                "type": "array",
                "items": {"type": "string", "enum": sort_keys},
                "minItems": 1,
                "maxItems": MAX_SORT_KEYS,
                "uniqueItems": True,
            },
        },
        {
            "name": "after",
            "in": "query",
            "required": False,
            "description": (
                "Keyset paging: the page after this cursor (next_cursor of a list response"
                " with the same sort). A deep page costs what the first one costs."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
        },
        {
            "name": "before",
            "in": "query",
            "required": False,
            "description": "Keyset paging: the page before this cursor (prev_cursor).",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
        },
        {
            "name": "page",
            "in": "query",
            "required": False,
            "deprecated": True,
            "description": (
                "OFFSET paging, kept for old clients: slower the deeper it goes, at most"
                f" {MAX_PAGE}; not together with after/before. Use next_cursor instead."
            ),
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        },
        {
            "name": "page_size",
            "in": "query",
            "required": False,
            "description": f"Records per page; more than {MAX_PAGE_SIZE} is a 400 error.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE,
            },
        },
        {
            "name": "q",
            "in": "query",
            "required": False,
            "description": "Full-text search over the entity's search fields.",
            "schema": {"type": "string", "maxLength": MAX_SEARCH_LENGTH},
        },
        *GROUP_PARAMETERS,
    ]
    for field in filterable_fields(entity).values():
        params.extend(_filter_parameter(field, op) for op in filter_operators(field))
    params += _path_filter_parameters(entity, entities or {})
    fields = filterable_fields(entity)
    for name, term in (terms or {}).items():  # the features' named terms (QueryTerm)
        if name not in fields:
            params.extend(term.parameters())
    return params


# A filter condition or group of ``where=`` (runtime.web.query), as JSON Schema.
FILTER_GROUP_SCHEMA: dict[str, Any] = {
    "$defs": {
        "condition": {
            "type": "object",
            "required": ["field"],
            "additionalProperties": False,
            "properties": {
                "field": {"type": "string"},
                "op": {"enum": ["eq", *SUFFIXES.values()], "default": "eq"},
                "value": {},
            },
        },
        "item": {"anyOf": [{"$ref": "#/$defs/condition"}, {"$ref": "#/$defs/group"}]},
        "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}},
        "group": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                "any": {"$ref": "#/$defs/items"},
                "all": {"$ref": "#/$defs/items"},
                "not": {"anyOf": [{"$ref": "#/$defs/item"}, {"$ref": "#/$defs/items"}]},
            },
        },
    },
    "anyOf": [{"$ref": "#/$defs/item"}, {"$ref": "#/$defs/items"}],
}
GROUP_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "where",
        "in": "query",
        "required": False,
        "description": (
            "Nested and/or filter groups as JSON, ANDed with the other filters: a condition"
            ' {"field": "amount", "op": "gte", "value": 1000}, or a group {"any": [...]},'
            ' {"all": [...]}, {"not": ...} (a list is an "all" group). Values as in the'
            f" filter parameters (relative dates, me, my_team); at most {MAX_FILTER_DEPTH}"
            f" levels of groups and {MAX_WHERE_CONDITIONS} conditions. A field the caller"
            " may not read is a 400 error, as in a parameter."
        ),
        "content": {JSON: {"schema": FILTER_GROUP_SCHEMA}},
    },
    {
        "name": "match",
        "in": "query",
        "required": False,
        "description": "all: every filter parameter must hold (the default); any: one of them.",
        "schema": {"enum": ["all", "any"], "default": "all"},
    },
)


ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
}
IF_MATCH_PARAMETER = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The record\'s ETag, "<row_version>"; required unless the body has row_version.',
    "schema": {"type": "string", "pattern": '^(W/)?"[1-9][0-9]{0,17}"$'},
}


# --------------------------------------------------------------------------- operations


def _responses(ok: int | None, ref: str | None, codes: Iterable[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ok is not None and ref is not None:
        headers: dict[str, Any] = {}
        if not ref.endswith("List"):
            headers["ETag"] = {
                "description": 'The record\'s version, "<row_version>"; send it back as If-Match.',
                "schema": {"type": "string"},
            }
        if ok == 201:
            headers["Location"] = {
                "description": "URL of the new record",
                "schema": {"type": "string"},
            }
        out[str(ok)] = {
            "description": STATUS_TEXT[ok],
            "headers": headers,
            "content": {JSON: {"schema": {"$ref": ref}}},
        }
    for code in sorted(set(codes)):
        schema = "ConflictError" if code == 412 else "Error"
        response: dict[str, Any] = {
            "description": STATUS_TEXT[code],
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        if code == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[str(code)] = response
    return out


COMMON_ERRORS = (400, 401, 403, 404, 429)
BODY_ERRORS = (409, 413, 415, 422)


def _json_body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": {"$ref": ref}}}}


def entity_paths(
    entity: Entity,
    name: str,
    locale: str,
    terms: Mapping[str, Any] | None = None,
    entities: Mapping[str, Entity] | None = None,
) -> dict[str, Any]:
    ref = f"#/components/schemas/{name}"
    label = entity.plural.get(locale)
    tags = [entity.id]
    collection = {
        "get": {
            "operationId": f"list_{entity.id}",
            "summary": f"List {label}",
            "description": "Archived records are left out unless a filter on archived_at asks for them.",
            "tags": tags,
            "parameters": list_parameters(entity, terms, entities),
            "responses": _responses(200, f"{ref}List", COMMON_ERRORS),
        },
        "post": {
            "operationId": f"create_{entity.id}",
            "summary": f"Create a {entity.label.get(locale)}",
            "tags": tags,
            "requestBody": _json_body(f"{ref}Input"),
            "responses": _responses(201, ref, COMMON_ERRORS + BODY_ERRORS),
        },
    }
    item = {
        "parameters": [ID_PARAMETER],
        "get": {
            "operationId": f"get_{entity.id}",
            "summary": f"Read a {entity.label.get(locale)}",
            "tags": tags,
            "responses": _responses(200, ref, COMMON_ERRORS),
        },
        "patch": {
            "operationId": f"update_{entity.id}",
            "summary": f"Change some fields of a {entity.label.get(locale)}",
            "tags": tags,
            "parameters": [IF_MATCH_PARAMETER],
            "requestBody": _json_body(f"{ref}Patch"),
            "responses": _responses(200, ref, COMMON_ERRORS + BODY_ERRORS + (412, 428)),
        },
        "delete": {
            "operationId": f"archive_{entity.id}",
            "summary": f"Archive a {entity.label.get(locale)} (it can be restored)",
            "tags": tags,
            "responses": _responses(200, ref, COMMON_ERRORS + (409,)),
        },
    }
    restore = {
        "parameters": [ID_PARAMETER],
        "post": {
            "operationId": f"restore_{entity.id}",
            "summary": f"Restore an archived {entity.label.get(locale)}",
            "tags": tags,
            "responses": _responses(200, ref, COMMON_ERRORS + (409,)),
        },
    }
    base = f"/{entity.id}"
    return {
        base: collection,
        f"{base}/aggregate": aggregate_path(entity, label, tags, terms, entities),
        f"{base}/{{id}}": item,
        f"{base}/{{id}}/restore": restore,
    }


AGGREGATE_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["data", "dimensions", "measures", "currency_keys", "has_more"],
    "properties": {
        "data": {
            "type": "array",
            "description": (
                "One object per group: each dimension key, each currency key and each"
                " measure key with its value, and labels (dimension key -> the option"
                " label, user name or record title)."
            ),
            "items": {"type": "object"},
        },
        "dimensions": {"type": "array", "items": {"type": "object"}},
        "measures": {"type": "array", "items": {"type": "object"}},
        "currency_keys": {"type": "array", "items": {"type": "string"}},
        "has_more": {"type": "boolean"},
    },
}


def aggregate_path(
    entity: Entity,
    label: str,
    tags: list[str],
    terms: Mapping[str, Any] | None = None,
    entities: Mapping[str, Entity] | None = None,
) -> dict[str, Any]:
    """``GET /<entity>/aggregate``: grouped measures, filtered as the list is."""
    paging = {"sort", "after", "before", "page", "page_size"}
    filters = [p for p in list_parameters(entity, terms, entities) if p["name"] not in paging]
    own = [
        {
            "name": "group",
            "in": "query",
            "required": False,
            "explode": True,
            "description": (
                "A dimension, repeated for several: a field (select, user, link, boolean,"
                " text...), a link path (account.region), or a date / date-time field with"
                " a bucket: close_date:day, :week (its Monday), :month (2026-04),"
                " :quarter (2026-Q2) or :year, in the app's time zone."
            ),
            "schema": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        },
        {
            "name": "measure",
            "in": "query",
            "required": False,
            "explode": True,
            "description": (
                "count (the default), count:<field> (where set), sum:, avg:, min:, max:"
                " or count_distinct:<field>, repeated for several. Money is summed per"
                " currency (the rows carry <field>_currency)."
            ),
            "schema": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        },
        {
            "name": "sort",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": 'Group or measure keys, comma-separated; "-" first: descending.',
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "At most this many groups (has_more says whether more exist).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000},
        },
    ]
    return {
        "get": {
            "operationId": f"aggregate_{entity.id}",
            "summary": f"Grouped counts, sums and averages of {label}",
            "description": (
                "Over the records the caller may read; grouping or measuring a field"
                " the caller may not read is a 400 error."
            ),
            "tags": tags,
            "parameters": own + filters,
            "responses": {
                "200": {
                    "description": STATUS_TEXT[200],
                    "content": {JSON: {"schema": AGGREGATE_RESPONSE}},
                },
                **{k: v for k, v in _responses(None, None, COMMON_ERRORS).items()},
            },
        }
    }


def build_openapi(
    model: AppModel, *, locale: str | None = None, features: Any = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API over ``model`` (paths relative to /api/v1).

    ``features`` (a ``FeatureSet``) add their list terms' parameters (``list_filters``)
    and their own path items (``openapi_paths``)."""
    locale = locale or model.default_locale
    names = component_names(model)
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "ConflictError": CONFLICT_SCHEMA}
    paths: dict[str, Any] = {}
    entities = sorted(exposed_entities(model), key=lambda e: e.id)
    for entity in entities:
        name = names[entity.id]
        schemas[name] = record_schema(entity, locale)
        schemas[f"{name}Input"] = input_schema(entity, locale)
        schemas[f"{name}Patch"] = input_schema(entity, locale, partial=True)
        schemas[f"{name}List"] = list_schema(f"#/components/schemas/{name}")
        terms = list_hooks_of(features, model, entity).terms
        paths.update(entity_paths(entity, name, locale, terms, model.entities))
    if features:
        for path, item in features.merge("openapi_paths", model).items():
            if path in paths:
                raise ValueError(f"openapi_paths: {path!r} is an entity's path already")
            paths[path] = item
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": f"{model.label.get(locale)} API",
            "version": model.version or "0",
            "description": DESCRIPTION,
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": e.id, "description": e.plural.get(locale)} for e in entities],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `trellis apikey create EMAIL`.",
                }
            },
        },
    }


DESCRIPTION = re.sub(
    r"\s+",
    " ",
    """
Records of every entity, read and written through the same permission, validation,
formula and audit rules as the screens. Authenticate with `Authorization: Bearer <key>`.
Updates need `If-Match: "<row_version>"` (from the ETag of the last read) or
`row_version` in the body; a stale version is answered with 412 and the fields changed
since. Dates are ISO 8601 (`YYYY-MM-DD`), date-times ISO 8601 in UTC with an offset.
Money is a JSON number plus `<field>_currency`; decimals are JSON numbers written with
the field's precision. Errors are always `{"error": {"code", "message", "fields"}}`.
This document itself needs no authentication.
""",
).strip()


__all__ = [
    "API_PREFIX",
    "build_openapi",
    "component_names",
    "exposed_entities",
    "input_schema",
    "list_parameters",
    "record_schema",
]
