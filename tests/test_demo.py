"""The demo data: users who can log in, every entity filled, a year of history, team scopes."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from builder.app_demo import demo_generator
from runtime.definition import load_app
from tests.conftest import MODELS, REFERENCE_APP, build_schema

GENERATOR = demo_generator(REFERENCE_APP)  # the reference app's own demo/ package
DEMO_PASSWORD, format_logins, load_demo = (
    GENERATOR.DEMO_PASSWORD,
    GENERATOR.format_logins,
    GENERATOR.load_demo,
)

TODAY = date(2026, 6, 15)


@pytest.fixture(scope="module")
def demo(module_db_url):
    """Loaded once per backend: every test here only reads the demo data."""
    from runtime.wiring import build_runtime

    model = load_app(REFERENCE_APP, cache=MODELS)
    build_schema(module_db_url, model)
    runtime = build_runtime(model, module_db_url)  # the same wiring as `trellis demo`
    db, repo, users = runtime.db, runtime.repo, runtime.users
    result = load_demo(db, repo, users, model, seed=7, scale=0.02, today=TODAY)
    yield db, repo, users, model, result
    db.engine.dispose()


def _as_date(value) -> date:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value


def test_demo_users_can_log_in(demo):
    _db, _repo, users, _model, result = demo
    emails = {login["email"] for login in result["logins"]}
    assert {
        "admin@example.com",
        "manager.east@example.com",
        "rep.east1@example.com",
        "presales@example.com",
        "legal@example.com",
    } <= emails
    for login in result["logins"]:
        assert login["password"] == DEMO_PASSWORD
        principal = users.authenticate(login["email"], DEMO_PASSWORD)
        assert principal is not None, login["email"]
        assert set(login["roles"]) <= set(principal.roles)
    assert users.authenticate("admin@example.com", "wrong password") is None
    admin = users.authenticate("admin@example.com", DEMO_PASSWORD)
    assert "admin" in admin.roles
    text = format_logins(result)
    assert "rep.east1@example.com" in text and DEMO_PASSWORD in text


def test_every_entity_has_rows(demo):
    from runtime.features.follow_ups.definition import follow_ups_of

    db, _repo, _users, model, result = demo
    # The demo runs with the app's features: follow-up dates add their own tasks.
    follow_up_targets = {rule.creates for rule in follow_ups_of(model).values()}
    with db.engine.connect() as conn:
        for entity in model.entities:
            n = conn.execute(select(func.count()).select_from(db.tables[entity])).scalar_one()
            assert n > 0, entity
            if entity in follow_up_targets:
                assert n > result["counts"][entity], entity
            else:
                assert n == result["counts"][entity], entity


def test_opportunities_spread_over_the_past_year(demo):
    db, _repo, _users, _model, _result = demo
    table = db.tables["opportunity"]
    with db.engine.connect() as conn:
        created = [_as_date(v) for v in conn.execute(select(table.c.created_at)).scalars()]
        numbers = list(conn.execute(select(table.c.number)).scalars())
    assert all(TODAY - timedelta(days=400) <= d <= TODAY for d in created)
    months = Counter((d.year, d.month) for d in created)
    assert len(months) >= 4, months
    # autonumbers follow the back-dated creation year
    years = {n.split("-")[1] for n in numbers}
    assert years <= {str(TODAY.year - 1), str(TODAY.year)}
    assert len(set(numbers)) == len(numbers)


def test_a_rep_sees_only_their_teams_opportunities(demo):
    db, repo, users, _model, result = demo
    table = db.tables["opportunity"]
    with db.engine.connect() as conn:
        owners = Counter(conn.execute(select(table.c.owner_id)).scalars())
    teams = result["teams"]
    # the team with most deals, so the check is not vacuous
    key = max(teams, key=lambda k: sum(owners[m] for m in teams[k]["members"]))
    team = teams[key]
    members = set(team["members"])
    rep_id = next(m for m in team["members"] if m != team["manager"])
    rep = users.principal(rep_id)
    page = repo.list(rep, "opportunity", page=1, page_size=500)
    seen = {row["id"] for row in page.rows}
    assert page.rows, "the rep's team has opportunities"
    assert all(row["owner_id"] in members for row in page.rows)
    expected = sum(owners[m] for m in members)
    assert len(seen) == expected
    assert expected < sum(owners.values()), "other teams' deals exist and stay hidden"
    # the manager of another team sees none of them
    other = next(t for k, t in teams.items() if k != key)
    manager = users.principal(other["manager"])
    theirs = {row["id"] for row in repo.list(manager, "opportunity", page_size=500).rows}
    assert not theirs & seen


def test_reps_do_not_see_product_cost(demo):
    _db, repo, users, _model, result = demo
    rep = users.principal(result["users"]["rep.east1@example.com"])
    rows = repo.list(rep, "product", page_size=100).rows
    assert rows
    assert all("standard_cost" not in row and "list_price" in row for row in rows)


def test_quotes_have_lines_and_totals(demo):
    _db, repo, users, _model, result = demo
    admin = users.principal(result["users"]["admin@example.com"])
    quotes = repo.list(admin, "quote", page_size=100).rows
    assert quotes
    quote = repo.get(admin, "quote", quotes[0]["id"])
    assert quote["lines"]
    assert quote["number"].startswith("QUO-")
    assert quote["total"] is not None and quote["total"] > 0


def test_the_generator_lives_in_the_app_folder_and_validate_does_not_flag_it(tmp_path):
    import shutil

    from click.testing import CliRunner

    from builder.cli import main
    from runtime.definition import app_warnings

    assert GENERATOR.__file__ == str(REFERENCE_APP / "demo" / "__init__.py")
    assert app_warnings(REFERENCE_APP) == []
    copy = tmp_path / "copy"
    shutil.copytree(REFERENCE_APP, copy)
    (copy / "demo" / "__pycache__").mkdir(exist_ok=True)  # what importing it leaves
    (copy / "demo" / "__pycache__" / "generator.cpython-311.pyc").write_bytes(b"\0")
    assert app_warnings(copy) == []

    app = tmp_path / "crm"
    shutil.copytree(REFERENCE_APP, app, ignore=shutil.ignore_patterns("demo"))
    (app / "demos").mkdir()
    (app / "demos" / "generate.py").write_text("")
    [warning] = app_warnings(app)
    assert (warning.code, warning.file) == ("TRL-W001", "crm/demos/generate.py")
    assert "did you mean 'demo/'?" in warning.hint

    result = CliRunner().invoke(
        main, ["demo", "--app", str(app), "--database", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert result.exit_code == 2
    assert "app folder crm/ has no demo data generator: expected demo/__init__.py" in result.output


def test_a_demo_loaded_today_has_nothing_in_the_future(tmp_path):
    """Loaded for today (as `trellis demo` does), no deal entered its stage, and no stage
    change happened, after the moment of loading (a card never shows a negative age).
    The generator's data, not the storage, is tested: SQLite only."""
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    from datetime import UTC

    from runtime.wiring import build_runtime

    model = load_app(REFERENCE_APP, cache=MODELS)
    build_schema(db_url, model)
    runtime = build_runtime(model, db_url)
    before = datetime.now(UTC)
    load_demo(runtime.db, runtime.repo, runtime.users, model, seed=3, scale=0.3)
    after = datetime.now(UTC)
    table = runtime.db.tables["opportunity"]
    history = runtime.db.metadata.tables["sys_stage_history"]
    with runtime.db.engine.connect() as conn:
        entered = conn.execute(select(func.max(table.c.stage_entered_at))).scalar()
        changed = conn.execute(select(func.max(history.c.changed_at))).scalar()
    for moment in (entered, changed):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        assert moment <= after, (moment, before)


