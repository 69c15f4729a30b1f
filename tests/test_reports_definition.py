"""reports/ and dashboards/ files: each mistake is reported with its code and place,
and the reference app's boards compile and run on its demo data."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from runtime.definition import check_app, load_app
from tests.conftest import MODELS, REFERENCE_APP, build_schema

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "reports_app"


def app_with(tmp_path: Path, folder: str, name: str, doc: dict) -> Path:
    app = tmp_path / "app"
    shutil.copytree(FIXTURE, app)
    (app / folder / f"{name}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return app


def problems_of(tmp_path, widget: dict) -> list:
    doc = {
        "id": "w",
        "kind": "bar",
        "entity": "deal",
        "dimensions": [{"field": "region"}],
        **widget,
    }
    return check_app(app_with(tmp_path, "reports", "w", doc))


@pytest.mark.parametrize(
    ("widget", "code", "where"),
    [
        ({"entity": "dael"}, "TRL-E120", "did you mean 'deal'"),
        ({"dimensions": [{"field": "regoin"}]}, "TRL-E121", "did you mean 'region'"),
        ({"dimensions": [{"field": "owner_id.nope"}]}, "TRL-E121", "owner_id.nope"),
        ({"measures": [{"fn": "sum", "field": "name"}]}, "TRL-E122", "'sum' does not apply"),
        ({"measures": [{"fn": "avg"}]}, "TRL-E122", "needs a field"),
        ({"kind": "barr"}, "TRL-E123", "did you mean 'bar'"),
        ({"kind": "pie", "dimensions": []}, "TRL-E124", "takes 1 to 1 dimensions"),
        ({"kind": "pivot", "dimensions": [{"field": "region"}]}, "TRL-E124", "pivot"),
        ({"dimensions": [{"field": "region", "bucket": "month"}]}, "TRL-E125", "not a date"),
        ({"filters": [{"field": "region", "value": "this_year"}]}, "TRL-E126", "relative date"),
        ({"filters": [{"field": "name", "op": "between", "value": [1, 2]}]}, "TRL-E126", "between"),
        ({"sort": ["-sum:amount"]}, "TRL-E121", "neither a dimension nor a measure"),
    ],
)
def test_each_widget_mistake_has_its_code(tmp_path, widget, code, where):
    problems = problems_of(tmp_path, widget)
    assert [p.code for p in problems] == [code], problems
    assert where in f"{problems[0].message} {problems[0].hint}"
    assert "reports/w.yaml" in str(problems[0])


def test_an_analytic_needs_an_entity_a_pipeline_runs_on(tmp_path):
    app = app_with(tmp_path, "reports", "w", {"id": "w", "kind": "win_rate", "entity": "deal"})
    shutil.rmtree(app / "pipelines")
    (app / "dashboards" / "sales.yaml").unlink()
    assert [p.code for p in check_app(app)] == ["TRL-E124"]


def test_dashboard_widgets_and_board_filters_are_checked(tmp_path):
    board = yaml.safe_load((FIXTURE / "dashboards" / "sales.yaml").read_text(encoding="utf-8"))
    board["id"] = "other"
    board["filters"].append({"id": "bad", "field": "no_such_field"})
    board["widgets"][1]["measures"] = [{"fn": "max", "field": "region"}]
    board["widgets"].append(dict(board["widgets"][2]))
    problems = check_app(app_with(tmp_path, "dashboards", "other", board))
    assert sorted(p.code for p in problems) == ["TRL-E121", "TRL-E122", "TRL-E127"]


def test_two_dashboards_with_one_id_are_TRL_E127(tmp_path):
    board = yaml.safe_load((FIXTURE / "dashboards" / "sales.yaml").read_text(encoding="utf-8"))
    assert [p.code for p in check_app(app_with(tmp_path, "dashboards", "again", board))] == [
        "TRL-E127"
    ]


# --------------------------------------------------------------------------- reference app


@pytest.fixture(scope="module")
def demo(module_db_url):
    from builder.app_demo import demo_generator
    from runtime.wiring import build_runtime

    model = load_app(REFERENCE_APP, cache=MODELS)
    build_schema(module_db_url, model)
    runtime = build_runtime(model, module_db_url)
    result = demo_generator(REFERENCE_APP).load_demo(
        runtime.db, runtime.repo, runtime.users, model, seed=7, scale=0.02, today=date.today()
    )
    yield runtime, result
    runtime.db.engine.dispose()


def _user(runtime, email: str):
    from sqlalchemy import select

    table = runtime.db.sys.users
    with runtime.db.engine.connect() as conn:
        uid = conn.execute(select(table.c.id).where(table.c.email == email)).scalar_one()
    return runtime.repo.principal(uid)


@pytest.mark.parametrize(
    ("email", "board_id"),
    [("director@example.com", "sales_director"), ("manager.east@example.com", "sales_team")],
)
def test_reference_boards_run_on_the_demo_data_and_match_the_list(demo, email, board_id):
    from runtime.features.reports.service import ReportService

    runtime, _ = demo
    service = ReportService(runtime)
    user = _user(runtime, email)
    board = service.board(user, board_id)
    assert board is not None and len(board["widgets"]) >= 6
    ctx = service.context(user, "zh", date.today(), "/e/{entity}")
    results = {w["id"]: service.run(ctx, w, board, {}) for w in board["widgets"]}
    assert [i for i, r in results.items() if "error" in r] == []
    won = results["won_this_quarter"]
    listed = runtime.repo.list(
        user, "opportunity",
        filters=[("stage_kind", "eq", "won"), ("closed_date", "eq", "this_quarter")], page_size=1000,
    )  # fmt: skip
    assert won["value"] == pytest.approx(sum(float(r["amount"] or 0) for r in listed.rows))


def test_a_rep_does_not_see_the_directors_board(demo):
    from runtime.features.reports.service import ReportService

    runtime, _ = demo
    service = ReportService(runtime)
    rep = _user(runtime, "rep.east1@example.com")
    seen = [b["id"] for b in service.boards(rep)]
    assert "my_deals" in seen and "sales_director" not in seen
    assert service.board(rep, "sales_director") is None
