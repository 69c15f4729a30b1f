"""Every field type, feature, widget kind and check code has its documentation entry.

As tests/test_docs_codes.py does for the codes of the definition checker, but for
everything an app author or an extension writer looks up: a new type, widget or
feature without its docs fails here, with the heading to add.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml

from runtime.definition import check_app, codes
from runtime.features import DEFAULT_FEATURES, load_features
from runtime.fieldtypes import registry_with
from runtime.fieldtypes.widgets import WIDGETS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIELD_TYPES = DOCS / "field-types.md"
# The built-in types and those the default features add.
TYPES = registry_with(load_features(DEFAULT_FEATURES).gather("field_types"))


def sections(path: Path, level: str) -> dict[str, str]:
    """Heading text -> body, for the headings of one level ("##" or "###")."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(rf"(?m)^{level} (.+?)\s*$", text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def type_sections() -> dict[str, str]:
    return sections(FIELD_TYPES, "##")


def yaml_examples(body: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", body, re.S)


def test_every_field_type_has_a_section_listing_its_settings_with_an_example():
    found = type_sections()
    missing = sorted(set(TYPES) - set(found))
    assert missing == [], f"add a '## <type>' section to docs/field-types.md for {missing}"
    for name, ftype in TYPES.items():
        body = found[name]
        unlisted = [key for key in ftype.settings if f"`{key}`" not in body]
        assert unlisted == [], f"docs/field-types.md '## {name}' does not list {unlisted}"
        assert yaml_examples(body), f"docs/field-types.md '## {name}' has no ```yaml example"


def test_the_field_type_examples_compile_without_problems(tmp_path):
    """The examples are real: all of them together make one entity that compiles."""
    fields = []
    for name in TYPES:
        for example in yaml_examples(type_sections()[name]):
            fields += yaml.safe_load(example)
    entity = {"id": "example", "title_field": "name", "fields": fields}
    app = tmp_path / "docs_app"
    (app / "entities").mkdir(parents=True)
    (app / "app.yaml").write_text("id: docs_app\nlabel: Docs\n", encoding="utf-8")
    (app / "entities" / "example.yaml").write_text(yaml.safe_dump(entity), encoding="utf-8")
    (app / "entities" / "company.yaml").write_text(
        textwrap.dedent("""\
            id: company
            fields:
              - {id: name, type: text}
        """),
        encoding="utf-8",
    )
    assert [str(p) for p in check_app(app)] == []


def test_every_widget_kind_has_an_entry_in_the_widgets_section():
    widgets = sections(FIELD_TYPES, "##")["Widgets"]
    documented = set(re.findall(r"(?m)^### `([a-z-]+)`\s*$", widgets))
    missing = sorted(set(WIDGETS) - documented)
    assert missing == [], f"add a '### `<kind>`' entry under '## Widgets' for {missing}"
    unknown = sorted(documented - set(WIDGETS))
    assert unknown == [], f"'## Widgets' documents kinds that do not exist: {unknown}"


def test_every_default_feature_has_a_docs_page_that_names_it():
    for feature in load_features(DEFAULT_FEATURES):
        assert feature.docs, f"feature {feature.name!r} names no docs page"
        page = ROOT / feature.docs
        assert page.parent == DOCS and page.is_file(), f"{feature.docs} does not exist"
        assert f"`{feature.name}`" in page.read_text(encoding="utf-8"), (
            f"{feature.docs} does not mention the feature `{feature.name}`"
        )


def test_every_check_code_of_the_checker_and_the_features_is_documented():
    documented = set(
        re.findall(
            r"^## (TRL-[EW]\d{3})\s*$",
            (DOCS / "check-codes.md").read_text(encoding="utf-8"),
            re.M,
        )
    )
    feature_codes = {
        code.code for feature in load_features(DEFAULT_FEATURES) for code in feature.check_codes()
    }
    missing = sorted((set(codes.ALL_CODES) | feature_codes) - documented)
    assert missing == [], f"add a '## CODE' heading to docs/check-codes.md for {missing}"