def test_the_account_rollups_match_the_demo_deals_and_activities(demo):
    """The demo moves stages and dates with SQL, then rebuilds the rollups: each
    account's open pipeline, won amount and last activity are what its records say."""
    from runtime.features.pipelines.clauses import stage_ids_by_kind

    db, _repo, _users, model, _result = demo
    kinds = stage_ids_by_kind(model, "opportunity")
    deals, acts, accounts = db.tables["opportunity"], db.tables["activity"], db.tables["account"]
    expected: dict[int, list] = {}
    with db.engine.connect() as conn:
        for account, stage, amount, currency in conn.execute(
            select(deals.c.account, deals.c.stage, deals.c.amount, deals.c.amount_currency).where(
                deals.c.archived_at.is_(None)
            )
        ):
            sums = expected.setdefault(account, [0, 0, None])
            if amount is not None and currency in (None, "CNY"):
                if stage in kinds["open"]:
                    sums[0] += amount
                elif stage in kinds["won"]:
                    sums[1] += amount
        for account, day in conn.execute(
            select(acts.c.account, func.max(acts.c.activity_date))
            .where(acts.c.completed.is_(True), acts.c.archived_at.is_(None))
            .where(acts.c.account.is_not(None))
            .group_by(acts.c.account)
        ):
            expected.setdefault(account, [0, 0, None])[2] = _as_date(day)
        rows = conn.execute(
            select(
                accounts.c.id,
                accounts.c.open_pipeline,
                accounts.c.won_amount,
                accounts.c.last_activity_at,
            )
        ).all()
    assert any(r.open_pipeline for r in rows) and any(r.won_amount for r in rows)
    assert any(r.last_activity_at for r in rows)
    for row in rows:
        want = expected.get(row.id, [0, 0, None])
        got = [row.open_pipeline, row.won_amount, row.last_activity_at]
        got[2] = _as_date(got[2]) if got[2] is not None else None
        assert [round(float(got[0]), 2), round(float(got[1]), 2), got[2]] == [
            round(float(want[0]), 2),
            round(float(want[1]), 2),
            want[2],
        ], row.id
