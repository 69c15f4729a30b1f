"""Follow-ups and the home page on the reference app, on SQLite and PostgreSQL.

An activity's next follow-up date (``follow_up`` metadata on the activity entity) puts
a task on its owner's home page, naming and linking the deal; moving the date moves
the task, through the form and through the API alike; the task can be completed from
home (POST with CSRF, htmx or not). Home shows "My open pipeline" and "Closing this
month". The compile checks of the key (TRL-E060..E062) are at the end.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from runtime.definition import check_app
from tests.conftest import REFERENCE_APP, make_web_app

PASSWORD = "correct horse battery"
TODAY = date.today()


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, REFERENCE_APP)
    users = app.extensions["trellis"].users
    east = users.create_team("East")
    app.config["ids"] = {
        "rep": users.create_user("rep@example.com", "Rita Rep", PASSWORD, ["sales_rep"], east),
        "mate": users.create_user("mate@example.com", "Max Mate", PASSWORD, ["sales_rep"], east),
    }
    yield app
    app.extensions["trellis"].db.engine.dispose()


def _repo(app):
    return app.extensions["trellis"].repo


def _me(app, who="rep"):
    return _repo(app).principal(app.config["ids"][who])


def _csrf(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def sign_in(app, who="rep"):
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    client.post(
        "/login", data={"email": f"{who}@example.com", "password": PASSWORD, "csrf_token": token}
    )
    return client


def _deal(app, name="Acme CRM rollout", close=None, amount=180000, who="rep"):
    me = _me(app, who)
    account = _repo(app).create(
        me, "account", {"name": f"{name} Co", "customer_status": "prospect"}
    )
    close = close or TODAY + timedelta(days=60)
    return _repo(app).create(
        me,
        "opportunity",
        {"name": name, "account": account["id"], "amount": amount, "close_date": close.isoformat()},
    )


def _follow_ups(app, activity_id):
    rows = _repo(app).list(_me(app), "task", filters=[("activity", "eq", activity_id)]).rows
    return sorted(rows, key=lambda r: r["id"])


def _log_activity(client, deal, follow_up: date | None, subject="Discovery call"):
    new_url = f"/e/activity/new?opportunity={deal['id']}&_return=/e/opportunity/{deal['id']}"
    form = client.get(new_url).get_data(as_text=True)
    return client.post(
        "/e/activity/new",
        data={
            "csrf_token": _csrf(form),
            "kind": "call",
            "subject": subject,
            "activity_date": TODAY.isoformat(),
            "completed": "on",
            "next_follow_up": follow_up.isoformat() if follow_up else "",
            "opportunity": str(deal["id"]),
            "_return": f"/e/opportunity/{deal['id']}",
        },
    )


# --------------------------------------------------------------------------- the flow


def test_next_follow_up_on_the_form_creates_a_task_for_the_owner_on_home(app):
    deal = _deal(app)
    client = sign_in(app)
    due = TODAY + timedelta(days=3)
    response = _log_activity(client, deal, due)
    assert response.status_code == 302
    activity = (
        _repo(app).list(_me(app), "activity", filters=[("opportunity", "eq", deal["id"])]).rows[0]
    )
    [task] = _follow_ups(app, activity["id"])
    assert task["due_date"] == due and task["status"] == "open"
    assert task["assignee"] == task["owner_id"] == app.config["ids"]["rep"]
    assert task["subject"] == "Follow up: Discovery call"
    assert task["opportunity"] == deal["id"]  # copied from the activity
    home = client.get("/").get_data(as_text=True)
    row = home[home.index(f'id="home-task-{task["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert "Follow up: Discovery call" in row
    assert f'href="/e/opportunity/{deal["id"]}"' in row and "Acme CRM rollout" in row


def test_an_activity_without_a_follow_up_date_creates_no_task(app):
    deal = _deal(app)
    client = sign_in(app)
    assert _log_activity(client, deal, None).status_code == 302
    assert _repo(app).list(_me(app), "task").rows == []


def test_moving_the_date_on_the_edit_form_moves_the_task(app):
    deal = _deal(app)
    client = sign_in(app)
    _log_activity(client, deal, TODAY + timedelta(days=3))
    activity = _repo(app).list(_me(app), "activity").rows[0]
    edit = client.get(f"/e/activity/{activity['id']}/edit").get_data(as_text=True)
    later = TODAY + timedelta(days=10)
    response = client.post(
        f"/e/activity/{activity['id']}/edit",
        data={
            "csrf_token": _csrf(edit),
            "row_version": re.search(r'name="row_version" value="(\d+)"', edit).group(1),
            "next_follow_up": later.isoformat(),
        },
    )
    assert response.status_code == 302
    [task] = _follow_ups(app, activity["id"])
    assert task["due_date"] == later  # moved, not a second task


def test_follow_up_through_the_api_creates_and_moves_the_task(app):
    deal = _deal(app)
    token = app.extensions["trellis"].users.create_api_key(app.config["ids"]["rep"])
    headers = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    first = TODAY + timedelta(days=2)
    response = api.post(
        "/api/v1/activity",
        json={
            "kind": "visit",
            "subject": "On-site demo",
            "opportunity": deal["id"],
            "next_follow_up": first.isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    activity = response.get_json()
    [task] = _follow_ups(app, activity["id"])
    assert task["due_date"] == first and task["owner_id"] == app.config["ids"]["rep"]
    moved = TODAY + timedelta(days=7)
    response = api.patch(
        f"/api/v1/activity/{activity['id']}",
        json={"next_follow_up": moved.isoformat()},
        headers={**headers, "If-Match": f'"{activity["row_version"]}"'},
    )
    assert response.status_code == 200, response.get_json()
    tasks = _follow_ups(app, activity["id"])
    assert [t["due_date"] for t in tasks] == [moved]
    # Another change that leaves the date alone does not touch the task.
    version = response.get_json()["row_version"]
    api.patch(
        f"/api/v1/activity/{activity['id']}",
        json={"description": "Brought the demo kit."},
        headers={**headers, "If-Match": f'"{version}"'},
    )
    assert _follow_ups(app, activity["id"])[0]["row_version"] == tasks[0]["row_version"]


def test_a_finished_follow_up_stays_done_and_a_new_date_creates_a_new_task(app):
    deal = _deal(app)
    me = _me(app)
    activity = _repo(app).create(
        me,
        "activity",
        {"subject": "Call", "opportunity": deal["id"], "next_follow_up": TODAY.isoformat()},
    )
    [task] = _follow_ups(app, activity["id"])
    _repo(app).update(me, "task", task["id"], {"status": "done"})
    again = TODAY + timedelta(days=5)
    _repo(app).update(me, "activity", activity["id"], {"next_follow_up": again.isoformat()})
    done, new = _follow_ups(app, activity["id"])
    assert done["status"] == "done" and done["due_date"] == TODAY
    assert new["status"] == "open" and new["due_date"] == again


def test_a_follow_up_logged_by_a_teammate_goes_to_the_activity_owner(app):
    """The task is the activity owner's: a rep logging an activity they own for
    themselves gets it; another user's home does not list it."""
    deal = _deal(app)
    _repo(app).create(
        _me(app),
        "activity",
        {"subject": "Pricing call", "opportunity": deal["id"], "next_follow_up": TODAY.isoformat()},
    )
    mate_home = sign_in(app, "mate").get("/").get_data(as_text=True)
    assert "Follow up: Pricing call" not in mate_home
    assert "Follow up: Pricing call" in sign_in(app, "rep").get("/").get_data(as_text=True)


