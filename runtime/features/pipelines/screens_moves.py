"""Moves: ``POST /p/<pipeline>/move`` (from the board and the path bar, through
``repo.update``), and the missing-fields dialog a gate asks for (``/gate``, ``/gate-state``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, jsonify, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError

from runtime.definition.model import Entity, FieldDef
from runtime.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from runtime.features.pipelines.board_queries import (
    StageTotals,
    add_totals,
)
from runtime.features.pipelines.definition import (
    Pipeline,
)
from runtime.features.pipelines.flow import (
    Question,
    check_move,
    checklist_item_label,
    move_questions,
)
from runtime.features.pipelines.screens import (
    _pipeline,
    _principal,
    _queries,
    _services,
    _today,
    int_arg,
    may_move_record,
    ticked_items,
    whole_number,
)
from runtime.features.pipelines.screens_board import (
    board_columns,
    board_sum,
    build_cards,
    read_filters,
    totals_html,
)
from runtime.features.pipelines.screens_path import checklist_item, tick_item
from runtime.fieldtypes import CoerceContext, type_of
from runtime.web import forms as F
from runtime.web.i18n import get_locale, get_timezone
from runtime.web.i18n import gettext as _

# --------------------------------------------------------------------------- moves


KEEP_PREFIX = "keep-"  # a value typed for a field the dialog no longer shows


def pipeline_gate_fields(pipeline: Pipeline) -> tuple[str, ...]:
    """Every field some gate of the pipeline can ask for."""
    ids: dict[str, None] = {}
    for stage in pipeline.stages:
        for fid in stage.gate.field_ids:
            ids.setdefault(fid)
    return tuple(ids)


def _typed_values(entity: Entity) -> dict[str, Any]:
    """What the move dialog sent: its fields, plus the values kept for fields it hid."""
    form = request.form
    typed = F.read_form(entity, entity.fields, form)
    kept = MultiDict(
        [
            (key.removeprefix(KEEP_PREFIX), value)
            for key, value in form.items(multi=True)
            if key.startswith(KEEP_PREFIX) and key.removeprefix(KEEP_PREFIX) not in form
        ]
    )
    return {**F.read_form(entity, entity.fields, kept), **typed}


def _asked(entity: Entity, extra: Any = ()) -> list[str]:
    """The fields earlier rounds of the dialog asked for (``ask`` inputs), then ``extra``."""
    found: dict[str, None] = {}
    for fid in [*request.form.getlist("ask"), *extra]:
        if entity.has_field(fid) or fid == "owner_id":
            found.setdefault(fid)
    return list(found)


def _canonical(entity: Entity, record: Mapping[str, Any], typed: Mapping[str, Any]):
    services = _services()
    ctx = CoerceContext(
        default_currency=services.model.default_currency,
        default_region=services.model.default_region,
        locale=get_locale(),
        timezone=_tz(),
    )
    return F.lenient_values(entity, typed, ctx, base=record)


def dialog_questions(
    pipeline: Pipeline,
    entity: Entity,
    record: Mapping[str, Any],
    to_stage: str,
    typed: Mapping[str, Any],
    asked: list[str],
) -> list[Question]:
    """The dialog's fields for the values typed so far (see ``move_questions``)."""
    return list(
        move_questions(
            pipeline,
            entity,
            record.get("stage"),
            to_stage,
            _canonical(entity, record, typed),
            old=record,
            user=_principal(),
            asked=asked,
        )
    )


def _tz():
    return get_timezone()


def _lookup_url(f: FieldDef) -> str:
    try:
        if type_of(f).references == "user":
            return url_for("records.user_lookup")
        return url_for("entities.lookup", entity=f.target)
    except BuildError:
        return f"{request.script_root}/e/{f.target}/lookup"


