"""Each Database keeps its own tables: copies of the system tables plus what its
features define (``Feature.define_tables``), so a runtime without pipelines has no
stage tables and two runtimes in one process never share an altered table."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from runtime.errors import ValidationError
from runtime.store import system_tables as st
from runtime.wiring import build_runtime

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"
STAGE_TABLES = {"sys_stage_history", "sys_stage_checklist"}


def test_a_runtime_without_pipelines_has_no_stage_tables_and_works(db_url):
    runtime = build_runtime(FIXTURE, db_url, features=[], queue="immediate")
    runtime.db.create_or_upgrade()
    assert not STAGE_TABLES & set(runtime.db.metadata.tables)
    assert not STAGE_TABLES & set(inspect(runtime.db.engine).get_table_names())
    assert "stage" not in runtime.db.tables["deal"].c
    admin = runtime.repo.principal(
        runtime.users.create_user("a@example.com", "Ada", None, roles=["admin"])
    )
    deal = runtime.repo.create(admin, "deal", {"name": "Plain", "amount": 10})
    assert "stage" not in deal
    runtime.repo.update(admin, "deal", deal["id"], {"amount": 20})
    assert [r["amount"] for r in runtime.repo.list(admin, "deal").rows] == [20]
    with pytest.raises(ValidationError) as exc:
        runtime.repo.update(admin, "deal", deal["id"], {"stage": "won"})
    assert exc.value.errors["stage"][0].code == "unknown_field"
    runtime.repo.archive(admin, "deal", deal["id"])
    runtime.db.dispose()


def test_two_runtimes_in_one_process_keep_their_own_tables(tmp_path):
    plain = build_runtime(FIXTURE, f"sqlite:///{tmp_path / 'a.db'}", features=[], queue="immediate")
    staged = build_runtime(FIXTURE, f"sqlite:///{tmp_path / 'b.db'}", queue="immediate")
    assert STAGE_TABLES <= set(staged.db.metadata.tables)
    assert not STAGE_TABLES & set(plain.db.metadata.tables)
    assert not STAGE_TABLES & set(st.metadata.tables)  # the shared definitions never change
    # each Database holds copies, not the module's Table objects
    assert plain.db.metadata.tables["sys_users"] is not st.users
    assert plain.db.metadata.tables["sys_users"] is not staged.db.metadata.tables["sys_users"]
    staged.db.create_or_upgrade()
    assert STAGE_TABLES <= set(inspect(staged.db.engine).get_table_names())
    again = staged.db.create_or_upgrade()
    assert again == {"created_tables": [], "added_columns": [], "created_indexes": []}
    plain.db.dispose()
    staged.db.dispose()
