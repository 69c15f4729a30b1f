"""The REST API at ``/api/v1``: records of every exposed entity, and its OpenAPI document.

Each view parses the request, makes one repository call and renders the result as
JSON; permissions, validation, formulas, locking and audit are the repository's. What
the API adds is the HTTP contract, documented in ``runtime.web.openapi``:

* ``GET /<entity>`` lists through the list screen's context (``runtime.web.list_context``,
  read strictly: filters, sort and paging from ``runtime.web.query``), with
  ``has_next`` from fetching one row more than the page: no COUNT. ``page_size`` over
  200 is a 400 error, not silently clamped, so a client never misses rows. Paging is
  by keyset: ``next_cursor`` / ``prev_cursor`` (signed, ``runtime.web.cursors``) go
  back as ``after=`` / ``before=``; the old ``page=`` (OFFSET) still works, bounded.
* ``POST /<entity>`` creates (201, ``Location``, ``ETag``); ``GET /<entity>/<id>``
  reads; ``PATCH`` needs ``If-Match: "<row_version>"`` or ``row_version`` in the body
  (428 without, 412 with the changed fields when stale); ``DELETE`` archives and
  ``POST .../restore`` restores. Records outside the user's scope are 404.
* Bodies must be ``application/json`` objects (415, 400). Strings with a NUL character
  or a lone surrogate and non-finite numbers are refused with 422 before any SQL runs.
* Output: dates and date-times ISO 8601 (date-times in UTC, with an offset); decimals
  and money are JSON numbers written exactly as stored (``"amount": 1234.50``) with the
  currency in ``<field>_currency``; child tables are lists of row objects.
* Errors are ``{"error": {"code", "message", "fields"?}}``; validation messages are in
  the request's locale (``Accept-Language``, else the user's own).
* ``GET /openapi.json`` is public: it describes the app's entities and fields, no data,
  and client generators fetch it without credentials.
"""

from __future__ import annotations

import json
import json.encoder
import logging
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request, url_for
from flask_login import current_user
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException

