"""Record forms: request.form -> the repository's input dict, and the form's render context.

The form speaks "input values": what an HTML control holds (strings, a list for
multi-selects, a bool for checkboxes, a list of row dicts for child tables). Stored
records are turned into input values for editing (:func:`record_to_input`), a posted
form is read into input values (:func:`read_form`) and those go to the repository,
which coerces and validates them. Visibility, required-ness and read-only state come
from the same compiled ``visible_if`` / ``required_if`` / ``readonly_if`` expressions
the repository enforces, evaluated on leniently coerced values
(:func:`lenient_values`): a value that does not parse yet counts as None.

Child-table rows arrive as ``lines-<n>-<field>`` (any ``n``; order of appearance
wins) with ``lines-<n>-id`` for rows that already exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from werkzeug.datastructures import MultiDict

from runtime.definition.model import AppModel, Entity, FieldDef, FormLayout, Label, Section
from runtime.errors import ExpressionError
from runtime.fieldtypes import (
    TRUE_WORDS,
    CoerceContext,
    FieldInvalid,
    FieldType,
    currency_key,
    format_field,
    sanitize_html,
    type_of,
)
from runtime.fieldtypes.widgets import WIDGETS

ACCESS_LEVELS = {"none": 0, "read": 1, "write": 2}
OWNER_FIELD = FieldDef(id="owner_id", type="user", label=Label.of({"en": "Owner", "zh": "负责人"}))
ROW_KEY_RE = re.compile(r"^(?P<table>[a-z][a-z0-9_]*)-(?P<index>\d{1,6})-(?P<key>[a-z][a-z0-9_]*)$")
# Validation error keys of child-table cells: "lines.0.qty", "lines[0].qty", "lines.0".
ROW_ERROR_RE = re.compile(
    r"^(?P<table>[a-z][a-z0-9_]*)(?:\.|\[)(?P<index>\d+)\]?(?:\.(?P<key>\w+))?$"
)
MULTI_CHECKBOX_LIMIT = 8  # more options than this: a <select multiple>


# --------------------------------------------------------------------------- fields


def form_field(entity: Entity, field_id: str) -> FieldDef | None:
    """The FieldDef a form places under ``field_id`` (``owner_id`` is a user field)."""
    if field_id == OWNER_FIELD.id:
        return OWNER_FIELD
    return entity.field(field_id) if entity.has_field(field_id) else None


def input_kind(f: FieldDef) -> str:
    if f.readonly or type_of(f).always_readonly:
        return "readonly"
    return type_of(f).input_kind


# --------------------------------------------------------------------------- permissions


def field_access(
    model: AppModel, principal: Any, entity: Entity, grant: Any = None
) -> dict[str, str]:
    """Field id -> "write" | "read" | "none" for the user.

    ``grant`` is the repository's ``Grant`` (``repo.grant(user, entity_id)``), the same
    answer the repository enforces; without one the roles are read directly.
    """
    fields = [*entity.fields, OWNER_FIELD]
    if grant is not None:
        return {f.id: grant.access(f.id) for f in fields}
    if getattr(principal, "is_system", False):
        return {f.id: "write" for f in fields}
    best = {f.id: 0 for f in fields}
    for role_id in getattr(principal, "roles", ()) or ():
        role = model.roles.get(role_id)
        perm = role and (role.permissions.get(entity.id) or role.permissions.get("*"))
        if perm is None or (perm.read.kind == "none" and not perm.create):
            continue
        for f in fields:
            level = ACCESS_LEVELS.get(perm.fields.get(f.id, "write"), 0)
            best[f.id] = max(best[f.id], level)
    names = {v: k for k, v in ACCESS_LEVELS.items()}
    return {k: names[v] for k, v in best.items()}


def can_create(model: AppModel, principal: Any, entity_id: str) -> bool:
    if getattr(principal, "is_system", False):
        return True
    for role_id in getattr(principal, "roles", ()) or ():
        role = model.roles.get(role_id)
        grant = role and (role.permissions.get(entity_id) or role.permissions.get("*"))
        if grant is not None and grant.create:
            return True
    return False


def user_mapping(principal: Any) -> Any:
    """What expressions see as ``user``: the principal itself, as the repository passes it."""
    return principal


# --------------------------------------------------------------------------- input values


def _input_text(f: FieldDef, value: Any, tz: tzinfo) -> Any:
    return type_of(f).to_input(f, value, tz)


def _copy_extra_keys(f: FieldDef, source: Mapping[str, Any], out: dict[str, Any]) -> None:
    """The field's keys beside its own (money's currency) that ``source`` has a value for."""
    for key in type_of(f).extra_keys(f):
        if source.get(key):
            out[key] = source[key]


def record_to_input(entity: Entity, record: Mapping[str, Any], tz: tzinfo = UTC) -> dict[str, Any]:
    """A stored record (or defaults) as input values for the form's controls."""
    out: dict[str, Any] = {}
    for f in [*entity.fields, OWNER_FIELD]:
        if f.id not in record:
            continue
        value = record.get(f.id)
        if type_of(f).holds_rows:
            out[f.id] = [_row_to_input(f, row, tz) for row in value or ()]
            continue
        out[f.id] = _input_text(f, value, tz)
        _copy_extra_keys(f, record, out)
    return out


