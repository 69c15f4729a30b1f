"""The migration planner and its apply, on SQLite and PostgreSQL, with data in every table:
every row is compared before and after, and only what the plan said changes."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import column, inspect, select, table, text

from runtime.definition import load_app
from runtime.features import load_features
from runtime.store.migrations import (
    MigrationPlan,
    MigrationRefused,
    apply_plan,
    plan_migration,
)
from tests.conftest import make_runtime

APP = "id: desk\nlabel: Desk\n"
TICKET = """\
id: ticket
label: Ticket
title_field: name
fields:
  - {id: name, type: text}
  - {id: notice, type: text}
  - {id: score, type: decimal}
  - {id: count, type: integer}
  - id: level
    type: select
    options: [{id: low, label: Low}, {id: mid, label: Mid}, {id: high, label: High}]
  - id: tags
    type: multi_select
    options: [{id: red, label: Red}, {id: blue, label: Blue}]
  - id: lines
    type: child_table
    fields:
      - {id: item, type: text}
      - {id: qty, type: integer}
"""
PIPELINE = """\
id: flow
entity: ticket
label: Flow
stages:
  - {id: new, label: New}
  - {id: triage, label: Triage}
  - {id: done, kind: won, label: Done}
  - {id: dropped, kind: lost, label: Dropped}
