"""Indexes: declared ones (``indexes:``) and the ones derived from views and link paths,
created by ``trellis init`` on both databases, and walked by the list queries they serve."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import date, timedelta
from types import MappingProxyType

from sqlalchemy import event, text

from runtime.definition import check_app, load_app
from runtime.definition.model import ViewFilter
from runtime.features import load_features
from runtime.store import Database
from runtime.store.schema_sync import existing_index_names
from tests.conftest import REFERENCE_APP, make_runtime
from tests.test_definition import entity_app, only

OPEN_LIST = "ix_ent_opportunity__close_date__amount_desc_nulls"  # view "open"
REGION_BY_AMOUNT = "ix_ent_opportunity__region__amount_desc"  # declared
BIG_DEALS = "ix_ent_opportunity__amount_desc"  # view "big_deals"


# ------------------------------------------------------------------ created by init


def test_init_creates_the_declared_and_derived_indexes_once(db_url):
    runtime = make_runtime(db_url, REFERENCE_APP, schema=False)
    report = runtime.db.create_or_upgrade()
    plans = {p.name: p for p in runtime.db.indexes["opportunity"]}
    assert plans[REGION_BY_AMOUNT].reasons == ("declared",)
    assert plans[REGION_BY_AMOUNT].spec == "region, -amount, -id"
    assert plans[OPEN_LIST].spec == "close_date, -amount, -id"
    assert set(plans[OPEN_LIST].reasons) == {"view open", "view my_team"}
    assert plans["ix_ent_opportunity__owner_id__close_date__amount_desc_nulls"].reasons == (
        "view mine",
    )
    # A row scope through a link reads the link column's own index; it is listed so.
    contact = {p.name: p for p in runtime.db.indexes["contact"]}["ix_ent_contact_account"]
    assert contact.by_column and "scope via account (sales_rep)" in contact.reasons
    with runtime.db.engine.connect() as conn:
        have = existing_index_names(conn, "ent_opportunity")
    assert set(plans) <= have
    assert set(plans) <= set(report["created_indexes"])
    assert all(len(name) <= 63 for name in have)
    again = runtime.db.create_or_upgrade()
    assert again["created_indexes"] == [] and again["created_tables"] == []


def test_init_adds_a_missing_index_and_leaves_the_others(db_url):
    runtime = make_runtime(db_url, REFERENCE_APP)
    with runtime.db.engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {OPEN_LIST}"))
    report = runtime.db.create_or_upgrade()
    assert report["created_indexes"] == [OPEN_LIST]
    with runtime.db.engine.connect() as conn:
        assert OPEN_LIST in existing_index_names(conn, "ent_opportunity")


def test_a_link_path_filter_derives_an_index_at_the_path_end(tmp_path):
    app = entity_app(
        tmp_path,
        """\
        id: order_item
        fields:
          - {id: name, type: text}
          - {id: customer, type: link, target: customer}
        """,
        entities__customer="id: customer\nfields:\n  - {id: name, type: text}\n"
        "  - {id: city, type: text}\n",
    )
    model = load_app(app, load_features())
    # A view filtering through the link (as the link-path views compile it).
    view = model.views["order_item"][0]
    near = dataclasses.replace(view, filters=(ViewFilter("customer.city", "eq", "Hangzhou"),))
    model = dataclasses.replace(
        model, views=MappingProxyType({**model.views, "order_item": (near,)})
    )
    db = Database("sqlite://", model)
    plans = {p.name: p for p in db.indexes["customer"]}
    assert plans["ix_ent_customer__city"].reasons == ("link path order_item.customer.city",)
    assert not plans["ix_ent_customer__city"].partial
    # The link column itself is indexed by its type: listed with its reason, made once.
    link = {p.name: p for p in db.indexes["order_item"]}["ix_ent_order_item_customer"]
    assert link.by_column and link.reasons == ("link customer",)
    made = [i.name for i in db.tables["order_item"].indexes]
    assert made.count("ix_ent_order_item_customer") == 1


# ------------------------------------------------------------------ the list walks it


@contextmanager
def captured_sql(engine):
    """The statements (with their parameters) ``engine`` runs inside the block."""
    seen: list[tuple[str, object]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def _plan(runtime, statement: str, parameters) -> str:
    """The query plan of one captured statement, as text."""
    with runtime.db.engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        if runtime.db.is_sqlite:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[3]) for row in cursor.fetchall())
        # A handful of rows: the planner would rather scan and sort. Off with both, a
        # Sort node remains wherever no index gives the order (so its absence proves it).
        cursor.execute("ANALYZE ent_opportunity")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in cursor.fetchall())


def _rep_and_deals(runtime):
    users = runtime.users
    team = users.create_team("East")
    rep = users.create_user("rep@example.com", "Rep", None, roles=["sales_rep"], team_id=team)
    principal = runtime.repo.principal(rep)
    account = runtime.repo.create(principal, "account", {"name": "Haier"})
    for n in range(30):
        runtime.repo.create(
            principal,
            "opportunity",
            {
                "name": f"Deal {n}",
                "account": account["id"],
                "amount": 1000 * (n % 7) if n % 5 else None,
                "close_date": (date(2026, 1, 1) + timedelta(days=n % 4)).isoformat(),
                "region": "east_china" if n % 2 else "north_china",
            },
        )
    return principal


def _list_plan(runtime, rep, **query) -> tuple[str, list]:
    with captured_sql(runtime.db.engine) as seen:
        page = runtime.repo.list(rep, "opportunity", page_size=50, **query)
    selects = [s for s in seen if s[0].lstrip().upper().startswith("SELECT") and "LIMIT" in s[0]]
    assert selects, seen
    return _plan(runtime, *selects[0]), page.rows


def test_the_default_opportunity_list_reads_its_index_in_order(db_url):
    runtime = make_runtime(db_url, REFERENCE_APP)
    rep = _rep_and_deals(runtime)
    view = runtime.model.views["opportunity"][0]
    assert view.id == "open"
    plan, rows = _list_plan(runtime, rep, filters=view.filters, sort=view.sort)
    assert len(rows) == 30
    assert OPEN_LIST in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan
    # The order the index gives is the list's: close date, then amount with blanks first.
    keys = [(r["close_date"], r["amount"] is not None, -(r["amount"] or 0), -r["id"]) for r in rows]
    assert keys == sorted(keys)


def test_a_filtered_page_by_amount_reads_the_declared_index(db_url):
    runtime = make_runtime(db_url, REFERENCE_APP)
    rep = _rep_and_deals(runtime)
    plan, rows = _list_plan(
        runtime, rep, filters=[("region", "eq", "east_china")], sort=["-amount"]
    )
    assert len(rows) == 15
    assert REGION_BY_AMOUNT in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan


def test_without_the_index_the_same_page_is_sorted(db_url):
    """The check above can fail: with the index gone, the plan sorts."""
    runtime = make_runtime(db_url, REFERENCE_APP)
    rep = _rep_and_deals(runtime)
    with runtime.db.engine.begin() as conn:
        for name in (REGION_BY_AMOUNT, BIG_DEALS):  # the second would serve it as well
            conn.execute(text(f"DROP INDEX {name}"))
    try:
        plan, _rows = _list_plan(
            runtime, rep, filters=[("region", "eq", "east_china")], sort=["-amount"]
        )
        assert "TEMP B-TREE" in plan.upper() or "Sort" in plan, plan
    finally:
        runtime.db.create_or_upgrade()


# ------------------------------------------------------------------ checks


def _problems(tmp_path, indexes: str, **more):
    entity = (
        "id: order_item\nfields:\n  - {id: name, type: text}\n  - {id: amount, type: money}\n"
        "  - {id: notes, type: long_text}\n" + indexes
    )
    return check_app(entity_app(tmp_path, entity, **more), load_features())


def test_an_index_on_an_unknown_field_is_refused(tmp_path):
    problem = only(_problems(tmp_path, "indexes:\n  - {fields: [nmae]}\n"), "TRL-E064")
    assert "'nmae' is not a field" in problem.message and "name" in problem.hint


def test_two_indexes_on_the_same_keys_are_refused(tmp_path):
    found = _problems(
        tmp_path, "indexes:\n  - {fields: [name, -amount]}\n  - {fields: [name, amount]}\n"
    )
    assert "declared already" in only(found, "TRL-E066").message


def test_two_indexes_with_one_name_are_refused(tmp_path):
    found = _problems(
        tmp_path,
        "indexes:\n  - {fields: [name], name: ix_one}\n  - {fields: [amount], name: ix_one}\n",
    )
    assert "used twice" in only(found, "TRL-E066").message


def test_an_index_on_long_text_is_refused(tmp_path):
    problem = only(_problems(tmp_path, "indexes:\n  - {fields: [notes]}\n"), "TRL-E067")
    assert "notes" in problem.message


def test_an_index_naming_a_field_twice_is_refused(tmp_path):
    only(_problems(tmp_path, "indexes:\n  - {fields: [name, -name]}\n"), "TRL-E070")


def test_an_index_with_too_many_keys_is_refused(tmp_path):
    keys = ", ".join(["name", "amount", "created_at", "updated_at", "owner_id", "created_by",
                      "row_version", "archived_at", "id"])  # fmt: skip
    only(_problems(tmp_path, f"indexes:\n  - {{fields: [{keys}]}}\n"), "TRL-E071")


def test_an_index_name_of_another_entity_or_a_table_is_refused(tmp_path):
    found = _problems(
        tmp_path,
        "indexes:\n  - {fields: [name], name: ix_shared}\n  - {fields: [amount], name: ent_x}\n",
        entities__customer="id: customer\nfields:\n  - {id: name, type: text}\n"
        "indexes:\n  - {fields: [name], name: ix_shared}\n",
    )
    taken = [p for p in found if p.code == "TRL-E072"]
    assert len(taken) == 2, found
    assert any("used by entity" in p.message for p in taken)
    assert any("table" in p.message for p in taken)


def test_system_columns_and_signed_keys_are_accepted(tmp_path):
    assert _problems(tmp_path, "indexes:\n  - {fields: [owner_id, +name, -updated_at]}\n") == []


# ------------------------------------------------------------------ what an admin sees


def test_init_prints_the_indexes_it_creates_and_indexes_lists_them(db_url, monkeypatch):
    from click.testing import CliRunner

    from builder.cli import main

    monkeypatch.setenv("TRELLIS_DATABASE_URL", db_url)
    monkeypatch.setenv("TRELLIS_APP", str(REFERENCE_APP))
    runner = CliRunner()
    first = runner.invoke(main, ["init"], catch_exceptions=False)
    assert f"created indexes: {OPEN_LIST}" in first.output
    listed = runner.invoke(main, ["indexes"], catch_exceptions=False)
    line = next(x for x in listed.output.splitlines() if REGION_BY_AMOUNT in x)
    assert line.split("\t") == [
        "opportunity",
        REGION_BY_AMOUNT,
        "(region, -amount, -id)",
        "declared",
        "ok",
    ]
    assert ", 0 missing" in listed.output
    again = runner.invoke(main, ["init"], catch_exceptions=False)
    assert "created indexes" not in again.output
