"""Stage moves through the REST API and the board's HTTP endpoints (SQLite and
PostgreSQL): the same gates as everywhere, a blocked move answers 422 listing the
missing fields, the board renders with totals and lazy columns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import make_web_app, signed_in_client

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_app"
PASSWORD = "correct horse battery"


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, FIXTURE)
    users = app.extensions["trellis"].users
    team = users.create_team("East")
    rep = users.create_user("rep@example.com", "Rita Rep", PASSWORD, roles=["rep"], team_id=team)
    viewer = users.create_user("view@example.com", "Vic Viewer", PASSWORD, roles=["viewer"])
    app.config["keys"] = {
        "rep": users.create_api_key(rep, name="t"),
        "viewer": users.create_api_key(viewer, name="t"),
    }
    yield app
    app.extensions["trellis"].db.engine.dispose()


def api(app, method, path, who="rep", **kwargs):
    headers = {"Authorization": f"Bearer {app.config['keys'][who]}"}
    return app.test_client().open("/api/v1" + path, method=method, headers=headers, **kwargs)


def patch(app, record_id, body, who="rep"):
    """PATCH with the record's current ETag (the API requires If-Match)."""
    etag = api(app, "GET", f"/deal/{record_id}").headers.get("ETag", "")
    headers = {"Authorization": f"Bearer {app.config['keys'][who]}", "If-Match": etag}
    return app.test_client().patch(f"/api/v1/deal/{record_id}", json=body, headers=headers)


def create(app, **values):
    body = {"name": "Deal", "amount": 1000, "close_date": "2025-06-30", **values}
    response = api(app, "POST", "/deal", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_api_create_starts_in_the_first_stage(app):
    assert create(app)["stage"] == "lead"


def test_api_move_is_saved(app):
    deal = create(app)
    response = patch(app, deal["id"], {"stage": "discovery"})
    assert response.status_code == 200
    assert response.get_json()["stage"] == "discovery"


def test_api_blocked_move_answers_422_with_the_missing_fields(app):
    deal = create(app)
    response = patch(app, deal["id"], {"stage": "lost"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert set(error["fields"]) == {"stage", "loss_reason"}
    assert error["fields"]["stage"] == ["To enter Lost, fill in: Loss reason."]
    response = patch(app, deal["id"], {"stage": "lost", "loss_reason": "competitor"})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"stage", "competitor"}
    ok = patch(
        app, deal["id"], {"stage": "lost", "loss_reason": "competitor", "competitor": "Acme"}
    )
    assert ok.status_code == 200 and ok.get_json()["stage"] == "lost"


def test_api_refuses_a_transition_the_pipeline_does_not_allow(app):
    deal = create(app, pains="x")
    assert patch(app, deal["id"], {"stage": "won"}).status_code == 200
    response = patch(app, deal["id"], {"stage": "lost", "loss_reason": "price"})
    assert response.status_code == 422
    assert "cannot move from Won to Lost" in response.get_json()["error"]["fields"]["stage"][0]


def test_api_move_without_permission_is_refused(app):
    deal = create(app)
    response = patch(app, deal["id"], {"stage": "discovery"}, who="viewer")
    assert response.status_code in (403, 404)


# ------------------------------------------------------------------ board endpoints


def signed_in(app, email="rep@example.com"):
    client = signed_in_client(app, email, PASSWORD)
    page = client.get("/p/sales")
    assert page.status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(True))[1]
    return client, token


def test_board_shows_columns_totals_and_cards(app):
    for amount in (1000, 2500):
        create(app, amount=amount, name=f"Deal {amount}")
    client, _ = signed_in(app)
    html = client.get("/p/sales").get_data(True)
    assert "Deal 1000" in html and "Deal 2500" in html
    assert re.search(r'data-stage="lead".*?data-col-total="count">2<', html, re.S)
    assert "CN¥3,500" in html  # column total


def test_board_column_lazy_loads_the_next_page(app):
    for n in range(25):
        create(app, name=f"Deal {n:02d}")
    client, _ = signed_in(app)
    html = client.get("/p/sales").get_data(True)
    assert html.count("data-card ") == 20 and "/p/sales/column/lead?offset=20" in html
    more = client.get("/p/sales/column/lead?offset=20").get_data(True)
    assert more.count("data-card ") == 5


def test_board_move_blocked_by_gate_returns_the_form(app):
    deal = create(app)
    client, token = signed_in(app)
    headers = {"Accept": "application/json", "X-CSRFToken": token}
    response = client.post(
        "/p/sales/move", data={"record_id": deal["id"], "to_stage": "proposal"}, headers=headers
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["missing"] == ["pains"] and 'name="pains"' in body["form"]
    response = client.post(
        "/p/sales/move",
        data={"record_id": deal["id"], "to_stage": "proposal", "pains": "Slow audits"},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.get_json()["stage"] == "proposal" and "data-card" in response.get_json()["card"]


def test_board_move_without_permission_is_403(app):
    deal = create(app)
    client, token = signed_in(app, "view@example.com")
    response = client.post(
        "/p/sales/move",
        data={"record_id": deal["id"], "to_stage": "discovery"},
        headers={"Accept": "application/json", "X-CSRFToken": token},
    )
    assert response.status_code == 403


def test_idle_records_are_queryable_as_json(app):
    create(app, name="fresh")
    client, _ = signed_in(app)
    data = client.get("/p/sales/records.json?idle=1").get_json()
    assert data["records"] == []
    data = client.get("/p/sales/records.json").get_json()
    assert [r["title"] for r in data["records"]] == ["fresh"] and data["totals"]["lead"][
        "count"
    ] == 1


def test_record_page_shows_the_path_bar(app):
    deal = create(app)
    client, _ = signed_in(app)
    html = client.get(f"/p/path/deal/{deal['id']}").get_data(True)
    assert 'aria-current="step"' in html and "Discovery" in html
