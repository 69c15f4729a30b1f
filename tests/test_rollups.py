"""Rollup fields: aggregates over the records that link here, kept current in the child's
write (create, update, re-parenting, archive, restore), rebuilt by a command, refused as
input, hidden from who may not read their source, and read by a pipeline gate."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, update

from builder.cli import main
from runtime.definition import check_app
from runtime.errors import ValidationError
from runtime.store import SYSTEM
from tests.conftest import (
    HIRING_APP,
    PASSWORD,
    csrf_token,
    make_runtime,
    make_web_app,
    signed_in_client,
)

CUSTOMER = """\
id: customer
fields:
  - {id: name, type: text, required: true}
  - {id: referred_by, type: link, target: customer}
"""
ROLLUPS = """\
  - id: order_count
    type: rollup
    rollup: {entity: purchase, link: customer, function: count}
  - id: paid_total
    type: rollup
    rollup:
      entity: purchase
      link: customer
      function: sum
      field: amount
      where: [{field: paid, op: eq, value: true}]
  - id: avg_quantity
    type: rollup
    rollup: {entity: purchase, link: customer, function: avg, field: quantity}
  - id: first_order
    type: rollup
    rollup: {entity: purchase, link: customer, function: min, field: placed_on}
  - id: last_order
    type: rollup
    rollup: {entity: purchase, link: customer, function: max, field: placed_on}
  - id: big_orders
    type: rollup
    rollup:
      entity: purchase
      link: customer
      function: count
      where: [{field: quantity, op: gte, value: 10}]
  - id: referrals
    type: rollup
    rollup: {entity: customer, link: referred_by, function: count}
"""
ORDER = """\
id: purchase
title_field: ref
fields:
  - {id: ref, type: text}
  - {id: customer, type: link, target: customer}
  - {id: amount, type: money, currency: CNY, currencies: [CNY, USD]}
  - {id: quantity, type: integer}
  - {id: placed_on, type: date}
  - {id: paid, type: boolean}
