"""Record forms of the reference app as a sales rep meets them, on SQLite and PostgreSQL.

Enter saves (the form's default button is the primary action), a record created from a
related list's "New" returns to the page it came from (same-site paths only), a blank
owner means the creator, and a duplicate account name names and links the account it
duplicates - on the form and in the API's 422 body.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.conftest import REFERENCE_APP, make_web_app

PASSWORD = "correct horse battery"


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, REFERENCE_APP)
    users = app.extensions["trellis"].users
    east = users.create_team("East")
    west = users.create_team("West")
    app.config["ids"] = {
        "rep": users.create_user("rep@example.com", "Rita Rep", PASSWORD, ["sales_rep"], east),
        "other": users.create_user(
            "other@example.com", "Olga Other", PASSWORD, ["sales_rep"], west
        ),
    }
    yield app
    app.extensions["trellis"].db.engine.dispose()


def _principal(app, who="rep"):
    return app.extensions["trellis"].repo.principal(app.config["ids"][who])


def _repo(app):
    return app.extensions["trellis"].repo


def sign_in(app, who="rep"):
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": f"{who}@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


def _api_key(app, who="rep") -> dict[str, str]:
    token = app.extensions["trellis"].users.create_api_key(app.config["ids"][who])
    return {"Authorization": f"Bearer {token}"}


def _deal(app, name="Acme CRM rollout"):
    rep = _principal(app)
    account = _repo(app).create(
        rep, "account", {"name": f"{name} Co", "customer_status": "prospect"}
    )
    close = (date.today() + timedelta(days=30)).isoformat()
    deal = _repo(app).create(
        rep,
        "opportunity",
        {"name": name, "account": account["id"], "amount": 1000, "close_date": close},
    )
    return account, deal


# --------------------------------------------------------------------------- 14: Enter saves


def test_enter_in_a_field_submits_the_primary_save_not_save_and_new(app):
    client = sign_in(app)
    html = client.get("/e/account/new").get_data(as_text=True)
    form = html[html.index('<form class="record-form"') :]
    form = form[: form.index("</form>")]
    buttons = re.findall(r"<button[^>]*type=\"submit\"[^>]*>", form)
    # A browser's implicit submission (Enter) clicks the first submit button of the form.
    assert 'value="record"' in buttons[0] and 'value="new"' not in buttons[0]
    assert any('value="new"' in b for b in buttons[1:])  # "Save & new" is still offered
    token = _csrf(html)
    response = client.post(
        "/e/account/new",
        data={
            "csrf_token": token,
            "name": "Enter Co",
            "customer_status": "prospect",
            "_next": "record",
        },
    )
    found = _repo(app).list(_principal(app), "account", filters=[("name", "eq", "Enter Co")])
    assert len(found.rows) == 1
    assert response.headers["Location"].endswith(f"/e/account/{found.rows[0]['id']}")


# --------------------------------------------------------------------------- 15: return


def test_activity_logged_from_a_deal_returns_to_the_deal(app):
    _, deal = _deal(app)
    client = sign_in(app)
    page = client.get(f"/e/opportunity/{deal['id']}").get_data(as_text=True)
    links = re.findall(r'href="(/e/activity/new\?[^"]+)"', page)
    assert links, "the deal page offers a New activity link"
    new_url = links[0].replace("&amp;", "&")
    assert f"_return=/e/opportunity/{deal['id']}" in new_url
    form = client.get(new_url).get_data(as_text=True)
    assert f'name="_return" value="/e/opportunity/{deal["id"]}"' in form
    assert f'href="/e/opportunity/{deal["id"]}"' in form  # Cancel goes back too
    response = client.post(
        "/e/activity/new",
        data={
            "csrf_token": _csrf(form),
            "kind": "call",
            "subject": "Discovery call",
            "activity_date": date.today().isoformat(),
            "opportunity": str(deal["id"]),
            "_return": f"/e/opportunity/{deal['id']}",
            "_next": "record",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/e/opportunity/{deal['id']}")
    activities = _repo(app).list(
        _principal(app), "activity", filters=[("opportunity", "eq", deal["id"])]
    )
    assert [a["subject"] for a in activities.rows] == ["Discovery call"]


def test_save_and_new_from_a_deal_keeps_the_deal_and_the_way_back(app):
    _, deal = _deal(app)
    client = sign_in(app)
    back = f"/e/opportunity/{deal['id']}"
    form = client.get(f"/e/activity/new?opportunity={deal['id']}&_return={back}").get_data(
        as_text=True
    )
    response = client.post(
        "/e/activity/new",
        data={
            "csrf_token": _csrf(form),
            "kind": "call",
            "subject": "First call",
            "activity_date": date.today().isoformat(),
            "opportunity": str(deal["id"]),
            "_return": back,
            "_next": "new",
        },
    )
    location = response.headers["Location"]
    assert "/e/activity/new?" in location
    assert f"opportunity={deal['id']}" in location and "_return=/e/opportunity/" in location
    again = client.get(location).get_data(as_text=True)
    assert f'name="opportunity" value="{deal["id"]}"' in again
    assert f'name="_return" value="{back}"' in again


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "/e/opportunity\r\nSet-Cookie: x=1",
        "javascript:alert(1)",
        "e/opportunity/1",
    ],
)
def test_return_to_another_site_or_a_crafted_url_is_ignored(app, target):
    client = sign_in(app)
    token = _csrf(client.get("/e/account/new").get_data(as_text=True))
    response = client.post(
        "/e/account/new",
        data={
            "csrf_token": token,
            "name": "Bounce Co",
            "customer_status": "prospect",
            "_return": target,
        },
    )
    assert response.status_code == 302
    account = (
        _repo(app).list(_principal(app), "account", filters=[("name", "eq", "Bounce Co")]).rows[0]
    )
    assert response.headers["Location"].endswith(f"/e/account/{account['id']}")
    form = client.get("/e/account/new?_return=" + target.replace("\r\n", "%0d%0a")).get_data(
        as_text=True
    )
    assert 'name="_return"' not in form


# --------------------------------------------------------------------------- 17: owner


def test_blank_owner_on_the_form_makes_the_creator_the_owner(app):
    client = sign_in(app)
    html = client.get("/e/opportunity/new").get_data(as_text=True)
    assert 'name="owner_id"' in html  # the reference form shows the owner
    account = _repo(app).create(
        _principal(app), "account", {"name": "Owner Co", "customer_status": "prospect"}
    )
    response = client.post(
        "/e/opportunity/new",
        data={
            "csrf_token": _csrf(html),
            "name": "Unowned?",
            "account": str(account["id"]),
            "amount": "5000",
            "close_date": (date.today() + timedelta(days=20)).isoformat(),
            "owner_id": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    deal = (
        _repo(app)
        .list(_principal(app), "opportunity", filters=[("name", "eq", "Unowned?")])
        .rows[0]
    )
    assert deal["owner_id"] == app.config["ids"]["rep"]
    # The rep can therefore go on editing their deal.
    assert client.get(f"/e/opportunity/{deal['id']}/edit").status_code == 200


def test_clearing_the_owner_on_the_edit_form_is_refused_naming_the_field(app):
    _, deal = _deal(app)
    client = sign_in(app)
    html = client.get(f"/e/opportunity/{deal['id']}/edit").get_data(as_text=True)
    version = re.search(r'name="row_version" value="(\d+)"', html).group(1)
    response = client.post(
        f"/e/opportunity/{deal['id']}/edit",
        data={
            "csrf_token": _csrf(html),
            "row_version": version,
            "name": deal["name"],
            "owner_id": "",
        },
    )
    assert response.status_code == 422
    assert "A record needs an owner" in response.get_data(as_text=True)
    assert (
        _repo(app).get(_principal(app), "opportunity", deal["id"])["owner_id"]
        == app.config["ids"]["rep"]
    )


def test_blank_owner_through_the_api_makes_the_caller_the_owner(app):
    headers = _api_key(app)
    for blank in (None, ""):
        response = app.test_client().post(
            "/api/v1/account",
            json={"name": f"API Co {blank!r}", "customer_status": "prospect", "owner_id": blank},
            headers=headers,
        )
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["owner_id"] == app.config["ids"]["rep"]
    record = response.get_json()
    response = app.test_client().patch(
        f"/api/v1/account/{record['id']}",
        json={"owner_id": None},
        headers={**headers, "If-Match": f'"{record["row_version"]}"'},
    )
    assert response.status_code == 422
    assert "owner_id" in response.get_json()["error"]["fields"]


# --------------------------------------------------------------------------- 22: duplicates


def test_duplicate_account_name_on_the_form_names_and_links_the_account(app):
    first = _repo(app).create(
        _principal(app), "account", {"name": "Acme Corporation", "customer_status": "prospect"}
    )
    client = sign_in(app)
    token = _csrf(client.get("/e/account/new").get_data(as_text=True))
    response = client.post(
        "/e/account/new",
        data={"csrf_token": token, "name": "Acme Corporation", "customer_status": "active"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html[html.index('id="f-name-error"') :]
    error = error[: error.index("</p>")]
    assert "Account “Acme Corporation” already has this value." in error
    assert f'href="/e/account/{first["id"]}"' in error
    assert 'value="active"' in html or "selected" in html  # what was typed is kept


def test_duplicate_account_name_in_chinese(app):
    _repo(app).create(
        _principal(app), "account", {"name": "上海星辰科技有限公司", "customer_status": "prospect"}
    )
    client = sign_in(app)
    client.post(
        "/locale",
        data={"locale": "zh", "csrf_token": _csrf(client.get("/").get_data(as_text=True))},
    )
    token = _csrf(client.get("/e/account/new").get_data(as_text=True))
    response = client.post(
        "/e/account/new",
        data={"csrf_token": token, "name": "上海星辰科技有限公司", "customer_status": "prospect"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "客户“上海星辰科技有限公司”已使用此值。" in html


def test_duplicate_account_name_in_the_api_names_the_account(app):
    first = _repo(app).create(
        _principal(app), "account", {"name": "Globex Inc.", "customer_status": "prospect"}
    )
    response = app.test_client().post(
        "/api/v1/account",
        json={"name": "Globex Inc.", "customer_status": "prospect"},
        headers=_api_key(app),
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["fields"]["name"] == ["Account “Globex Inc.” already has this value."]
    assert error["duplicates"]["name"] == {
        "entity": "account",
        "id": first["id"],
        "title": "Globex Inc.",
        "url": f"/api/v1/account/{first['id']}",
    }


def test_duplicate_of_an_account_the_caller_cannot_read_is_not_named(app):
    _repo(app).create(
        _principal(app, "other"),
        "account",
        {"name": "West Only Ltd", "customer_status": "prospect"},
    )
    response = app.test_client().post(
        "/api/v1/account",
        json={"name": "West Only Ltd", "customer_status": "prospect"},
        headers=_api_key(app),
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert "duplicates" not in error and "West Only" not in str(error["fields"])
