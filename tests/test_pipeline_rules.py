"""Transition rules, gates, planned stage changes, time in stage and idle detection
(pure logic, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from runtime.definition import load_app
from runtime.errors import ValidationError
from runtime.features.pipelines.definition import pipelines_of
from runtime.features.pipelines.flow import (
    StageBlocked,
    check_move,
    format_duration,
    idle_cutoff,
    is_idle,
    last_touch,
    plan_stage_change,
    time_in_stages,
)

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def model():
    return load_app(FIXTURE)


@pytest.fixture(scope="module")
def sales(model):
    return pipelines_of(model)["sales"]


# ------------------------------------------------------------------ transitions


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("lead", "discovery", True),  # forward one
        ("lead", "commit", True),  # forward several (skip_forward default)
        ("commit", "lead", True),  # back any
        ("proposal", "lost", True),  # to lost from anywhere open
        ("lead", "won", True),  # forward to won
        ("won", "lead", True),  # reopen
        ("lost", "proposal", True),  # reopen
        ("won", "lost", False),  # closed to closed
        ("lost", "won", False),
        ("lead", "lead", False),
        ("lead", "nowhere", False),
    ],
)
def test_default_transitions(sales, source, target, allowed):
    assert sales.allows(source, target) is allowed


def test_configured_transitions_override_defaults(sales):
    import dataclasses

    from runtime.features.pipelines.definition import Transitions

    strict = dataclasses.replace(
        sales,
        transitions=Transitions(
            skip_forward=False,
            backward=False,
            reopen=False,
            allow=frozenset({("lost", "won")}),
            deny=frozenset({("proposal", "lost")}),
        ),
    )
    assert strict.allows("lead", "discovery")
    assert not strict.allows("lead", "proposal")
    assert not strict.allows("proposal", "lead")
    assert not strict.allows("won", "lead")
    assert strict.allows("lost", "won")
    assert not strict.allows("proposal", "lost")
    assert strict.allows("commit", "won")  # last open stage -> won is one step


def test_record_in_a_stage_removed_from_metadata_may_move_anywhere(sales):
    assert sales.allows("gone_stage", "proposal")


# ------------------------------------------------------------------ gates


def test_gate_lists_blank_required_fields(sales):
    check = check_move(sales, "discovery", "proposal", {"pains": "  "})
    assert check.allowed and not check.ok
    assert check.missing == ("pains",)


def test_gate_rule_failure_names_its_fields(sales):
    check = check_move(sales, "proposal", "commit", {"pains": "x", "amount": 0})
    assert check.missing == ()
    assert [r.id for r in check.failed] == ["positive"]
    assert check.asked_fields == ("amount",)


def test_skipping_forward_checks_the_skipped_gates_too(sales):
    check = check_move(sales, "lead", "commit", {"amount": 100})
    assert check.missing == ("pains",)


def test_lost_needs_reason_and_for_competitor_the_competitor(sales):
    assert check_move(sales, "proposal", "lost", {}).missing == ("loss_reason",)
    check = check_move(sales, "proposal", "lost", {"loss_reason": "competitor"})
    assert check.missing == ("competitor",)
    assert check_move(sales, "proposal", "lost", {"loss_reason": "price"}).ok


def test_lost_does_not_ask_for_the_gates_of_later_stages(sales):
    assert check_move(sales, "lead", "lost", {"loss_reason": "price"}).ok


# ------------------------------------------------------------------ planning a change


def test_new_record_starts_in_the_first_stage_with_its_probability(model):
    entity = model.entities["deal"]
    change = plan_stage_change(model, entity, None, {"name": "x"}, now=NOW)
    assert change.to_stage == "lead" and change.from_stage is None
    assert change.updates["probability"] == 10
    assert change.updates["stage_entered_at"] == NOW


def test_renewal_records_use_the_renewal_pipeline(model):
    change = plan_stage_change(model, model.entities["deal"], None, {"kind": "renewal"}, now=NOW)
    assert (change.pipeline.id, change.to_stage) == ("renewal", "due")


def test_blocked_move_raises_one_error_listing_every_missing_field(model):
    entity = model.entities["deal"]
    old = {"stage": "discovery", "name": "x"}
    with pytest.raises(StageBlocked) as caught:
        plan_stage_change(model, entity, old, {"stage": "commit"}, now=NOW)
    error = caught.value
    assert isinstance(error, ValidationError)
    assert error.missing == ("pains", "amount")
    messages = error.as_dict("en")
    assert messages["stage"][0] == "To enter Commit, fill in: Key pains, Amount."
    assert "pains" in messages and "amount" in messages
    assert error.as_dict("zh")["stage"][0] == "进入“承诺”阶段前，请填写：关键痛点、金额。"


def test_refused_transition_says_from_where_to_where(model):
    entity = model.entities["deal"]
    with pytest.raises(ValidationError) as caught:
        plan_stage_change(
            model, entity, {"stage": "won"}, {"stage": "lost", "loss_reason": "price"}
        )
    assert caught.value.as_dict()["stage"] == ["A record cannot move from Won to Lost."]


def test_closing_sets_the_closed_date_and_reopening_clears_it(model):
    entity = model.entities["deal"]
    won = plan_stage_change(
        model, entity, {"stage": "commit", "amount": 5}, {"stage": "won"}, now=NOW
    )
    assert won.updates["closed_on"] == NOW.date() and won.updates["probability"] == 100
    assert won.updates["forecast"] == "closed"
    reopened = plan_stage_change(
        model, entity, {"stage": "won", "closed_on": NOW.date()}, {"stage": "discovery"}, now=NOW
    )
    assert reopened.reopened and reopened.updates["closed_on"] is None


def test_a_probability_given_with_the_move_wins(model):
    entity = model.entities["deal"]
    change = plan_stage_change(
        model, entity, {"stage": "lead"}, {"stage": "discovery", "probability": 33}
    )
    assert "probability" not in change.updates


def test_no_stage_change_plans_nothing(model):
    entity = model.entities["deal"]
    assert plan_stage_change(model, entity, {"stage": "lead"}, {"name": "y"}) is None
    assert plan_stage_change(model, entity, {"stage": "lead"}, {"stage": "lead"}) is None


def test_changing_pipeline_moves_to_the_new_pipelines_stage(model):
    entity = model.entities["deal"]
    # 'lead' exists in both pipelines; 'proposal' only in sales
    kept = plan_stage_change(model, entity, {"stage": "lead", "kind": "new"}, {"kind": "renewal"})
    assert kept is None
    moved = plan_stage_change(
        model, entity, {"stage": "proposal", "kind": "new"}, {"kind": "renewal"}
    )
    assert (moved.pipeline.id, moved.to_stage) == ("renewal", "due")


# ------------------------------------------------------------------ time and idle


def test_time_in_stage_counts_every_interval_including_re_entries():
    day = timedelta(days=1)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [("A", t0), ("B", t0 + 3 * day), ("A", t0 + 5 * day), ("won", t0 + 9 * day)]
    totals = time_in_stages(entries, include_current=False)
    assert totals == {"A": 7 * 86400, "B": 2 * 86400}
    running = time_in_stages(entries[:3], now=t0 + 6 * day)
    assert running["A"] == 4 * 86400


def test_idle_uses_the_later_of_last_activity_and_stage_entry(sales):
    stage = sales.stage("proposal")  # idle after 5 days
    entered = datetime(2025, 3, 1, 10, tzinfo=UTC)
    touched = last_touch(entered, date(2025, 3, 3))
    assert touched == date(2025, 3, 3)
    assert not is_idle(stage, touched, date(2025, 3, 8))
    assert is_idle(stage, touched, date(2025, 3, 9))
    assert idle_cutoff(stage, date(2025, 3, 9)) == date(2025, 3, 3)
    assert not is_idle(sales.stage("won"), touched, date(2026, 1, 1))


def test_durations_read_well_in_both_languages():
    assert format_duration(3 * 86400 + 4 * 3600) == "3d 4h"
    assert format_duration(3 * 86400 + 4 * 3600, "zh") == "3天4小时"
    assert format_duration(90) == "1m"
