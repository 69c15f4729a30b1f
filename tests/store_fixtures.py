"""A small app model built in code for storage tests: accounts and deals, three roles.

``build_model(version=1)`` is the base; ``version=2`` adds a field to deal and a new
entity (for create_or_upgrade tests). ``setup_store(db_url)`` creates the tables, two
teams with a rep each, a manager of team A, an admin, and returns everything, wired
as the runtime wires it (``runtime.wiring.build_runtime``, the default features).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from runtime.definition.model import (
    AppModel,
    Entity,
    EntityPermission,
    FieldDef,
    Label,
    Option,
    Role,
    Rule,
    Scope,
)
from runtime.definition.reserved import BASE_SYSTEM_COLUMNS
from runtime.events import EventBus
from runtime.expressions import compile_expression
from runtime.features.pipelines.system_fields import STAGE_FIELDS
from runtime.fieldtypes import currency_key
from runtime.store import Database, Principal, Repository
from runtime.store.users import UserService
from tests.conftest import make_runtime

SYSTEM_NAMES = BASE_SYSTEM_COLUMNS
STAGE_NAMES = ("stage", "stage_entered_at")


def field(field_id: str, type_name: str, **kw: Any) -> FieldDef:
    return FieldDef(field_id, type_name, Label.of(kw.pop("label", None), field_id), **kw)


def options(*ids: str) -> tuple[Option, ...]:
    return tuple(Option(i, Label.of(i.replace("_", " ").title())) for i in ids)


def _names(fields: list[FieldDef], has_stage: bool = False) -> set[str]:
    names = {f.id for f in fields} | set(SYSTEM_NAMES)
    names |= {currency_key(f) for f in fields if f.type == "money"}
    if has_stage:
        names |= set(STAGE_NAMES)
    return names


def expr(source: str, names: set[str]):
    return compile_expression(source, names)


def account_entity() -> Entity:
    fields = [
        field("name", "text", required=True, max_length=200),
        field("code", "text", unique=True, max_length=20),
        field("industry", "select", options=options("manufacturing", "retail", "finance")),
        field("tags", "multi_select", options=options("vip", "partner", "reseller")),
        field("website", "url"),
        field("email", "email"),
        field("phone", "phone"),
        field("employees", "integer", min=0),
        field("revenue", "money", currency="CNY", currencies=("CNY", "USD")),
        field("rating", "decimal", precision=1, min=0, max=5),
        field("active", "boolean", default=True),
        field("founded", "date"),
        field("last_contact", "datetime"),
        field("notes", "long_text"),
        field("description", "rich_text"),
        field("number", "autonumber", pattern="ACC-{0000}"),
    ]
    return Entity(
        id="account",
        label=Label.of({"en": "Account", "zh": "客户"}),
        plural=Label.of("Accounts"),
        fields=tuple(fields),
    )


def deal_entity(version: int = 1) -> Entity:
    line_fields = [
        field("product", "text", required=True, max_length=100),
        field("quantity", "integer", min=1, default=1),
        field("unit_price", "money", currency="CNY"),
    ]
    line_names = _names(line_fields) | {"line_total"}
    line_fields.append(
        field(
            "line_total",
            "formula",
            expression=expr("(quantity or 0) * (unit_price or 0)", line_names),
            result_type="money",
        )
    )
    fields = [
        field("number", "autonumber", pattern="D-{YYYY}-{0000}"),
        field("name", "text", required=True, max_length=200),
        field("account", "link", target="account", required=True),
        field("amount", "money", currency="CNY", currencies=("CNY", "USD"), min=0),
        field("probability", "percent", precision=0),
        field("start_date", "date"),
        field("close_date", "date"),
        field("source", "select", options=options("web", "referral", "event"), default="web"),
        field("loss_reason", "select", options=options("price", "competitor", "other")),
        field("competitor", "text", max_length=100),
        field("secret_note", "text"),
        field("reviewer", "user"),
        field("lead_ref", "text", readonly=True),
        field("lines", "child_table", fields=tuple(line_fields)),
        field("total", "formula", result_type="money"),
        field("expected_revenue", "formula", result_type="money"),
        field("name_upper", "formula", result_type="text", stored=False),
        field("quote_date", "date"),
    ]
    if version >= 2:
        fields.append(field("region", "select", options=options("east", "west")))
    names = _names(fields, has_stage=True)
    by_id = {f.id: f for f in fields}

    def with_(fid: str, **kw: Any) -> None:
        by_id[fid] = FieldDef(**{**by_id[fid].__dict__, **kw})

    with_("competitor", required_if=expr("loss_reason == 'competitor'", names))
    with_("total", expression=expr("sum_of(lines, 'line_total')", names))
    with_(
        "expected_revenue",
        expression=expr("(amount or 0) * (probability or 0) / 100", names),
    )
    with_("name_upper", expression=expr("upper(name)", names))
    with_("quote_date", default=expr("today()", names))
    rules = (
        Rule(
            id="close_after_start",
            expression=expr(
                "close_date is None or start_date is None or close_date >= start_date", names
            ),
            message=Label.of(
                {
                    "en": "Close date must not be before the start date.",
                    "zh": "结束日期不能早于开始日期。",
                }
            ),
            fields=("close_date",),
        ),
    )
    return Entity(
        id="deal",
        label=Label.of({"en": "Deal", "zh": "商机"}),
        plural=Label.of("Deals"),
        fields=tuple(by_id[f.id] for f in fields),
        rules=rules,
        title_field="name",
        search_fields=("name", "number", "competitor"),
        system_fields=STAGE_FIELDS,
    )


def contract_entity() -> Entity:
    return Entity(
        id="contract",
        label=Label.of("Contract"),
        plural=Label.of("Contracts"),
        fields=(field("title", "text", required=True), field("deal", "link", target="deal")),
    )


def build_roles(deal: Entity) -> dict[str, Role]:
    names = _names(list(deal.fields), has_stage=True)
    rep = Role(
        "rep",
        Label.of("Sales rep"),
        MappingProxyType(
            {
                "account": EntityPermission(True, Scope("team"), Scope("own"), Scope("own")),
                "deal": EntityPermission(
                    True,
                    Scope("team"),
                    Scope("own"),
                    Scope("own"),
                    MappingProxyType({"probability": "read", "secret_note": "none"}),
                ),
            }
        ),
    )
    manager = Role(
        "manager",
        Label.of("Sales manager"),
        MappingProxyType(
            {
                "account": EntityPermission(True, Scope("team"), Scope("team"), Scope("team")),
                "deal": EntityPermission(True, Scope("team"), Scope("team"), Scope("team")),
            }
        ),
    )
    big_deals = Role(
        "big_deals",
        Label.of("Big deals auditor"),
        MappingProxyType(
            {
                "deal": EntityPermission(
                    False,
                    Scope("expression", expr("amount >= 10000", names)),
                    Scope("none"),
                    Scope("none"),
                    MappingProxyType({"secret_note": "none"}),
                ),
                "account": EntityPermission(False, Scope("all")),
            }
        ),
    )
    admin = Role(
        "admin",
        Label.of("Administrator"),
        MappingProxyType({"*": EntityPermission(True, Scope("all"), Scope("all"), Scope("all"))}),
    )
    return {r.id: r for r in (rep, manager, big_deals, admin)}


def build_model(version: int = 1) -> AppModel:
    entities = [account_entity(), deal_entity(version)]
    if version >= 2:
        entities.append(contract_entity())
    roles = build_roles(entities[1])
    return AppModel(
        id="crm_test",
        label=Label.of("CRM test"),
        version=f"{version}.0.0",
        locales=("en", "zh"),
        default_locale="en",
        default_currency="CNY",
        default_region="CN",
        entities=MappingProxyType({e.id: e for e in entities}),
        forms=MappingProxyType({}),
        views=MappingProxyType({}),
        roles=MappingProxyType(roles),
        navigation=(),
    )


@dataclass
class Store:
    db: Database
    repo: Repository
    users: UserService
    bus: EventBus
    rep_a: Principal
    rep_a2: Principal
    rep_b: Principal
    manager_a: Principal
    admin: Principal
    team_a: int
    team_b: int


def setup_store(db_url: str, version: int = 1) -> Store:
    runtime = make_runtime(db_url, build_model(version), bus=EventBus(raise_errors=True))
    db, users, bus = runtime.db, runtime.users, runtime.bus
    team_parent = users.create_team("Sales")
    team_a = users.create_team("East", parent_id=team_parent)
    team_b = users.create_team("West", parent_id=team_parent)
    ids = {
        "rep_a": users.create_user("rep.a@example.com", "Rep A", "pw-a", ["rep"], team_a),
        "rep_a2": users.create_user("rep.a2@example.com", "Rep A2", "pw-a2", ["rep"], team_a),
        "rep_b": users.create_user("rep.b@example.com", "Rep B", "pw-b", ["rep"], team_b),
        "manager_a": users.create_user(
            "mgr.a@example.com", "Manager A", "pw-m", ["manager"], team_parent
        ),
        "admin": users.create_user("admin@example.com", "Admin", "pw-admin", ["admin"]),
    }
    users.set_team_manager(team_a, ids["manager_a"])
    principals = {k: users.principal(v) for k, v in ids.items()}
    return Store(db, runtime.repo, users, bus, team_a=team_a, team_b=team_b, **principals)