"""


def shop_app(tmp_path: Path, *, rollups: bool = True, name: str = "shop") -> Path:
    app = tmp_path / name
    (app / "entities").mkdir(parents=True)
    (app / "app.yaml").write_text(f"id: {name}\nlabel: Shop\n", encoding="utf-8")
    customer = CUSTOMER + (ROLLUPS if rollups else "")
    (app / "entities" / "customer.yaml").write_text(customer, encoding="utf-8")
    (app / "entities" / "purchase.yaml").write_text(ORDER, encoding="utf-8")
    return app


@pytest.fixture
def shop(db_url, tmp_path):
    runtime = make_runtime(db_url, shop_app(tmp_path))
    yield runtime
    runtime.db.engine.dispose()


def rollups_of(runtime, customer_id: int) -> dict:
    record = runtime.repo.get(SYSTEM, "customer", customer_id)
    keys = ("order_count", "paid_total", "avg_quantity", "first_order", "last_order",
            "big_orders", "referrals")  # fmt: skip
    return {key: record[key] for key in keys}


def order(runtime, customer_id, **values) -> dict:
    return runtime.repo.create(SYSTEM, "purchase", {"customer": customer_id, **values})


# --------------------------------------------------------------------------- values


def test_a_new_parent_counts_nothing_and_sums_zero(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})
    assert acme["order_count"] == 0 and acme["paid_total"] == Decimal("0.00")
    assert rollups_of(shop, acme["id"]) == {
        "order_count": 0, "paid_total": Decimal("0.00"), "avg_quantity": None,
        "first_order": None, "last_order": None, "big_orders": 0, "referrals": 0,
    }  # fmt: skip


def test_each_function_aggregates_the_records_linking_here(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    order(shop, acme, amount=100, quantity=2, placed_on="2026-03-01", paid=True)
    order(shop, acme, amount="50.5", quantity=12, placed_on="2026-01-15", paid=False)
    order(shop, acme, amount=25, quantity=1, placed_on="2026-05-09", paid=True)
    order(shop, acme, amount=999, amount_currency="USD", paid=True)  # another currency
    shop.repo.create(SYSTEM, "customer", {"name": "Friend", "referred_by": acme})
    got = rollups_of(shop, acme)
    assert got == {
        "order_count": 4,
        "paid_total": Decimal("125.00"),  # paid CNY orders only
        "avg_quantity": Decimal("5.00"),  # (2 + 12 + 1) / 3: an empty quantity is not counted
        "first_order": date(2026, 1, 15),
        "last_order": date(2026, 5, 9),
        "big_orders": 1,
        "referrals": 1,  # a rollup over its own entity
    }
    assert isinstance(got["order_count"], int) and isinstance(got["first_order"], date)


def test_updates_of_the_source_and_of_a_filtered_field_recompute(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    first = order(shop, acme, amount=100, quantity=2, paid=False)
    assert rollups_of(shop, acme)["paid_total"] == 0
    shop.repo.update(SYSTEM, "purchase", first["id"], {"paid": True})
    assert rollups_of(shop, acme)["paid_total"] == Decimal("100.00")
    shop.repo.update(SYSTEM, "purchase", first["id"], {"amount": 80, "quantity": 20})
    got = rollups_of(shop, acme)
    assert got["paid_total"] == Decimal("80.00") and got["big_orders"] == 1
    shop.repo.update(SYSTEM, "purchase", first["id"], {"amount_currency": "USD"})
    assert rollups_of(shop, acme)["paid_total"] == 0


def test_moving_a_child_recomputes_its_old_and_its_new_parent(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    beta = shop.repo.create(SYSTEM, "customer", {"name": "Beta"})["id"]
    moved = order(shop, acme, amount=100, paid=True, placed_on="2026-02-02")
    order(shop, acme, amount=10, paid=True, placed_on="2026-01-01")
    shop.repo.update(SYSTEM, "purchase", moved["id"], {"customer": beta})
    assert (rollups_of(shop, acme)["order_count"], rollups_of(shop, acme)["paid_total"]) == (
        1,
        Decimal("10.00"),
    )
    assert rollups_of(shop, beta)["paid_total"] == Decimal("100.00")
    assert rollups_of(shop, beta)["last_order"] == date(2026, 2, 2)
    shop.repo.update(SYSTEM, "purchase", moved["id"], {"customer": None})  # unlinked
    assert rollups_of(shop, beta)["order_count"] == 0 and rollups_of(shop, beta)["paid_total"] == 0


def test_archived_children_do_not_count_until_restored(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    kept = order(shop, acme, amount=100, paid=True)
    gone = order(shop, acme, amount=40, paid=True)
    shop.repo.archive(SYSTEM, "purchase", gone["id"])
    assert rollups_of(shop, acme)["order_count"] == 1
    assert rollups_of(shop, acme)["paid_total"] == Decimal("100.00")
    shop.repo.restore(SYSTEM, "purchase", gone["id"])
    assert rollups_of(shop, acme)["paid_total"] == Decimal("140.00")
    shop.repo.archive(SYSTEM, "purchase", kept["id"])
    assert rollups_of(shop, acme)["paid_total"] == Decimal("40.00")


def test_bulk_creates_keep_every_parent_current(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    beta = shop.repo.create(SYSTEM, "customer", {"name": "Beta"})["id"]
    rows = [{"customer": acme if n % 2 else beta, "amount": 10, "paid": True} for n in range(9)]
    shop.repo.bulk_create(SYSTEM, "purchase", rows)
    assert rollups_of(shop, acme)["paid_total"] == Decimal("40.00")
    assert rollups_of(shop, beta)["paid_total"] == Decimal("50.00")


def test_a_bulk_create_recomputes_each_parent_group_once(db_url, tmp_path):
    costs = {}
    for with_rollups in (False, True):
        runtime = make_runtime(db_url, shop_app(tmp_path / str(with_rollups), rollups=with_rollups))
        try:
            repo = runtime.repo
            ids = [repo.create(SYSTEM, "customer", {"name": n})["id"] for n in ("Acme", "Beta")]
            rows = [{"customer": ids[n % 2], "amount": 10, "paid": True} for n in range(9)]
            costs[with_rollups] = count_statements(
                runtime, lambda repo=repo, rows=rows: repo.bulk_create(SYSTEM, "purchase", rows)
            )
            if with_rollups:
                totals = [rollups_of(runtime, i)["paid_total"] for i in ids]
                assert totals == [Decimal("50.00"), Decimal("40.00")]
        finally:
            runtime.db.engine.dispose()
    # nine purchases of two customers: one UPDATE for both, not one per purchase
    assert costs[True] - costs[False] == 1


def test_a_rollup_filters_and_sorts_like_any_field(shop):
    ids = {}
    for name, amount in (("Small", 5), ("Large", 500), ("Medium", 50)):
        ids[name] = shop.repo.create(SYSTEM, "customer", {"name": name})["id"]
        order(shop, ids[name], amount=amount, paid=True)
    page = shop.repo.list(SYSTEM, "customer", sort=["-paid_total"])
    assert [r["name"] for r in page.rows] == ["Large", "Medium", "Small"]
    found = shop.repo.list(SYSTEM, "customer", filters=[("paid_total", "gte", 50)])
    assert sorted(r["name"] for r in found.rows) == ["Large", "Medium"]


# --------------------------------------------------------------------------- read-only


def test_a_rollup_sent_as_input_is_refused_naming_the_field(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})
    with pytest.raises(ValidationError) as refused:
        shop.repo.update(SYSTEM, "customer", acme["id"], {"paid_total": 5})
    assert list(refused.value.errors) == ["paid_total"]
    assert refused.value.errors["paid_total"][0].code == "rollup_readonly"
    with pytest.raises(ValidationError) as on_create:
        shop.repo.create(SYSTEM, "customer", {"name": "Beta", "order_count": 3})
    assert "order_count" in on_create.value.errors


def test_a_recompute_is_not_an_edit_of_the_parent(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})
    order(shop, acme["id"], amount=10, paid=True)
    after = shop.repo.get(SYSTEM, "customer", acme["id"])
    assert after["row_version"] == acme["row_version"] and after["paid_total"] == 10
    assert shop.repo.history(SYSTEM, "customer", acme["id"]) == []


# --------------------------------------------------------------------------- statements


def count_statements(runtime, action) -> int:
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", before)
    try:
        action()
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", before)
    return len([s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))])


def write_costs(runtime) -> tuple[int, int, int]:
    """Statements of a child's create, update and archive (after a first write)."""
    acme = runtime.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    deal = order(runtime, acme, amount=10, paid=True, quantity=1)
    repo = runtime.repo
    costs = (
        count_statements(runtime, lambda: order(runtime, acme, amount=5, paid=True)),
        count_statements(
            runtime, lambda: repo.update(SYSTEM, "purchase", deal["id"], {"amount": 20})
        ),
        count_statements(runtime, lambda: repo.archive(SYSTEM, "purchase", deal["id"])),
    )
    if "paid_total" in repo.get(SYSTEM, "customer", acme):
        assert repo.get(SYSTEM, "customer", acme)["paid_total"] == Decimal("5.00")
    return costs