# --------------------------------------------------------------------------- home


def _task(app, subject="Send the quote", **values):
    me = _me(app)
    return _repo(app).create(
        me,
        "task",
        {
            "subject": subject,
            "due_date": TODAY.isoformat(),
            "status": "open",
            "assignee": me.id,
            **values,
        },
    )


def test_complete_a_task_from_home_with_htmx(app):
    deal = _deal(app)
    task = _task(app, opportunity=deal["id"])
    client = sign_in(app)
    home = client.get("/").get_data(as_text=True)
    assert f'hx-post="/tasks/{task["id"]}/complete"' in home
    response = client.post(
        f"/tasks/{task['id']}/complete",
        data={"csrf_token": _csrf(home)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert f'id="home-task-{task["id"]}"' in row and "is-done" in row and "Done" in row
    assert '<p class="stat-value" id="stat-open" hx-swap-oob="true">0</p>' in row
    stored = _repo(app).get(_me(app), "task", task["id"])
    assert stored["status"] == "done" and stored["completed_at"] is not None
    assert f'id="home-task-{task["id"]}"' not in client.get("/").get_data(as_text=True)


def test_complete_a_task_from_home_without_javascript_and_without_csrf(app):
    task = _task(app)
    client = sign_in(app)
    assert client.post(f"/tasks/{task['id']}/complete").status_code == 400  # no CSRF token
    assert _repo(app).get(_me(app), "task", task["id"])["status"] == "open"
    token = _csrf(client.get("/").get_data(as_text=True))
    response = client.post(f"/tasks/{task['id']}/complete", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    assert "Task “Send the quote” is done." in client.get("/").get_data(as_text=True)


def test_a_task_the_user_cannot_see_cannot_be_completed(app):
    other = app.extensions["trellis"].users.create_user(
        "far@example.com", "Far Away", PASSWORD, ["sales_rep"]
    )
    far = _repo(app).principal(other)
    task = _repo(app).create(
        far, "task", {"subject": "Theirs", "due_date": TODAY.isoformat(), "assignee": other}
    )
    client = sign_in(app)
    token = _csrf(client.get("/").get_data(as_text=True))
    assert (
        client.post(f"/tasks/{task['id']}/complete", data={"csrf_token": token}).status_code == 404
    )


def _today_there(app) -> date:
    """Today where the app's users are (home counts "this month" in their zone)."""
    from runtime.web.i18n import get_timezone

    with app.app_context():
        return datetime.now(get_timezone()).date()


def test_home_shows_my_open_pipeline_and_what_closes_this_month(app):
    today = _today_there(app)
    month_end = (today.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    _deal(app, "Closing soon", close=month_end, amount=50000)
    _deal(app, "Later deal", close=month_end + timedelta(days=40), amount=30000)
    _deal(app, "Teammate deal", close=month_end, amount=999999, who="mate")
    home = sign_in(app).get("/").get_data(as_text=True)
    pipeline = home[home.index('data-panel="open-pipeline"') :]
    pipeline = pipeline[: pipeline.index("</section>")]
    assert re.search(r'home-figure-value">2<', pipeline)
    assert "¥80,000" in pipeline and "999,999" not in pipeline
    # the largest open records, biggest first, only the user's
    assert (
        pipeline.index("Closing soon") < pipeline.index("Later deal") and "Teammate" not in pipeline
    )
    closing = home[home.index('data-panel="closing-this-month"') :]
    closing = closing[: closing.index("</section>")]
    assert re.search(r'home-figure-value">1<', closing) and "¥50,000" in closing
    assert (
        "Closing soon" in closing and "Later deal" not in closing and "Teammate deal" not in closing
    )


def test_home_panels_in_chinese(app):
    deal = _deal(app, "华东区 ERP 升级项目", close=_today_there(app), amount=2450000)
    _task(app, "准备投标文件", opportunity=deal["id"])
    client = sign_in(app)
    client.post(
        "/locale",
        data={"locale": "zh", "csrf_token": _csrf(client.get("/").get_data(as_text=True))},
    )
    home = client.get("/").get_data(as_text=True)
    assert "我的未结业务" in home and "本月结束" in home and "关联对象" in home
    assert "华东区 ERP 升级项目" in home[home.index('id="home-task-') :]


# --------------------------------------------------------------------------- metadata checks


def _copy_app(tmp_path: Path, edit) -> Path:
    target = tmp_path / "app"
    shutil.copytree(REFERENCE_APP, target)
    path = target / "entities" / "activity.yaml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("old", "new", "code", "words"),
    [
        ("creates: task", "creates: tsak", "TRL-E060", "'tsak'"),
        ("due: due_date", "due: due_day", "TRL-E060", "no field 'due_day'"),
        ("date: next_follow_up", "date: subject", "TRL-E061", "not a date"),
        ("source: activity", "source: opportunity", "TRL-E061", "must be a link to 'activity'"),
        ("assignee: assignee", "assignee: subject", "TRL-E061", "user field"),
        ("values: [done, cancelled]", "values: [done, finished]", "TRL-E061", "'finished'"),
        ("Follow up: {subject}", "Follow up: {subjetc}", "TRL-E062", "{subjetc}"),
        ("copy: [opportunity, account]", "copy: [opportunity, contact]", "TRL-E062", "'contact'"),
    ],
)
def test_follow_up_metadata_mistakes_are_reported_with_their_code(tmp_path, old, new, code, words):
    app_dir = _copy_app(tmp_path, lambda text: text.replace(old, new, 1))
    problems = check_app(app_dir)
    assert [p.code for p in problems] == [code], [str(p) for p in problems]
    assert words in str(problems[0]) and problems[0].file.endswith("activity.yaml")
    assert problems[0].line > 0


def test_the_reference_follow_up_compiles():
    assert check_app(REFERENCE_APP) == []
