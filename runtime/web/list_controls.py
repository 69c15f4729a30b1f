"""The list's controls: the filter bar's widgets (one per filter field, a feature's own
where it gives one), the features' switches, and the chips of the active filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.definition.model import Entity, FieldDef
from runtime.fieldtypes import FieldInvalid, type_of
from runtime.relative_dates import is_relative
from runtime.store.list_terms import ME, MY_TEAM
from runtime.web.list_cells import EMPTY, link_titles, user_names
from runtime.web.list_request import (
    ListEnv,
    ListRequest,
    _int_or_none,
    _ordered_by_size,
    all_fields,
    list_hooks,
    shown_type,
    url_of,
)


@dataclass
class Choice:
    value: str
    label: str
    color: str | None = None
    selected: bool = False


@dataclass
class FilterControl:
    """One control of the filter bar. ``kind``: range, date_range, choice, select,
    lookup, text. ``params`` name the query parameters it sets."""

    id: str
    label: str
    kind: str
    params: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)
    lookup_url: str = ""
    selected_label: str = ""
    active: bool = False
    input_type: str = "text"
    kind_choices: list[Choice] = field(default_factory=list)  # a first group of choices
    quick_choices: list[Choice] = field(default_factory=list)  # user: me / my team
    presets: list[Choice] = field(default_factory=list)  # dates: this_quarter, last_30_days...
    rolling: list[Choice] = field(default_factory=list)  # dates: last / next N days
    template: str = ""  # a feature's own widget (included in place of the kind's)


@dataclass
class Switch:
    """A feature's ``?<param>=1`` checkbox in the filter bar (``ListSwitch``)."""

    param: str
    label: str
    on: bool
    css: str = ""


@dataclass
class Chip:
    label: str
    text: str
    remove_url: str


def build_filters(
    env: ListEnv, req: ListRequest, base: str, gettext
) -> tuple[list[FilterControl], list[Chip]]:
    """The filter bar: one control per readable ``filter_fields`` entry, and active chips."""
    fields = all_fields(req.entity)
    current = dict(req.filter_pairs)
    controls: list[FilterControl] = []
    chips: list[Chip] = []
    shown: set[str] = set()
    hooks = list_hooks(env.services, req.entity)
    wanted = list(req.view.filter_fields)
    lead = [fid for fid, own in hooks.filters.items() if own.lead and fid not in wanted]
    wanted = lead + wanted  # a feature's leading filters are offered on every view
    for fid in wanted:
        f = fields.get(fid)
        if f is None or fid not in req.readable or fid in shown:
            continue
        shown.add(fid)
        if fid in hooks.filters:
            control = hooks.filters[fid].control(env, req.entity, f, current, gettext)
        else:
            control = _control(env, f, current, gettext)
        if control is not None:
            controls.append(control)
    # A chip per user filter param (including ones not in the bar, e.g. from a link).
    for key, raw in req.filter_pairs:
        name, _, suffix = key.rpartition("__") if "__" in key else (key, "", "")
        remaining = [(k, v) for k, v in req.filter_pairs if k != key]
        term = hooks.terms.get(name)
        if term is not None and name not in fields:
            if term.chip is not None:
                label, text = term.chip(env, req.entity, suffix, raw, gettext)
                remove_url = url_of(base, req.state_pairs(filter_pairs=remaining))
                chips.append(Chip(label=label, text=text, remove_url=remove_url))
            continue
        f = fields.get(name)
        if f is None:
            continue
        chips.append(
            Chip(
                label=f.label.get(env.locale),
                text=_chip_text(env, f, suffix, raw, gettext, req.entity, hooks.filters.get(f.id)),
                remove_url=url_of(base, req.state_pairs(filter_pairs=remaining)),
            )
        )
    for switch in hooks.switches:
        if switch.param in req.switches:
            remove_url = url_of(base, req.state_pairs(**{switch.param: None}))
            chips.append(Chip(label="", text=switch.label(gettext), remove_url=remove_url))
    return controls, chips


def build_switches(env: ListEnv, req: ListRequest, gettext) -> list[Switch]:
    """The features' switches of this list's filter bar, on or off."""
    return [
        Switch(s.param, s.label(gettext), s.param in req.switches, s.css)
        for s in list_hooks(env.services, req.entity).switches
    ]


