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
from runtime.errors import FieldMessage, ValidationError
from runtime.features import Feature, FeatureSet, load_features
from runtime.fieldtypes import TYPES, FieldInvalid, FieldType, type_of
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
