"""A feature adds a field type the way the built-in types are added: one class.

The type is registered in the registry of the models compiled with the feature (the
shared built-in registry stays frozen); its own settings are checked against the
schema it declares, and records store and read its values through the repository.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import String

from runtime.definition import check_app, load_app
from runtime.definition.codes import Code
from runtime.errors import FieldMessage, ValidationError
from runtime.features import Feature, FeatureSet, load_features
from runtime.fieldtypes import TYPES, DefinitionProblem, FieldInvalid, FieldType, type_of
from runtime.wiring import build_runtime
from tests.conftest import build_schema


class SwatchType(FieldType):
    """A colour from the field's palette, stored as "#rrggbb"."""

    name = "swatch"
    settings = {"palette": {"type": "array", "items": {"type": "string"}, "minItems": 1}}

    def column_type(self, field):
        return String(7)

    def parse(self, field, raw, ctx):
        colour = str(raw).strip().lower()
        palette = field.settings.get("palette") or ()
        if not re.fullmatch(r"#[0-9a-f]{6}", colour) or (palette and colour not in palette):
            raise FieldInvalid(FieldMessage("invalid"))
        return colour


class SwatchFeature(Feature):
    name = "swatches"

    def field_types(self):
        return (SwatchType,)


ENTITY = """\
id: tag
fields:
  - id: name
    type: text
  - id: colour
    type: swatch
    settings: {palette: ["#ff0000", "#00aa00"]}
"""


def app_with(tmp_path: Path, entity: str = ENTITY) -> Path:
    app = tmp_path / "tags"
    (app / "entities").mkdir(parents=True)
    (app / "app.yaml").write_text("id: tags\nlabel: Tags\n", encoding="utf-8")
    (app / "entities" / "tag.yaml").write_text(textwrap.dedent(entity), encoding="utf-8")
    return app


def features() -> FeatureSet:
    return FeatureSet([*load_features(), SwatchFeature()])


def test_a_features_type_compiles_with_its_own_settings(tmp_path):
    model = load_app(app_with(tmp_path), features())

    colour = model.entities["tag"].field("colour")

    assert isinstance(type_of(colour), SwatchType)
    assert dict(colour.settings) == {"palette": ["#ff0000", "#00aa00"]}
    assert "swatch" not in TYPES  # the shared registry is untouched


def test_without_the_feature_the_type_is_unknown(tmp_path):
    codes = [p.code for p in check_app(app_with(tmp_path))]

    assert codes == ["TRL-E012"]


def test_a_setting_off_the_types_schema_is_reported(tmp_path):
    entity = ENTITY.replace(
        'settings: {palette: ["#ff0000", "#00aa00"]}', "settings: {palette: red}"
    )

    problems = check_app(app_with(tmp_path, entity), features())

    assert [p.code for p in problems] == ["TRL-E055"]
    assert "field 'colour'" in problems[0].obj
    assert "setting 'palette'" in problems[0].message


def test_records_store_and_read_the_new_types_values(tmp_path, db_url):
    app = app_with(tmp_path)
    build_schema(db_url, load_app(app, features()))
    runtime = build_runtime(app, db_url, features())
    admin = runtime.repo.principal(
        runtime.users.create_user("a@example.com", "Ada", "correct horse battery", roles=["admin"])
    )

    created = runtime.repo.create(admin, "tag", {"name": "Hot", "colour": " #FF0000 "})

    assert runtime.repo.get(admin, "tag", created["id"])["colour"] == "#ff0000"
    with pytest.raises(ValidationError, match="colour"):
        runtime.repo.create(admin, "tag", {"name": "Blue", "colour": "#0000ff"})
    runtime.db.engine.dispose()


# --------------------------------------------------------------------------- definition checks

LOUD_PALETTE = Code("TRL-E901", "a swatch palette has too many colours (test extension)")


class CheckedSwatchType(SwatchType):
    """A swatch whose palette may hold at most two colours: its own check, its own code."""

    def check_definition(self, field, context):
        found = super().check_definition(field, context)
        palette = field.settings.get("palette") or ()
        if len(palette) > 2:
            found.append(
                DefinitionProblem(
                    LOUD_PALETTE,
                    f"palette has {len(palette)} colours",
                    "keep two",
                    ("settings", "palette"),
                )
            )
        return found


class CheckedSwatchFeature(Feature):
    name = "checked_swatches"

    def field_types(self):
        return (CheckedSwatchType,)

    def check_codes(self):
        return (LOUD_PALETTE,)


def test_an_extension_types_own_check_reports_its_own_code_at_its_setting(tmp_path):
    entity = ENTITY.replace('"#00aa00"]', '"#00aa00", "#0000ff"]')
    app = app_with(tmp_path, entity)

    problems = check_app(app, FeatureSet([*load_features(), CheckedSwatchFeature()]))

    assert [(p.code, p.message, p.hint) for p in problems] == [
        ("TRL-E901", "palette has 3 colours", "keep two")
    ]
    assert "field 'colour'" in problems[0].obj
    assert problems[0].line == 7  # the settings line of tag.yaml


