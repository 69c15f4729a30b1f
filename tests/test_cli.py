"""The `trellis` command as an operator uses it: validate, init, demo, users, API keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from builder.cli import main
from tests.conftest import make_runtime

REFERENCE_APP = Path(__file__).resolve().parent.parent / "app_definitions" / "opportunity"


@pytest.fixture
def run(db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_DATABASE_URL", db_url)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_validate_accepts_the_reference_app():
    result = CliRunner().invoke(main, ["validate", str(REFERENCE_APP)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_validate_reports_each_problem_with_code_file_line_and_hint(tmp_path):
    app = tmp_path / "shop"
    shutil.copytree(REFERENCE_APP, app)
    entity = app / "entities" / "product.yaml"
    text = entity.read_text(encoding="utf-8")
    entity.write_text(text.replace("type: money", "type: monney", 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if "monney" in ln)
    assert line.startswith("TRL-E012 shop/entities/product.yaml:")
    assert "did you mean 'money'" in line


def test_validate_a_missing_folder_is_an_error_not_a_traceback(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "TRL-E008" in result.output
    assert "Traceback" not in result.output


def test_init_then_user_and_api_key(run):
    assert run("init").exit_code == 0
    created = run(
        "user",
        "create",
        "ops@example.com",
        "--role",
        "sales_rep",
        "--team",
        "Ops",
        "--password",
        "a-long-password",
    )
    assert created.exit_code == 0, created.output
    key = run("apikey", "create", "ops@example.com")
    assert key.exit_code == 0
    assert key.output.strip().startswith("trl_")
    unknown = run("apikey", "create", "ghost@example.com")
    assert unknown.exit_code == 2
    assert "no user with e-mail ghost@example.com" in unknown.output


def test_user_create_refuses_an_unknown_role_with_a_message(run):
    run("init")
    result = run(
        "user", "create", "x@example.com", "--role", "wizard", "--password", "long-password-1"
    )
    assert result.exit_code == 2
    assert "roles:" in result.output and "wizard" in result.output


def test_user_create_sets_the_users_own_time_zone_and_refuses_an_unknown_one(run, db_url):
    run("init")
    created = run("user", "create", "tokyo@example.com", "--role", "sales_rep",
                  "--password", "long-password-1", "--timezone", "Asia/Tokyo")  # fmt: skip
    assert created.exit_code == 0, created.output
    runtime = make_runtime(db_url, REFERENCE_APP, schema=False)  # what `trellis init` made
    user = runtime.users.principal(int(created.output.split()[1]))
    assert user.timezone == "Asia/Tokyo"
    runtime.db.dispose()
    refused = run("user", "create", "mars@example.com", "--role", "sales_rep",
                  "--password", "long-password-1", "--timezone", "Mars/Olympus")  # fmt: skip
    assert refused.exit_code == 2
    assert "timezone:" in refused.output and "Mars/Olympus" in refused.output


def test_init_after_adding_a_field_keeps_every_value(run, db_url, tmp_path):
    app = tmp_path / "opportunity"
    shutil.copytree(REFERENCE_APP, app)
    assert run("init", "--app", str(app)).exit_code == 0
    result = run("demo", "--app", str(app), "--scale", "0.01")
    assert result.exit_code == 0, result.output
    before_db = make_runtime(db_url, app, schema=False).db
    table = before_db.tables["account"]
    with before_db.engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]
    before_db.dispose()
    assert before

    entity = app / "entities" / "account.yaml"
    entity.write_text(
        entity.read_text(encoding="utf-8").replace(
            "fields:\n",
            "fields:\n  - id: loyalty_tier\n    type: select\n    options: [{id: gold, label: Gold}]\n",
            1,
        ),
        encoding="utf-8",
    )
    upgraded = run("init", "--app", str(app))
    assert upgraded.exit_code == 0, upgraded.output
    assert "loyalty_tier" in upgraded.output

    after_db = make_runtime(db_url, app, schema=False).db
    table = after_db.tables["account"]
    with after_db.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id)).mappings().all()
    after_db.dispose()
    assert [tuple(v for k, v in r.items() if k != "loyalty_tier") for r in rows] == before
    assert all(r["loyalty_tier"] is None for r in rows)


def _users(db_url):
    return make_runtime(db_url, REFERENCE_APP, schema=False).users


def test_user_create_with_a_locale(run, db_url):
    run("init")
    created = run(
        "user",
        "create",
        "li@example.com",
        "--role",
        "sales_rep",
        "--locale",
        "zh",
        "--password",
        "a-long-password",
    )
    assert created.exit_code == 0, created.output
    users = _users(db_url)
    assert users.get(users.id_for_email("li@example.com"))["locale"] == "zh"
    refused = run(
        "user",
        "create",
        "fr@example.com",
        "--role",
        "sales_rep",
        "--locale",
        "fr",
        "--password",
        "a-long-password",
    )
    assert refused.exit_code == 2
    assert "--locale: 'fr' is not one of the app's locales (en, zh)" in refused.output
    users.db.engine.dispose()


def test_user_deactivate_and_activate(run, db_url):
    run("init")
    run("user", "create", "ops@example.com", "--role", "sales_rep", "--password", "a-long-password")
    users = _users(db_url)
    assert users.authenticate("ops@example.com", "a-long-password") is not None
    result = run("user", "deactivate", "ops@example.com")
    assert result.exit_code == 0, result.output
    assert "deactivated" in result.output
    assert users.authenticate("ops@example.com", "a-long-password") is None
    assert run("user", "activate", "ops@example.com").exit_code == 0
    assert users.authenticate("ops@example.com", "a-long-password") is not None
    actions = [a["action"] for a in users.account_activity()]
    assert actions[:2] == ["user.activated", "user.deactivated"]
    missing = run("user", "deactivate", "ghost@example.com")
    assert missing.exit_code == 2 and "no user with e-mail ghost@example.com" in missing.output
    users.db.engine.dispose()


def test_apikey_list_and_revoke(run, db_url):
    run("init")
    run("user", "create", "ops@example.com", "--role", "sales_rep", "--password", "a-long-password")
    token = run("apikey", "create", "ops@example.com", "--name", "nightly sync").output.strip()
    users = _users(db_url)
    assert users.principal_for_api_key(token) is not None
    listed = run("apikey", "list")
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if "nightly sync" in line)
    assert "ops@example.com" in row and "active" in row and token not in listed.output
    key_id = row.split()[0]
    revoked = run("apikey", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert users.principal_for_api_key(token) is None
    assert run("apikey", "list").output.strip() == "no API keys"
    assert "revoked" in run("apikey", "list", "ops@example.com", "--all").output
    again = run("apikey", "revoke", key_id)
    assert again.exit_code == 2 and f"no live API key with id {key_id}" in again.output
    assert users.account_activity()[0]["action"] == "apikey.revoked"
    users.db.engine.dispose()


def test_import_creates_records_from_a_csv_and_names_a_bad_cell(run, tmp_path):
    assert run("init").exit_code == 0
    good = tmp_path / "accounts.csv"
    good.write_text("Account name,Industry\nAcme Robotics,\nBeta Labs,\n", encoding="utf-8")
    result = run("import", "account", str(good))
    assert result.exit_code == 0, result.output
    assert "2 account record(s) imported" in result.output

    bad = tmp_path / "deals.csv"
    bad.write_text("name,amount\nBig deal,lots\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", "opportunity", str(bad)])
    assert result.exit_code == 2
    assert "line 2, column 'amount' (field 'amount')" in result.output
    assert "nothing was written" in result.output

    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nCaf\xe9\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["import", "account", str(latin)])
    assert result.exit_code == 2 and "not UTF-8" in result.output

    result = CliRunner().invoke(main, ["import", "nosuch", str(good)])
    assert result.exit_code == 2 and "no entity 'nosuch'" in result.output


def test_a_command_on_a_broken_app_prints_its_problems_and_exits_1(run, tmp_path):
    app = tmp_path / "shop"
    shutil.copytree(REFERENCE_APP, app)
    entity = app / "entities" / "product.yaml"
    entity.write_text(entity.read_text(encoding="utf-8") + "\nbogus_key: 1\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["init", "--app", str(app)])
    assert result.exit_code == 1
    assert "product.yaml" in result.output and "problem(s) in" in result.output
