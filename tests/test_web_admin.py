"""The admin page as an administrator uses it: users, teams, roles and keys, each change
in the activity list; everybody else gets a 403."""

from __future__ import annotations

import pytest

from tests.test_web_shell import PASSWORD, init_db, login, make_app, page_token

NEW_PASSWORD = "another long password"


@pytest.fixture
def app(db_url, tmp_path):
    init_db(db_url)
    app = make_app(db_url, tmp_path)
    users = app.extensions["trellis"].users
    app.config["ids"] = {
        "admin": users.create_user("admin@example.com", "Ada Admin", PASSWORD, roles=["admin"]),
        "rep": users.create_user("rep@example.com", "Rita Rep", PASSWORD, roles=["sales_rep"]),
    }
    yield app
    app.extensions["trellis"].db.engine.dispose()


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert login(client, "admin@example.com").status_code == 302
    return client


def post(client, path, data, page="/admin"):
    return client.post(path, data={"csrf_token": page_token(client, page), **data})


def activity(client) -> str:
    return client.get("/admin/activity").text


def test_non_admins_get_403_and_no_navigation_link(app):
    rep = app.test_client()
    login(rep)
    assert 'href="/admin"' not in rep.get("/").text
    for path in (
        "/admin",
        "/admin/teams",
        "/admin/keys",
        f"/admin/users/{app.config['ids']['rep']}",
    ):
        assert rep.get(path).status_code == 403, path
    token = page_token(rep)
    refused = rep.post(
        f"/admin/users/{app.config['ids']['rep']}/access",
        data={"csrf_token": token, "roles": ["admin"]},
    )
    assert refused.status_code == 403
    assert app.extensions["trellis"].users.get(app.config["ids"]["rep"])["roles"] == ["sales_rep"]
    assert app.test_client().get("/admin").status_code == 302  # signed out: to the login page


def test_admins_see_the_link_and_every_user(admin):
    home = admin.get("/").text
    assert 'href="/admin"' in home and "Users and access" in home
    page = admin.get("/admin").text
    assert "rep@example.com" in page and "Ada Admin" in page


def test_posts_need_the_csrf_token(app, admin):
    response = admin.post(f"/admin/users/{app.config['ids']['rep']}/active", data={"active": "0"})
    assert response.status_code == 400
    assert app.extensions["trellis"].users.get(app.config["ids"]["rep"])["is_active"] is True


def test_admin_creates_a_user_who_can_sign_in(app, admin):
    response = post(
        admin,
        "/admin/users",
        {
            "name": "Sam Sales",
            "email": "Sam@Example.com",
            "password": NEW_PASSWORD,
            "roles": ["sales_rep", "presales"],
            "locale": "zh",
        },
    )
    assert response.status_code == 302
    assert "User sam@example.com created." in admin.get("/admin").text
    users = app.extensions["trellis"].users
    created = users.get(users.id_for_email("sam@example.com"))
    assert created["roles"] == ["presales", "sales_rep"] and created["locale"] == "zh"
    assert login(app.test_client(), "sam@example.com", NEW_PASSWORD).status_code == 302
    log = activity(admin)
    assert (
        "Ada Admin" in log
        and "created the user" in log
        and "Sam Sales &lt;sam@example.com&gt;" in log
    )


def test_bad_new_user_is_a_422_naming_each_field(admin):
    response = post(
        admin,
        "/admin/users",
        {"name": "", "email": "rep@example.com", "password": "short", "team_id": "abc"},
    )
    assert response.status_code == 422
    html = response.text
    assert 'id="f-password-error"' in html and "Use at least 10 characters." in html
    assert 'id="f-team_id-error"' in html and "Give the user at least one role." in html
    second = post(
        admin,
        "/admin/users",
        {
            "name": "Again",
            "email": "rep@example.com",
            "password": NEW_PASSWORD,
            "roles": ["sales_rep"],
        },
    )
    assert second.status_code == 422
    assert "Another user already has this e-mail address." in second.text


