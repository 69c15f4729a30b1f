"""Link paths and lookups the way an API client and a list-screen user meet them: the
hiring fixture app served, filtered and sorted through ``/api/v1`` and ``/e/...``."""

from __future__ import annotations

import pytest

from tests.conftest import HIRING_APP, PASSWORD, make_web_app, signed_in_client


@pytest.fixture
def served(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, HIRING_APP)
    services = app.extensions["trellis"]
    users = services.users
    ids = {
        "rosa": users.create_user("rec@example.com", "Rosa", PASSWORD, roles=["recruiter"]),
        "ivan": users.create_user("ivan@example.com", "Ivan", PASSWORD, roles=["interviewer"]),
        "zhao": users.create_user(
            "zhao@example.com", "Zhao", PASSWORD, roles=["recruiter"], locale="zh"
        ),
    }
    keys = {who: users.create_api_key(uid, name="tests") for who, uid in ids.items()}
    repo = services.repo
    rosa = users.principal(ids["rosa"])
    eng = repo.create(rosa, "position", {"title": "Backend", "department": "engineering",
                                          "salary_min": 30000, "salary_max": 45000})  # fmt: skip
    sales = repo.create(rosa, "position", {"title": "AE", "department": "sales",
                                            "salary_min": 20000})  # fmt: skip
    for candidate, position in (("Ada", eng), ("Bob", sales), ("Cy", eng)):
        application = repo.create(
            rosa, "application", {"candidate": candidate, "position": position["id"]}
        )
        repo.create(
            rosa, "offer", {"title": f"Offer {candidate}", "application": application["id"]}
        )
    yield app, keys
    services.db.engine.dispose()


def api(app, keys, who, path):
    headers = {"Authorization": f"Bearer {keys[who]}"}
    return app.test_client().get(f"/api/v1{path}", headers=headers)


def names(response, key="title"):
    assert response.status_code == 200, response.get_json()
    return [row[key] for row in response.get_json()["data"]]


def test_the_api_filters_and_sorts_through_paths(served):
    app, keys = served
    two_hops = "/offer?application.position.department=engineering&sort=title"
    assert names(api(app, keys, "rosa", two_hops)) == ["Offer Ada", "Offer Cy"]
    one_hop = "/offer?application.candidate__in=Bob,Cy&sort=-application.candidate"
    assert names(api(app, keys, "rosa", one_hop)) == ["Offer Cy", "Offer Bob"]
    band = "/application?salary_min__gte=25000&sort=candidate"
    assert names(api(app, keys, "rosa", band), "candidate") == ["Ada", "Cy"]
    by_lookup = "/application?sort=-salary_max,candidate"
    rows = api(app, keys, "rosa", by_lookup).get_json()["data"]
    assert [(r["candidate"], r["salary_max"]) for r in rows] == [
        ("Bob", None),  # empty sorts as the largest value
        ("Ada", 45000),
        ("Cy", 45000),
    ]


def test_the_api_never_lets_an_interviewer_probe_a_hidden_band(served):
    app, keys = served
    record = api(app, keys, "ivan", "/application?sort=candidate").get_json()["data"][0]
    assert record["candidate"] == "Ada" and "salary_min" not in record
    for probe in (
        "/application?salary_min__gte=25000",
        "/application?sort=salary_min",
        "/application?position.salary_min__gte=25000",
        "/application?position.salary_max__isnull=true",
        "/application?sort=-position.salary_min",
        "/offer?application.position.salary_min=30000",
    ):
        response = api(app, keys, "ivan", probe)
        assert response.status_code == 400, (probe, response.status_code)
    allowed = api(app, keys, "ivan", "/application?position.department=sales")
    assert names(allowed, "candidate") == ["Bob"]


def test_a_bad_path_is_a_400_naming_it(served):
    app, keys = served
    for probe in ("/offer?application.nothing=1", "/offer?sort=application.nothing"):
        response = api(app, keys, "rosa", probe)
        assert response.status_code == 400
        assert "application.nothing" in response.get_data(True)


def test_the_list_screen_filters_through_a_path_and_shows_lookups(served):
    app, _keys = served
    client = signed_in_client(app, "rec@example.com")
    page = client.get("/e/offer?application.position.department=engineering")
    assert page.status_code == 200
    html = page.get_data(True)
    assert "Offer Ada" in html and "Offer Cy" in html and "Offer Bob" not in html
    listing = client.get("/e/application?columns=candidate,salary_min,salary_max")
    assert listing.status_code == 200
    assert "30,000" in listing.get_data(True) or "30000" in listing.get_data(True)


def test_a_path_column_shows_in_the_list_and_its_export_in_both_languages(served):
    app, _keys = served
    client = signed_in_client(app, "rec@example.com")
    columns = "title,application.position.department"
    html = client.get(f"/e/offer?columns={columns}&sort=title").get_data(True)
    assert "Application · Position · Department" in html
    assert html.count("Engineering") >= 2 and "Sales" in html
    csv = client.get(f"/e/offer/export.csv?columns={columns}&sort=title").get_data(True)
    lines = csv.splitlines()
    assert lines[0].lstrip("\ufeff") == "Title,Application · Position · Department"
    assert lines[1:] == ["Offer Ada,Engineering", "Offer Bob,Sales", "Offer Cy,Engineering"]
    zh = signed_in_client(app, "zhao@example.com").get(f"/e/offer?columns={columns}")
    assert "应聘 · 职位 · 部门" in zh.get_data(True) and "研发" in zh.get_data(True)


def test_a_path_column_the_viewer_may_not_follow_is_left_out(served):
    app, _keys = served
    client = signed_in_client(app, "ivan@example.com")
    page = client.get("/e/application?columns=candidate,position.salary_min,position.title")
    assert page.status_code == 200
    html = page.get_data(True)
    assert "Position · Title" in html and "Salary from" not in html and "30,000" not in html


def test_openapi_documents_one_hop_path_filters_and_sorts(served):
    app, keys = served
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in doc["paths"]["/offer"]["get"]["parameters"]}
    assert params["application.candidate__in"]["schema"]["type"] == "array"
    assert "through the link application" in params["application.candidate"]["description"]
    sorts = params["sort"]["schema"]["items"]["enum"]
    assert {"application.candidate", "-application.candidate"} <= set(sorts)
    aggregate = doc["paths"]["/offer/aggregate"]["get"]["parameters"]
    assert "application.candidate__in" in {p["name"] for p in aggregate}
    documented = "/offer?application.candidate__in=Ada,Cy&sort=-application.candidate"
    assert names(api(app, keys, "rosa", documented)) == ["Offer Cy", "Offer Ada"]