from runtime.definition.model import AppModel, Entity
from runtime.errors import (
    ConflictError,
    FieldMessage,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from runtime.fieldtypes import BIGINT_MAX, CoerceContext, FieldInvalid, type_of
from runtime.store.keyset import StaleCursor
from runtime.web.auth import public
from runtime.web.cursors import codec_for
from runtime.web.i18n import get_timezone
from runtime.web.list_context import read_list, resolve_api_request
from runtime.web.list_request import ListEnv
from runtime.web.openapi import build_openapi, exposed_entities
from runtime.web.query import (
    AGGREGATE_PARAMS,
    CURSOR_PARAMS,
    QueryError,
    parse_aggregate_query,
)

log = logging.getLogger("trellis.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_BODY_BYTES = 1_000_000
JSON_TYPES = ("application/json",)


class ApiError(Exception):
    """An HTTP error of the API with its JSON body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        super().__init__(message)


# --------------------------------------------------------------------------- JSON out


def to_json(value: Any) -> str:
    """JSON text of API values: Decimal as an exact number, dates as ISO 8601."""
    parts: list[str] = []
    _write(value, parts.append)
    return "".join(parts)


# The C string encoder json.dumps(..., ensure_ascii=False) uses, without building a
# JSONEncoder per call (that was most of the time of a list page's serialization).
_json_string = json.encoder.encode_basestring


def _write(value: Any, out) -> None:
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, str):
        out(_json_string(value))
    elif isinstance(value, int):
        out(str(int(value)))
    elif isinstance(value, float):
        out(repr(value) if math.isfinite(value) else "null")
    elif isinstance(value, Decimal):
        out(format(value, "f") if value.is_finite() else "null")
    elif isinstance(value, datetime):
        out('"' + iso_datetime(value) + '"')
    elif isinstance(value, date):
        out('"' + value.isoformat() + '"')
    elif isinstance(value, Mapping):
        out("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out(",")
            out(_json_string(str(key)))
            out(":")
            _write(item, out)
        out("}")
    elif isinstance(value, list | tuple | set | frozenset):
        out("[")
        for i, item in enumerate(value):
            if i:
                out(",")
            _write(item, out)
        out("]")
    else:
        out(json.dumps(str(value), ensure_ascii=False))


def iso_datetime(value: datetime) -> str:
    """ISO 8601 with an offset; naive values are UTC (as the store writes them)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None):
    response = Response(to_json(payload), status=status, mimetype="application/json")
    for key, val in (headers or {}).items():
        response.headers[key] = val
    return response


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


# --------------------------------------------------------------------------- request helpers


def _services():
    return current_app.extensions["trellis"]


def _model() -> AppModel:
    return _services().model


def _principal():
    if not current_user or not current_user.is_authenticated:
        raise ApiError(401, "unauthorized", "Sign in, or send a valid API key.")
    return current_user.principal


def _locale(principal: Any = None) -> str:
    """Accept-Language when the client sends one, else the user's locale, else the app's."""
    model = _model()
    if request.headers.get("Accept-Language"):
        best = request.accept_languages.best_match(list(model.locales))
        if best:
            return best
    own = getattr(principal, "locale", None)
    if own:
        base = own.replace("-", "_").split("_")[0]
        if base in model.locales:
            return base
    return model.default_locale


def _coerce_context(locale: str) -> CoerceContext:
    model = _model()
    return CoerceContext(
        default_currency=model.default_currency,
        default_region=model.default_region,
        locale=locale,
    )


def _entity(entity_id: str) -> Entity:
    model = _model()
    entity = model.entities.get(entity_id)
    if entity is None or entity_id not in {e.id for e in exposed_entities(model)}:
        raise ApiError(404, "not_found", f"No entity '{entity_id}'.")
    g.api_entity = entity
    return entity


def _record_id(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:
        number = int(raw)
        if 0 < number <= BIGINT_MAX:
            return number
    raise ApiError(404, "not_found", "No such record.")


def _json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 415/413/400/422 ApiError."""
    if request.mimetype not in JSON_TYPES and not request.mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(
            400, "malformed_json", f"The body is not valid JSON: {_short(exc)}"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    problems = _unsafe_values(data)
    if problems:
        raise ValidationError(problems)
    return data


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from "\ud800": no database stores it
        return True
    return False


def _unsafe_values(data: dict[str, Any]) -> dict[str, list[FieldMessage]]:
    """Values no database column can hold, by top-level key (checked without recursion)."""
    problems: dict[str, list[FieldMessage]] = {}
    for key, value in data.items():
        name = key if not _bad_text(key) else repr(key)[1:-1]
        stack = [key, value]
        while stack:
            item = stack.pop()
            message = None
            if isinstance(item, str) and _bad_text(item):
                message = FieldMessage("invalid")
            elif isinstance(item, float) and not math.isfinite(item):
                message = FieldMessage("number_too_large")
            elif isinstance(item, dict):
                for k, v in item.items():
                    stack.extend((k, v))
            elif isinstance(item, list):
                stack.extend(item)
            if message is not None:
                problems[name] = [message]
                break
    return problems


def _if_match() -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    text = header.strip()
    if text == "*":
        raise ApiError(
            428, "precondition_required", 'If-Match must name a version: "<row_version>".'
        )
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18):
        raise ApiError(400, "bad_request", 'If-Match must be a record version: "<row_version>".')
    return int(text)


def _body_version(body: dict[str, Any]) -> int | None:
    if "row_version" not in body:
        return None
    value = body.pop("row_version")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= BIGINT_MAX:
        raise ValidationError({"row_version": [FieldMessage("not_an_integer")]})
    return value


def _etag(record: Mapping[str, Any]) -> dict[str, str]:
    version = record.get("row_version")
    return {"ETag": f'"{version}"'} if version is not None else {}


def _record_response(record: Mapping[str, Any], status: int = 200, **headers: str):
    return json_response(record, status, {**_etag(record), **headers})


def _page_link(param: str, cursor: str | None) -> str | None:
    """This request's URL on the page after / before, by cursor (page= dropped)."""
    if cursor is None:
        return None
    paging = ("page", *CURSOR_PARAMS)
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in paging]
    args.append((param, cursor))
    return f"{request.path}?{urlencode(args)}"


# --------------------------------------------------------------------------- views


@bp.get("/openapi.json")
@public
def openapi_document():
    model = _model()
    cache = current_app.extensions.setdefault("trellis_openapi", {})
    key = (model.digest, id(model))
    if key not in cache:
        cache.clear()
        cache[key] = to_json(build_openapi(model, features=_services().features))
    return Response(cache[key], mimetype="application/json")


@bp.get("/<entity_id>")
def list_records(entity_id: str):
    principal = _principal()
    entity = _entity(entity_id)
    # The list screen's context, read the API's way: the features' named terms and
    # ?<param>=1 switches (pipelines: stage_kind, idle), cursors, relative dates.
    env = ListEnv(
        _services(), principal, _locale(principal), get_timezone(), codec_for(current_app)
    )
    try:
        data = read_list(env, entity.id, request.args, api=True)
    except ValidationError as exc:
        # A filter or sort key the repository refused (a link path with an unknown or
        # unreadable hop, a value its end field does not take): a bad query, as the
        # parser answers for a field of the entity itself.
        param, messages = next(iter(exc.errors.items()))
        raise QueryError(param, messages[0].text(env.locale) if messages else "invalid") from None
    query, page = data.request, data.page
    next_cursor = data.cursor(env, "after")
    prev_cursor = data.cursor(env, "before")
    return json_response(
        {
            "data": data.rows,
            "page": None if data.by_cursor else query.page,
            "page_size": query.page_size,
            "has_next": bool(page.has_next),
            "has_prev": bool(page.has_prev),
            "next_cursor": next_cursor,
            "prev_cursor": prev_cursor,
            "links": {
                "next": _page_link("after", next_cursor),
                "prev": _page_link("before", prev_cursor),
            },
        }
    )


@bp.get("/<entity_id>/aggregate")
def aggregate_records(entity_id: str):
    """Grouped measures over the records the caller may read (``Repository.aggregate``),
    filtered as ``GET /<entity>`` filters; a hidden or unusable field is a 400."""
    principal = _principal()
    entity = _entity(entity_id)
    env = ListEnv(_services(), principal, _locale(principal), get_timezone())
    asked = parse_aggregate_query(request.args)
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k not in AGGREGATE_PARAMS]
    req = resolve_api_request(env, entity.id, pairs)
    try:
        result = _services().repo.aggregate(
            principal,
            entity.id,
            filters=list(req.filters),
            search=req.search,
            archived=None if req.show_archived else False,
            group_by=list(asked.group_by),
            measures=list(asked.measures),
            sort=list(asked.sort),
            limit=asked.limit,
        )
    except ValidationError as exc:
        # Like a filter on a hidden field: the same 400, naming what was refused.
        key, messages = next(iter(exc.errors.items()))
        param = "sort" if key == "sort" else "where" if key == "where" else "group/measure"
        text = messages[0].text(_locale(principal))
        raise QueryError(param, "%(key)s: %(problem)s", key=key, problem=text) from None
    return json_response(
        {
            "data": result.rows,
            "dimensions": [
                {"key": d.key, "field": d.field, "bucket": d.bucket} for d in result.dimensions
            ],
            "measures": [{"key": m.key, "fn": m.fn, "field": m.field} for m in result.measures],
            "currency_keys": list(result.currency_keys),
            "has_more": result.has_more,
        }
    )


