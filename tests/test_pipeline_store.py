"""Pipelines through the repository (SQLite and PostgreSQL): every write enforces the
transitions and gates, sets the stage's values, writes the stage history and emits
``stage.changed``; the board queries count, sum and flag idle records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from runtime.errors import PermissionDenied, ValidationError
from runtime.events import EventBus
from runtime.features.pipelines import stage_history as sh
from runtime.features.pipelines.board_queries import BoardFilters, BoardQueries
from runtime.features.pipelines.definition import pipelines_of
from runtime.features.pipelines.flow import time_in_stages
from runtime.features.pipelines.write_steps import STAGE_CHANGED
from tests.conftest import make_runtime

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"


@pytest.fixture
def env(db_url):
    bus = EventBus(raise_errors=True)
    events = []
    bus.subscribe(STAGE_CHANGED, events.append)
    runtime = make_runtime(db_url, FIXTURE, bus=bus)  # the pipelines feature's write steps
    model, db, repo, users = runtime.model, runtime.db, runtime.repo, runtime.users
    team = users.create_team("East")
    rep = repo.principal(
        users.create_user("rep@example.com", "Rita Rep", None, roles=["rep"], team_id=team)
    )
    viewer = repo.principal(
        users.create_user("view@example.com", "Vic Viewer", None, roles=["viewer"])
    )
    yield {"model": model, "db": db, "repo": repo, "users": users, "rep": rep,
           "viewer": viewer, "events": events, "sales": pipelines_of(model)["sales"]}  # fmt: skip
    db.dispose()


def new_deal(env, **values):
    data = {"name": "Deal", "amount": 1000, "close_date": "2025-06-30", **values}
    return env["repo"].create(env["rep"], "deal", data)


def move(env, record, stage, **values):
    return env["repo"].update(env["rep"], "deal", record["id"], {"stage": stage, **values})


def history(env, record):
    with env["db"].engine.connect() as conn:
        return sh.read_stage_history(conn, "deal", record["id"])


# ------------------------------------------------------------------ creating


def test_new_record_starts_in_the_first_stage_with_its_probability(env):
    deal = new_deal(env)
    assert deal["stage"] == "lead" and deal["stage_entered_at"] is not None
    assert Decimal(str(deal["probability"])) == 10
    rows = history(env, deal)
    assert [(r["from_stage"], r["to_stage"], r["pipeline"]) for r in rows] == [
        (None, "lead", "sales")
    ]


def test_selector_field_puts_the_record_in_its_pipeline(env):
    deal = new_deal(env, kind="renewal")
    assert deal["stage"] == "due"
    assert history(env, deal)[0]["pipeline"] == "renewal"


def test_create_directly_in_a_gated_stage_checks_its_gates(env):
    with pytest.raises(ValidationError) as caught:
        new_deal(env, stage="proposal")
    assert "pains" in caught.value.errors
    assert new_deal(env, stage="proposal", pains="slow audits")["stage"] == "proposal"


def test_bulk_import_reports_gate_errors_per_row(env):
    rows = [{"name": "a", "stage": "lead"}, {"name": "b", "stage": "lost"}]
    with pytest.raises(ValidationError) as caught:
        env["repo"].bulk_create(env["rep"], "deal", rows)
    assert "1.loss_reason" in caught.value.errors


# ------------------------------------------------------------------ moving


def test_forward_move_is_saved_with_history_and_event(env):
    deal = new_deal(env)
    moved = move(env, deal, "discovery")
    assert moved["stage"] == "discovery" and Decimal(str(moved["probability"])) == 25
    rows = history(env, deal)
    assert [(r["from_stage"], r["to_stage"]) for r in rows] == [
        (None, "lead"),
        ("lead", "discovery"),
    ]
    last = rows[-1]
    assert last["changed_by"] == env["rep"].id and last["seconds_in_from_stage"] is not None
    assert Decimal(str(last["probability"])) == 10  # the snapshot before the move
    assert Decimal(str(last["amount"])) == 1000 and last["close_date"] == date(2025, 6, 30)
    assert [e.changes["stage"] for e in env["events"]] == [("lead", "discovery")]


@pytest.mark.parametrize(
    ("start", "target", "values", "missing"),
    [
        ("discovery", "proposal", {}, ["pains"]),
        ("lead", "commit", {}, ["pains"]),  # skipping forward passes the skipped gates
        ("proposal", "lost", {}, ["loss_reason"]),
        ("proposal", "lost", {"loss_reason": "competitor"}, ["competitor"]),
    ],
)
def test_gate_blocks_the_move_and_lists_what_is_missing(env, start, target, values, missing):
    deal = new_deal(env)
    if start != "lead":
        deal = move(env, deal, start, pains="x" if start == "proposal" else None)
    with pytest.raises(ValidationError) as caught:
        move(env, deal, target, **values)
    errors = caught.value.errors
    assert sorted(k for k in errors if k != "stage") == sorted(missing)
    assert "fill in" in caught.value.as_dict()["stage"][0]
    assert env["repo"].get(env["rep"], "deal", deal["id"])["stage"] == start


def test_gate_rule_failure_blocks_with_its_message(env):
    deal = new_deal(env, pains="x", amount=0)
    with pytest.raises(ValidationError) as caught:
        move(env, deal, "commit")
    assert caught.value.as_dict()["amount"] == ["Amount must be above zero."]


def test_missing_values_given_with_the_move_let_it_through(env):
    deal = new_deal(env)
    assert move(env, deal, "lost", loss_reason="competitor", competitor="Acme")["stage"] == "lost"


def test_transition_not_allowed_is_refused(env):
    deal = move(env, new_deal(env, pains="x"), "won")
    with pytest.raises(ValidationError) as caught:
        move(env, deal, "lost", loss_reason="price")
    assert caught.value.as_dict()["stage"] == ["A record cannot move from Won to Lost."]


def test_unknown_stage_is_refused(env):
    with pytest.raises(ValidationError):
        move(env, new_deal(env), "nowhere")


def test_won_and_lost_set_the_closed_date_and_reopening_clears_it(env):
    deal = move(env, new_deal(env), "lost", loss_reason="price")
    assert deal["closed_on"] == datetime.now(UTC).date()
    reopened = move(env, deal, "discovery")
    assert reopened["closed_on"] is None and reopened["stage"] == "discovery"
    rows = history(env, deal)
    assert [(r["from_stage"], r["to_stage"]) for r in rows][-2:] == [
        ("lead", "lost"),
        ("lost", "discovery"),
    ]


def test_user_without_update_permission_cannot_move(env):
    deal = new_deal(env)
    with pytest.raises(PermissionDenied):
        env["repo"].update(env["viewer"], "deal", deal["id"], {"stage": "discovery"})
    assert history(env, deal)[-1]["to_stage"] == "lead"


def test_other_updates_do_not_touch_the_stage(env):
    deal = move(env, new_deal(env), "discovery")
    changed = env["repo"].update(env["rep"], "deal", deal["id"], {"name": "Renamed"})
    assert changed["stage"] == "discovery" and len(history(env, deal)) == 2


def test_time_in_stage_from_history_counts_re_entries(env):
    deal = new_deal(env, pains="x")
    for stage in ("discovery", "lead", "discovery", "proposal"):
        deal = move(env, deal, stage)
    rows = history(env, deal)
    totals = time_in_stages(sh.entries_of(rows), include_current=False)
    assert set(totals) == {"lead", "discovery"}
    assert [r["to_stage"] for r in rows].count("discovery") == 2


# ------------------------------------------------------------------ board queries


def test_board_totals_count_sum_and_weight(env):
    new_deal(env, amount=1000)
    new_deal(env, amount=3000)
    move(env, new_deal(env, amount=2000), "discovery")
    queries = BoardQueries(env["db"])
    totals = queries.totals(env["rep"], env["sales"])
    assert totals["lead"].count == 2 and totals["lead"].amount("CNY") == 4000
    assert totals["lead"].weighted("CNY") == Decimal("400.00")
    assert totals["discovery"].weighted("CNY") == Decimal("500.00")


def test_board_filters_search_and_row_scope(env):
    new_deal(env, name="Haier MES", region="east")
    new_deal(env, name="Midea IoT", region="west")
    queries = BoardQueries(env["db"])
    sales = env["sales"]
    found = queries.cards(env["rep"], sales, "lead", BoardFilters(search="haier"))
    assert [c["name"] for c in found] == ["Haier MES"]
    found = queries.cards(env["rep"], sales, "lead", BoardFilters(fields=(("region", "west"),)))
    assert [c["name"] for c in found] == ["Midea IoT"]
    other = env["repo"].principal(
        env["users"].create_user("x@example.com", "Xu", None, roles=["rep"])
    )
    assert queries.cards(other, sales, "lead") == []  # another team's deals
    unknown = BoardFilters(fields=(("region", "atlantis"),))  # no record can have it
    assert queries.cards(env["rep"], sales, "lead", unknown) == []
    assert queries.totals(env["rep"], sales, unknown) == {}


def test_idle_records_are_flagged_and_queryable(env):
    quiet = new_deal(env, name="quiet")
    busy = new_deal(env, name="busy")
    table = env["db"].tables["deal"]
    old = datetime.now(UTC) - timedelta(days=30)
    with env["db"].engine.begin() as conn:
        conn.execute(update(table).values(stage_entered_at=old))
    env["repo"].create(
        env["rep"], "touch", {"subject": "call", "deal": busy["id"], "day": date.today()}
    )
    queries = BoardQueries(env["db"])
    idle = queries.cards(env["rep"], env["sales"], "lead", BoardFilters(idle_only=True))
    assert [c["id"] for c in idle] == [quiet["id"]]
    assert queries.totals(env["rep"], env["sales"], BoardFilters(idle_only=True))["lead"].count == 1
