"""Commands a feature contributes to `trellis` (Feature.cli_commands), as an operator runs them."""

from __future__ import annotations

from click.testing import CliRunner

from builder.cli import main


def _invoke(monkeypatch, features: str, *args: str, db_url: str | None = None):
    monkeypatch.setenv("TRELLIS_FEATURES", features)
    if db_url:
        monkeypatch.setenv("TRELLIS_DATABASE_URL", db_url)
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_features_command_is_listed_and_runs_on_the_runtime(monkeypatch, db_url):
    listed = _invoke(monkeypatch, "tests.seam_features:COUNTER", "--help")
    assert "count" in listed.output and "init" in listed.output

    assert _invoke(monkeypatch, "", "init", db_url=db_url).exit_code == 0
    result = _invoke(monkeypatch, "tests.seam_features:COUNTER", "count", "account", db_url=db_url)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "account: 0"


def test_without_the_feature_the_command_does_not_exist(monkeypatch):
    result = _invoke(monkeypatch, "", "count", "account")
    assert result.exit_code == 2
    assert "No such command 'count'" in result.output


def test_a_feature_taking_a_builtin_name_is_refused_with_its_name(monkeypatch):
    result = _invoke(monkeypatch, "tests.seam_features:CLASH", "--help")
    assert result.exit_code == 2
    assert "feature 'clash': command 'init' already exists" in result.output


def test_an_unknown_feature_is_a_clear_error_not_a_traceback(monkeypatch):
    result = _invoke(monkeypatch, "no_such_package.feature", "validate", ".")
    assert result.exit_code == 2
    assert "TRELLIS_FEATURES: feature 'no_such_package.feature': no module" in result.output