def test_a_child_write_maintaining_rollups_costs_one_statement_per_parent_group(db_url, tmp_path):
    costs = {}
    for with_rollups in (False, True):
        runtime = make_runtime(db_url, shop_app(tmp_path / str(with_rollups), rollups=with_rollups))
        try:
            costs[with_rollups] = write_costs(runtime)
        finally:
            runtime.db.engine.dispose()
    # six rollups of customer fed by purchase.customer: one UPDATE recomputes them all
    assert [b - a for a, b in zip(costs[False], costs[True], strict=True)] == [1, 1, 1]


def test_an_update_the_rollups_do_not_read_costs_nothing_extra(shop):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    deal = order(shop, acme, amount=10, ref="A-1")
    renamed = count_statements(
        shop, lambda: shop.repo.update(SYSTEM, "purchase", deal["id"], {"ref": "A-2"})
    )
    paid = count_statements(
        shop, lambda: shop.repo.update(SYSTEM, "purchase", deal["id"], {"paid": True})
    )
    assert paid == renamed + 1


# --------------------------------------------------------------------------- rebuild


def test_rebuild_fixes_a_value_corrupted_by_hand(shop, db_url, monkeypatch):
    acme = shop.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    order(shop, acme, amount=100, paid=True)
    table = shop.db.tables["customer"]
    with shop.db.engine.begin() as conn:
        conn.execute(update(table).values(paid_total=7, order_count=99))
    assert rollups_of(shop, acme)["order_count"] == 99
    monkeypatch.setenv("TRELLIS_DATABASE_URL", db_url)
    result = CliRunner().invoke(
        main,
        ["rollups", "rebuild", "customer", "--field", "paid_total", "--app", shop.model.source_dir],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "customer.paid_total: 1 records recomputed" in result.output
    assert "order_count" not in result.output
    got = rollups_of(shop, acme)
    assert got["paid_total"] == Decimal("100.00") and got["order_count"] == 99
    everything = CliRunner().invoke(
        main, ["rollups", "rebuild", "--app", shop.model.source_dir], catch_exceptions=False
    )
    assert "7 rollup(s) rebuilt" in everything.output
    assert rollups_of(shop, acme)["order_count"] == 1


def test_rebuild_refuses_an_unknown_entity_or_field(shop, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_DATABASE_URL", db_url)
    app = shop.model.source_dir
    for args in (["nope"], ["customer", "--field", "name"]):
        result = CliRunner().invoke(main, ["rollups", "rebuild", *args, "--app", app])
        assert result.exit_code == 2 and "error:" in result.output


def test_rebuild_works_in_batches(shop):
    ids = [shop.repo.create(SYSTEM, "customer", {"name": f"C{n}"})["id"] for n in range(5)]
    for customer in ids:
        order(shop, customer, amount=3, paid=True)
    with shop.db.engine.begin() as conn:
        conn.execute(update(shop.db.tables["customer"]).values(paid_total=0))
    done = shop.repo.rollups.rebuild("customer", ["paid_total"], batch=2)
    assert done == [("customer", "paid_total", 5)]
    assert {rollups_of(shop, c)["paid_total"] for c in ids} == {Decimal("3.00")}


def test_init_fills_a_rollup_added_to_an_app_with_records(db_url, tmp_path, monkeypatch):
    plain = shop_app(tmp_path / "before", rollups=False)
    runtime = make_runtime(db_url, plain)
    acme = runtime.repo.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    order(runtime, acme, amount=30, paid=True)
    order(runtime, acme, amount=12, paid=True)
    runtime.db.engine.dispose()
    grown = shop_app(tmp_path / "after", rollups=True)
    monkeypatch.setenv("TRELLIS_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["init", "--app", str(grown)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "filled rollup: customer.paid_total (1 records)" in result.output
    again = make_runtime(db_url, grown, schema=False)
    try:
        assert rollups_of(again, acme)["paid_total"] == Decimal("42.00")
        assert rollups_of(again, acme)["order_count"] == 2
    finally:
        again.db.engine.dispose()


# --------------------------------------------------------------------------- definition


def problems_of(tmp_path: Path, rollup: str) -> list[str]:
    app = shop_app(tmp_path, rollups=False)
    extra = textwrap.indent(f"- id: total\n  type: rollup\n  rollup: {rollup}\n", "  ")
    path = app / "entities" / "customer.yaml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return [str(p) for p in check_app(app)]


@pytest.mark.parametrize(
    "rollup, code, fragment",
    [
        (
            "{entity: purchse, link: customer, function: count}",
            "TRL-E085",
            "did you mean 'purchase'",
        ),
        ("{entity: purchase, link: ref, function: count}", "TRL-E086", "links of 'purchase'"),
        (
            "{entity: purchase, link: nope, function: count}",
            "TRL-E086",
            "not a field of 'purchase'",
        ),
        ("{entity: customer, link: name, function: count}", "TRL-E086", "not a link to"),
        ("{entity: purchase, link: customer, function: sum}", "TRL-E087", "needs a 'field'"),
        ("{entity: purchase, link: customer, function: sum, field: ref}", "TRL-E087", "is text"),
        ("{entity: purchase, link: customer, function: max, field: paid}", "TRL-E087", "date"),
        ("{entity: purchase, link: customer, function: avg, field: amont}", "TRL-E087", "amount"),
        (
            "{entity: purchase, link: customer, function: count, where: [{field: paid, op: gt, "
            "value: true}]}",
            "TRL-E088",
            "operator 'gt'",
        ),
        (
            "{entity: purchase, link: customer, function: count, where: [{field: pad, op: eq, "
            "value: true}]}",
            "TRL-E088",
            "'pad' is not a field",
        ),
        (
            "{entity: purchase, link: customer, function: count, where: [{field: owner_id, op: "
            "eq, value: me}]}",
            "TRL-E088",
            "depends on who reads",
        ),
    ],
)
def test_definition_checks_name_the_rollups_mistake(tmp_path, rollup, code, fragment):
    found = problems_of(tmp_path, rollup)
    assert len(found) == 1, found
    assert found[0].startswith(code) and fragment in found[0], found[0]
    assert "field 'total'" in found[0]


def test_a_rollup_of_a_rollup_is_refused(tmp_path):
    found = problems_of(
        tmp_path, "{entity: customer, link: referred_by, function: max, field: total}"
    )
    assert found and found[0].startswith("TRL-E087") and "without its own column" in found[0]


# --------------------------------------------------------------------------- hiring app


@pytest.fixture
def hiring(hiring_runtime):
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    mia = hiring_runtime.people["manager"]
    position = repo.create(rosa, "position", {"title": "Backend", "hiring_manager": mia.id})
    application = repo.create(
        rosa, "application", {"candidate": "Ada", "position": position["id"], "owner_id": mia.id}
    )
    return hiring_runtime, application


def test_the_offer_gate_reads_the_best_interview_score(hiring):
    runtime, application = hiring
    repo, rosa = runtime.repo, runtime.people["recruiter"]
    repo.create(rosa, "interview", {"round": "Phone", "application": application["id"], "score": 2})
    repo.update(rosa, "application", application["id"], {"stage": "interview"})
    assert repo.get(rosa, "application", application["id"])["best_score"] == 2
    with pytest.raises(ValidationError) as refused:
        repo.update(rosa, "application", application["id"], {"stage": "offer"})
    assert "interview score of at least 3" in str(refused.value)
    repo.create(
        rosa, "interview", {"round": "Onsite", "application": application["id"], "score": 4}
    )
    moved = repo.update(rosa, "application", application["id"], {"stage": "offer"})
    assert moved["stage"] == "offer" and moved["best_score"] == 4


def test_a_rollup_of_a_hidden_field_is_hidden_from_that_reader(hiring):
    runtime, application = hiring
    repo, rosa, mia = runtime.repo, runtime.people["recruiter"], runtime.people["manager"]
    repo.create(
        rosa, "offer", {"title": "Offer", "application": application["id"], "salary": 40000}
    )
    repo.create(
        rosa, "interview", {"round": "Onsite", "application": application["id"], "score": 4}
    )
    assert repo.get(rosa, "application", application["id"])["offered_salary"] == 40000
    seen = repo.get(mia, "application", application["id"])
    assert "offered_salary" not in seen  # mia may not read offer.salary
    assert seen["best_score"] == 4  # she may read interviews and their scores
    with pytest.raises(ValidationError):
        repo.list(mia, "application", filters=[("offered_salary", "gte", 1)])
    with pytest.raises(ValidationError):
        repo.list(mia, "application", sort=["offered_salary"])


def test_the_api_shows_a_rollup_read_only_and_refuses_it_as_input(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, HIRING_APP)
    services = app.extensions["trellis"]
    users = services.users
    uid = users.create_user("rec@example.com", "Rosa", PASSWORD, roles=["recruiter"])
    headers = {"Authorization": f"Bearer {users.create_api_key(uid, name='tests')}"}
    http = app.test_client()
    try:
        position = http.post("/api/v1/position", json={"title": "Dev"}, headers=headers)
        body = {"candidate": "Ada", "position": position.get_json()["id"]}
        created = http.post("/api/v1/application", json=body, headers=headers).get_json()
        http.post(
            "/api/v1/interview",
            json={"round": "Onsite", "application": created["id"], "score": 5},
            headers=headers,
        )
        shown = http.get(f"/api/v1/application/{created['id']}", headers=headers).get_json()
        assert shown["best_score"] == 5
        patch = http.patch(
            f"/api/v1/application/{created['id']}",
            json={"best_score": 1, "row_version": shown["row_version"]},
            headers=headers,
        )
        assert patch.status_code == 422
        assert list(patch.get_json()["error"]["fields"]) == ["best_score"]
        document = http.get("/api/v1/openapi.json").get_json()
        schemas = document["components"]["schemas"]
        read = next(s for name, s in schemas.items() if name.lower().startswith("application"))
        assert read["properties"]["best_score"]["readOnly"] is True
        inputs = [s for name, s in schemas.items() if "application" in name.lower()]
        assert any("best_score" not in s.get("properties", {}) for s in inputs)
    finally:
        services.db.engine.dispose()


def test_the_reference_app_keeps_the_account_pipeline(db_url, tmp_path):
    runtime = make_runtime(
        db_url, Path(__file__).resolve().parent.parent / "app_definitions" / "opportunity"
    )
    repo = runtime.repo
    try:
        acme = repo.create(SYSTEM, "account", {"name": "Acme"})["id"]
        deal = {"account": acme, "close_date": "2027-01-01"}
        first = repo.create(SYSTEM, "opportunity", {**deal, "name": "D1", "amount": 100})
        repo.create(SYSTEM, "opportunity", {**deal, "name": "D2", "amount": 50})
        repo.create(
            SYSTEM, "activity", {"subject": "Call", "account": acme, "activity_date": "2026-02-03"}
        )
        repo.create(
            SYSTEM,
            "activity",
            {"subject": "Plan", "account": acme, "activity_date": "2026-09-03", "completed": False},
        )
        got = repo.get(SYSTEM, "account", acme)
        assert (got["open_pipeline"], got["won_amount"]) == (Decimal("150.00"), Decimal("0.00"))
        assert got["last_activity_at"] == date(2026, 2, 3)  # the planned one does not count
        repo.archive(SYSTEM, "opportunity", first["id"])
        assert repo.get(SYSTEM, "account", acme)["open_pipeline"] == Decimal("50.00")
    finally:
        runtime.db.engine.dispose()


def test_the_shop_app_copies_cleanly(tmp_path):
    """The fixture builder itself: with and without rollups, the app compiles."""
    assert check_app(shop_app(tmp_path, rollups=True, name="a")) == []
    assert check_app(shop_app(tmp_path, rollups=False, name="b")) == []
    shutil.rmtree(tmp_path / "a")


def test_a_gate_on_a_rollup_says_to_change_the_linked_records_not_to_fill_it_in(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, HIRING_APP)
    services = app.extensions["trellis"]
    users = services.users
    rosa = users.principal(
        users.create_user("rec@example.com", "Rosa", PASSWORD, roles=["recruiter"])
    )
    try:
        position = services.repo.create(rosa, "position", {"title": "Dev"})
        ada = services.repo.create(
            rosa, "application", {"candidate": "Ada", "position": position["id"]}
        )
        services.repo.create(
            rosa, "interview", {"round": "Onsite", "application": ada["id"], "score": 2}
        )
        client = signed_in_client(app, "rec@example.com")
        token = csrf_token(client.get(f"/e/application/{ada['id']}").get_data(True))
        blocked = client.post(
            "/p/hiring/move",
            data={"record_id": ada["id"], "to_stage": "offer"},
            headers={"Accept": "application/json", "X-CSRFToken": token},
        )
        assert blocked.status_code == 422
        form = blocked.get_json()["form"]
        assert "worked out from linked records" in form
        assert "Save and move" not in form and "fill these in" not in form
    finally:
        services.db.engine.dispose()