@bp.post("/<entity_id>")
def create_record(entity_id: str):
    principal = _principal()
    entity = _entity(entity_id)
    body = _json_object()
    record = _services().repo.create(principal, entity.id, body)
    location = url_for("api.get_record", entity_id=entity.id, record_id=record["id"])
    return _record_response(record, 201, Location=location)


@bp.get("/<entity_id>/<record_id>")
def get_record(entity_id: str, record_id: str):
    principal = _principal()
    entity = _entity(entity_id)
    record = _services().repo.get(principal, entity.id, _record_id(record_id))
    return _record_response(record)


@bp.patch("/<entity_id>/<record_id>")
def update_record(entity_id: str, record_id: str):
    principal = _principal()
    entity = _entity(entity_id)
    rid = _record_id(record_id)
    body = _json_object()
    header_version = _if_match()
    body_version = _body_version(body)
    if header_version is not None and body_version is not None and header_version != body_version:
        raise ApiError(400, "bad_request", "If-Match and row_version name different versions.")
    version = header_version if header_version is not None else body_version
    if version is None:
        raise ApiError(
            428,
            "precondition_required",
            'Send If-Match: "<row_version>" (the ETag you read) or row_version in the body.',
        )
    g.api_precondition = True  # a ConflictError now means "your version is stale": 412
    record = _services().repo.update(principal, entity.id, rid, body, row_version=version)
    return _record_response(record)


@bp.delete("/<entity_id>/<record_id>")
def archive_record(entity_id: str, record_id: str):
    principal = _principal()
    entity = _entity(entity_id)
    record = _services().repo.archive(principal, entity.id, _record_id(record_id))
    return _record_response(record)


@bp.post("/<entity_id>/<record_id>/restore")
def restore_record(entity_id: str, record_id: str):
    principal = _principal()
    entity = _entity(entity_id)
    record = _services().repo.restore(principal, entity.id, _record_id(record_id))
    return _record_response(record)