def render_gate_form(
    pipeline: Pipeline,
    entity: Entity,
    record: Mapping[str, Any],
    to_stage: str,
    asked: list[str],
    errors: Mapping[str, list[str]],
    message: str,
    values: Mapping[str, Any] | None = None,
) -> str:
    """The move dialog: every field the move needs at once (``dialog_questions``), with
    what was typed so far; it re-renders itself on change (``POST .../gate-state``)."""
    services = _services()
    user = _principal()
    grant = services.repo.grant(user, entity.id)
    access = F.field_access(services.model, user, entity, grant)
    typed = dict(values or {})
    questions = dialog_questions(pipeline, entity, record, to_stage, typed, asked)
    inputs_values = {**F.record_to_input(entity, record, _tz()), **typed}
    canonical = _canonical(entity, record, typed)

    def link_title(f: FieldDef, record_id: int) -> str:
        if type_of(f).references == "user":
            found = services.users.principal(record_id)
            return found.name if found else f"#{record_id}"
        return services.repo.titles(user, f.target, [record_id]).get(record_id, f"#{record_id}")

    inputs = F.FormInputs(
        values=inputs_values,
        canonical=canonical,
        old=record,
        user=F.user_mapping(user),
        access=access,
        errors=errors,
        locale=get_locale(),
        default_currency=services.model.default_currency,
        tz=_tz(),
        link_title=link_title,
        lookup_url=_lookup_url,
    )
    views = []
    for question in questions:
        fid = question.field
        if not entity.has_field(fid) or access.get(fid, "none") == "none":
            continue
        view = F.build_field(
            entity.field(fid), fid, inputs_values, canonical, inputs, access.get(fid, "none")
        )
        view.state = F.FieldState(
            visible=True, required=question.required, readonly=view.state.readonly
        )
        if fid == pipeline.fields.loss_reason and pipeline.loss_reasons:
            view.options = [o for o in view.options if o[0] in pipeline.loss_reasons]
        views.append(view)
    check = check_move(
        pipeline,
        record.get("stage"),
        to_stage,
        canonical,
        old=record,
        user=user,
        ticked=ticked_items(entity.id, record["id"]),
    )
    ticking = set(request.form.getlist("checklist")) if request.method == "POST" else set()
    checklist = [
        {
            "value": f"{stage_id}.{item_id}",
            "label": checklist_item_label(pipeline, stage_id, item_id).get(get_locale()),
            "checked": f"{stage_id}.{item_id}" in ticking,
        }
        for stage_id, item_id in check.unchecked
    ]
    shown = {v.field.id for v in views}
    kept = [
        (f"{KEEP_PREFIX}{key}", value)
        for key, value in typed.items()
        if key not in shown
        and key.removesuffix("_currency") not in shown
        and not isinstance(value, list | dict)
    ]
    target = pipeline.stage(to_stage)
    return render_template(
        "runtime/_gate_form.html",
        pipeline=pipeline,
        ent=entity,
        record=record,
        title=str(record.get(entity.title_field) or f"#{record['id']}"),
        target=target,
        fields=views,
        asked=[q.field for q in questions if q.field in asked or q.field in errors],
        kept=kept,
        checklist=checklist,
        message=message,
        can_edit=all(v.kind != "readonly" for v in views),
        # Only values worked out from other records (a rollup, a lookup): no owner can
        # type them; what moves them is a change to the records they come from.
        automatic=bool(views) and all(v.ftype.always_readonly for v in views),
    )


def _error_text(exc: ValidationError, locale: str) -> str:
    messages = exc.as_dict(locale)
    text = messages.get("stage") or messages.get("__all__") or []
    if not text:
        text = [m for msgs in messages.values() for m in msgs][:1]
    return " ".join(text)