def _row_to_input(table: FieldDef, row: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(row["id"]) if row.get("id") else ""}
    for f in table.fields:
        out[f.id] = _input_text(f, row.get(f.id), tz)
        _copy_extra_keys(f, row, out)
    return out


def _last(form: MultiDict, key: str) -> str:
    values = form.getlist(key)
    return values[-1] if values else ""


def _read_value(f: FieldDef, form: MultiDict, key: str) -> Any:
    return type_of(f).read_input(f, form, key)


def _read_extra_keys(f: FieldDef, form: MultiDict, prefix: str, out: dict[str, Any]) -> None:
    """The field's keys beside its own (money's currency) that the form sent."""
    for key in type_of(f).extra_keys(f):
        if prefix + key in form:
            out[key] = _last(form, prefix + key)


def _present(f: FieldDef, form: MultiDict, key: str) -> bool:
    return key in form


def read_form(entity: Entity, fields: Iterable[FieldDef], form: MultiDict) -> dict[str, Any]:
    """Input values of the given fields that the form actually sent.

    Absent keys stay absent (disabled or read-only controls, fields not on the form),
    so the repository leaves them alone. Child tables are sent as a whole list when
    their marker ``<table>-present`` is there.
    """
    values: dict[str, Any] = {}
    for f in fields:
        if type_of(f).holds_rows:
            if f"{f.id}-present" in form:
                values[f.id] = read_rows(f, form)
            continue
        if not _present(f, form, f.id):
            continue
        values[f.id] = _read_value(f, form, f.id)
        _read_extra_keys(f, form, "", values)
    return values


def read_rows(table: FieldDef, form: MultiDict) -> list[dict[str, Any]]:
    """The rows of a child table in the order they appear, whatever their indices."""
    rows = []
    for index in row_indices(table, form):
        prefix = f"{table.id}-{index}-"
        row: dict[str, Any] = {"id": _last(form, prefix + "id")}
        for f in table.fields:
            key = prefix + f.id
            if _present(f, form, key):
                row[f.id] = _read_value(f, form, key)
            _read_extra_keys(f, form, prefix, row)
        rows.append(row)
    return rows


def row_indices(table: FieldDef, form: MultiDict) -> list[str]:
    """The row indices of a child table as the form sent them, in order of appearance."""
    order: list[str] = []
    for key in form.keys():
        match = ROW_KEY_RE.match(key)
        if match and match["table"] == table.id and match["index"] not in order:
            order.append(match["index"])
    return order


def to_repository_input(
    entity: Entity, values: Mapping[str, Any], writable: set[str], tz: tzinfo
) -> dict[str, Any]:
    """Input values -> the dict for ``repo.create`` / ``repo.update``.

    Only writable fields go; date-times typed in the user's zone get its offset (the
    repository reads naive ones as UTC); child rows carry their id and position.
    """
    data: dict[str, Any] = {}
    for f in [*entity.fields, OWNER_FIELD]:
        if f.id not in writable or f.id not in values:
            continue
        if type_of(f).holds_rows:
            data[f.id] = [
                _row_input(f, row, position, tz) for position, row in enumerate(values[f.id])
            ]
            continue
        data[f.id] = _with_zone(f, values[f.id], tz)
        _pass_extra_keys(f, values, data)
    return data