# --------------------------------------------------------------------------- errors


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    headers = {"WWW-Authenticate": 'Bearer realm="trellis"'} if exc.status == 401 else None
    return json_response(error_body(exc.code, exc.message, **exc.extra), exc.status, headers)


@bp.errorhandler(QueryError)
def _query_error(exc: QueryError):
    return json_response(
        error_body("bad_query", f"{exc.param}: {exc.message}", param=exc.param), 400
    )


@bp.errorhandler(StaleCursor)
def _stale_cursor(exc: StaleCursor):
    return _query_error(QueryError(exc.param, exc.message))


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError):
    locale = _locale(getattr(current_user, "principal", None))
    extra: dict[str, Any] = {}
    duplicates = _duplicates(exc)
    if duplicates:
        extra["duplicates"] = duplicates
    return json_response(
        error_body(exc.code, "Some values are not valid.", fields=exc.as_dict(locale), **extra),
        422,
    )


def _duplicates(exc: ValidationError) -> dict[str, dict[str, Any]]:
    """Field id -> the record already holding that unique value (one the caller may read)."""
    found = {}
    for key, messages in exc.errors.items():
        for message in messages:
            if message.code != "duplicate_of":
                continue
            entity_id, record_id = message.params["entity_id"], message.params["record_id"]
            found[key] = {
                "entity": entity_id,
                "id": record_id,
                "title": message.params.get("title", ""),
                "url": url_for("api.get_record", entity_id=entity_id, record_id=record_id),
            }
    return found


@bp.errorhandler(PermissionDenied)
def _permission_denied(exc: PermissionDenied):
    message = str(exc) or "You do not have permission to do this."
    extra: dict[str, Any] = {}
    refused = getattr(exc, "fields", None)
    if refused:
        text = FieldMessage("no_write_permission").text(
            _locale(getattr(current_user, "principal", None))
        )
        extra["fields"] = {field_id: [text] for field_id in refused}
    return json_response(error_body(exc.code, message, **extra), 403)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return json_response(error_body("not_found", str(exc) or "No such record."), 404)


@bp.errorhandler(ConflictError)
def _conflict(exc: ConflictError):
    status = 412 if g.get("api_precondition") else 409
    return json_response(
        error_body(
            "conflict",
            str(exc),
            fields=_visible_changes(exc.changes),
            current_version=exc.current_version,
        ),
        status,
    )


def _visible_changes(changes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The changed fields in their API form (history keeps JSON); the repository has
    already left out the fields the user may not read."""
    entity: Entity | None = g.get("api_entity")
    principal = getattr(current_user, "principal", None)
    if entity is None or principal is None:
        return {}
    ctx = _coerce_context(_locale(principal))
    fields = {key: f for f in entity.fields for key in type_of(f).keys(f)}
    shown: dict[str, dict[str, Any]] = {}
    for key, change in changes.items():
        field = fields.get(key)
        entry = dict(change)
        if field is not None and key == field.id and not type_of(field).holds_rows:
            for side in ("old", "new"):
                if side in entry:
                    try:
                        entry[side] = type_of(field).coerce(field, entry[side], ctx)
                    except (FieldInvalid, ValueError, TypeError, ArithmeticError):
                        pass
        if isinstance(entry.get("at"), str):
            try:
                entry["at"] = iso_datetime(datetime.fromisoformat(entry["at"]))
            except ValueError:
                pass
        shown[key] = entry
    return shown


@bp.errorhandler(IntegrityError)
def _integrity_error(exc: IntegrityError):
    # A uniqueness race the repository's own check could not see: the other write won.
    log.warning("integrity error answered with 409: %s", _short(exc))
    return json_response(
        error_body("conflict", "The change conflicts with another record; reload and retry."),
        409,
    )


@bp.errorhandler(DataError)
@bp.errorhandler(OverflowError)
def _data_error(exc: Exception):
    # A value the checks let through but the database (or datetime arithmetic) refused.
    log.warning("value refused below the repository, answered with 422: %s", _short(exc))
    return json_response(
        error_body(
            "validation_error",
            "Some values are not valid.",
            fields={"__all__": [FieldMessage("invalid").text(_locale())]},
        ),
        422,
    )


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        from runtime.web.errors import error_response

        return error_response(status)
    headers = {"WWW-Authenticate": 'Bearer realm="trellis"'} if status == 401 else None
    code = (exc.name or "error").lower().replace(" ", "_")
    message = exc.description or exc.name or "The request failed."
    return json_response(error_body(code, message), status, headers)


__all__ = ["ApiError", "bp", "iso_datetime", "json_response", "to_json"]
