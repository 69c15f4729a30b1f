"""Limits a user meets through the API and the screens: read-only child tables, row
limits, bounded expression inputs, and malformed input that once answered 500.

The app under test is ``tests/fixtures/limits_app``: a ``quote`` whose ``lines`` (at
most 5 rows) a rep may only read, ``notes`` with the default row limit, and a formula
``int(code)`` fed by the user's text.
"""

from __future__ import annotations

import shutil
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import main
from runtime.errors import ExpressionError
from runtime.expressions import compile_expression
from runtime.fieldtypes import DEFAULT_MAX_ROWS
from tests.conftest import make_web_app

LIMITS_APP = Path(__file__).resolve().parent / "fixtures" / "limits_app"


class Client:
    """The Flask test client with a bearer key for an admin and a rep."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()
        users = app.extensions["trellis"].users
        self.ids = {
            "admin": users.create_user(
                "admin@example.com", "Admin", "admin-pass-1", roles=["admin"]
            ),
            "rep": users.create_user("rep@example.com", "Rep", "rep-pass-111", roles=["rep"]),
        }
        self.keys = {
            name: users.create_api_key(uid, name="tests") for name, uid in self.ids.items()
        }

    def call(self, method: str, path: str, who: str = "admin", **kw):
        headers = {"Authorization": f"Bearer {self.keys[who]}", **kw.pop("headers", {})}
        return self.http.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    def create(self, data: dict, who: str = "admin") -> dict:
        response = self.call("POST", "/quote", who, json=data)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def patch(self, record: dict, data: dict, who: str = "admin"):
        return self.call(
            "PATCH", f"/quote/{record['id']}", who, json=data,
            headers={"If-Match": f'"{record["row_version"]}"'},
        )  # fmt: skip

    def login(self, email: str, password: str) -> None:
        self.http.get("/login")
        token = _csrf(self.http)
        response = self.http.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]


def _csrf(http) -> str:
    import re

    page = http.get("/e/quote/new").get_data(as_text=True)
    if 'name="csrf_token"' not in page:
        page = http.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


@pytest.fixture
def api(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, LIMITS_APP)
    yield Client(app)
    app.extensions["trellis"].db.engine.dispose()


def _error(response) -> dict:
    return response.get_json()["error"]


# --------------------------------------------------------------------------- 24 read-only child table


@pytest.mark.parametrize("emptied", [[], None])
def test_rep_cannot_delete_the_rows_of_a_read_only_child_table(api, emptied):
    quote = api.create({"name": "Q", "lines": [{"product": "Widget"}, {"product": "Gadget"}]})
    response = api.patch(quote, {"lines": emptied}, who="rep")
    assert response.status_code == 403, response.get_json()
    assert "lines" in _error(response)["fields"]
    stored = api.call("GET", f"/quote/{quote['id']}").get_json()
    assert [line["product"] for line in stored["lines"]] == ["Widget", "Gadget"]


def test_rep_may_send_read_only_rows_back_unchanged(api):
    quote = api.create({"name": "Q", "lines": [{"product": "Widget"}]})
    response = api.patch(quote, {"name": "Q2", "lines": quote["lines"]}, who="rep")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Q2"


def test_rep_cannot_create_rows_in_a_read_only_child_table(api):
    response = api.call("POST", "/quote", "rep", json={"name": "Q", "lines": [{"product": "W"}]})
    assert response.status_code == 403
    assert "lines" in _error(response)["fields"]


# --------------------------------------------------------------------------- 25 row limits


def test_a_child_table_refuses_more_rows_than_its_max_rows(api):
    rows = [{"product": f"P{n}"} for n in range(6)]
    response = api.call("POST", "/quote", json={"name": "Big", "lines": rows})
    assert response.status_code == 422, response.get_json()
    error = _error(response)
    assert list(error["fields"]) == ["lines"]
    assert "At most 5 rows" in error["fields"]["lines"][0]
    assert api.create({"name": "Five", "lines": rows[:5]})["lines"][4]["product"] == "P4"


def test_a_child_table_without_max_rows_allows_the_default_500(api):
    quote = api.create({"name": "Notes"})
    too_many = [{"text": "n"}] * (DEFAULT_MAX_ROWS + 1)
    response = api.patch(quote, {"notes": too_many})
    assert response.status_code == 422
    assert f"At most {DEFAULT_MAX_ROWS} rows" in _error(response)["fields"]["notes"][0]
    response = api.patch(quote, {"notes": too_many[:DEFAULT_MAX_ROWS]})
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["notes"]) == DEFAULT_MAX_ROWS


def test_the_row_limit_message_is_translated(api):
    rows = [{"product": "P"}] * 6
    response = api.call(
        "POST", "/quote", json={"name": "Big", "lines": rows}, headers={"Accept-Language": "zh"}
    )
    assert response.status_code == 422
    assert "最多允许 5 行" in _error(response)["fields"]["lines"][0]


def test_the_openapi_document_states_the_row_limit(api):
    document = api.call("GET", "/openapi.json").get_json()
    schema = document["components"]["schemas"]
    found = [
        s["properties"]["lines"] for s in schema.values() if "lines" in s.get("properties", {})
    ]
    assert found and all(lines["maxItems"] == 5 for lines in found)


# --------------------------------------------------------------------------- 26 expression inputs


def test_a_huge_number_typed_by_a_user_is_refused_at_once_not_computed(api):
    started = time.perf_counter()
    response = api.call("POST", "/quote", json={"name": "Q", "code": "1e1000000"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 422, response.get_json()
    message = _error(response)["fields"]["code"][0]
    assert "int() takes numbers below 10**30" in message
    assert elapsed < 2, f"the write took {elapsed:.1f} s"


def test_an_ordinary_code_feeds_the_formula(api):
    quote = api.create({"name": "Q", "code": "12"})
    assert quote["code_number"] == 12
    response = api.patch(quote, {"code": "9" * 150})
    assert response.status_code == 422
    assert "at most 100 characters" in _error(response)["fields"]["code"][0]


def _app_copy(tmp_path: Path, old: str, new: str) -> Path:
    app = tmp_path / "limits"
    shutil.copytree(LIMITS_APP, app)
    entity = app / "entities" / "quote.yaml"
    text = entity.read_text(encoding="utf-8")
    assert old in text
    entity.write_text(text.replace(old, new, 1), encoding="utf-8")
    return app


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("int('1e1000000')", "int() takes numbers below 10**30"),
        ("round(1.5, 1000)", "round() rounds to at most 30 places"),
        ("add_days(today(), -10000000)", "moves a date by at most 1,000,000 days"),
        ("int('" + "9" * 120 + "')", "at most 100 characters"),
        ("code_number + 10000000000000000", "too large (limit 10**15)"),
    ],
)
def test_validate_refuses_a_constant_beyond_the_engine_limits(tmp_path, expression, fragment):
    app = _app_copy(tmp_path, '"not code or int(code) < 1000000"', f'"{expression} != 0"')
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 1, result.output
    line = next(ln for ln in result.output.splitlines() if fragment in ln)
    assert line.startswith("TRL-E068 limits/entities/quote.yaml:"), line


def test_validate_accepts_constants_within_the_limits(tmp_path):
    app = _app_copy(tmp_path, '"int(code) if code else None"', "\"int('12') + round(2.5, 2)\"")
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 0, result.output


def test_validate_refuses_a_max_rows_above_the_ceiling(tmp_path):
    app = _app_copy(tmp_path, "max_rows: 5", "max_rows: 20000")
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if "max_rows" in ln)
    assert line.startswith("TRL-E069 limits/entities/quote.yaml:"), line
    assert "above the ceiling of 10,000" in line


# --------------------------------------------------------------------------- 27 malformed input


@pytest.mark.parametrize("row_id", [{"a": 1}, [1, 2], "abc", 1.5, True])
def test_a_child_row_id_that_is_not_a_whole_number_is_a_422(api, row_id):
    quote = api.create({"name": "Q", "notes": [{"text": "first"}]})
    response = api.patch(quote, {"notes": [{"id": row_id, "text": "x"}]})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "row id must be a whole number" in _error(response)["fields"]["notes"][0]
    response = api.call("POST", "/quote", json={"name": "Q", "notes": [{"id": row_id}]})
    assert response.status_code == 422


def test_a_child_row_id_as_digits_still_names_the_stored_row(api):
    quote = api.create({"name": "Q", "notes": [{"text": "first"}]})
    row_id = quote["notes"][0]["id"]
    response = api.patch(quote, {"notes": [{"id": str(row_id), "text": "edited"}]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["notes"] == [{"id": row_id, "position": 0, "text": "edited"}]


@pytest.mark.parametrize("param", ["row_version", "row_version__gte", "row_version__in"])
def test_a_version_filter_beyond_the_column_range_is_a_400(api, param):
    api.create({"name": "Q"})
    response = api.call("GET", f"/quote?{param}=2147483648")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert _error(response)["code"] == "bad_query"
    assert param in _error(response)["message"]
    assert api.call("GET", "/quote?row_version=2147483647").get_json()["data"] == []
    assert len(api.call("GET", "/quote?row_version=1").get_json()["data"]) == 1


def test_a_huge_if_match_version_is_a_412_not_an_overflow(api):
    quote = api.create({"name": "Q"})
    response = api.call(
        "PATCH",
        f"/quote/{quote['id']}",
        json={"name": "R"},
        headers={"If-Match": '"9' + "9" * 17 + '"'},
    )
    assert response.status_code == 412, response.get_data(as_text=True)[:300]
    response = api.call("PATCH", f"/quote/{quote['id']}", json={"name": "R", "row_version": 2**62})
    assert response.status_code == 412


@pytest.mark.parametrize(
    ("source", "values", "fragment"),
    [
        ("name * n", {"name": "ab", "n": 10**15}, "2,000,000,000,000,000 items"),
        ("n * lines", {"lines": [{}] * 10, "n": 10**12}, "10,000,000,000,000 items"),
        ("name + name", {"name": "x" * 60_000}, "120,000 items"),
        ("add_days(d, n)", {"d": None, "n": Decimal("1e100000")}, "at most 1,000,000 days"),
        ("round(n, 2)", {"n": Decimal("1e40")}, "round() takes numbers below 10**30"),
        ("lower(name)", {"name": "x" * 100_001}, "at most 100,000 characters"),
        ("float(name)", {"name": "1" * 101}, "at most 100 characters"),
    ],
)
def test_each_function_and_repeat_bounds_its_input_and_says_which_bound(source, values, fragment):
    compiled = compile_expression(source, ["name", "n", "lines", "d"])
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as caught:
        compiled.evaluate(values)
    assert fragment in caught.value.message
    assert "(the limit is 100,000)" in caught.value.message or "*" not in source
    assert time.perf_counter() - started < 0.05
