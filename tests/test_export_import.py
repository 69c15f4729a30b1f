"""Every built-in field type writes its values to CSV and XLSX exports and reads them back.

A record holding a value of every type is exported through the list screen (the file a
user downloads), read back by ``runtime.imports`` and created again through the
repository: every stored value is the same. Each type's conversion is also checked on
its own, in English and Chinese, so a new type without export and import fails here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from runtime import imports
from runtime.definition import load_app
from runtime.definition.model import FieldDef, Label
from runtime.fieldtypes import (
    TYPES,
    CoerceContext,
    ExportContext,
    ImportContext,
    ImportRefused,
    currency_key,
    type_of,
)
from runtime.web import export
from tests.conftest import make_web_app

PASSWORD = "correct horse battery staple"
SHANGHAI = ZoneInfo("Asia/Shanghai")

ENTITY = """\
id: sample
title_field: name
fields:
  - {id: name, type: text, required: true}
  - {id: notes, type: long_text}
  - {id: body, type: rich_text}
  - {id: seats, type: integer}
  - {id: weight, type: decimal, precision: 3}
  - {id: amount, type: money, currencies: [CNY, USD]}
  - {id: share, type: percent, precision: 1}
  - {id: key_account, type: boolean}
  - {id: due, type: date}
  - {id: met_at, type: datetime}
  - id: priority
    type: select
    options:
      - {id: low, label: {en: Low, zh: 低}}
      - {id: high, label: {en: High, zh: 高}}
  - id: tags
    type: multi_select
    options:
      - {id: vip, label: {en: VIP, zh: 重要}}
      - {id: partner, label: {en: Partner, zh: 伙伴}}
      - {id: cold, label: {en: Cold, zh: 冷}}
  - {id: company, type: link, target: company}
  - {id: company_name, type: lookup, from: company.name}
  - {id: owner, type: user}
  - {id: email, type: email}
  - {id: mobile, type: phone}
  - {id: website, type: url}
  - {id: number, type: autonumber, pattern: "S-{0000}"}
  - {id: double_seats, type: formula, result_type: integer, expression: "seats * 2"}
  - id: lines
    type: child_table
    fields:
      - {id: product, type: text}
      - {id: quantity, type: integer}
  - id: company_count
    type: rollup
    rollup: {entity: company, link: main_sample, function: count}
"""

COMPANY = """\
id: company
fields:
  - {id: name, type: text}
  - {id: main_sample, type: link, target: sample}