def _pass_extra_keys(f: FieldDef, values: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key in type_of(f).extra_keys(f):
        if key in values:
            out[key] = values[key]


def _row_input(
    table: FieldDef, row: Mapping[str, Any], position: int, tz: tzinfo
) -> dict[str, Any]:
    out: dict[str, Any] = {"position": position}
    raw_id = str(row.get("id") or "").strip()
    if raw_id.isdigit():
        out["id"] = int(raw_id)
    for f in table.fields:
        if f.readonly or type_of(f).always_readonly or f.id not in row:
            continue
        out[f.id] = _with_zone(f, row[f.id], tz)
        _pass_extra_keys(f, row, out)
    return out


def _with_zone(f: FieldDef, value: Any, tz: tzinfo) -> Any:
    return type_of(f).input_in_zone(f, value, tz)


# --------------------------------------------------------------------------- lenient values


def lenient_values(
    entity: Entity,
    values: Mapping[str, Any],
    ctx: CoerceContext,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Canonical values for expressions: ``base`` (the stored record) overlaid with the
    input; a value that does not coerce counts as None."""
    out: dict[str, Any] = dict(base or {})
    for f in [*entity.fields, OWNER_FIELD]:
        if f.id not in values:
            continue
        if type_of(f).holds_rows:
            out[f.id] = [_lenient_row(f, row, ctx) for row in values[f.id]]
            continue
        _coerce_one(f, values, out, ctx)
    for f in entity.fields:  # formulas over what is typed, for live previews
        if type_of(f).computed and f.expression is not None:
            out[f.id] = evaluate_formula(f, out, ctx)
    return out


def _coerce_one(
    f: FieldDef, raw: Mapping[str, Any], out: dict[str, Any], ctx: CoerceContext
) -> None:
    try:
        type_of(f).coerce_into(
            f, {k: v for k, v in raw.items() if k in type_of(f).keys(f)}, out, ctx
        )
    except FieldInvalid:
        out[f.id] = None
    except (TypeError, ValueError, ArithmeticError):
        out[f.id] = None


def _lenient_row(table: FieldDef, row: Mapping[str, Any], ctx: CoerceContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in table.fields:
        if type_of(f).computed:
            continue
        if f.id in row:
            _coerce_one(f, row, out, ctx)
    for f in table.fields:
        if type_of(f).computed and f.expression is not None:
            out[f.id] = evaluate_formula(f, out, ctx)
    return out


def evaluate_formula(f: FieldDef, values: Mapping[str, Any], ctx: CoerceContext) -> Any:
    try:
        return type_of(f).coerce(f, f.expression.evaluate(values), ctx)
    except (ExpressionError, FieldInvalid, TypeError, ValueError, ArithmeticError):
        return None


# --------------------------------------------------------------------------- dynamic state


@dataclass(frozen=True)
class FieldState:
    visible: bool = True
    required: bool = False
    readonly: bool = False


def _truth(
    expr: Any,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    user: Mapping,
    default: bool,
) -> bool:
    """A condition's value; one that cannot be evaluated is false, as in the repository."""
    if expr is None:
        return default
    try:
        return bool(expr.evaluate(values, old=old, user=user))
    except ExpressionError:
        return False


def field_state(
    f: FieldDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    user: Mapping,
    access: str,
) -> FieldState:
    visible = access != "none" and _truth(f.visible_if, values, old, user, True)
    required = bool(f.required) or _truth(f.required_if, values, old, user, False)
    readonly = (
        access != "write"
        or bool(f.readonly)
        or type_of(f).always_readonly
        or _truth(f.readonly_if, values, old, user, False)
    )
    return FieldState(visible=visible, required=required and not readonly, readonly=readonly)


def section_visible(
    section: Section, values: Mapping[str, Any], old: Mapping | None, user: Mapping
) -> bool:
    return _truth(section.visible_if, values, old, user, True)


# --------------------------------------------------------------------------- render context


@dataclass
class FieldView:
    """One control of the form, ready for ``_field_input.html``."""

    field: FieldDef
    name: str  # the input name (``lines-0-qty`` inside child rows)
    label: str
    kind: str  # input_kind, or "readonly"
    value: Any
    state: FieldState
    help: str = ""
    errors: list[str] = field(default_factory=list)
    hide_label: bool = False  # the section's title already says it (a lone child table)
    currency: str = ""  # money: the chosen currency
    currencies: tuple[str, ...] = ()
    link_title: str = ""  # link / user: the title of the chosen record
    lookup_url: str = ""
    display: str = ""  # readonly: formatted text
    options: list[tuple[str, str, str | None]] = field(default_factory=list)  # id, label, color
    rows: list[list[FieldView]] = field(default_factory=list)  # child table
    row_ids: list[str] = field(default_factory=list)
    row_errors: list[list[str]] = field(default_factory=list)
    template_row: list[FieldView] = field(default_factory=list)
    columns: list[FieldDef] = field(default_factory=list)
    duplicate: tuple[str, str] | None = None  # a unique value taken: (title, url) of the holder

    @property
    def dom_id(self) -> str:
        return "f-" + self.name

    @property
    def wide(self) -> bool:
        return self.kind in WIDGETS and WIDGETS[self.kind].wide

    @property
    def ftype(self) -> FieldType:
        return type_of(self.field)

    @property
    def numeric(self) -> bool:
        return self.ftype.is_numeric(self.field)

    @property
    def numeric_columns(self) -> frozenset[str]:
        """Child table: the ids of the row fields that hold numbers (right-aligned)."""
        return frozenset(f.id for f in self.columns if type_of(f).is_numeric(f))

    @property
    def checked(self) -> bool:
        value = self.value
        return value is True or (isinstance(value, str) and value.strip().lower() in TRUE_WORDS)

    @property
    def selected(self) -> list[str]:
        value = self.value
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return [value] if isinstance(value, str) and value else []

    @property
    def safe_html(self) -> str:
        """Rich text for the editor, sanitised again on the way out."""
        return sanitize_html(self.value) if isinstance(self.value, str) else ""

    @property
    def many_options(self) -> bool:
        return len(self.options) > MULTI_CHECKBOX_LIMIT

    @property
    def number_step(self) -> str:
        return self.ftype.input_step(self.field)


@dataclass
class SectionView:
    section: Section
    label: str
    columns: int
    visible: bool
    fields: list[FieldView]
    has_errors: bool = False

    @property
    def open(self) -> bool:
        return not self.section.collapsed or self.has_errors


@dataclass
class FormContext:
    entity: Entity
    sections: list[SectionView]
    errors: dict[str, list[str]]
    record_errors: list[str]


@dataclass
class FormInputs:
    """Everything build_form needs besides the layout."""

    values: Mapping[str, Any]  # input values
    canonical: Mapping[str, Any]  # lenient canonical values for expressions
    old: Mapping[str, Any] | None
    user: Mapping[str, Any]
    access: Mapping[str, str]
    errors: Mapping[str, list[str]]
    locale: str
    default_currency: str
    tz: tzinfo
    link_title: Any  # callable(field, id) -> str
    lookup_url: Any  # callable(field) -> str
    duplicates: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (title, url)


def build_form(entity: Entity, layout: FormLayout, inputs: FormInputs) -> FormContext:
    sections = []
    for section in layout.sections:
        views = []
        for field_id in section.fields:
            f = form_field(entity, field_id)
            access = inputs.access.get(field_id, "none")
            if f is None or access == "none":
                continue  # hidden by permission: not on the page at all
            views.append(build_field(f, f.id, inputs.values, inputs.canonical, inputs, access))
        if not views:
            continue
        label = section.label.get(inputs.locale) if section.label else ""
        if len(views) == 1 and views[0].label == label:
            views[0].hide_label = True
        sections.append(
            SectionView(
                section=section,
                label=label,
                columns=max(1, min(section.columns, 4)),
                visible=section_visible(section, inputs.canonical, inputs.old, inputs.user),
                fields=views,
                has_errors=any(v.errors or any(v.row_errors) for v in views),
            )
        )
    placed = {v.field.id for s in sections for v in s.fields}
    record_errors = list(inputs.errors.get("__all__", []))
    for key, messages in inputs.errors.items():
        top = ROW_ERROR_RE.match(key)
        name = top["table"] if top else key
        if key != "__all__" and name not in placed:
            record_errors.extend(messages)  # about a field not on this form: say it on top
    return FormContext(entity, sections, dict(inputs.errors), record_errors)


def build_field(
    f: FieldDef,
    name: str,
    values: Mapping[str, Any],
    canonical: Mapping[str, Any],
    inputs: FormInputs,
    access: str,
) -> FieldView:
    state = field_state(f, canonical, inputs.old, inputs.user, access)
    # Only fields that can never be edited here become static text; a readonly_if
    # field keeps its control (made inert) so that it can come back to life.
    static = access != "write" or f.readonly or type_of(f).always_readonly
    ftype = type_of(f)
    kind = "readonly" if static and not ftype.holds_rows else input_kind(f)
    value = values.get(f.id, "")
    view = FieldView(
        field=f,
        name=name,
        label=f.label.get(inputs.locale),
        kind=kind,
        value=value,
        state=state,
        help=f.help.get(inputs.locale) if f.help else "",
        errors=list(inputs.errors.get(name, [])) if name == f.id else [],
        duplicate=inputs.duplicates.get(name) if name == f.id else None,
    )
    if ftype.has_options:
        view.options = [(o.id, o.label.get(inputs.locale), o.color) for o in f.options]
    if ftype.has_currency:
        view.currencies = f.currencies or (
            (f.currency,) if f.currency else (inputs.default_currency,)
        )
        view.currency = (
            values.get(currency_key(f))
            or f.currency
            or (f.currencies[0] if f.currencies else inputs.default_currency)
        )
        if view.currency not in view.currencies:
            view.currencies = (*view.currencies, view.currency)
    if ftype.references:
        view.lookup_url = inputs.lookup_url(f)
        raw = str(value or "").strip()
        view.link_title = inputs.link_title(f, int(raw)) if raw.isdigit() else ""
    if kind == "readonly":
        view.display = _readonly_display(f, canonical, inputs, view)
    if ftype.holds_rows:
        _build_rows(view, f, values.get(f.id) or [], canonical.get(f.id) or [], inputs, state)
    return view


def _readonly_display(
    f: FieldDef, canonical: Mapping[str, Any], inputs: FormInputs, view: FieldView
) -> str:
    if type_of(f).references:
        return view.link_title
    try:
        return format_field(
            f, canonical, inputs.locale, tzinfo=inputs.tz, default_currency=inputs.default_currency
        )
    except (TypeError, ValueError, ArithmeticError):
        return ""


def _build_rows(
    view: FieldView,
    table: FieldDef,
    rows: list[Mapping[str, Any]],
    canonical_rows: list[Mapping[str, Any]],
    inputs: FormInputs,
    state: FieldState,
) -> None:
    access = "read" if state.readonly else "write"
    view.columns = list(table.fields)
    for index, row in enumerate(rows):
        canonical = canonical_rows[index] if index < len(canonical_rows) else {}
        cells = []
        for f in table.fields:
            name = f"{table.id}-{index}-{f.id}"
            cell = build_field(f, name, row, canonical, inputs, access)
            cell.errors = _row_errors(inputs.errors, table.id, index, f.id)
            cells.append(cell)
        view.rows.append(cells)
        view.row_ids.append(str(row.get("id") or ""))
        view.row_errors.append(_row_errors(inputs.errors, table.id, index, None))
    blank: dict[str, Any] = {}
    for f in table.fields:
        if f.default is not None and not hasattr(f.default, "evaluate"):
            blank[f.id] = _input_text(f, f.default, inputs.tz)
    view.template_row = [
        build_field(f, f"{table.id}-__prefix__-{f.id}", blank, {}, inputs, access)
        for f in table.fields
    ]


def _row_errors(
    errors: Mapping[str, list[str]], table: str, index: int, key: str | None
) -> list[str]:
    found = []
    for error_key, messages in errors.items():
        match = ROW_ERROR_RE.match(error_key)
        if (
            match
            and match["table"] == table
            and int(match["index"]) == index
            and match["key"] == key
        ):
            found.extend(messages)
    return found


def default_values(entity: Entity, user: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Input values of a new record: literal defaults and ``=expression`` defaults."""
    canonical: dict[str, Any] = {}
    for f in entity.fields:
        if f.default is None:
            continue
        if hasattr(f.default, "evaluate"):
            try:
                canonical[f.id] = f.default.evaluate({}, user=user)
            except ExpressionError:
                continue
        else:
            canonical[f.id] = f.default
    return record_to_input(entity, canonical, tz)
