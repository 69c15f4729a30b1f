"""Form widgets come from a registry keyed by input kind, and an app can override one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runtime.fieldtypes import TYPES
from runtime.fieldtypes.widgets import WIDGETS, Widget, WidgetRegistry, widget_template
from tests.conftest import make_web_app

RECORDS_APP = Path(__file__).resolve().parent / "fixtures" / "records_app"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PASSWORD = "correct horse battery"


def test_every_field_types_input_kind_has_a_widget_with_a_template():
    for ftype in TYPES.values():
        assert ftype.input_kind in WIDGETS, ftype.name
    for widget in WIDGETS.values():
        assert (TEMPLATES / widget.template).is_file(), widget.template


def test_an_unknown_kind_is_drawn_by_the_text_widget_and_kinds_are_unique():
    assert widget_template("colour-wheel") == "widgets/text.html"
    registry = WidgetRegistry([Widget("text", "plain")])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Widget("text", "again"))


@pytest.fixture
def app_with_own_text_widget(db_url, tmp_path):
    app_dir = Path(shutil.copytree(RECORDS_APP, tmp_path / "records_app"))
    widget = app_dir / "templates" / "widgets" / "text.html"
    widget.parent.mkdir(parents=True)
    widget.write_text(
        '<input class="input" data-app-widget="text" id="{{ fv.dom_id }}" name="{{ fv.name }}"'
        " value=\"{{ fv.value if fv.value is string else '' }}\">\n",
        encoding="utf-8",
    )
    app = make_web_app(db_url, tmp_path, app_dir)
    app.extensions["trellis"].users.create_user(
        "admin@example.com", "Ada Admin", PASSWORD, roles=["admin"]
    )
    yield app
    app.extensions["trellis"].db.engine.dispose()


def _login(app):
    import re

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def test_an_apps_widget_template_replaces_the_builtin_one(app_with_own_text_widget):
    page = _login(app_with_own_text_widget).get("/e/deal/new").get_data(as_text=True)

    assert 'data-app-widget="text" id="f-name" name="name"' in page
    # Other kinds keep the built-in widgets.
    assert 'data-app-widget="text" id="f-amount"' not in page
    assert 'name="amount"' in page