class ProblemSwatchType(SwatchType):
    def problems(self, field):
        return (
            ["a palette colour must not be black"]
            if "#000000" in field.settings.get("palette", ())
            else []
        )


class BrokenSwatchType(SwatchType):
    def check_definition(self, field, context):
        raise RuntimeError("boom")


def _with_type(cls) -> FeatureSet:
    feature = type("OneType", (Feature,), {"name": "one_type", "field_types": lambda self: (cls,)})
    return FeatureSet([*load_features(), feature()])


def test_a_types_plain_problems_are_reported_as_type_settings(tmp_path):
    entity = ENTITY.replace('"#00aa00"]', '"#000000"]')

    problems = check_app(app_with(tmp_path, entity), _with_type(ProblemSwatchType))

    assert [(p.code, p.message) for p in problems] == [
        ("TRL-E038", "a palette colour must not be black")
    ]


def test_a_types_failing_check_is_a_problem_not_a_crash(tmp_path):
    problems = check_app(app_with(tmp_path), _with_type(BrokenSwatchType))

    assert [(p.code, p.message) for p in problems] == [
        ("TRL-E038", "the type's own check failed: boom")
    ]


def test_builtin_types_report_their_own_codes(tmp_path):
    entity = """\
    id: tag
    fields:
      - {id: name, type: text}
      - {id: price, type: money, currency: USD, currencies: [CNY, EUR]}
      - {id: mobile, type: phone, region: XX}
      - {id: size, type: integer, min: 9, max: 3}
    """
    problems = check_app(app_with(tmp_path, entity))

    assert [(p.code, p.message) for p in problems] == [
        ("TRL-E033", "currency 'USD' is not in currencies ['CNY', 'EUR']"),
        ("TRL-E038", "unknown phone region 'XX'"),
        ("TRL-E032", "min 9 is greater than max 3"),
    ]


# --------------------------------------------------------------------------- features ask the type

PIPELINE_FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"


class PointsType(FieldType):
    """Whole points that add up, as an amount does (an extension's numeric type)."""

    name = "points"
    numeric = True
    summable = True

    def column_type(self, field):
        from sqlalchemy import BigInteger

        return BigInteger()

    def parse(self, field, raw, ctx):
        return int(raw)


def pipeline_app(tmp_path: Path, amount_field: dict) -> Path:
    import shutil

    import yaml

    app = Path(shutil.copytree(PIPELINE_FIXTURE, tmp_path / "app"))
    pipeline = yaml.safe_load((app / "pipelines" / "sales.yaml").read_text(encoding="utf-8"))
    entity_file = app / "entities" / f"{pipeline['entity']}.yaml"
    entity = yaml.safe_load(entity_file.read_text(encoding="utf-8"))
    entity["fields"].append(amount_field)
    entity_file.write_text(yaml.safe_dump(entity, allow_unicode=True), encoding="utf-8")
    pipeline["fields"]["amount"] = amount_field["id"]
    pipeline.setdefault("board", {})["sum"] = amount_field["id"]
    path = app / "pipelines" / "sales.yaml"
    path.write_text(yaml.safe_dump(pipeline, allow_unicode=True), encoding="utf-8")
    return app


def test_a_pipeline_takes_an_extension_types_field_as_its_amount_by_its_attributes(tmp_path):
    from runtime.features.pipelines.definition import pipelines_of

    app = pipeline_app(tmp_path, {"id": "score", "type": "points"})

    model = load_app(app, _with_type(PointsType))

    assert pipelines_of(model)["sales"].fields.amount == "score"
    assert pipelines_of(model)["sales"].board_sum == "score"


def test_a_pipeline_refuses_a_field_whose_type_is_not_summable_naming_the_types_it_takes(
    tmp_path,
):
    app = pipeline_app(tmp_path, {"id": "share", "type": "percent"})

    problems = check_app(app)

    assert sorted((p.message, p.hint) for p in problems) == [
        (
            "amount field 'share' is of type percent",
            "use a field of type decimal or integer or money",
        ),
        (
            "board sum 'share' is a percent field; a column can only total numbers",
            "name a money, decimal or integer field, or 'none' to count records only",
        ),
    ]


def test_a_field_named_like_a_money_fields_currency_column_is_a_duplicate(tmp_path):
    entity = """\
    id: tag
    fields:
      - {id: name, type: text}
      - {id: price, type: money}
      - {id: price_currency, type: text}
    """
    problems = check_app(app_with(tmp_path, entity))

    assert [(p.code, p.message) for p in problems] == [
        ("TRL-E013", "'price_currency' is the currency column of money field 'price' (line 4)")
    ]


@pytest.mark.parametrize(
    "module", ["runtime.fieldtypes", "runtime.fieldtypes.base", "runtime.imports"]
)
def test_an_extension_can_import_the_field_types_first(module):
    """A fresh interpreter whose first import is the field types (as an extension
    module's is) loads them: the definition package they depend on imports them too."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=root, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
