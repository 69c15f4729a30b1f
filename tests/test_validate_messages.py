"""`trellis validate` as a consultant meets it: files it does not read are named
(warnings, exit 0), a comma inside a flow-mapping label gets a hint that says to quote
it, and a field with a wrong type is reported once, not again in every file naming it."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from builder.cli import main

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_APP = ROOT / "app_definitions" / "opportunity"


def validate(app: Path):
    return CliRunner().invoke(main, ["validate", str(app)])


def reference_copy(tmp_path: Path) -> Path:
    app = tmp_path / "crm"
    shutil.copytree(REFERENCE_APP, app)
    return app


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------- 31 unread files


def test_validate_names_every_file_it_does_not_read(tmp_path):
    app = reference_copy(tmp_path)
    (app / "entity").mkdir()
    shutil.copy(app / "entities" / "product.yaml", app / "entity" / "product.yaml")
    (app / "entities" / "old").mkdir()
    (app / "entities" / "old" / "deal.yaml").write_text("id: deal\n", encoding="utf-8")
    (app / "entities" / "notes.txt").write_text("todo\n", encoding="utf-8")
    (app / "entities" / "account.yaml.bak").write_text("id: x\n", encoding="utf-8")
    (app / "settings.yaml").write_text("x: 1\n", encoding="utf-8")
    (app / ".git").mkdir()
    (app / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (app / "entities" / ".deal.yaml.swp").write_bytes(b"\0")
    result = validate(app)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    named = {ln.split(":")[0]: ln for ln in lines if ln.startswith("TRL-W")}
    assert named == {
        "TRL-W001 crm/entity/product.yaml": named["TRL-W001 crm/entity/product.yaml"],
        "TRL-W001 crm/entities/old/deal.yaml": named["TRL-W001 crm/entities/old/deal.yaml"],
        "TRL-W002 crm/entities/notes.txt": named["TRL-W002 crm/entities/notes.txt"],
        "TRL-W002 crm/entities/account.yaml.bak": named["TRL-W002 crm/entities/account.yaml.bak"],
        "TRL-W001 crm/settings.yaml": named["TRL-W001 crm/settings.yaml"],
    }
    assert "did you mean 'entities/'?" in named["TRL-W001 crm/entity/product.yaml"]
    assert "move the file up into 'entities/'" in named["TRL-W001 crm/entities/old/deal.yaml"]
    assert lines[-1] == f"{app}: ok, 5 warning(s)"


def test_validate_names_files_of_kinds_not_compiled_yet(tmp_path):
    app = reference_copy(tmp_path)
    (app / "approvals").mkdir()
    (app / "approvals" / "sales.yaml").write_text("id: sales\n", encoding="utf-8")
    result = validate(app)
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "approvals/sales.yaml" in ln)
    assert line.startswith("TRL-W003 crm/approvals/sales.yaml")
    assert "does not compile 'approvals/' yet" in line


def test_warnings_are_shown_with_errors_and_the_reference_app_has_none(tmp_path):
    assert validate(REFERENCE_APP).output.strip() == f"{REFERENCE_APP}: ok"
    app = reference_copy(tmp_path)
    (app / "view").mkdir()
    (app / "view" / "x.yaml").write_text("id: x\n", encoding="utf-8")
    edit(app / "entities" / "product.yaml", "type: money", "type: monney")
    result = validate(app)
    assert result.exit_code == 1
    assert any(ln.startswith("TRL-W001 crm/view/x.yaml") for ln in result.output.splitlines())
    assert "did you mean 'views/'?" in result.output


# --------------------------------------------------------------------------- 32 messages


def test_a_comma_inside_a_flow_mapping_label_gets_a_quote_hint(tmp_path):
    app = reference_copy(tmp_path)
    entity = app / "entities" / "opportunity.yaml"
    edit(entity, "label: {en: Amount, zh: 金额}", "label: {en: Amount, net of tax, zh: 金额}")
    result = validate(app)
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if "unknown property" in ln)
    assert line.startswith("TRL-E006 crm/entities/opportunity.yaml:")
    assert "unknown property 'net of tax'" in line
    assert 'put text that contains commas in quotes, e.g. en: "Amount, net of tax"' in line


def test_a_one_word_fragment_after_the_comma_gets_the_hint_too(tmp_path):
    app = reference_copy(tmp_path)
    entity = app / "entities" / "opportunity.yaml"
    edit(entity, "label: {en: Amount, zh: 金额}", "label: {en: Reason, details, zh: 金额}")
    line = next(ln for ln in validate(app).output.splitlines() if "'details'" in ln)
    assert 'e.g. en: "Reason, details"' in line


def test_a_field_with_a_wrong_type_is_reported_once_not_in_every_file_naming_it(tmp_path):
    app = reference_copy(tmp_path)
    edit(app / "entities" / "opportunity.yaml", "type: money", "type: monney")
    result = validate(app)
    assert result.exit_code == 1
    problems = [ln for ln in result.output.splitlines() if ln.startswith("TRL-E")]
    assert len(problems) == 1, "\n".join(problems)
    assert problems[0].startswith("TRL-E012 crm/entities/opportunity.yaml:")
    assert "did you mean 'money'?" in problems[0]
    assert "references to it are checked again once" in problems[0]


def test_a_reference_to_a_field_that_never_existed_is_still_reported(tmp_path):
    app = reference_copy(tmp_path)
    edit(app / "entities" / "opportunity.yaml", "type: money", "type: monney")
    views = app / "views" / "opportunity.yaml"
    text = views.read_text(encoding="utf-8")
    views.write_text(text.replace("amount", "amount_typo", 1), encoding="utf-8")
    problems = [ln for ln in validate(app).output.splitlines() if ln.startswith("TRL-E")]
    assert [p.split()[0] for p in problems] == ["TRL-E012", "TRL-E028"], problems
    assert "'amount_typo'" in problems[1]