"""

VALUES = {
    "name": "=SUM(A1) 'quoted'",
    "notes": "first line\nsecond line",
    "body": "<p>Hello <strong>world</strong></p>",
    "seats": 1234567,
    "weight": Decimal("0.125"),
    "amount": Decimal("1200.50"),
    "amount_currency": "USD",
    "share": Decimal("45.5"),
    "key_account": True,
    "due": date(2026, 3, 5),
    "met_at": datetime(2026, 3, 5, 2, 35, tzinfo=UTC),  # 10:35 in Shanghai
    "priority": "high",
    "tags": ["vip", "cold"],
    "email": "Ada.Lovelace@example.com",
    "mobile": "+8613800138000",
    "website": "https://example.com/about",
}


def sample_app(tmp_path: Path) -> Path:
    app = tmp_path / "samples"
    (app / "entities").mkdir(parents=True)
    (app / "app.yaml").write_text(
        "id: samples\nlabel: Samples\ntimezone: Asia/Shanghai\n", encoding="utf-8"
    )
    (app / "entities" / "sample.yaml").write_text(ENTITY, encoding="utf-8")
    (app / "entities" / "company.yaml").write_text(COMPANY, encoding="utf-8")
    return app


# --------------------------------------------------------------------------- each type


def test_every_builtin_type_is_in_the_sample_entity(tmp_path):
    entity = load_app(sample_app(tmp_path)).entities["sample"]

    assert {f.type for f in entity.fields} == set(TYPES)


def canonical_record(entity) -> dict:
    record = dict(
        VALUES,
        company=7,
        company_name="Acme",
        owner=3,
        number="S-0042",
        double_seats=2469134,
        company_count=3,
    )
    record["lines"] = [{"id": 1, "position": 0, "product": "Widget", "quantity": 2}]
    return record


def through_csv(value):
    text = export._csv_value(export._safe(value))
    return imports._unneutralised(text)


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_each_type_reads_back_what_it_exports(tmp_path, locale):
    entity = load_app(sample_app(tmp_path)).entities["sample"]
    record = canonical_record(entity)
    shown = {"company": "Acme", "owner": "Ada Admin"}
    out_ctx = ExportContext(locale, SHANGHAI, "CNY", shown)
    names = {("company", "Acme"): 7, ("owner", "Ada Admin"): 3}
    in_ctx = ImportContext(
        CoerceContext(locale=locale, timezone=SHANGHAI),
        lambda f, text: names.get((f.id, text)),
    )
    for f in entity.fields:
        ftype = type_of(f)
        cells = [through_csv(v) for v in ftype.export_values(f, record, out_ctx)]
        assert len(cells) == len(ftype.export_headers(f, "Label", imports.plain_gettext))
        read = ftype.import_values(f, cells, in_ctx)
        if ftype.computed:
            assert read == {} and cells == ["2469134"]
            continue
        if ftype.aggregates_links:  # a rollup: exported, never imported
            assert read == {} and cells == ["3"]
            continue
        if ftype.holds_rows:
            assert read == {f.id: [{"product": "Widget", "quantity": 2}]}
            continue
        if ftype.refuses_input:  # a lookup: exported as the field it shows, never read back
            assert read == {} and cells == ["Acme"]
            continue
        expected = {key: record[key] for key in (f.id, *ftype.extra_keys(f))}
        assert read == expected, f"{f.type} in {locale}: {cells!r}"


def test_a_refused_cell_names_its_field():
    seats = FieldDef("seats", "integer", Label.of("Seats"))

    with pytest.raises(ImportRefused, match="field 'seats'") as info:
        type_of(seats).import_value(seats, "many", ImportContext())
    assert info.value.message.code == "not_an_integer"


def test_a_link_title_nobody_can_see_is_refused_not_taken_for_an_id():
    company = FieldDef("company", "link", Label.of("Company"), target="company")
    ftype = type_of(company)

    with pytest.raises(ImportRefused) as info:
        ftype.import_value(company, "Acme", ImportContext())
    assert info.value.message.code == "unknown_reference"
    assert ftype.import_value(company, "12", ImportContext()) == 12  # an id, as the API takes
    assert ftype.export_value(company, 12, ExportContext()) is None  # no title shown: no id


# --------------------------------------------------------------------------- through the screens


@pytest.fixture
def web(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, sample_app(tmp_path))
    services = app.extensions["trellis"]
    admin_id = services.users.create_user("ada@example.com", "Ada Admin", PASSWORD, roles=["admin"])
    yield app, services, services.repo.principal(admin_id)
    services.db.engine.dispose()


def signed_in(app):
    client = app.test_client()
    page = client.get("/login").get_data(True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    client.post(
        "/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token}
    )
    return client


# Every field a list may show (child tables are not list columns).
COLUMNS = ",".join(f["id"] for f in yaml.safe_load(ENTITY)["fields"] if "fields" not in f)


def stored_values(record: dict, entity) -> dict:
    keys = [
        key
        for f in imports.importable_fields(entity)
        if not type_of(f).holds_rows
        for key in (f.id, *type_of(f).extra_keys(f))
    ]
    return {key: record.get(key) for key in keys}


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_exported_file_imports_back_to_the_same_records(web, kind):
    app, services, admin = web
    repo = services.repo
    company = repo.create(admin, "company", {"name": "Acme"})
    original = repo.create(admin, "sample", dict(VALUES, company=company["id"], owner=admin.id))
    repo.create(admin, "sample", {"name": "Sparse"})  # empty values stay empty
    client = signed_in(app)

    response = client.get(f"/e/sample/export.{kind}?view=all&sort=name&columns={COLUMNS}")
    assert response.status_code == 200
    read = imports.read_csv if kind == "csv" else imports.read_xlsx
    headers, rows = read(response.data)
    entity = services.model.entities["sample"]

    created = imports.import_records(
        repo,
        admin,
        "sample",
        headers,
        rows,
        users=services.users,
        coerce=CoerceContext("CNY", "CN", "en", timezone=SHANGHAI),
    )

    assert [r["name"] for r in created] == [VALUES["name"], "Sparse"]
    again = repo.get(admin, "sample", created[0]["id"])
    assert stored_values(again, entity) == stored_values(original, entity)
    assert again["number"] != original["number"]  # autonumbers are the new records' own
    sparse = repo.get(admin, "sample", created[1]["id"])
    assert {k: v for k, v in stored_values(sparse, entity).items() if v not in (None, False)} == {
        "name": "Sparse"
    }


def test_a_chinese_export_imports_back_in_chinese(web):
    app, services, admin = web
    repo = services.repo
    original = repo.create(admin, "sample", VALUES)
    client = signed_in(app)
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', client.get("/preferences").get_data(True)
    )[1]
    client.post("/preferences", data={"locale": "zh", "timezone": "", "csrf_token": token})
    body = client.get(f"/e/sample/export.csv?view=all&columns={COLUMNS}").data
    text = body.decode("utf-8-sig")
    assert "高" in text and "重要、冷" in text and "是" in text
    headers, rows = imports.read_csv(body)
    entity = services.model.entities["sample"]

    read = imports.read_records(
        entity,
        headers,
        rows,
        ImportContext(CoerceContext(locale="zh", timezone=SHANGHAI)),
        locale="zh",
        gettext=lambda message, **params: _zh(client, message, params),
    )

    assert read.problems == []
    assert {k: read.records[0].get(k) for k in VALUES} == {k: original[k] for k in VALUES}


def _zh(client, message: str, params: dict) -> str:
    """The Chinese of the export's currency header, from the app's own catalogue."""
    catalogue = client.application.extensions["trellis_i18n"].translations("zh")
    return catalogue.ugettext(message) % params


def test_cells_that_cannot_be_read_are_all_reported_and_nothing_is_written(web):
    app, services, admin = web
    headers = ["Name", "Seats", "Amount", "Amount (currency)", "Priority", "Company", "Extra"]
    rows = [
        ["One", "12", "10", "CNY", "Low", ""],
        ["Two", "many", "10", "GBP", "Medium", "Nobody Inc"],
    ]

    with pytest.raises(imports.ImportFileError) as info:
        imports.import_records(services.repo, admin, "sample", headers, rows)

    problems = [(p.line, p.header, p.field_id, p.message.code) for p in info.value.problems]
    assert problems == [
        (3, "Seats", "seats", "not_an_integer"),
        (3, "Amount", "amount", "invalid_currency"),
        (3, "Priority", "priority", "unknown_option"),
        (3, "Company", "company", "unknown_reference"),
    ]
    assert "line 3, column 'Seats' (field 'seats')" in str(info.value)
    assert services.repo.list(admin, "sample").rows == []
    _plan, ignored = imports.column_plan(services.model.entities["sample"], headers)
    assert ignored == ("Extra",)


def test_money_without_its_currency_column_takes_the_fields_default():
    amount = FieldDef("amount", "money", Label.of("Amount"), currencies=("CNY", "USD"))

    read = type_of(amount).import_values(amount, ["7"], ImportContext())

    assert read == {"amount": Decimal("7.00"), currency_key(amount): "CNY"}


# --------------------------------------------------------------------------- JSON Schema


def test_the_api_record_of_every_type_matches_the_schemas_its_types_give(web):
    """Each type's JSON Schema describes what the API returns and accepts for it."""
    from jsonschema import Draft202012Validator

    from runtime.web.openapi import input_schema, record_schema

    app, services, admin = web
    repo = services.repo
    company = repo.create(admin, "company", {"name": "Acme"})
    values = dict(VALUES, company=company["id"], owner=admin.id)
    values["lines"] = [{"product": "Widget", "quantity": 2}]
    record = repo.create(admin, "sample", values)
    key = services.users.create_api_key(admin.id, name="tests")

    body = app.test_client().get(
        f"/api/v1/sample/{record['id']}", headers={"Authorization": f"Bearer {key}"}
    )
    assert body.status_code == 200, body.get_data(True)
    entity = services.model.entities["sample"]
    read = record_schema(entity)
    Draft202012Validator.check_schema(read)
    errors = [e.message for e in Draft202012Validator(read).iter_errors(body.get_json())]
    assert errors == []
    shown = {k: v for k, v in body.get_json().items() if k in input_schema(entity)["properties"]}
    errors = [e.message for e in Draft202012Validator(input_schema(entity)).iter_errors(shown)]
    assert errors == []
    for f in entity.fields:
        if type_of(f).filter_operators(f):
            Draft202012Validator.check_schema(type_of(f).filter_value_schema(f, 200))