def term_chip_text(suffix: str, raw: str, labels: Mapping[str, str]) -> str:
    """A named term's chip: its values by their labels (``≠`` for ``__ne``)."""
    text = ", ".join(labels.get(k.strip(), k) for k in raw.split(","))
    return OP_TEXT["ne"] % text if suffix == "ne" else text


def user_quick_choices(value: str, gettext) -> list[Choice]:
    """The choices at the top of every user filter: the viewer, and their team."""
    return [
        Choice(ME, gettext("Me"), None, value == ME),
        Choice(MY_TEAM, gettext("My team"), None, value == MY_TEAM),
    ]


def _control(
    env: ListEnv, f: FieldDef, current: Mapping[str, str], gettext
) -> FilterControl | None:
    shown = shown_type(f)
    kind = shown.display_kind
    label = f.label.get(env.locale)
    if shown.temporal:
        return _date_control(f, label, current, gettext)
    if shown.numeric:
        low, high = f"{f.id}__gte", f"{f.id}__lte"
        values = {"low": current.get(low, ""), "high": current.get(high, "")}
        return FilterControl(
            f.id, label, "range", {"low": low, "high": high}, values=values,
            active=bool(values["low"] or values["high"]), input_type="number",
        )  # fmt: skip
    if kind == "badge":
        param = f"{f.id}__in"
        selected = set((current.get(param) or current.get(f.id) or "").split(","))
        choices = [
            Choice(o.id, o.label.get(env.locale), o.color, o.id in selected) for o in f.options
        ]
        return FilterControl(f.id, label, "choice", {"value": param}, choices=choices,
                             active=any(c.selected for c in choices))  # fmt: skip
    if kind == "badges":
        param = f"{f.id}__contains"
        value = current.get(param, "")
        choices = [Choice(o.id, o.label.get(env.locale), o.color, o.id == value) for o in f.options]
        return FilterControl(
            f.id, label, "select", {"value": param}, choices=choices, active=bool(value)
        )
    if kind == "bool":
        value = current.get(f.id, "")
        choices = [Choice("true", gettext("Yes"), None, value == "true"),
                   Choice("false", gettext("No"), None, value == "false")]  # fmt: skip
        return FilterControl(
            f.id, label, "select", {"value": f.id}, choices=choices, active=bool(value)
        )
    if shown.references:
        value = current.get(f.id, "")
        selected = ""
        record_id = _int_or_none(value)
        if record_id is not None:
            if kind == "link" and f.target:
                selected = link_titles(env, f.target, {record_id}).get(record_id, "")
            else:
                selected = user_names(env, {record_id}).get(record_id, "")
        lookup = f"/e/{f.target}/lookup" if kind == "link" else "/users/lookup"
        quick = user_quick_choices(value, gettext) if kind == "user" else []
        if any(c.selected for c in quick):
            selected = next(c.label for c in quick if c.selected)
        return FilterControl(f.id, label, "lookup", {"value": f.id}, values={"value": value},
                             lookup_url=lookup, selected_label=selected, active=bool(value),
                             quick_choices=quick)  # fmt: skip
    if "contains" in shown.operators:  # text-like: a substring search
        param = f"{f.id}__contains"
        value = current.get(param, "")
        return FilterControl(f.id, label, "text", {"value": param}, values={"value": value},
                             active=bool(value))  # fmt: skip
    return None


# The presets a date filter offers, as the relative dates the repository reads
# (``runtime.relative_dates``): calendar periods, then rolling day counts.
DATE_PRESETS = (
    "today", "yesterday", "this_week", "last_week", "this_month", "last_month",
    "this_quarter", "last_quarter", "this_year",
)  # fmt: skip
ROLLING_PRESETS = ("last_7_days", "last_30_days", "last_90_days", "next_7_days", "next_30_days")


