"""Pipelines as metadata: the schema, the compile step and every pipeline check code."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from runtime.definition import check_app, load_app
from runtime.features.pipelines.definition import pipeline_for_record, pipelines_of
from runtime.features.pipelines.system_fields import has_stage

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"
REFERENCE_APP = Path(__file__).resolve().parent.parent / "app_definitions" / "opportunity"


def app_with(tmp_path: Path, edit=None, extra: dict[str, str] | None = None) -> Path:
    """A copy of the fixture app; ``edit(data)`` changes pipelines/sales.yaml."""
    app = Path(shutil.copytree(FIXTURE, tmp_path / "app"))
    if edit is not None:
        path = app / "pipelines" / "sales.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    for rel, text in (extra or {}).items():
        (app / rel).write_text(textwrap.dedent(text), encoding="utf-8")
    return app


def codes_of(app: Path) -> list[str]:
    return [p.code for p in check_app(app)]


def stage(data: dict, stage_id: str) -> dict:
    return next(s for s in data["stages"] if s["id"] == stage_id)


def test_reference_app_compiles_its_two_opportunity_pipelines():
    model = load_app(REFERENCE_APP)
    pipelines = pipelines_of(model)
    assert set(pipelines) == {"new_business", "renewal"}
    sales = pipelines["new_business"]
    assert [s.id for s in sales.open_stages] == [
        "qualification",
        "discovery",
        "solutioning",
        "quotation",
        "negotiation",
    ]
    assert [(s.id, s.probability) for s in sales.stages][-2:] == [("won", 100), ("lost", 0)]
    assert sales.stage("quotation").forecast_category == "best_case"
    assert sales.stage("negotiation").forecast_category == "commit"
    assert [r.field for r in sales.stage("solutioning").gate.required] == ["key_pains"]
    assert sales.stage("discovery").guidance.get("zh")
    assert all(item.label.get("zh") for s in sales.stages for item in s.checklist)
    assert has_stage(model.entities["opportunity"])


def test_reference_app_chooses_the_pipeline_by_opportunity_type():
    model = load_app(REFERENCE_APP)
    assert (
        pipeline_for_record(model, "opportunity", {"opportunity_type": "renewal"}).id == "renewal"
    )
    assert (
        pipeline_for_record(model, "opportunity", {"opportunity_type": "upsell"}).id
        == "new_business"
    )
    assert (
        pipeline_for_record(model, "opportunity", {"opportunity_type": None}).id == "new_business"
    )


def test_fixture_compiles_and_the_pipeline_entity_gets_stage_columns(tmp_path):
    model = load_app(app_with(tmp_path))
    assert has_stage(model.entities["deal"])
    assert not has_stage(model.entities["touch"])
    sales = pipelines_of(model)["sales"]
    assert sales.is_default and sales.idle.entity == "touch"
    assert pipelines_of(model)["renewal"].is_default is False


def test_schema_refuses_an_unknown_stage_kind(tmp_path):
    app = app_with(tmp_path, lambda d: stage(d, "won").update(kind="victory"))
    assert "TRL-E005" in codes_of(app)


def test_unknown_entity_is_TRL_E040(tmp_path):
    app = app_with(tmp_path, lambda d: d.update(entity="dael"))
    problems = check_app(app)
    assert [p.code for p in problems] == ["TRL-E040"]
    assert "did you mean 'deal'" in problems[0].hint


def test_unknown_gate_field_is_TRL_E041_with_file_and_line(tmp_path):
    app = app_with(tmp_path, lambda d: stage(d, "proposal")["gate"].update(required=["panis"]))
    problem = next(p for p in check_app(app) if p.code == "TRL-E041")
    assert problem.file.endswith("pipelines/sales.yaml") and problem.line > 0
    assert "'panis'" in problem.message and "pains" in problem.hint


def test_gate_expression_naming_an_unknown_field_is_TRL_E023(tmp_path):
    def edit(d):
        stage(d, "commit")["gate"]["rules"][0]["expression"] = "amout > 0"

    assert "TRL-E023" in codes_of(app_with(tmp_path, edit))


def test_transition_to_unknown_stage_is_TRL_E042(tmp_path):
    app = app_with(
        tmp_path, lambda d: d.update(transitions={"allow": [{"from": "lead", "to": ["wonn"]}]})
    )
    assert codes_of(app) == ["TRL-E042"]


def test_transition_into_a_retired_stage_is_TRL_E043(tmp_path):
    def edit(d):
        stage(d, "discovery")["retired"] = True
        d["transitions"] = {"allow": [{"from": "lead", "to": ["discovery"]}]}

    assert codes_of(app_with(tmp_path, edit)) == ["TRL-E043"]


def test_stage_nobody_can_reach_is_TRL_E044(tmp_path):
    def edit(d):
        d["transitions"] = {
            "skip_forward": False,
            "reopen": False,
            "deny": [{"from": "discovery", "to": ["proposal"]}],
        }

    problems = check_app(app_with(tmp_path, edit))
    unreachable = sorted(p.message for p in problems if p.code == "TRL-E044")
    assert unreachable == [
        "stage 'commit' cannot be reached from 'lead'",
        "stage 'proposal' cannot be reached from 'lead'",
        "stage 'won' cannot be reached from 'lead'",
    ]


def test_open_stage_after_won_is_TRL_E045(tmp_path):
    def edit(d):
        d["stages"].append({"id": "late", "kind": "open"})

    assert "TRL-E045" in codes_of(app_with(tmp_path, edit))


def test_two_default_pipelines_are_TRL_E046(tmp_path):
    extra = {
        "pipelines/other.yaml": """\
        id: other
        entity: deal
        stages: [{id: a}, {id: b, kind: won}]
        """
    }
    assert codes_of(app_with(tmp_path, extra=extra)) == ["TRL-E046"]


def test_selector_value_claimed_twice_is_TRL_E046(tmp_path):
    extra = {
        "pipelines/other.yaml": """\
        id: other
        entity: deal
        selector: {field: kind, values: [renewal]}
        stages: [{id: a}, {id: b, kind: won}]
        """
    }
    assert codes_of(app_with(tmp_path, extra=extra)) == ["TRL-E046"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["fields"].update(amount="name"),  # not a number
        lambda d: d.update(loss_reasons=["prize"]),  # not an option
        lambda d: stage(d, "lead").update(forecast_category="maybe"),
    ],
    ids=["amount-type", "loss-reason-option", "forecast-option"],
)
def test_setting_that_does_not_fit_its_field_is_TRL_E047(tmp_path, edit):
    assert codes_of(app_with(tmp_path, edit)) == ["TRL-E047"]


def test_duplicate_stage_id_is_reported(tmp_path):
    app = app_with(tmp_path, lambda d: d["stages"].insert(1, {"id": "lead"}))
    assert "TRL-E013" in codes_of(app)


def test_retired_stage_keeps_its_place_but_is_not_active(tmp_path):
    model = load_app(app_with(tmp_path, lambda d: stage(d, "discovery").update(retired=True)))
    sales = pipelines_of(model)["sales"]
    assert sales.stage("discovery").retired
    assert "discovery" not in [s.id for s in sales.active_stages]
    assert sales.allows("discovery", "proposal")  # records in it can leave
    assert not sales.allows("lead", "discovery")  # nobody enters


# ------------------------------------------------------------------ board: what columns sum


def test_board_sum_defaults_to_the_amount_field_and_none_counts_only(tmp_path):
    sales = pipelines_of(load_app(app_with(tmp_path)))["sales"]
    assert sales.board_sum == "amount"
    none = app_with(tmp_path / "n", lambda d: d.update(board={"sum": "none"}))
    assert pipelines_of(load_app(none))["sales"].board_sum is None


def test_board_sum_without_amount_uses_the_only_money_field(tmp_path):
    app = app_with(tmp_path, lambda d: d["fields"].pop("amount"))
    assert pipelines_of(load_app(app))["sales"].board_sum == "amount"


def test_board_sum_naming_an_unknown_field_is_TRL_E053(tmp_path):
    problems = check_app(app_with(tmp_path, lambda d: d.update(board={"sum": "amont"})))
    assert [p.code for p in problems] == ["TRL-E053"]
    assert "did you mean 'amount'?" in str(problems[0])


def test_board_sum_naming_a_text_field_is_TRL_E054(tmp_path):
    assert codes_of(app_with(tmp_path, lambda d: d.update(board={"sum": "name"}))) == ["TRL-E054"]
