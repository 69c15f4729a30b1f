"""The definition layer: loading, schema checks, meaning checks and the frozen model."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from runtime.definition import AppModel, check_app, load_app, loader
from runtime.definition.compiler import prettify
from runtime.errors import DefinitionError, Problem
from runtime.features.pipelines.system_fields import has_stage

FIXTURES = Path(__file__).parent / "fixtures" / "apps"
REFERENCE_APP = Path(__file__).resolve().parent.parent / "app_definitions" / "opportunity"

APP_YAML = "id: shop\nlabel: Shop\n"
ENTITY_YAML = """\
id: order_item
fields:
  - id: name
    type: text
  - id: amount
    type: money
"""


def write_app(root: Path, files: dict[str, str], name: str = "shop") -> Path:
    """An app folder under ``root`` with ``files`` (relative path -> text)."""
    app = root / name
    for rel, text in {"app.yaml": APP_YAML, **files}.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return app


def copy_minimal(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "minimal", tmp_path / "minimal"))


def only(problems: list[Problem], code: str) -> Problem:
    matching = [p for p in problems if p.code == code]
    assert len(matching) == 1, "\n".join(map(str, problems))
    return matching[0]


def entity_app(tmp_path: Path, entity_yaml: str, **more: str) -> Path:
    files = {"entities/order_item.yaml": entity_yaml}
    files.update({k.replace("__", "/") + ".yaml": v for k, v in more.items()})
    return write_app(tmp_path, files)


# ------------------------------------------------------------------ a good app


def test_minimal_app_compiles_into_a_frozen_model(tmp_path):
    model = load_app(copy_minimal(tmp_path))

    assert isinstance(model, AppModel)
    assert list(model.entities) == ["account", "deal"]
    deal = model.entity("deal")
    assert deal.field("amount").type == "money"
    assert deal.field("lines").fields[2].expression.names == {"quantity", "unit_price"}
    assert deal.field("expected").readonly and deal.field("number").readonly
    assert model.default_locale == "en" and model.locales == ("en", "zh")
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.id = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        deal.field("name").required = False
    with pytest.raises(TypeError):
        model.entities["x"] = deal  # type: ignore[index]
    with pytest.raises(TypeError):
        deal.field("status").options[0] = None  # type: ignore[index]


def test_compiled_expressions_evaluate_against_a_record(tmp_path):
    deal = load_app(copy_minimal(tmp_path)).entity("deal")

    assert deal.field("competitor").visible_if.evaluate({"status": "lost"}) is True
    assert not deal.rules[0].expression.evaluate({"status": "lost", "competitor": None})


def test_labels_default_to_the_prettified_id(tmp_path):
    model = load_app(copy_minimal(tmp_path))
    account = model.entity("account")

    assert prettify("close_date") == "Close date"
    assert account.field("close_date").label.get("en") == "Close date"
    assert account.label.get() == "Account" and account.plural.get() == "Accounts"
    assert model.entity("deal").label.get("zh") == "交易"


def test_missing_form_and_view_files_get_generated_defaults(tmp_path):
    model = load_app(copy_minimal(tmp_path))

    form = model.forms["account"]
    assert len(form.sections) == 1 and form.sections[0].columns == 2
    assert form.sections[0].fields == ("name", "close_date", "email")
    view = model.views["account"][0]
    assert view.columns == ("name", "close_date", "email")
    assert model.forms["deal"].sections[1].visible_if.source == "status == 'lost'"
    assert model.views["deal"][0].id == "open_deals"


def test_generated_form_places_child_tables_after_the_other_fields(tmp_path):
    app = copy_minimal(tmp_path)
    (app / "forms" / "deal.yaml").unlink()

    fields = load_app(app).forms["deal"].sections[0].fields

    assert fields[-1] == "lines" and fields[0] == "name"


def test_search_fields_default_to_text_like_fields(tmp_path):
    model = load_app(copy_minimal(tmp_path))

    assert "name" in model.entity("account").search_fields
    assert "email" in model.entity("account").search_fields
    assert "close_date" not in model.entity("account").search_fields


def test_yaml_keeps_no_and_dates_as_text(tmp_path):
    app = copy_minimal(tmp_path)
    model = load_app(app)

    assert model.default_region == "NO"


def test_json_files_are_read_like_yaml(tmp_path):
    app = write_app(
        tmp_path, {"entities/tag.json": '{"id": "tag", "fields": [{"id": "name", "type": "text"}]}'}
    )

    assert load_app(app).entity("tag").field("name").type == "text"


def test_unknown_folders_are_ignored(tmp_path):
    app = copy_minimal(tmp_path)
    (app / "notes").mkdir()
    (app / "notes" / "junk.yaml").write_text(": : :")

    assert check_app(app) == []


@pytest.fixture
def pipeline_schema(tmp_path, monkeypatch):
    """schemas/ plus a pipeline schema, as a later issue will add it."""
    schemas = tmp_path / "schemas"
    shutil.copytree(loader.SCHEMAS_DIR, schemas)
    (schemas / "pipeline.schema.json").write_text(
        '{"$schema": "https://json-schema.org/draft/2020-12/schema",'
        ' "$id": "https://trellis.invalid/schemas/pipeline.schema.json",'
        ' "type": "object", "required": ["entity"], "additionalProperties": false,'
        ' "properties": {"id": {"$ref": "common.schema.json#/$defs/id"}, "entity": {"type": "string"}}}'
    )
    monkeypatch.setattr(loader, "SCHEMAS_DIR", schemas)


def test_every_schema_is_a_valid_json_schema():
    from jsonschema import Draft202012Validator

    from runtime.features import load_features

    folders = {loader.SCHEMAS_DIR} | {
        Path(k.schema_dir) for k in loader.kinds_of(load_features()) if k.schema_dir
    }
    files = sorted(p for folder in folders for p in folder.glob("*.schema.json"))
    assert any(p.name == "pipeline.schema.json" for p in files)
    for path in files:
        Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_schemas_are_read_for_each_load_not_kept(tmp_path, monkeypatch):
    app = copy_minimal(tmp_path)
    assert check_app(app) == []
    schemas = tmp_path / "schemas"
    shutil.copytree(loader.SCHEMAS_DIR, schemas)
    entity = json.loads((schemas / "entity.schema.json").read_text(encoding="utf-8"))
    entity["required"] = [*entity.get("required", []), "colour"]
    (schemas / "entity.schema.json").write_text(json.dumps(entity), encoding="utf-8")
    monkeypatch.setattr(loader, "SCHEMAS_DIR", schemas)

    assert {p.code for p in check_app(app)} == {"TRL-E007"}


def test_later_folders_are_only_parsed_until_their_schema_exists(tmp_path):
    app = copy_minimal(tmp_path)
    (app / "approvals").mkdir()
    (app / "approvals" / "sales.yaml").write_text("id: sales\nentity: deal\nsteps: []\n")
    assert check_app(app) == []

    (app / "approvals" / "sales.yaml").write_text("id: sales\n  entity: [\n")
    assert only(check_app(app), "TRL-E002").file == "minimal/approvals/sales.yaml"


def test_later_folders_are_schema_checked_once_their_schema_exists(tmp_path, pipeline_schema):
    app = copy_minimal(tmp_path)
    (app / "pipelines").mkdir()
    (app / "pipelines" / "sales.yaml").write_text("id: sales\nentity: deal\nstages: []\n")

    problem = only(check_app(app), "TRL-E006")

    assert (problem.file, problem.line) == ("minimal/pipelines/sales.yaml", 3)


def test_stage_columns_exist_when_a_pipeline_names_the_entity(tmp_path):
    form = (
        "entity: deal\nsections:\n  - {id: main, fields: [name], visible_if: \"stage == 'won'\"}\n"
    )
    app = copy_minimal(tmp_path)
    (app / "forms" / "deal.yaml").write_text(form)
    assert only(check_app(app), "TRL-E023").obj == "form of 'deal' section 'main' visible_if"

    (app / "pipelines").mkdir()
    (app / "pipelines" / "sales.yaml").write_text(
        "id: sales\nentity: deal\nstages: [{id: open}, {id: done, kind: won}]\n"
    )
    assert has_stage(load_app(app).entity("deal"))


def test_missing_roles_file_gives_an_admin_role(tmp_path):
    model = load_app(write_app(tmp_path, {"entities/order_item.yaml": ENTITY_YAML}))

    assert model.roles["admin"].permissions["*"].read.kind == "all"


def test_reference_app_has_no_problems():
    if not (REFERENCE_APP / "app.yaml").exists():
        pytest.skip("the reference app is not there yet")
    assert [str(p) for p in check_app(REFERENCE_APP)] == []


# ------------------------------------------------------------------ reading files


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    app = entity_app(tmp_path, "id: order_item\nfields:\n  - id: name\n    type: [text\n")

    problem = only(check_app(app), "TRL-E002")

    assert problem.file == "shop/entities/order_item.yaml"
    assert problem.line in (4, 5)


def test_duplicate_yaml_key_is_an_error_with_both_lines(tmp_path):
    app = entity_app(
        tmp_path, "id: order_item\nfields:\n  - id: name\n    type: text\n    type: money\n"
    )

    problem = only(check_app(app), "TRL-E003")

    assert problem.line == 5
    assert "'type' appears twice (first on line 4)" in problem.message


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "TRL-E004"),
        (b"- a\n- b\n", "TRL-E004"),
        (b"just text", "TRL-E004"),
        (b"\x00\x01\x02binary", "TRL-E001"),
        (b"id: a\x07b\n", "TRL-E001"),
        (b"id: " + b"9" * 5000 + b"\n", "TRL-E002"),
        (b"id: caf\xe9\n", "TRL-E001"),
        (b"a: &a [*a, *a]\n", "TRL-E037"),
        (b"id: x\n---\nid: y\n", "TRL-E002"),
        (b"id: !!python/object:os.system x\n", "TRL-E002"),
    ],
)
def test_bad_files_become_problems_not_tracebacks(tmp_path, content, code):
    app = write_app(tmp_path, {})
    (app / "entities").mkdir()
    (app / "entities" / "bad.yaml").write_bytes(content)

    problems = check_app(app)

    assert only(problems, code).file == "shop/entities/bad.yaml"
    with pytest.raises(DefinitionError):
        load_app(app)


def test_missing_app_folder_or_app_yaml_is_reported(tmp_path):
    assert only(check_app(tmp_path / "nowhere"), "TRL-E008")
    (tmp_path / "empty").mkdir()
    assert only(check_app(tmp_path / "empty"), "TRL-E008").file == "empty/app.yaml"


def test_load_app_raises_definition_error_listing_every_problem(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML.replace("money", "monney").replace("text", "txet"))

    with pytest.raises(DefinitionError) as raised:
        load_app(app)

    assert [p.code for p in raised.value.problems] == ["TRL-E012", "TRL-E012"]
    assert "TRL-E012 shop/entities/order_item.yaml:6" in str(raised.value)


# ------------------------------------------------------------------ schema checks


def test_unknown_property_points_at_the_offending_key_with_a_suggestion(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "    requried: true\n")

    problem = only(check_app(app), "TRL-E006")

    assert problem.line == 7
    assert problem.obj == "fields[amount]"
    assert problem.message == "unknown property 'requried'"
    assert problem.hint == "did you mean 'required'?"


def test_wrong_value_type_points_at_the_offending_key(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "    precision: lots\n")

    problem = only(check_app(app), "TRL-E005")

    assert (problem.line, problem.obj) == (7, "fields[amount].precision")


def test_missing_required_property_is_reported(tmp_path):
    app = entity_app(tmp_path, "id: order_item\nfields:\n  - id: name\n")

    assert "'type' is a required property" in only(check_app(app), "TRL-E007").message


def test_badly_formed_id_is_reported_as_an_id_problem(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML.replace("id: amount", "id: Amount"))

    problem = only(check_app(app), "TRL-E010")

    assert problem.line == 5


def test_label_with_an_unquoted_comma_gets_a_quoting_hint(tmp_path):
    app = entity_app(tmp_path / "a", ENTITY_YAML + "    label: {en: Price, net, zh: 价格}\n")
    spaced = entity_app(
        tmp_path / "b", ENTITY_YAML + "    label: {en: Price, net weight, zh: 价格}\n"
    )

    assert "quotes" in only(check_app(app), "TRL-E005").hint
    assert "quotes" in only(check_app(spaced), "TRL-E006").hint


# ------------------------------------------------------------------ meaning checks


def test_unknown_type_suggests_the_closest_type(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML.replace("money", "monney"))

    problem = only(check_app(app), "TRL-E012")

    assert str(problem) == (
        "TRL-E012 shop/entities/order_item.yaml:6: entity 'order_item' field 'amount': "
        "unknown type 'monney' (hint: did you mean 'money'?)"
    )


def test_unknown_link_target_is_reported(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "  - {id: customer, type: link, target: acount}\n")

    problem = only(check_app(app), "TRL-E015")

    assert problem.line == 7 and "'acount'" in problem.message


def test_expression_naming_an_unknown_field_names_file_line_and_object(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + '    visible_if: "amont > 0"\n')

    problem = only(check_app(app), "TRL-E023")

    assert (problem.file, problem.line) == ("shop/entities/order_item.yaml", 7)
    assert problem.obj == "entity 'order_item' field 'amount' visible_if"
    assert "amont" in problem.message and "amount" in problem.hint


def test_duplicate_field_id_is_reported(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "  - {id: name, type: long_text}\n")

    problem = only(check_app(app), "TRL-E013")

    assert problem.line == 7 and "first on line 3" in problem.message


def test_reserved_field_id_is_reported(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "  - {id: owner_id, type: integer}\n")

    assert "system column" in only(check_app(app), "TRL-E011").message


@pytest.mark.parametrize("word", ["order", "class", "user", "none", "created_at"])
def test_sql_python_system_and_expression_words_are_reserved(tmp_path, word):
    app = entity_app(tmp_path, ENTITY_YAML + f"  - {{id: {word}, type: text}}\n")

    assert only(check_app(app), "TRL-E011")


def test_property_not_valid_for_the_type_is_reported(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "    max_length: 10\n")

    problem = only(check_app(app), "TRL-E014")

    assert problem.line == 7
    assert problem.message == "'max_length' does not apply to a money field"
    assert "text" in problem.hint


def test_select_needs_options_and_a_valid_default(tmp_path):
    no_options = entity_app(tmp_path / "a", ENTITY_YAML + "  - {id: status, type: select}\n")
    assert only(check_app(no_options), "TRL-E016")

    bad_default = entity_app(
        tmp_path / "b",
        ENTITY_YAML + "  - {id: status, type: select, default: shut, options: [{id: open}]}\n",
    )
    assert "'shut'" in only(check_app(bad_default), "TRL-E017").message


def test_autonumber_pattern_needs_a_counter(tmp_path):
    app = entity_app(
        tmp_path, ENTITY_YAML + "  - {id: number, type: autonumber, pattern: 'N-{YYYY}'}\n"
    )

    assert "counter" in only(check_app(app), "TRL-E018").message


def test_formula_needs_expression_and_result_type(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "  - {id: total, type: formula, expression: amount}\n")

    assert "result_type" in only(check_app(app), "TRL-E019").message


def test_formulas_referencing_each_other_in_a_cycle_are_refused(tmp_path):
    app = entity_app(
        tmp_path,
        ENTITY_YAML
        + "  - {id: a, type: formula, expression: 'b + 1', result_type: integer}\n"
        + "  - {id: b, type: formula, expression: 'a + 1', result_type: integer}\n",
    )

    assert "a -> b -> a" in only(check_app(app), "TRL-E024").message


def test_child_tables_need_fields_and_cannot_nest(tmp_path):
    app = entity_app(
        tmp_path,
        ENTITY_YAML
        + "  - {id: empty, type: child_table}\n"
        + "  - id: lines\n    type: child_table\n    fields:\n"
        + "      - {id: inner, type: child_table, fields: [{id: x, type: text}]}\n",
    )

    problems = check_app(app)

    assert only(problems, "TRL-E020").obj == "entity 'order_item' field 'empty'"
    assert only(problems, "TRL-E021").line == 11


def test_child_table_formulas_see_only_the_row(tmp_path):
    app = entity_app(
        tmp_path,
        ENTITY_YAML
        + "  - id: lines\n    type: child_table\n    fields:\n"
        + "      - {id: qty, type: integer}\n"
        + "      - {id: t, type: formula, expression: 'qty * amount', result_type: money}\n",
    )

    assert "amount" in only(check_app(app), "TRL-E023").message


def test_title_field_must_exist(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML.replace("fields:", "title_field: nam\nfields:", 1))

    assert only(check_app(app), "TRL-E022").hint == "did you mean 'name'?"


def test_min_above_max_is_refused(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "    min: 10\n    max: 1\n")

    assert only(check_app(app), "TRL-E032").line == 7


def test_form_sections_place_existing_fields_at_most_once(tmp_path):
    form = "entity: order_item\nsections:\n  - {id: main, fields: [name, amount, name, nope]}\n"
    problems = check_app(entity_app(tmp_path, ENTITY_YAML, forms__order_item=form))

    assert only(problems, "TRL-E027").message == "field 'name' is already placed on line 3"
    assert "'nope'" in only(problems, "TRL-E026").message


def test_form_for_an_unknown_entity_is_reported(tmp_path):
    form = "entity: ordr_item\nsections:\n  - {id: main, fields: [name]}\n"
    problem = only(check_app(entity_app(tmp_path, ENTITY_YAML, forms__x=form)), "TRL-E025")

    assert problem.hint == "did you mean 'order_item'?"


def test_view_references_must_be_fields_or_system_columns(tmp_path):
    view = (
        "entity: order_item\nviews:\n  - id: all\n    columns: [name, owner_id, price]\n"
        "    sort: ['-updated_at', '-amout']\n"
        "    filters: [{field: amount, op: between, value: 3}]\n"
    )
    problems = check_app(entity_app(tmp_path, ENTITY_YAML, views__order_item=view))

    assert sorted(p.line for p in problems if p.code == "TRL-E028") == [4, 5]
    assert "two values" in only(problems, "TRL-E036").message


def test_roles_name_existing_entities_and_fields(tmp_path):
    roles = (
        "roles:\n  - id: rep\n    permissions:\n"
        "      order_itm: {read: all}\n"
        "      order_item: {read: own, fields: {amout: read}}\n"
        "      '*': {read: {expression: 'len(owner_id) > 0'}}\n"
    )
    problems = check_app(entity_app(tmp_path, ENTITY_YAML, roles=roles))

    assert only(problems, "TRL-E029").line == 4
    assert only(problems, "TRL-E030").hint == "did you mean 'amount'?"
    assert only(problems, "TRL-E035").line == 6


def test_navigation_items_name_existing_entities(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML)
    (app / "app.yaml").write_text(
        APP_YAML + "navigation:\n  - id: main\n    items:\n      - entity: order\n"
    )

    assert only(check_app(app), "TRL-E031").line == 6


# ------------------------------------------------------------------ caching


def test_a_model_cache_returns_the_same_model_for_an_unchanged_folder(tmp_path):
    from runtime.definition import ModelCache

    app = copy_minimal(tmp_path)
    cache = ModelCache()

    first = load_app(app, cache=cache)

    assert load_app(app, cache=cache) is first
    assert load_app(str(app), cache=cache) is first
    assert load_app(app) is not first  # no cache kept behind the caller's back
    assert len(first.digest) == 64 and first.source_dir == str(app.resolve())


def test_editing_a_file_gives_a_new_model(tmp_path):
    from runtime.definition import ModelCache

    app = copy_minimal(tmp_path)
    cache = ModelCache()
    first = load_app(app, cache=cache)
    path = app / "entities" / "account.yaml"

    path.write_text(path.read_text() + "  - {id: phone, type: phone}\n")
    second = load_app(app, cache=cache)

    assert second is not first and second.digest != first.digest
    assert second.entity("account").has_field("phone")
    assert not first.entity("account").has_field("phone")


# ------------------------------------------------------------------ what features contribute


class _TicketsFeature:
    """An outside feature: a ``queues/`` kind with its own schema, a ``queue`` system
    field on the entities a queue names, and a named view filter term ``urgent``."""

    name = "tickets"

    def __init__(self, schema_dir: Path):
        self.schema_dir = schema_dir

    def kinds(self):
        return (
            loader.Kind("queue", "queues", "queue.schema.json", schema_dir=str(self.schema_dir)),
        )

    def entity_system_fields(self, documents, entity_id):
        from runtime.definition.model import FieldDef, Label

        named = any(d.kind == "queue" and d.data.get("entity") == entity_id for d in documents)
        return (FieldDef("queue", "text", Label.of("Queue"), max_length=20),) if named else ()

    def reserved_field_ids(self):
        return ("queue",)

    def view_filter_terms(self):
        from runtime.definition import codes
        from runtime.definition.checks.base import problem_at

        def urgent(check):
            if check.raw["op"] == "eq":
                return []
            return [problem_at(codes.INVALID_FILTER, check.doc, check.path, check.obj, "eq only")]

        return {"urgent": urgent}


def _tickets_app(tmp_path: Path, view_filter: str) -> tuple[Path, _TicketsFeature]:
    schemas = tmp_path / "tickets_schemas"
    schemas.mkdir()
    (schemas / "queue.schema.json").write_text(
        '{"$schema": "https://json-schema.org/draft/2020-12/schema",'
        ' "$id": "https://trellis.invalid/schemas/queue.schema.json", "type": "object",'
        ' "required": ["entity"], "additionalProperties": false,'
        ' "properties": {"entity": {"type": "string"}}}'
    )
    app = entity_app(
        tmp_path,
        ENTITY_YAML,
        queues__support="entity: order_item\n",
        forms__order_item="entity: order_item\nsections:\n"
        "  - {id: main, fields: [name], visible_if: \"queue == 'vip'\"}\n",
        views__order_item=f"entity: order_item\nviews:\n  - id: all\n    columns: [name, queue]\n"
        f"    filters: [{view_filter}]\n",
    )
    return app, _TicketsFeature(schemas)


def test_an_outside_feature_adds_a_kind_system_fields_and_a_filter_term(tmp_path):
    from runtime.features import load_features

    app, feature = _tickets_app(tmp_path, "{field: urgent, op: eq, value: true}")
    features = load_features([feature])

    model = load_app(app, features)

    entity = model.entity("order_item")
    assert [f.id for f in entity.system_fields] == ["queue"]
    assert entity.system_column_ids[-1] == "queue" and "id" in entity.system_column_ids
    assert model.views["order_item"][0].columns == ("name", "queue")
    assert not has_stage(entity)


def test_an_outside_features_kind_is_checked_against_its_own_schema(tmp_path):
    from runtime.features import load_features

    app, feature = _tickets_app(tmp_path, "{field: urgent, op: eq, value: true}")
    (app / "queues" / "support.yaml").write_text("entity: order_item\ncolour: red\n")

    problem = only(check_app(app, load_features([feature])), "TRL-E006")

    assert (problem.file, problem.line) == ("shop/queues/support.yaml", 2)


def test_an_outside_features_filter_term_reports_through_its_check(tmp_path):
    from runtime.features import load_features

    app, feature = _tickets_app(tmp_path, "{field: urgent, op: ne, value: true}")

    problem = only(check_app(app, load_features([feature])), "TRL-E036")

    assert problem.message == "eq only" and problem.file == "shop/views/order_item.yaml"


def test_without_the_feature_its_folder_and_fields_do_not_exist(tmp_path):
    from runtime.features import load_features

    app, _feature = _tickets_app(tmp_path, "{field: urgent, op: eq, value: true}")

    problems = check_app(app, load_features([]))

    assert only(problems, "TRL-E023").obj == "form of 'order_item' section 'main' visible_if"
    assert {p.code for p in problems} == {"TRL-E023", "TRL-E028"}


def test_a_features_reserved_field_id_is_refused_on_every_entity(tmp_path):
    from runtime.features import load_features

    app, feature = _tickets_app(tmp_path, "{field: urgent, op: eq, value: true}")
    (app / "entities" / "note.yaml").write_text("id: note\nfields:\n  - {id: queue, type: text}\n")

    problem = only(check_app(app, load_features([feature])), "TRL-E011")

    assert "system column" in problem.message and problem.file == "shop/entities/note.yaml"


def test_pipelines_give_their_entity_the_stage_system_fields(tmp_path):
    app = copy_minimal(tmp_path)
    (app / "pipelines").mkdir()
    (app / "pipelines" / "sales.yaml").write_text(
        "id: sales\nentity: deal\nstages: [{id: open}, {id: done, kind: won}]\n"
    )

    model = load_app(app)

    assert [f.id for f in model.entity("deal").system_fields] == ["stage", "stage_entered_at"]
    assert model.entity("account").system_fields == ()
    assert "stage" in model.entity("deal").system_column_ids


def test_compiled_field_carries_its_types_settings(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML.replace("type: text", "type: text\n    max_length: 40"))

    entity = load_app(app).entities["order_item"]

    assert dict(entity.field("name").settings) == {"max_length": 40}
    assert dict(entity.field("amount").settings) == {}


def test_unknown_setting_names_the_field_and_the_accepted_settings(tmp_path):
    app = entity_app(tmp_path, ENTITY_YAML + "    settings: {palette: [red]}\n")

    problem = only(check_app(app), "TRL-E052")

    assert problem.file.endswith("entities/order_item.yaml")
    assert "field 'amount'" in problem.obj
    assert problem.message == "unknown setting 'palette' for a money field"
    assert "accepts: none" in problem.hint


def test_builtin_setting_under_settings_is_sent_to_the_field_property(tmp_path):
    app = entity_app(
        tmp_path, ENTITY_YAML.replace("type: text", "type: text\n    settings: {max_length: 5}")
    )

    problem = only(check_app(app), "TRL-E052")

    assert problem.message == "setting 'max_length' is written under 'settings:'"
    assert problem.hint == "write 'max_length: ...' directly on the field"


def test_two_features_adding_one_system_field_is_an_error(tmp_path):
    from runtime.features import FeatureError, load_features

    app, feature = _tickets_app(tmp_path, "{field: urgent, op: eq, value: true}")
    twin = _TicketsFeature(feature.schema_dir)
    twin.name = "tickets_twin"
    twin.kinds = lambda: ()

    with pytest.raises(FeatureError, match="system field 'queue'"):
        load_app(app, load_features([feature, twin]))


def test_a_features_kind_may_not_take_a_core_folder():
    from runtime.features import load_features

    class Clash:
        name = "clash"

        def kinds(self):
            return (loader.Kind("view2", "views", "view.schema.json"),)

    with pytest.raises(loader.KindClash, match="views"):
        loader.kinds_of(load_features([Clash()]))
