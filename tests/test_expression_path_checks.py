"""The compiler walks every link path an expression names (rules, formulas, defaults,
conditions, form sections, row scopes) and refuses one that does not walk with a code
naming the file, the object and the path."""

from __future__ import annotations

import textwrap

import pytest

from tests.test_path_checks import FILES, problems_of


def _deal_with(extra: str) -> str:
    return textwrap.dedent(FILES["entities/deal.yaml"]) + textwrap.dedent(extra)


def test_paths_that_walk_compile_everywhere(tmp_path):
    entity = _deal_with("""\
          - {id: amount, type: integer}
          - id: note
            type: text
            visible_if: "company.industry == 'retail'"
            required_if: "company.parent.industry == 'energy'"
          - id: parent_label
            type: formula
            result_type: text
            expression: "coalesce(company.parent.name, 'none')"
          - {id: team_of_owner, type: integer, default: "=company.owner.team"}
        rules:
          - id: retail_small
            expression: "company.industry != 'retail' or amount is none or amount < 100"
            message: Retail deals stay small
    """)
    form = """\
        entity: deal
        sections:
          - {id: main, fields: [name, company]}
          - {id: retail, fields: [amount], visible_if: "company.industry == 'retail'"}
    """
    roles = """\
        roles:
          - id: rep
            label: Rep
            permissions:
              deal: {read: {expression: "company.industry == 'retail'"}}
    """
    assert problems_of(tmp_path, entities__deal=entity, forms__deal=form, roles=roles) == []


@pytest.mark.parametrize(
    ("source", "code", "words"),
    [
        ("company.nothing == 1", "TRL-E056", "'nothing' is not a field of 'company'"),
        ("name.first == 'x'", "TRL-E057", "'name' of 'deal' is not a link"),
        ("company.parent.parent.parent.name == 'x'", "TRL-E058", "at most 3"),
        ("company.lines == 1", "TRL-E059", "child table"),
    ],
)
def test_a_rule_path_that_does_not_walk_is_refused(tmp_path, source, code, words):
    entity = _deal_with(f"""\
        rules:
          - id: checked
            expression: "{source}"
            message: Checked
    """)
    found = problems_of(tmp_path, entities__deal=entity)
    assert [p.code for p in found] == [code], found
    assert found[0].file.endswith("entities/deal.yaml")
    assert "rule 'checked'" in found[0].obj and words in found[0].message


def test_a_path_inside_a_child_table_row_is_refused(tmp_path):
    entity = textwrap.dedent(FILES["entities/deal.yaml"]) + (
        "  - id: items\n"
        "    type: child_table\n"
        "    fields:\n"
        "      - {id: sku, type: text}\n"
        "      - {id: ref, type: link, target: company}\n"
        "      - {id: tag, type: text, visible_if: \"ref.industry == 'retail'\"}\n"
    )
    found = problems_of(tmp_path, entities__deal=entity)
    assert [p.code for p in found] == ["TRL-E089"], found
    assert "'ref.industry'" in found[0].message


def test_a_form_section_path_is_walked(tmp_path):
    form = """\
        entity: deal
        sections:
          - {id: main, fields: [name, company], visible_if: "company.industri == 'retail'"}
    """
    found = problems_of(tmp_path, forms__deal=form)
    assert [p.code for p in found] == ["TRL-E056"], found
    assert found[0].file.endswith("forms/deal.yaml") and "did you mean 'industry'" in (
        found[0].hint or ""
    )