def _date_control(f: FieldDef, label: str, current: Mapping[str, str], gettext) -> FilterControl:
    """A date or date-time filter: a preset (``<field>=this_quarter``) or a custom range
    (``<field>__gte`` / ``<field>__lte``). A relative date the presets do not offer (from
    a link or a saved view) is offered too, so applying the bar keeps it."""
    low, high = f"{f.id}__gte", f"{f.id}__lte"
    raw = current.get(f.id, "").strip().lower()
    preset = raw if is_relative(raw) else ""
    values = {"low": current.get(low, ""), "high": current.get(high, ""), "preset": preset}

    def choices(tokens) -> list[Choice]:
        return [Choice(t, relative_date_label(t, gettext), None, t == preset) for t in tokens]

    extra = (preset,) if preset and preset not in DATE_PRESETS + ROLLING_PRESETS else ()
    return FilterControl(
        f.id, label, "date_range", {"low": low, "high": high, "preset": f.id}, values=values,
        active=bool(values["low"] or values["high"] or preset), input_type="date",
        presets=choices(DATE_PRESETS), rolling=choices(ROLLING_PRESETS + extra),
    )  # fmt: skip


OP_TEXT = {
    "gte": "≥ %s", "lte": "≤ %s", "gt": "> %s", "lt": "< %s", "ne": "≠ %s",
}  # fmt: skip


def _chip_text(
    env: ListEnv,
    f: FieldDef,
    suffix: str,
    raw: str,
    gettext,
    entity: Entity | None = None,
    own: Any = None,
) -> str:
    """The text of a field filter's chip; ``own``: the feature's ``ListFilter`` of it."""
    ftype = shown_type(f)
    kind = ftype.display_kind
    if suffix == "isnull":
        return (
            gettext("is empty") if raw.lower() in ("true", "1", "yes") else gettext("is not empty")
        )
    values = raw.split(",") if suffix in ("in", "between") else [raw]
    shown = []
    for value in values:
        if ftype.has_options:
            option = f.option(value)
            shown.append(option.label.get(env.locale) if option else value)
        elif kind == "bool":
            shown.append(gettext("Yes") if value.lower() in ("true", "1", "yes") else gettext("No"))
        elif kind == "link" and f.target and _int_or_none(value) is not None:
            shown.append(link_titles(env, f.target, {int(value)}).get(int(value), EMPTY))
        elif ftype.temporal and is_relative(value):
            shown.append(relative_date_label(value, gettext))
        elif _ordered_by_size(f):
            shown.append(_format_raw(env, f, value))
        elif kind == "user" and value in (ME, MY_TEAM):
            shown.append(gettext("Me") if value == ME else gettext("My team"))
        elif kind == "user" and _int_or_none(value) is not None:
            shown.append(user_names(env, {int(value)}).get(int(value), EMPTY))
        elif own is not None and own.value_text is not None and entity is not None:
            shown.append(own.value_text(env, entity, value))
        else:
            shown.append(value)
    text = ", ".join(shown) if suffix != "between" else " – ".join(shown)
    if suffix in OP_TEXT:
        return OP_TEXT[suffix] % text
    if suffix == "contains" and not ftype.json_list:
        return f"“{text}”"
    return text


def relative_date_label(token: str, gettext) -> str:
    """A relative date (``this_quarter``, ``last_30_days``) in words for a chip."""
    word = token.strip().lower()
    named = {
        "today": gettext("Today"),
        "yesterday": gettext("Yesterday"),
        "tomorrow": gettext("Tomorrow"),
        "this_week": gettext("This week"),
        "last_week": gettext("Last week"),
        "next_week": gettext("Next week"),
        "this_month": gettext("This month"),
        "last_month": gettext("Last month"),
        "next_month": gettext("Next month"),
        "this_quarter": gettext("This quarter"),
        "last_quarter": gettext("Last quarter"),
        "next_quarter": gettext("Next quarter"),
        "this_year": gettext("This year"),
        "last_year": gettext("Last year"),
        "next_year": gettext("Next year"),
    }
    if word in named:
        return named[word]
    which, count, _days = word.split("_")
    if which == "last":
        return gettext("Last %(n)s days", n=int(count))
    return gettext("Next %(n)s days", n=int(count))


def _format_raw(env: ListEnv, f: FieldDef, raw: str) -> str:
    """A filter value as the user typed it, shown the way the field shows values."""
    ftype = type_of(f)
    try:
        value = ftype.coerce(f, raw, env.coerce_context())
    except (FieldInvalid, ValueError, TypeError, ArithmeticError):
        return raw
    if value is None:
        return raw
    currency = (f.currency or env.model.default_currency) if shown_type(f).has_currency else None
    return ftype.format(f, value, env.locale, currency=currency, tzinfo=env.timezone)
