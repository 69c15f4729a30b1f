"""The dashboards screens (``runtime/features/reports/screens.py``): the board list, one
board's page, the navigation and /reports, over the reports fixture app; the data
itself is the reports API's (tests/test_reports.py)."""

from __future__ import annotations

import re

from tests.conftest import signed_in_client
from tests.test_reports import reports  # noqa: F401 - the fixture


def _client(reports, email: str, password: str):  # noqa: F811
    return signed_in_client(reports.app, email, password)


def test_the_board_list_shows_the_shipped_board_and_a_new_board_form(reports):  # noqa: F811
    client = _client(reports, "m@example.com", "pw-manager-1")
    html = client.get("/dashboards").get_data(True)
    assert 'href="/dashboards/sales"' in html and "Sales" in html
    assert "data-new-board" in html and 'name="csrf-token"' in html
    assert client.get("/reports").headers["Location"].endswith("/dashboards")


def test_a_board_page_is_a_grid_shell_the_script_fills(reports):  # noqa: F811
    client = _client(reports, "m@example.com", "pw-manager-1")
    html = client.get("/dashboards/sales").get_data(True)
    assert 'data-board="sales"' in html
    assert "vendor/gridstack/gridstack-all.js" in html and "vendor/echarts/echarts.min.js" in html
    assert "js/dashboards.js" in html
    # the board's filters, labelled, with the period's relative ranges
    assert re.search(r'name="period"', html) and "This quarter" in html and 'name="region"' in html


def test_a_board_the_viewer_may_not_see_is_not_found(reports):  # noqa: F811
    client = _client(reports, "r1@example.com", "pw-rep-one-1")
    assert client.get("/dashboards/nope").status_code == 404
    assert client.get("/dashboards").status_code == 200


def test_a_rep_cannot_edit_a_shared_board_they_do_not_own(reports):  # noqa: F811
    made = reports.ok(
        "POST", "/dashboards", "manager",
        json={"label": "Team", "widgets": [], "shared_roles": ["rep"]},
    )  # fmt: skip
    rep = _client(reports, "r1@example.com", "pw-rep-one-1")
    html = rep.get(f"/dashboards/{made['id']}").get_data(True)
    assert 'data-editable=""' in html  # shown, but not draggable
    refused = reports.call("PUT", f"/dashboards/{made['id']}/layout", "rep1", json={"layout": {}})
    assert refused.status_code == 403
    owner = _client(reports, "m@example.com", "pw-manager-1")
    assert 'data-editable="1"' in owner.get(f"/dashboards/{made['id']}").get_data(True)


def test_the_screens_speak_chinese_and_escape_labels(reports):  # noqa: F811
    users = reports.app.extensions["trellis"].users
    users.create_user("zh@example.com", "王芳", "pw-zh-12345", roles=["manager"], locale="zh")
    client = _client(reports, "zh@example.com", "pw-zh-12345")
    html = client.get("/dashboards").get_data(True)
    assert "仪表板" in html and "新建看板" in html and "销售" in html
    reports.ok("POST", "/dashboards", "manager", json={"label": "<b>x</b>", "widgets": []})
    manager = _client(reports, "m@example.com", "pw-manager-1")
    listed = manager.get("/dashboards").get_data(True)
    assert "<b>x</b>" not in listed and "&lt;b&gt;x&lt;/b&gt;" in listed
