"""Every field type, feature, widget kind and check code has its documentation entry.

As tests/test_docs_codes.py does for the codes of the definition checker, but for
everything an app author or an extension writer looks up: a new type, widget or
feature without its docs fails here, with the heading to add. Each check is a small
function, and each is shown to fail on an entry that is missing.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from runtime.definition import check_app, codes
from runtime.features import DEFAULT_FEATURES, Feature, load_features
from runtime.fieldtypes import FieldType, builtin_registry, registry_with
from runtime.fieldtypes.widgets import WIDGETS, Widget, WidgetRegistry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIELD_TYPES = DOCS / "field-types.md"
CHECK_CODES = DOCS / "check-codes.md"
WIDGET_TEMPLATES = ROOT / "templates" / "widgets"
# The built-in types and those the default features add.
TYPES = registry_with(load_features(DEFAULT_FEATURES).gather("field_types"))


def sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> body, for the headings of one level ("##" or "###")."""
    parts = re.split(rf"(?m)^{level} (.+?)\s*$", text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def type_sections() -> dict[str, str]:
    return sections(FIELD_TYPES.read_text(encoding="utf-8"), "##")


def yaml_examples(body: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", body, re.S)


def every_feature() -> list[Feature]:
    """The default features and every feature package shipped in runtime/features/."""
    shipped = sorted(
        f"runtime.features.{p.parent.name}"
        for p in (ROOT / "runtime" / "features").glob("*/__init__.py")
    )
    return list(load_features(list(dict.fromkeys([*DEFAULT_FEATURES, *shipped]))))


# --------------------------------------------------------------------------- the checks


def type_docs_problems(types: Mapping[str, FieldType], found: Mapping[str, str]) -> list[str]:
    """What a '## <type>' section lacks: the section, a setting, its widget, an example."""
    problems = []
    for name, ftype in types.items():
        body = found.get(name)
        if body is None:
            problems.append(f"add a '## {name}' section to docs/field-types.md")
            continue
        unlisted = [key for key in ftype.settings if f"`{key}`" not in body]
        if unlisted:
            problems.append(f"docs/field-types.md '## {name}' does not list {unlisted}")
        if f"`{ftype.input_kind}`" not in body:
            problems.append(f"'## {name}' does not name its widget `{ftype.input_kind}`")
        if not yaml_examples(body):
            problems.append(f"docs/field-types.md '## {name}' has no ```yaml example")
    return problems


def widget_docs_problems(widgets: Iterable[str], text: str) -> list[str]:
    """Kinds without a '### `<kind>`' entry under '## Widgets', and entries of no kind."""
    body = sections(text, "##").get("Widgets", "")
    documented = set(re.findall(r"(?m)^### `([a-z-]+)`\s*$", body))
    kinds = set(widgets)
    problems = [f"add a '### `{k}`' entry under '## Widgets'" for k in sorted(kinds - documented)]
    problems += [f"'## Widgets' documents `{k}`, no such kind" for k in sorted(documented - kinds)]
    return problems


def feature_docs_problems(features: Iterable[Feature]) -> list[str]:
    """Features naming no docs page, a page that does not exist or does not name them."""
    problems = []
    for feature in features:
        if not feature.docs:
            problems.append(f"feature {feature.name!r} names no docs page")
            continue
        page = ROOT / feature.docs
        if page.parent != DOCS or not page.is_file():
            problems.append(f"{feature.docs} (feature {feature.name!r}) does not exist")
        elif f"`{feature.name}`" not in page.read_text(encoding="utf-8"):
            problems.append(f"{feature.docs} does not mention the feature `{feature.name}`")
    return problems


def code_docs_problems(all_codes: Iterable[str], text: str) -> list[str]:
    documented = set(re.findall(r"^## (TRL-[EW]\d{3})\s*$", text, re.M))
    return [
        f"add a '## {c}' heading to docs/check-codes.md"
        for c in sorted(set(all_codes) - documented)
    ]


# --------------------------------------------------------------------------- the docs


def test_every_field_type_has_a_section_listing_its_settings_widget_and_an_example():
    assert type_docs_problems(TYPES, type_sections()) == []


def test_every_field_type_says_how_it_is_exported_and_imported():
    table = type_sections()["Export and import"]
    missing = sorted(name for name in TYPES if f"`{name}`" not in table)
    assert missing == [], f"add {missing} to the table of '## Export and import'"


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
    (app / "entities" / "deal.yaml").write_text(  # what the rollup example adds up
        textwrap.dedent("""\
            id: deal
            fields:
              - {id: account, type: link, target: example}
              - {id: amount, type: money, currency: CNY}
              - {id: open, type: boolean}
        """),
        encoding="utf-8",
    )
    assert [str(p) for p in check_app(app)] == []


def test_every_widget_kind_has_an_entry_in_the_widgets_section():
    assert widget_docs_problems(WIDGETS, FIELD_TYPES.read_text(encoding="utf-8")) == []


def test_every_widget_kind_has_its_template_and_every_type_a_registered_widget():
    missing = sorted(
        k for k, w in WIDGETS.items() if not (ROOT / "templates" / w.template).is_file()
    )
    assert missing == [], f"add templates/widgets/<kind>.html for {missing}"
    strays = sorted(p.stem for p in WIDGET_TEMPLATES.glob("*.html") if p.stem not in WIDGETS)
    assert strays == [], f"templates/widgets/ has templates of no registered kind: {strays}"
    unregistered = sorted(
        f"{n}: {t.input_kind}" for n, t in TYPES.items() if t.input_kind not in WIDGETS
    )
    assert unregistered == [], f"types whose input_kind is no widget kind: {unregistered}"


def test_every_feature_has_a_docs_page_that_names_it():
    assert feature_docs_problems(every_feature()) == []


def test_every_check_code_of_the_checker_and_the_features_is_documented():
    everything = set(codes.all_codes(every_feature()))
    assert code_docs_problems(everything, CHECK_CODES.read_text(encoding="utf-8")) == []


# --------------------------------------------------------------------------- the checks fail


class UndocumentedType(FieldType):
    name = "undocumented"
    settings = {"shade": {"type": "string"}}
    input_kind = "swatch"


def test_the_checks_fail_on_a_type_widget_feature_and_code_without_docs():
    registry = builtin_registry()
    registry.register(UndocumentedType)
    found = dict(type_sections(), undocumented="`shade` but no widget and no example")
    widgets = WidgetRegistry([*WIDGETS.values(), Widget("swatch", "a colour swatch")])
    silent = type("Silent", (Feature,), {"name": "silent"})()
    elsewhere = type("Elsewhere", (Feature,), {"name": "elsewhere", "docs": "docs/jobs.md"})()

    assert type_docs_problems(registry, {k: v for k, v in found.items() if k != "text"}) == [
        "add a '## text' section to docs/field-types.md",
        "'## undocumented' does not name its widget `swatch`",
        "docs/field-types.md '## undocumented' has no ```yaml example",
    ]
    assert widget_docs_problems(widgets, FIELD_TYPES.read_text(encoding="utf-8")) == [
        "add a '### `swatch`' entry under '## Widgets'"
    ]
    assert feature_docs_problems([silent, elsewhere]) == [
        "feature 'silent' names no docs page",
        "docs/jobs.md does not mention the feature `elsewhere`",
    ]
    assert code_docs_problems(
        ["TRL-E012", "TRL-E999"], CHECK_CODES.read_text(encoding="utf-8")
    ) == ["add a '## TRL-E999' heading to docs/check-codes.md"]