"""


def write_app(root: Path, ticket: str = TICKET, pipeline: str = PIPELINE, **more) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    files = {"app.yaml": APP, "entities/ticket.yaml": ticket, "pipelines/flow.yaml": pipeline}
    files.update(more)
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body), encoding="utf-8")
    return root


def compile_app(folder: Path):
    return load_app(folder, load_features())


ROWS = [
    {
        "name": "a",
        "notice": "60",
        "score": Decimal("1.50"),
        "count": 3,
        "level": "low",
        "tags": ["red"],
        "stage": "new",
    },
    {
        "name": "b",
        "notice": "60 days",
        "score": Decimal("2.00"),
        "count": 4,
        "level": "mid",
        "tags": ["red", "blue"],
        "stage": "triage",
    },
    {
        "name": "c",
        "notice": None,
        "score": None,
        "count": None,
        "level": "high",
        "tags": None,
        "stage": "triage",
    },
    {
        "name": "d",
        "notice": "7",
        "score": Decimal("10.25"),
        "count": 11,
        "level": None,
        "tags": ["blue"],
        "stage": "done",
    },
]


@pytest.fixture
def desk(db_url, tmp_path):
    """The desk app v1 on ``db_url`` with four tickets (each with child rows)."""
    runtime = make_runtime(db_url, compile_app(write_app(tmp_path / "v1")))
    db = runtime.db
    with db.engine.begin() as conn:
        for row in ROWS:
            rid = conn.execute(db.tables["ticket"].insert().values(**row)).inserted_primary_key[0]
            child = db.child_tables[("ticket", "lines")]
            conn.execute(
                child.insert().values(parent_id=rid, position=0, item=f"{row['name']}-1", qty=rid)
            )
    runtime.root = tmp_path
    yield runtime
    runtime.db.engine.dispose()


def rows_of(db, name: str) -> list[dict]:
    with db.engine.connect() as conn:
        cols = [c["name"] for c in inspect(conn).get_columns(name)]
        t = table(name, *(column(c) for c in cols))
        return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]


def all_rows(db) -> dict[str, list[dict]]:
    with db.engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n.startswith("ent_")]
    return {n: rows_of(db, n) for n in names}


def migrate(desk, ticket=TICKET, pipeline=PIPELINE, renames=None, choices=None, name="v2"):
    new = compile_app(write_app(desk.root / name, ticket, pipeline))
    plan = plan_migration(desk.model, new, renames, db=desk.db, choices=choices)
    return new, plan


def kinds(plan) -> list[tuple]:
    return [(op.kind, op.entity, op.field) for op in plan.operations]


def without(rows, *cols):
    return {
        t: [{k: v for k, v in r.items() if k not in cols} for r in rs] for t, rs in rows.items()
    }


def retype(field: str, new_type: str) -> str:
    """TICKET with ``field`` (its whole definition) now of ``new_type``."""
    lines = TICKET.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if f"id: {field}" in line)
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return "".join(lines[:start] + [f"  - {{id: {field}, type: {new_type}}}\n"] + lines[end:])


# --------------------------------------------------------------------------- plans


def test_same_model_is_an_empty_plan(desk):
    plan = plan_migration(desk.model, desk.model, db=desk.db)
    assert plan.is_empty and not plan.blockers


def test_adding_a_field_changes_no_existing_value(desk):
    before = all_rows(desk.db)
    new, plan = migrate(desk, TICKET + "  - {id: priority, type: integer}\n")
    assert kinds(plan) == [("add_field", "ticket", "priority")]
    result = apply_plan(desk.db, plan, new)
    assert result["applied"]
    after = all_rows(desk.db)
    assert all(r["priority"] is None for r in after["ent_ticket"])
    assert without(after, "priority") == before


def test_applying_the_same_plan_twice_does_nothing_the_second_time(desk):
    new, plan = migrate(desk, TICKET + "  - {id: priority, type: integer}\n")
    assert apply_plan(desk.db, plan, new)["applied"]
    snapshot = all_rows(desk.db)
    again = apply_plan(desk.db, MigrationPlan.from_json(plan.to_json()), new)
    assert again == {"applied": False, "plan_id": plan.plan_id, "operations": []}
    assert all_rows(desk.db) == snapshot


def test_a_plan_made_before_the_data_changed_is_refused(desk):
    new, plan = migrate(desk, TICKET + "  - {id: priority, type: integer}\n")
    with desk.db.engine.begin() as conn:
        conn.execute(desk.db.tables["ticket"].insert().values(name="late"))
    with pytest.raises(MigrationRefused, match="TRL-E105"):
        apply_plan(desk.db, plan, new)


def test_a_removed_field_is_retired_then_restored_with_its_data(desk):
    before = all_rows(desk.db)
    no_notice = TICKET.replace("  - {id: notice, type: text}\n", "")
    new, plan = migrate(desk, no_notice)
    assert kinds(plan) == [("retire_field", "ticket", "notice")]
    assert plan.operations[0].impact == {"rows": 3}
    apply_plan(desk.db, plan, new)
    assert all_rows(desk.db) == before  # the column is kept
    assert "notice" not in {f.id for f in new.entity("ticket").fields}  # hidden
    desk.db.model = new
    back = compile_app(write_app(desk.root / "v3", TICKET))
    plan = plan_migration(new, back, db=desk.db)
    assert kinds(plan) == [("restore_field", "ticket", "notice")]
    apply_plan(desk.db, plan, back)
    assert all_rows(desk.db) == before
    with desk.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sys_retired_columns")).scalar() == 0


def test_a_rename_moves_the_values_to_the_new_name(desk):
    before = all_rows(desk.db)
    renamed = TICKET.replace("{id: notice, type: text}", "{id: notice_period, type: text}")
    new, plan = migrate(desk, renamed, renames={"ticket.notice": "notice_period"})
    assert kinds(plan) == [("rename_field", "ticket", "notice_period")]
    apply_plan(desk.db, plan, new)
    after = all_rows(desk.db)["ent_ticket"]
    assert [r["notice_period"] for r in after] == [r["notice"] for r in before["ent_ticket"]]
    assert "notice" not in after[0]


def test_text_to_integer_is_blocked_by_the_values_that_do_not_convert(desk):
    retyped = TICKET.replace("{id: notice, type: text}", "{id: notice, type: integer}")
    new, plan = migrate(desk, retyped)
    op = plan.operations[0]
    assert op.kind == "retype_field"
    assert op.impact["unconvertible"] == {"count": 1, "examples": [{"id": 2, "value": "60 days"}]}
    assert plan.blockers and "TRL-E101" in plan.blockers[0] and "records 2" in plan.blockers[0]
    with pytest.raises(MigrationRefused, match="blocked"):
        apply_plan(desk.db, plan, new)


def test_text_to_integer_with_a_default_sorts_numerically(desk):
    retyped = TICKET.replace("{id: notice, type: text}", "{id: notice, type: integer}")
    choices = {"conversions": {"ticket.notice": {"mode": "default", "value": 0}}}
    new, plan = migrate(desk, retyped, choices=choices)
    assert not plan.blockers
    apply_plan(desk.db, plan, new)
    rows = rows_of(desk.db, "ent_ticket")
    assert [r["notice"] for r in rows] == [60, 0, None, 7]
    t = table("ent_ticket", column("notice"))
    with desk.db.engine.connect() as conn:
        ordered = [
            r[0]
            for r in conn.execute(
                select(t.c.notice).where(t.c.notice.isnot(None)).order_by(t.c.notice)
            )
        ]
    assert ordered == [0, 7, 60]  # numeric, not "60" < "7"


def test_text_to_integer_keeping_the_old_values_in_an_archived_column(desk):
    retyped = TICKET.replace("{id: notice, type: text}", "{id: notice, type: integer}")
    choices = {"conversions": {"ticket.notice": {"mode": "archive"}}}
    new, plan = migrate(desk, retyped, choices=choices)
    apply_plan(desk.db, plan, new)
    rows = rows_of(desk.db, "ent_ticket")
    assert [r["notice"] for r in rows] == [60, None, None, 7]
    assert [r["notice__was_text"] for r in rows] == ["60", "60 days", None, "7"]


@pytest.mark.parametrize(
    ("field", "new_type", "expected"),
    [
        ("count", "decimal", [Decimal("3"), Decimal("4"), None, Decimal("11")]),
        ("count", "text", ["3", "4", None, "11"]),
        ("score", "text", ["1.50", "2.00", None, "10.25"]),
        ("level", "text", ["low", "mid", "high", None]),
    ],
)
def test_every_value_converts_between_these_types(desk, field, new_type, expected):
    before = rows_of(desk.db, "ent_ticket")
    retyped = retype(field, new_type)
    new, plan = migrate(desk, retyped)
    assert not plan.blockers, plan.blockers
    apply_plan(desk.db, plan, new)
    after = rows_of(desk.db, "ent_ticket")
    got = [r[field] for r in after]
    if new_type == "decimal":
        got = [None if v is None else Decimal(v) for v in got]
    assert got == expected
    assert [{k: v for k, v in r.items() if k != field} for r in after] == [
        {k: v for k, v in r.items() if k != field} for r in before
    ]


def test_decimal_with_fractions_to_integer_is_blocked(desk):
    retyped = TICKET.replace("{id: score, type: decimal}", "{id: score, type: integer}")
    new, plan = migrate(desk, retyped)
    bad = plan.operations[0].impact["unconvertible"]
    assert bad["count"] == 2 and [e["id"] for e in bad["examples"]] == [1, 4]


def test_a_removed_option_in_use_is_refused_then_mapped(desk):
    no_mid = TICKET.replace("{id: mid, label: Mid}, ", "")
    new, plan = migrate(desk, no_mid)
    assert [op.kind for op in plan.operations] == ["remove_option"]
    assert plan.operations[0].impact["in_use"] == 1
    assert "TRL-E103" in plan.blockers[0]
    new, plan = migrate(desk, no_mid, choices={"maps": {"ticket.level": {"mid": "low"}}})
    assert not plan.blockers
    apply_plan(desk.db, plan, new)
    assert [r["level"] for r in rows_of(desk.db, "ent_ticket")] == ["low", "low", "high", None]
    with desk.db.engine.connect() as conn:
        audit = conn.execute(text("SELECT record_id, action, user_id FROM sys_audit")).all()
    assert [tuple(a) for a in audit] == [(2, "migration", None)]


def test_a_removed_stage_in_use_is_refused_then_mapped_as_a_migration(desk):
    no_triage = PIPELINE.replace("  - {id: triage, label: Triage}\n", "")
    new, plan = migrate(desk, pipeline=no_triage)
    assert [op.kind for op in plan.operations] == ["remove_value"]
    assert plan.operations[0].impact["in_use"] == 2
    assert "TRL-E103" in plan.blockers[0]
    choices = {"maps": {"ticket.stage": {"triage": "new"}}}
    new, plan = migrate(desk, pipeline=no_triage, choices=choices)
    apply_plan(desk.db, plan, new)
    assert [r["stage"] for r in rows_of(desk.db, "ent_ticket")] == ["new", "new", "new", "done"]
    with desk.db.engine.connect() as conn:
        moves = conn.execute(
            text("SELECT record_id, from_stage, to_stage, changed_by FROM sys_stage_history")
        ).all()
    assert sorted(tuple(m) for m in moves) == [
        (2, "triage", "new", None),
        (3, "triage", "new", None),
    ]


def test_a_removed_entity_is_retired_and_restored(desk):
    before = all_rows(desk.db)
    other = "id: note\nlabel: Note\nfields:\n  - {id: body, type: text}\n"
    folder = write_app(desk.root / "n1", TICKET, PIPELINE, **{"entities/note.yaml": other})
    with_note = compile_app(folder)
    plan = plan_migration(desk.model, with_note, db=desk.db)
    assert kinds(plan) == [("add_entity", "note", None)]
    apply_plan(desk.db, plan, with_note)
    with desk.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ent_note (created_at, updated_at, row_version, body)"
                " VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 'kept')"
            )
        )
    plan = plan_migration(with_note, desk.model, db=desk.db)
    assert kinds(plan) == [("retire_entity", "note", None)]
    assert plan.operations[0].impact == {"rows": 1}
    apply_plan(desk.db, plan, desk.model)
    plan = plan_migration(desk.model, with_note, db=desk.db)
    assert kinds(plan) == [("restore_entity", "note", None)]
    apply_plan(desk.db, plan, with_note)
    assert [r["body"] for r in rows_of(desk.db, "ent_note")] == ["kept"]
    assert without(all_rows(desk.db), "x") == {**before, "ent_note": rows_of(desk.db, "ent_note")}


def test_a_child_table_removed_keeps_its_rows(desk):
    before = all_rows(desk.db)
    no_lines = TICKET[: TICKET.index("  - id: lines")]
    new, plan = migrate(desk, no_lines)
    assert kinds(plan) == [("retire_child", "ticket", "lines")]
    assert plan.operations[0].impact == {"rows": 4}
    apply_plan(desk.db, plan, new)
    assert all_rows(desk.db) == before


def test_plan_describes_itself_in_english_and_chinese(desk):
    no_mid = TICKET.replace("{id: mid, label: Mid}, ", "")
    new, plan = migrate(desk, no_mid)
    assert plan.describe()[0].startswith("remove option: ticket.level")
    assert plan.describe("zh")[0].startswith("删除选项")
    assert plan.describe("zh")[-1].startswith("阻止：TRL-E103")


def test_plan_without_a_database_lists_operations_without_impact(desk, tmp_path):
    new = compile_app(write_app(tmp_path / "x", TICKET + "  - {id: priority, type: integer}\n"))
    plan = plan_migration(desk.model, new)
    assert kinds(plan) == [("add_field", "ticket", "priority")]
    assert plan.fingerprint == "" and plan.operations[0].impact == {}
