"""Named query clauses through the repository (SQLite and PostgreSQL): the pipelines'
``idle`` and ``stage_kind`` are list and count filter terms compiled to SQL with the
row scope, and any feature's ``query_clauses`` hook adds a term the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from runtime.definition import load_app
from runtime.errors import ValidationError
from runtime.events import EventBus
from runtime.features import Feature
from runtime.features.pipelines import FEATURE as PIPELINES
from runtime.store.query_clauses import QueryClause
from tests.conftest import MODELS, make_runtime

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"


class BigDeals(Feature):
    """An outside feature's clause: deals above an amount."""

    name = "big_deals"

    def query_clauses(self, model):
        def build(ctx):
            return ctx.table.c.amount >= int(ctx.value)

        return {"big": QueryClause("big", build, applies=lambda m, e: e.id == "deal")}


@pytest.fixture
def env(db_url):
    runtime = make_runtime(
        db_url, FIXTURE, [PIPELINES, BigDeals()], bus=EventBus(raise_errors=True)
    )
    db, repo, users = runtime.db, runtime.repo, runtime.users
    team = users.create_team("East")
    rep = repo.principal(users.create_user("rep@example.com", "Rita", None, ["rep"], team))
    other = repo.principal(users.create_user("other@example.com", "Otto", None, ["rep"]))
    deals = {}
    for name, amount in (("quiet", 500), ("busy", 2000), ("late", 3000)):
        deals[name] = repo.create(
            rep, "deal", {"name": name, "amount": amount, "close_date": "2025-06-30"}
        )
    old = datetime.now(UTC) - timedelta(days=30)
    with db.engine.begin() as conn:
        conn.execute(update(db.tables["deal"]).values(stage_entered_at=old))
    repo.create(rep, "touch", {"subject": "call", "deal": deals["busy"]["id"], "day": date.today()})
    yield {"db": db, "repo": repo, "rep": rep, "other": other, "deals": deals}
    db.dispose()


def names(env, user=None, **kw):
    page = env["repo"].list(user or env["rep"], "deal", sort=["name"], **kw)
    return [row["name"] for row in page.rows]


def test_idle_is_a_list_and_count_filter(env):
    assert names(env, filters=[("idle", "eq", "1")]) == ["late", "quiet"]
    assert names(env, filters=[{"field": "idle", "value": True}]) == ["late", "quiet"]
    assert env["repo"].count(env["rep"], "deal", filters=[("idle", "eq", "1")]) == 2
    assert names(env, filters=[("idle", "eq", "0")]) == ["busy"]
    assert names(env, filters=[("idle", "ne", "1")]) == ["busy"]


def test_idle_combines_with_other_filters_and_the_row_scope(env):
    both = [("idle", "eq", "1"), ("amount", "gte", 1000)]
    assert names(env, filters=both) == ["late"]
    assert names(env, user=env["other"], filters=[("idle", "eq", "1")]) == []


def test_idle_is_judged_as_of_a_given_day(env):
    long_ago = (date.today() - timedelta(days=60)).isoformat()
    assert names(env, filters=[("idle", "eq", long_ago)]) == []  # nobody was in a stage then
    assert names(env, filters=[("idle", "eq", date.today())]) == ["late", "quiet"]


def test_idle_refuses_other_operators_and_values(env):
    for bad in [("idle", "gt", "1"), ("idle", "eq", "sometimes")]:
        with pytest.raises(ValidationError) as exc:
            names(env, filters=[bad])
        assert "idle" in exc.value.errors


def test_idle_is_offered_only_where_a_pipeline_is(env):
    with pytest.raises(ValidationError) as exc:
        env["repo"].list(env["rep"], "touch", filters=[("idle", "eq", "1")])
    assert exc.value.errors["idle"][0].code == "unknown_field"


def test_stage_kind_is_a_clause_too(env):
    assert names(env, filters=[("stage_kind", "eq", "open")]) == ["busy", "late", "quiet"]
    assert names(env, filters=[("stage_kind", "in", ["won", "lost"])]) == []


def test_a_feature_adds_its_own_clause(env):
    assert names(env, filters=[("big", "eq", 2500)]) == ["late"]
    assert names(env, filters=[("big", "eq", 1000), ("idle", "eq", "1")]) == ["late"]
    with pytest.raises(ValidationError):
        env["repo"].list(env["rep"], "touch", filters=[("big", "eq", 1)])


def test_without_the_feature_the_term_is_unknown(db_url):
    # the app compiled with pipelines (it has stages), its runtime without any feature
    runtime = make_runtime(db_url, load_app(FIXTURE, cache=MODELS), [])
    db, repo = runtime.db, runtime.repo
    admin = repo.principal(runtime.users.create_user("a@example.com", "Ada", None, roles=["admin"]))
    with pytest.raises(ValidationError) as exc:
        repo.list(admin, "deal", filters=[("idle", "eq", "1")])
    assert exc.value.errors["idle"][0].code == "unknown_field"
    db.dispose()
