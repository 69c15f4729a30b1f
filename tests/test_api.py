"""The REST API: list queries, the OpenAPI document, and the endpoints through a client.

The app under test is ``tests/fixtures/api_app`` (owned by these tests, so changes to
the reference app cannot break them): a ``deal`` with every kind of field, and a
``company`` it links to. Reps read their team's deals, change only their own, cannot
write ``probability`` and never see ``secret``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.definition import load_app
from runtime.web.openapi import build_openapi
from runtime.web.query import MAX_PAGE_SIZE, QueryError, parse_list_query
from tests.conftest import make_web_app

API_APP = Path(__file__).resolve().parent / "fixtures" / "api_app"


@pytest.fixture(scope="module")
def model():
    return load_app(API_APP)


# --------------------------------------------------------------------------- query parsing


def test_query_turns_suffixes_into_operators_with_typed_values(model):
    deal = model.entity("deal")
    query = parse_list_query(
        deal,
        [
            ("status", "won"),
            ("amount__gte", "1,000.5"),
            ("amount__lt", "5000"),
            ("close_date__lte", "2024/5/1"),
            ("status__in", "open,won"),
            ("name__contains", "acme"),
            ("company__isnull", "true"),
            ("tags__contains", "hot"),
            ("next_call__gt", "2024-01-01T08:00:00+08:00"),
            ("owner_id", "7"),
            ("sort", "-amount,name"),
            ("page", "3"),
            ("page_size", "20"),
            ("q", "  big   deal "),
        ],
    )
    assert query.filters == (
        ("status", "eq", "won"),
        ("amount", "gte", Decimal("1000.50")),
        ("amount", "lt", Decimal("5000.00")),
        ("close_date", "lte", date(2024, 5, 1)),
        ("status", "in", ["open", "won"]),
        ("name", "contains", "acme"),
        ("company", "isnull", True),
        ("tags", "contains", "hot"),
        ("next_call", "gt", datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
        ("owner_id", "eq", 7),
    )
    assert query.sort == ("-amount", "name")
    assert (query.page, query.page_size, query.search) == (3, 20, "big deal")


def test_query_defaults_to_first_page_of_fifty(model):
    query = parse_list_query(model.entity("deal"), {})
    assert (query.filters, query.sort, query.page, query.page_size) == ((), (), 1, 50)


@pytest.mark.parametrize(
    ("param", "value", "fragment"),
    [
        ("colour", "red", "unknown field"),
        ("amount__near", "5", "unknown operator"),
        ("notes__gte", "x", "does not apply"),  # long text has no order
        ("lines", "x", "unknown field"),  # child tables are not filterable
        ("amount__gte", "lots", "Enter a number"),
        ("quantity", "1.5", "whole number"),
        ("quantity", "99999999999999999999999", "too large"),
        ("close_date", "2024-13-45", "YYYY-MM-DD"),
        ("next_call__gt", "0001-01-01T00:00:00+05:00", "date and time"),
        ("status", "maybe", "not one of the choices"),
        ("tags__contains", "lukewarm", "not one of the choices"),
        ("company", "-3", "record id"),
        ("company__isnull", "perhaps", "true or false"),
        ("amount__between", "1", "two values"),
        ("name", "a\x00b", "null character"),
        ("name", "", "expected a value"),
        ("sort", "colour", "cannot sort"),
        ("sort", "notes", "cannot sort"),
        ("sort", "name,-name", "named twice"),
        ("page", "0", "whole number"),
        ("page", "1e3", "whole number"),
        ("page", "9" * 40, "whole number"),
        ("page_size", str(MAX_PAGE_SIZE + 1), "whole number"),
        ("q", "x\x00", "null character"),
    ],
)
def test_query_errors_name_the_parameter(model, param, value, fragment):
    with pytest.raises(QueryError) as caught:
        parse_list_query(model.entity("deal"), [(param, value)])
    assert caught.value.param == param
    assert fragment.lower() in caught.value.message.lower()


def test_query_refuses_paging_parameters_given_twice(model):
    with pytest.raises(QueryError) as caught:
        parse_list_query(model.entity("deal"), [("page", "1"), ("page", "2")])
    assert caught.value.param == "page"


def test_query_treats_unreadable_fields_as_unknown(model):
    deal = model.entity("deal")
    readable = {"id", "name", "amount"}
    with pytest.raises(QueryError, match="unknown field"):
        parse_list_query(deal, [("secret", "x")], readable=readable)
    with pytest.raises(QueryError, match="cannot sort"):
        parse_list_query(deal, [("sort", "secret")], readable=readable)
    assert parse_list_query(deal, [("name", "x")], readable=readable).filters


# --------------------------------------------------------------------------- OpenAPI document


def test_openapi_document_is_valid_openapi_31(model):
    import schemathesis

    document = build_openapi(model)
    assert document["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(document)))
    schema.validate()
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == 14  # two entities x list/aggregate/create/get/patch/delete/restore


def test_openapi_has_read_input_patch_and_list_schemas_per_entity(model):
    schemas = build_openapi(model)["components"]["schemas"]
    for name in ("Deal", "DealInput", "DealPatch", "DealList", "Company", "Error", "ConflictError"):
        assert name in schemas
    read, create, patch = schemas["Deal"], schemas["DealInput"], schemas["DealPatch"]
    # Read: system and computed fields are there and read-only.
    for key in ("id", "row_version", "created_at", "number", "expected"):
        assert read["properties"][key]["readOnly"] is True
    assert read["properties"]["amount_currency"]["enum"] == ["CNY", "USD", None]
    assert read["properties"]["lines"]["type"] == "array"
    # Create: writable fields only, required ones listed and not nullable.
    assert create["required"] == ["name"]
    assert create["properties"]["name"]["type"] == "string"
    assert create["properties"]["amount"]["type"] == ["number", "null"]
    for key in ("id", "row_version", "number", "expected", "created_at"):
        assert key not in create["properties"]
    assert create["properties"]["owner_id"]["type"] == "integer"  # reassigning is allowed
    assert "readOnly" not in read["properties"]["owner_id"]
    assert create["additionalProperties"] is False
    assert create["properties"]["lines"]["items"]["required"] == ["product"]
    # Patch: nothing required, row_version allowed.
    assert "required" not in patch
    assert patch["properties"]["row_version"]["type"] == "integer"


def test_openapi_lists_a_parameter_per_filterable_field_and_operator(model):
    document = build_openapi(model)
    params = {p["name"]: p for p in document["paths"]["/deal"]["get"]["parameters"]}
    for name in ("amount", "amount__gte", "amount__lte", "amount__gt", "amount__lt",
                 "amount__ne", "amount__in", "name__contains", "company__isnull",
                 "tags__contains", "created_at__gte", "owner_id", "sort", "page",
                 "page_size", "q"):  # fmt: skip
        assert name in params, name
    assert "notes__gte" not in params and "lines" not in params
    assert params["status"]["schema"]["enum"] == ["open", "won", "lost"]
    assert params["amount__in"]["style"] == "form" and params["amount__in"]["explode"] is False
    assert params["page_size"]["schema"]["maximum"] == MAX_PAGE_SIZE


def test_openapi_documents_every_status_an_operation_can_answer(model):
    paths = build_openapi(model)["paths"]
    patch = paths["/deal/{id}"]["patch"]["responses"]
    for status in ("200", "400", "401", "403", "404", "409", "412", "415", "422", "428", "429"):
        assert status in patch, status
    assert patch["412"]["content"]["application/json"]["schema"]["$ref"].endswith("ConflictError")
    assert "Location" in paths["/deal"]["post"]["responses"]["201"]["headers"]
    assert "ETag" in paths["/deal/{id}"]["get"]["responses"]["200"]["headers"]
    document = build_openapi(model)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# --------------------------------------------------------------------------- through the client


class Client:
    """The Flask test client with one bearer key per user of the fixture."""

    def __init__(self, app, keys: dict[str, str], ids: dict[str, int]):
        self.app = app
        self.http = app.test_client()
        self.keys = keys
        self.ids = ids

    def call(self, method: str, path: str, who: str | None = "admin", **kw):
        headers = dict(kw.pop("headers", None) or {})
        if who is not None:
            headers.setdefault("Authorization", f"Bearer {self.keys[who]}")
        return self.http.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    def create(self, entity: str, data: dict, who: str = "admin") -> dict:
        response = self.call("POST", f"/{entity}", who, json=data)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def make_api_app(db_url: str, instance: Path):
    """The API fixture app on ``db_url`` (tables first: it starts on a ready database)."""
    return make_web_app(db_url, instance.parent, API_APP, TRELLIS_INSTANCE_PATH=str(instance))


def add_users(app) -> tuple[dict[str, str], dict[str, int]]:
    users = app.extensions["trellis"].users
    east = users.create_team("East")
    west = users.create_team("West")
    ids = {
        "admin": users.create_user("admin@example.com", "Admin", "admin-pass-1", roles=["admin"]),
        "rep1": users.create_user(
            "rep1@example.com", "Rep One", "rep-pass-11", roles=["rep"], team_id=east
        ),
        "rep2": users.create_user(
            "rep2@example.com", "Rep Two", "rep-pass-22", roles=["rep"], team_id=east
        ),
        "rep3": users.create_user(
            "rep3@example.com", "Rep Three", "rep-pass-33", roles=["rep"], team_id=west
        ),
    }
    keys = {name: users.create_api_key(uid, name="tests") for name, uid in ids.items()}
    return keys, ids


@pytest.fixture
def api(db_url, tmp_path) -> Client:
    app = make_api_app(db_url, tmp_path / "instance")
    keys, ids = add_users(app)
    yield Client(app, keys, ids)
    app.extensions["trellis"].db.engine.dispose()


def test_create_answers_201_with_location_etag_and_the_stored_record(api):
    response = api.call(
        "POST",
        "/deal",
        json={
            "name": "  Big deal ",
            "amount": 1234.5,
            "amount_currency": "USD",
            "quantity": 3,
            "close_date": "2024-05-01",
            "next_call": "2024-05-02T09:30:00+08:00",
            "tags": ["cold", "hot"],
            "lines": [{"product": "Widget", "qty": 2, "price": "9.99"}, {"product": "Gadget"}],
        },
    )
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert response.headers["Location"] == f"/api/v1/deal/{record['id']}"
    assert response.headers["ETag"] == f'"{record["row_version"]}"'
    assert record["name"] == "Big deal"
    assert record["amount"] == 1234.5 and record["amount_currency"] == "USD"
    assert '"amount":1234.50' in response.get_data(as_text=True)  # exact, at its precision
    assert record["close_date"] == "2024-05-01"
    assert datetime.fromisoformat(record["next_call"]) == datetime(2024, 5, 2, 1, 30, tzinfo=UTC)
    assert datetime.fromisoformat(record["created_at"]).tzinfo is not None
    assert record["tags"] == ["hot", "cold"]  # in the options' order
    assert record["number"] == "D-0001" and record["status"] == "open"
    assert [line["product"] for line in record["lines"]] == ["Widget", "Gadget"]
    assert record["lines"][0]["price"] == 9.99 and record["lines"][1]["qty"] == 1
    assert record["owner_id"] == api.ids["admin"]


def test_read_answers_the_record_with_its_etag_and_404_for_anything_else(api):
    deal = api.create("deal", {"name": "Read me"})
    response = api.call("GET", f"/deal/{deal['id']}")
    assert response.status_code == 200
    assert response.get_json()["name"] == "Read me"
    assert response.headers["ETag"] == f'"{deal["row_version"]}"'
    for path in (f"/deal/{deal['id'] + 1000}", "/deal/abc", "/deal/-1", "/deal/0",
                 "/deal/1.5", "/deal/" + "9" * 40, "/deal/%E2%91%A0", "/nothing/1", "/nothing"):  # fmt: skip
        response = api.call("GET", path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


def test_list_filters_sorts_and_pages_without_counting(api):
    for n, (amount, status) in enumerate(
        [(100, "open"), (250, "won"), (400, "open"), (900, "lost"), (50, "won")]
    ):
        notes = "gone" if status == "lost" else None
        api.create(
            "deal", {"name": f"Deal {n}", "amount": amount, "status": status, "notes": notes}
        )

    def names(query: str) -> list[str]:
        response = api.call("GET", f"/deal?{query}")
        assert response.status_code == 200, response.get_json()
        return [row["name"] for row in response.get_json()["data"]]

    assert names("amount__gte=250&sort=-amount") == ["Deal 3", "Deal 2", "Deal 1"]
    assert names("amount__lt=250&sort=amount") == ["Deal 4", "Deal 0"]
    assert names("status__in=won,lost&sort=name") == ["Deal 1", "Deal 3", "Deal 4"]
    assert names("status__ne=open&amount__lte=250&sort=name") == ["Deal 1", "Deal 4"]
    assert names("name__contains=deal%202") == ["Deal 2"]
    assert names("q=D-0004") == ["Deal 3"]  # searches name and number
    assert names("q=deal") == names("sort=-updated_at")
    assert names("notes__isnull=false") == ["Deal 3"]

    first = api.call("GET", "/deal?sort=amount&page_size=2").get_json()
    assert [r["name"] for r in first["data"]] == ["Deal 4", "Deal 0"]
    assert first["page"] == 1 and first["page_size"] == 2 and first["has_next"] is True
    assert "count" not in first and "total" not in first
    second = api.call("GET", first["links"]["next"].removeprefix("/api/v1")).get_json()
    assert [r["name"] for r in second["data"]] == ["Deal 1", "Deal 2"]
    last = api.call("GET", "/deal?sort=amount&page_size=2&page=3").get_json()
    assert [r["name"] for r in last["data"]] == ["Deal 3"]
    assert last["has_next"] is False and last["links"]["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        "colour=red",
        "amount__gte=lots",
        "amount__near=1",
        "sort=colour",
        "page=0",
        "page_size=201",
        "page_size=abc",
        "page=99999999999999999999999",
        "name=%00",
        "close_date=someday",
        "id=9223372036854775808",
    ],  # fmt: skip
)
def test_bad_list_query_is_a_400_naming_the_parameter(api, query):
    response = api.call("GET", f"/deal?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_query"
    assert error["param"] == query.split("=")[0]


def test_invalid_values_are_422_with_messages_per_field_in_the_request_locale(api):
    body = {"amount": -5, "status": "lost", "email": "not-an-address", "quantity": "many"}
    response = api.call("POST", "/deal", json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) >= {"name", "amount", "email", "quantity"}
    assert error["fields"]["name"] == ["This field is required."]
    zh = api.call("POST", "/deal", json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.get_json()["error"]["fields"]["name"] == ["此字段为必填项。"]


def test_update_needs_if_match_and_a_stale_version_is_412_with_the_changed_fields(api):
    deal = api.create("deal", {"name": "Locked", "amount": 100}, who="rep1")
    path = f"/deal/{deal['id']}"
    missing = api.call("PATCH", path, "rep1", json={"amount": 200})
    assert missing.status_code == 428
    assert missing.get_json()["error"]["code"] == "precondition_required"

    first = api.call("PATCH", path, "rep1", json={"amount": 200}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["amount"] == 200 and first.get_json()["row_version"] == 2
    assert first.headers["ETag"] == '"2"'

    stale = api.call("PATCH", path, "admin", json={"quantity": 5}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    error = stale.get_json()["error"]
    assert error["code"] == "conflict" and error["current_version"] == 2
    assert "amount" in error["fields"]
    assert error["fields"]["amount"]["new"] == 200
    assert error["fields"]["amount"]["by"] == api.ids["rep1"]

    by_body = api.call("PATCH", path, "admin", json={"quantity": 5, "row_version": 2})
    assert by_body.status_code == 200 and by_body.get_json()["quantity"] == 5
    bad = api.call("PATCH", path, "admin", json={"quantity": 6}, headers={"If-Match": "soon"})
    assert bad.status_code == 400


def test_a_412_never_shows_fields_the_user_may_not_read(api):
    deal = api.create("deal", {"name": "Shared"}, who="rep1")
    path = f"/deal/{deal['id']}"
    changed = api.call(
        "PATCH", path, "admin", json={"secret": "hush", "quantity": 2, "row_version": 1}
    )
    assert changed.status_code == 200, changed.get_json()
    stale = api.call("PATCH", path, "rep1", json={"name": "Mine", "row_version": 1})
    assert stale.status_code == 412
    fields = stale.get_json()["error"]["fields"]
    assert "quantity" in fields and "secret" not in fields
    assert fields["quantity"]["new"] == 2 and fields["quantity"]["by"] == api.ids["admin"]
    assert datetime.fromisoformat(fields["quantity"]["at"]).tzinfo is not None


def test_rep_cannot_see_another_teams_deal(api):
    deal = api.create("deal", {"name": "East only"}, who="rep1")
    path = f"/deal/{deal['id']}"
    assert api.call("GET", path, "rep2").status_code == 200  # same team
    for method, kw in (("GET", {}), ("PATCH", {"json": {"name": "x", "row_version": 1}}),
                       ("DELETE", {}), ("POST", {})):  # fmt: skip
        target = path + "/restore" if method == "POST" else path
        response = api.call(method, target, "rep3", **kw)
        assert response.status_code == 404, (method, response.get_json())
    listed = api.call("GET", "/deal", "rep3").get_json()["data"]
    assert deal["id"] not in [row["id"] for row in listed]


def test_rep_cannot_write_a_read_only_field_nor_see_a_hidden_one(api):
    deal = api.create("deal", {"name": "Mine", "secret": "psst"}, who="admin")
    mine = api.create("deal", {"name": "Mine too"}, who="rep1")
    response = api.call("PATCH", f"/deal/{mine['id']}", "rep1",
                        json={"probability": 90, "row_version": 1})  # fmt: skip
    assert response.status_code == 403
    assert list(response.get_json()["error"]["fields"]) == ["probability"]
    assert "secret" not in mine
    hidden = api.call("GET", "/deal?secret=psst", "rep1")
    assert hidden.status_code == 400  # a hidden field cannot be probed with a filter
    assert api.call("GET", f"/deal/{deal['id']}", "admin").get_json()["secret"] == "psst"
    # Updating someone else's deal (in scope for reading) is refused.
    other = api.create("deal", {"name": "Rep two's"}, who="rep2")
    denied = api.call("PATCH", f"/deal/{other['id']}", "rep1", json={"name": "x", "row_version": 1})
    assert denied.status_code == 403
    assert denied.get_json()["error"]["code"] == "permission_denied"


def test_missing_or_bad_credentials_are_401_json(api):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = api.call("GET", "/deal", who=None, headers=headers)
        assert response.status_code == 401, headers
        assert response.is_json and response.get_json()["error"]["code"] == "unauthorized"
    response = api.call("POST", "/deal", who=None, json={"name": "x"},
                        headers={"Authorization": "Bearer nope"})  # fmt: skip
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b'{"name": ', "application/json", 400),
        (b'[{"name": "x"}]', "application/json", 400),
        (b'"just a string"', "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b'{"name": NaN}', "application/json", 400),
        (b'{"quantity": ' + b"9" * 5000 + b"}", "application/json", 400),
        (b"[" * 100_000, "application/json", 400),
        (b'{"name": "x"}', "text/plain", 415),
        (b"name=x", "application/x-www-form-urlencoded", 415),
        (b'{"name": "a\\u0000b"}', "application/json", 422),
        (b'{"name": "\\ud800"}', "application/json", 422),
        (b'{"name": "ok", "lines": [{"product": "\\u0000"}]}', "application/json", 422),
        (b'{"name": "x", "amount": 1e400}', "application/json", 422),
        (b'{"name": "x", "amount": 1e30}', "application/json", 422),
        (b'{"name": "x", "quantity": 99999999999999999999999}', "application/json", 422),
        (b'{"name": "x", "company": 9223372036854775808}', "application/json", 422),
        (b'{"name": {"nested": true}}', "application/json", 422),
        (b'{"name": "x", "lines": {"product": "y"}}', "application/json", 422),
        (b'{"name": "x", "colour": "red"}', "application/json", 422),
        (b'{"name": "x", "next_call": "0001-01-01T00:00:00+05:00"}', "application/json", 422),
        (b'{"name": "\\u202e\\ufeff\\ud83d\\ude00 \xe5\x90\x8d"}', "application/json", 201),
    ],
)
def test_bad_bodies_are_answered_with_json_errors_never_500(api, data, content_type, status):
    response = api.call("POST", "/deal", data=data, headers={"Content-Type": content_type})
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.is_json
    if status >= 400:
        assert set(response.get_json()["error"]) >= {"code", "message"}


def test_archive_hides_a_record_and_restore_brings_it_back(api):
    deal = api.create("deal", {"name": "Short lived"})
    path = f"/deal/{deal['id']}"
    archived = api.call("DELETE", path)
    assert archived.status_code == 200
    assert archived.get_json()["archived_at"] is not None
    listed = api.call("GET", "/deal").get_json()["data"]
    assert deal["id"] not in [row["id"] for row in listed]
    shown = api.call("GET", "/deal?archived_at__isnull=false").get_json()["data"]
    assert [row["id"] for row in shown] == [deal["id"]]
    restored = api.call("POST", f"{path}/restore")
    assert restored.status_code == 200
    assert restored.get_json()["archived_at"] is None
    assert deal["id"] in [row["id"] for row in api.call("GET", "/deal").get_json()["data"]]


def test_openapi_document_is_public_json(api):
    response = api.call("GET", "/openapi.json", who=None)
    assert response.status_code == 200 and response.is_json
    document = response.get_json()
    assert set(document["paths"]) >= {"/deal", "/deal/{id}", "/company/{id}/restore"}


ODD_REQUESTS = [
    ("GET", "/deal?amount__in=" + ",".join(["1"] * 100), None),
    ("GET", "/deal?amount__in=" + ",".join(["1"] * 101), None),
    ("GET", "/deal?name__contains=%25_%5C%E2%80%AE%F0%9F%98%80", None),
    ("GET", "/deal?q=%25%25%25_", None),
    ("GET", "/deal?%FF%FE=1", None),
    ("GET", "/deal?close_date=0001-01-01&next_call__lt=9999-12-31T23:59:59", None),
    ("GET", "/deal?next_call__gt=9999-12-31T23:59:59-05:00", None),
    ("GET", "/deal?amount__between=1,2&tags__contains=hot&tags__isnull=true", None),
    ("GET", "/deal?id=0&row_version__gte=-9223372036854775807&owner_id__in=1,2", None),
    ("GET", "/deal?sort=id,-tags", None),
    ("GET", "/deal?sort=-id,name,amount,close_date,status,quantity", None),
    ("GET", "/deal?page=100000&page_size=200", None),
    ("GET", "/deal?amount=1e400", None),
    ("GET", "/deal?amount=NaN", None),
    ("GET", "/deal?quantity=-0", None),
    ("POST", "/deal", {"name": "x", "lines": [{"id": 999999, "product": "ghost"}]}),
    ("POST", "/deal", {"name": "x", "lines": [{"product": "a"}, {"product": None}]}),
    ("POST", "/deal", {"name": "x", "lines": [[1, 2]]}),
    ("POST", "/deal", {"name": "x", "lines": [{"product": "a", "qty": 10**30}]}),
    ("POST", "/deal", {"name": "x", "lines": None}),
    ("POST", "/deal", {"name": "x", "owner_id": 999999}),
    ("POST", "/deal", {"name": "x", "owner_id": 0}),
    ("POST", "/deal", {"name": "x", "company": 999999}),
    ("POST", "/deal", {"name": "x", "company": "1; DROP TABLE ent_deal"}),
    ("POST", "/deal", {"name": "x", "amount": {"amount": 5, "currency": "usd"}}),
    ("POST", "/deal", {"name": "x", "amount": 5, "amount_currency": "EUR"}),
    ("POST", "/deal", {"name": "x", "amount": "1" * 40}),
    ("POST", "/deal", {"name": "x", "amount": 0.1 + 0.2}),
    ("POST", "/deal", {"name": "x", "probability": 100.005}),
    ("POST", "/deal", {"name": "x", "next_call": "9999-12-31T23:59:59-05:00"}),
    ("POST", "/deal", {"name": "x", "close_date": "0000-01-01"}),
    ("POST", "/deal", {"name": "x", "quantity": "1e5"}),
    ("POST", "/deal", {"name": "x", "quantity": True}),
    ("POST", "/deal", {"name": "   "}),
    ("POST", "/deal", {"name": "x" * 121}),
    ("POST", "/deal", {"name": "名" * 120, "notes": "長" * 2000}),
    ("POST", "/deal", {"name": "x", "email": "ü@ü.example"}),
    ("POST", "/deal", {"name": "x", "tags": ["hot", "hot", "cold"]}),
    ("POST", "/deal", {"name": "x", "tags": "hot"}),
    ("POST", "/deal", {"name": "x", "tags": [["hot"]]}),
    ("POST", "/deal", {"name": "x", "status": ["won"]}),
    ("POST", "/deal", {"name": "x", "id": 5, "row_version": 9, "created_at": "soon"}),
    ("POST", "/deal", {"name": "x", "number": "D-9999", "expected": 5}),
    ("POST", "/deal", {"name": "x", "": 1, "\u0000": 2}),
    ("POST", "/company", {"name": "Dup"}),
    ("POST", "/company", {"name": "x", "employees": -1, "website": "javascript:alert(1)"}),
    ("PATCH", "/deal/1", {"row_version": True}),
    ("PATCH", "/deal/1", {"row_version": "1"}),
    ("PATCH", "/deal/1", {"row_version": 10**30}),
    ("PATCH", "/deal/1", {"row_version": 1, "lines": [{"id": 1, "product": "moved"}]}),
    ("POST", "/deal/1/restore", None),
    ("DELETE", "/deal/1/restore", None),
    ("PUT", "/deal/1", {"name": "x"}),
    ("GET", "/deal/1/history", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ODD_REQUESTS)
def test_odd_requests_are_answered_with_json_and_never_500(api, method, path, body):
    api.create("deal", {"name": "First", "lines": [{"product": "p"}]})
    api.create("company", {"name": "Dup"})
    response = api.call(method, path, json=body) if body is not None else api.call(method, path)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.is_json, response.get_data(as_text=True)[:200]