def test_deactivate_ends_the_users_sessions_and_activate_lets_them_back(app, admin):
    rep_id = app.config["ids"]["rep"]
    rep = app.test_client()
    login(rep)
    assert rep.get("/").status_code == 200
    page = f"/admin/users/{rep_id}"
    assert post(admin, f"{page}/active", {"active": "0"}, page).status_code == 302
    assert rep.get("/").status_code == 302
    assert login(app.test_client()).status_code == 401
    assert "Deactivated" in admin.get(page).text
    assert post(admin, f"{page}/active", {"active": "1"}, page).status_code == 302
    assert login(app.test_client()).status_code == 302
    log = activity(admin)
    assert log.index("activated") < log.index("deactivated")  # newest first


def test_admin_cannot_deactivate_themselves(app, admin):
    page = f"/admin/users/{app.config['ids']['admin']}"
    response = post(admin, f"{page}/active", {"active": "0"}, page)
    assert response.status_code == 422
    assert "You cannot deactivate your own account." in response.text
    assert admin.get("/").status_code == 200


def test_reset_password_ends_sessions_and_the_new_one_works(app, admin):
    rep_id = app.config["ids"]["rep"]
    rep = app.test_client()
    login(rep, remember="1")
    page = f"/admin/users/{rep_id}"
    mismatch = post(admin, f"{page}/password", {"password": NEW_PASSWORD, "confirm": "x"}, page)
    assert mismatch.status_code == 422 and "The two passwords differ." in mismatch.text
    done = post(
        admin, f"{page}/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page
    )
    assert done.status_code == 302
    assert rep.get("/").status_code == 302
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 302
    assert "reset the password of" in activity(admin)


def test_admin_resetting_their_own_password_stays_signed_in(app, admin):
    page = f"/admin/users/{app.config['ids']['admin']}"
    post(admin, f"{page}/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page)
    assert admin.get("/admin").status_code == 200


def test_assign_team_and_roles(app, admin):
    users = app.extensions["trellis"].users
    rep_id = app.config["ids"]["rep"]
    created = post(
        admin,
        "/admin/teams",
        {"name": "East China Sales", "manager_id": str(app.config["ids"]["admin"])},
        "/admin/teams",
    )
    assert created.status_code == 302
    team_id = next(t["id"] for t in users.teams() if t["name"] == "East China Sales")
    assert "East China Sales" in admin.get("/admin/teams").text
    page = f"/admin/users/{rep_id}"
    saved = post(
        admin, f"{page}/access", {"team_id": str(team_id), "roles": ["sales_manager"]}, page
    )
    assert saved.status_code == 302
    user = users.get(rep_id)
    assert user["team_id"] == team_id and user["roles"] == ["sales_manager"]
    log = activity(admin)
    assert "created the team" in log and "Team: East China Sales" in log
    assert "Roles: Sales manager" in log


def test_unknown_role_or_team_is_a_422(app, admin):
    page = f"/admin/users/{app.config['ids']['rep']}"
    response = post(admin, f"{page}/access", {"team_id": "999", "roles": ["wizard"]}, page)
    assert response.status_code == 422
    assert (
        "&#39;wizard&#39; is not a role of this app." in response.text
        or "'wizard' is not a role" in response.text
    )
    self_page = f"/admin/users/{app.config['ids']['admin']}"
    demote = post(admin, f"{self_page}/access", {"roles": ["sales_rep"]}, self_page)
    assert demote.status_code == 422
    assert "You cannot take the administrator role from yourself." in demote.text


def test_revoke_a_key_from_the_admin_page(app, admin):
    users = app.extensions["trellis"].users
    token = users.create_api_key(app.config["ids"]["rep"], name="nightly sync")
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/account", headers=bearer).status_code == 200
    keys = admin.get("/admin/keys").text
    assert "nightly sync" in keys and token not in keys
    key_id = users.api_keys(app.config["ids"]["rep"])[0]["id"]
    response = post(admin, f"/admin/keys/{key_id}/revoke", {}, "/admin/keys")
    assert response.status_code == 302
    assert app.test_client().get("/api/v1/account", headers=bearer).status_code == 401
    assert "Revoked" in admin.get("/admin/keys").text
    log = activity(admin)
    assert "revoked the API key" in log and "nightly sync (rep@example.com)" in log


def test_admin_page_speaks_chinese(app, admin):
    post(admin, "/locale", {"locale": "zh", "next": "/admin"})
    html = admin.get("/admin").text
    assert "用户与权限" in html and "新建用户" in html