def move(pipeline_id: str):
    pipeline, entity = _pipeline(pipeline_id)
    services = _services()
    user = _principal()
    locale = get_locale()
    record_id = _form_int("record_id")
    to_stage = (request.form.get("to_stage") or "").strip()
    if record_id is None or not to_stage:
        return jsonify({"ok": False, "message": _("Choose a record and a stage.")}), 400
    try:
        record = services.repo.get(user, entity.id, record_id)
    except NotFound:
        return jsonify(
            {"ok": False, "message": _("The record does not exist, or you cannot see it.")}
        ), 404
    if not may_move_record(entity, record):
        return jsonify(
            {
                "ok": False,
                "code": "permission_denied",
                "message": _("You may not move this record."),
            }
        ), 403
    from_stage = record.get("stage")
    typed = F.read_form(entity, entity.fields, request.form)
    asked = _asked(entity)
    # what a move may write: any gate's field, and whatever the dialog asked for
    answerable = set(pipeline_gate_fields(pipeline))
    if typed:
        answerable |= {
            q.field for q in dialog_questions(pipeline, entity, record, to_stage, typed, asked)
        }
    grant = services.repo.grant(user, entity.id)
    writable = {f for f in answerable if grant.unrestricted or grant.may_write_field(f)}
    values = F.to_repository_input(entity, typed, writable, _tz())
    row_version = _form_int("row_version")
    if row_version is None and (request.form.get("row_version") or "").strip():
        return jsonify(
            {
                "ok": False,
                "code": "bad_request",
                "message": _("The record version is not valid. Reload the board."),
            }
        ), 400
    for ref in request.form.getlist("checklist"):
        stage_id, _dot, item_id = ref.partition(".")
        if checklist_item(pipeline, stage_id, item_id) is not None:
            tick_item(pipeline, entity, record_id, stage_id, item_id, True)
    try:
        saved = services.repo.update(
            user, entity.id, record_id, {**values, "stage": to_stage}, row_version=row_version
        )
    except PermissionDenied:
        return jsonify(
            {
                "ok": False,
                "code": "permission_denied",
                "message": _("You may not move this record."),
            }
        ), 403
    except ConflictError:
        return jsonify(
            {
                "ok": False,
                "code": "conflict",
                "message": _(
                    "Someone else changed this record meanwhile. Reload to see their changes."
                ),
            }
        ), 409
    except ValidationError as exc:
        messages = exc.as_dict(locale)
        missing = [k for k in messages if entity.has_field(k)]
        body: dict[str, Any] = {
            "ok": False,
            "code": exc.code,
            "message": _error_text(exc, locale),
            "missing": missing,
            "fields": messages,
        }
        unchecked = (
            check_move(
                pipeline,
                from_stage,
                to_stage,
                record,
                old=record,
                user=user,
                ticked=ticked_items(entity.id, record_id),
            ).unchecked
            if "stage" in messages
            else ()
        )
        if missing or unchecked:
            body["form"] = render_gate_form(
                pipeline,
                entity,
                record,
                to_stage,
                _asked(entity, missing),
                messages,
                body["message"],
                typed,
            )
        return jsonify(body), 422
    today = _today()
    filters, _raw = read_filters(pipeline, today)
    rows = _queries().cards(
        user, pipeline, saved["stage"], filters, record_ids=[record_id], today=today
    )
    card_html = ""
    if rows:
        card = build_cards(pipeline, entity, rows, today)[0]
        card_html = render_template(
            "runtime/_board_column.html",
            card_only=card,
            pipeline=pipeline,
            ent=entity,
            can_move=True,
        )
    queries = _queries()
    totals = queries.totals(user, pipeline, filters, today)
    summing = board_sum(pipeline, entity, queries)
    open_stages, _closed = board_columns(pipeline, totals)
    return jsonify(
        {
            "ok": True,
            "record_id": record_id,
            "from_stage": from_stage,
            "stage": saved["stage"],
            "row_version": saved.get("row_version"),
            "card": card_html,
            "totals": {
                s.id: totals_html(totals.get(s.id, StageTotals()), summing) for s in pipeline.stages
            },
            "summary": totals_html(
                add_totals(totals.get(s.id, StageTotals()) for s in open_stages), summing
            ),
        }
    )


def _form_int(name: str) -> int | None:
    return whole_number((request.form.get(name) or "").strip())


def gate(pipeline_id: str):
    """The missing-fields form for a move, before trying it (the path bar asks first)."""
    pipeline, entity = _pipeline(pipeline_id)
    record_id = int_arg("record_id")
    to_stage = request.args.get("to_stage") or ""
    if record_id is None or pipeline.stage(to_stage) is None:
        abort(404)
    try:
        record = _services().repo.get(_principal(), entity.id, record_id)
    except NotFound:
        abort(404)
    check = check_move(
        pipeline,
        record.get("stage"),
        to_stage,
        record,
        old=record,
        user=_principal(),
        ticked=ticked_items(entity.id, record["id"]),
    )
    return render_gate_form(pipeline, entity, record, to_stage, list(check.asked_fields), {}, "")


def gate_state(pipeline_id: str):
    """The move dialog again for what is typed so far (htmx, on change): fields that a
    choice makes necessary appear in the same dialog and nothing typed is lost."""
    pipeline, entity = _pipeline(pipeline_id)
    record_id = _form_int("record_id")
    to_stage = (request.form.get("to_stage") or "").strip()
    if record_id is None or pipeline.stage(to_stage) is None:
        abort(404)
    try:
        record = _services().repo.get(_principal(), entity.id, record_id)
    except NotFound:
        abort(404)
    return render_gate_form(
        pipeline, entity, record, to_stage, _asked(entity), {}, "", _typed_values(entity)
    )
