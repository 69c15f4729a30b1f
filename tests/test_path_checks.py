"""The compiler checks every link path metadata names (view columns, sorts, filters,
a lookup's ``from``) hop by hop, with a coded problem naming the file and the path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runtime.definition import check_app

FILES = {
    "app.yaml": "id: shop\nlabel: Shop\n",
    "entities/company.yaml": """\
        id: company
        fields:
          - {id: name, type: text}
          - {id: parent, type: link, target: company}
          - id: industry
            type: select
            options: [{id: retail}, {id: energy}]
          - {id: lines, type: child_table, fields: [{id: sku, type: text}]}
    """,
    "entities/deal.yaml": """\
        id: deal
        fields:
          - {id: name, type: text}
          - {id: company, type: link, target: company}
          - {id: company_industry, type: lookup, from: company.industry}
          - {id: parent_name, type: lookup, from: company.parent.name}
    """,
}


def app_with(tmp_path: Path, **changes: str) -> Path:
    files = {**FILES, **{k.replace("__", "/") + ".yaml": v for k, v in changes.items()}}
    for rel, text in files.items():
        path = tmp_path / "shop" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "shop"


def problems_of(tmp_path: Path, **changes: str) -> list:
    return check_app(app_with(tmp_path, **changes))


def test_paths_and_lookups_that_walk_compile(tmp_path):
    view = """\
        entity: deal
        views:
          - id: all
            columns: [name, company.industry, company_industry, company.parent.name, company.owner.team]
            sort: [company.industry, "-company.parent.name"]
            filters:
              - {field: company.industry, op: eq, value: retail}
            filter_fields: [company.industry, company_industry]
    """
    assert problems_of(tmp_path, views__deal=view) == []


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("company.nothing", "TRL-E080", "'nothing' is not a field of 'company'"),
        ("company.name.first", "TRL-E081", "'name' of 'company' is not a link"),
        ("company.parent.parent.parent.name", "TRL-E082", "at most 3"),
        ("company.lines", "TRL-E080", "child table"),
    ],
)
def test_a_view_path_that_does_not_walk_names_the_file_and_the_path(tmp_path, path, code, words):
    view = f"""\
        entity: deal
        views:
          - id: all
            columns: [name, {path}]
    """
    found = problems_of(tmp_path, views__deal=view)
    assert [p.code for p in found] == [code], found
    assert found[0].file.endswith("views/deal.yaml") and path in found[0].message
    assert words in found[0].message


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("company.nothing", "TRL-E080"),
        ("name.first", "TRL-E081"),
        ("company.parent.parent.parent.name", "TRL-E082"),
        ("company.lines", "TRL-E083"),
    ],
)
def test_a_lookup_that_does_not_walk_is_refused(tmp_path, source, code):
    entity = (
        textwrap.dedent(FILES["entities/deal.yaml"])
        + f"  - {{id: bad, type: lookup, from: {source}}}\n"
    )
    found = problems_of(tmp_path, entities__deal=textwrap.dedent(entity))
    assert [p.code for p in found] == [code], found
    assert found[0].file.endswith("entities/deal.yaml") and source in found[0].message


def test_lookups_showing_each_other_are_a_cycle(tmp_path):
    entity = """\
        id: deal
        fields:
          - {id: name, type: text}
          - {id: company, type: link, target: company}
          - {id: me, type: link, target: deal}
          - {id: a, type: lookup, from: me.b}
          - {id: b, type: lookup, from: me.a}
    """
    found = problems_of(tmp_path, entities__deal=entity)
    assert {p.code for p in found} == {"TRL-E084"}, found


def test_a_lookup_without_from_is_refused(tmp_path):
    entity = textwrap.dedent(FILES["entities/deal.yaml"]) + "  - {id: bad, type: lookup}\n"
    found = problems_of(tmp_path, entities__deal=textwrap.dedent(entity))
    assert [p.code for p in found] == ["TRL-E083"], found
