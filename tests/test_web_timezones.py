"""Time zones as the users met them (SQLite and PostgreSQL), on the reference app whose
team sits in Shanghai: related activities on the timeline say "1 minute ago" (not
"7 hours ago"), date-times show in the app's zone (app.yaml), TRELLIS_TIMEZONE
overrides it, a user's own zone (Preferences) overrides both, date-only values are
never shifted, and an unknown zone is refused by the checker and the Preferences page."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from runtime.definition import check_app
from runtime.expressions import use_clock
from tests.conftest import REFERENCE_APP, make_runtime, make_web_app, signed_in_client

PASSWORD = "correct horse battery"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# An instant whose Shanghai day and time differ from UTC's: 02:35 UTC = 10:35 Shanghai
# = 21:35 the evening before in New York.
COMPLETED = datetime(2026, 3, 5, 2, 35, tzinfo=UTC)


def build(db_url, tmp_path, **overrides):
    app = make_web_app(db_url, tmp_path, REFERENCE_APP, **overrides)
    users = app.extensions["trellis"].users
    users.create_user("admin@example.com", "Ada Admin", PASSWORD, roles=["admin"])
    users.create_user("zh@example.com", "王芳", PASSWORD, roles=["admin"], locale="zh")
    return app


@pytest.fixture
def app(db_url, tmp_path):
    app = build(db_url, tmp_path)
    yield app
    app.extensions["trellis"].db.engine.dispose()


def signed_in(app, email="admin@example.com"):
    return signed_in_client(app, email, PASSWORD)


def admin(app):
    services = app.extensions["trellis"]
    return services.users.authenticate("admin@example.com", PASSWORD)


def back_date(app, entity_id: str, record_id: int, seconds: int) -> None:
    db = app.extensions["trellis"].db
    table = db.tables[entity_id]
    with db.engine.begin() as conn:
        moment = datetime.now(UTC) - timedelta(seconds=seconds)
        conn.execute(
            update(table)
            .where(table.c.id == record_id)
            .values(created_at=moment, updated_at=moment)
        )


def related_times(html: str) -> dict[str, str]:
    """Related entries of the timeline: their title -> the relative time shown."""
    items = re.findall(r'<li class="timeline-item timeline-related">(.*?)</li>', html, re.S)
    found = {}
    for item in items:
        title = re.search(r'<a href="[^"]+">([^<]+)</a>', item)[1]
        found[title] = re.search(r"<time [^>]*>([^<]+)</time>", item)[1]
    return found


# --------------------------------------------------------------------------- item 18


def test_activity_logged_a_minute_ago_reads_a_minute_ago_on_the_accounts_timeline(app):
    repo = app.extensions["trellis"].repo
    rep = admin(app)
    account = repo.create(rep, "account", {"name": "Acme Shanghai"})
    today_there = datetime.now(SHANGHAI).date()
    call = repo.create(
        rep,
        "activity",
        {"subject": "Intro call", "kind": "call", "account": account["id"],
         "activity_date": today_there},
    )  # fmt: skip
    back_date(app, "activity", call["id"], 70)
    visit = repo.create(
        rep,
        "activity",
        {"subject": "Site visit", "kind": "visit", "account": account["id"],
         "activity_date": today_there - timedelta(days=3)},
    )  # fmt: skip
    back_date(app, "activity", visit["id"], 60)  # logged now, for a visit 3 days ago
    just = repo.create(
        rep,
        "activity",
        {"subject": "Quick note", "kind": "note", "account": account["id"],
         "activity_date": today_there},
    )  # fmt: skip

    html = signed_in(app).get(f"/e/account/{account['id']}/timeline").get_data(True)
    times = related_times(html)
    assert times["Intro call"] == "1 minute ago"
    assert times["Quick note"] == "just now"
    assert times["Site visit"] == "3 days ago"  # a day, counted in days, not hours
    zh = related_times(
        signed_in(app, "zh@example.com").get(f"/e/account/{account['id']}/timeline").get_data(True)
    )
    assert zh["Intro call"] == "1分钟前"
    assert zh["Quick note"] == "刚刚"
    assert zh["Site visit"] == "3天前"
    assert just["id"]


def test_timeline_date_only_entries_stay_on_their_day_in_the_viewers_zone(app):
    """An activity dated yesterday (Shanghai) reads "yesterday" at any hour of the day."""
    repo = app.extensions["trellis"].repo
    rep = admin(app)
    account = repo.create(rep, "account", {"name": "Beijing Steel"})
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)
    call = repo.create(
        rep, "activity",
        {"subject": "Call", "kind": "call", "account": account["id"], "activity_date": yesterday},
    )  # fmt: skip
    back_date(app, "activity", call["id"], 2 * 86400)
    html = signed_in(app).get(f"/e/account/{account['id']}/timeline").get_data(True)
    assert related_times(html) == {"Call": "yesterday"}
    assert f'datetime="{yesterday.isoformat()}"' in html


# --------------------------------------------------------------------------- item 19


def completed_task(app) -> int:
    repo = app.extensions["trellis"].repo
    task = repo.create(
        admin(app),
        "task",
        {"subject": "Send the quote", "due_date": date(2026, 3, 5), "status": "done", "assignee": 1,
         "completed_at": COMPLETED},
    )  # fmt: skip
    return task["id"]


def row_of(html: str, text: str) -> str:
    rows = re.findall(r"<tr\b.*?</tr>", html, re.S)
    return next(r for r in rows if text in r)


def test_app_zone_from_app_yaml_shows_shanghai_time_in_list_and_record(app):
    assert app.extensions["trellis"].model.timezone == "Asia/Shanghai"
    task_id = completed_task(app)
    client = signed_in(app)
    record = client.get(f"/e/task/{task_id}").get_data(True)
    assert "Mar 5, 2026, 10:35" in record
    assert "Mar 5, 2026, 2:35" not in record
    listed = row_of(client.get("/e/task?view=all").get_data(True), "Send the quote")
    assert "10:35" in listed and "Mar 5, 2026" in listed


def test_trellis_timezone_overrides_the_apps_zone(db_url, tmp_path):
    app = build(db_url, tmp_path, TRELLIS_TIMEZONE="UTC")
    try:
        task_id = completed_task(app)
        record = signed_in(app).get(f"/e/task/{task_id}").get_data(True)
        assert "Mar 5, 2026, 2:35" in record
        assert "Mar 5, 2026, 10:35" not in record
    finally:
        app.extensions["trellis"].db.engine.dispose()


def test_users_own_zone_from_preferences_changes_list_and_record_but_not_dates(app):
    task_id = completed_task(app)
    client = signed_in(app)
    page = client.get("/preferences").get_data(True)
    assert re.search(r"The app(&#39;|')s time zone \(Asia/Shanghai\)", page)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    saved = client.post(
        "/preferences",
        data={"timezone": "America/New_York", "locale": "en", "csrf_token": token},
    )
    assert saved.status_code == 302
    assert app.extensions["trellis"].users.get(1)["timezone"] == "America/New_York"
    record = client.get(f"/e/task/{task_id}").get_data(True)
    assert "Mar 4, 2026, 9:35" in record  # the evening before, in New York
    assert "Mar 5, 2026, 10:35" not in record
    listed = row_of(client.get("/e/task?view=all").get_data(True), "Send the quote")
    assert "9:35" in listed
    # the due date is a day, not an instant: the same for every zone
    assert "Mar 5, 2026" in listed
    assert "Mar 4, 2026" not in listed.replace("Mar 4, 2026, 9:35", "")
    # other users keep the app's zone
    other = signed_in(app, "zh@example.com").get(f"/e/task/{task_id}").get_data(True)
    assert "Mar 5, 2026, 10:35" in other or "2026年3月5日 10:35" in other
    # empty = back to the app's zone
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', client.get("/preferences").get_data(True)
    )[1]
    client.post("/preferences", data={"timezone": "", "locale": "en", "csrf_token": token})
    assert "Mar 5, 2026, 10:35" in client.get(f"/e/task/{task_id}").get_data(True)


def test_csv_export_gives_date_times_in_the_viewers_zone_and_dates_unshifted(app):
    completed_task(app)
    client = signed_in(app)
    rows = list(
        csv.reader(io.StringIO(client.get("/e/task/export.csv?view=all").data.decode("utf-8-sig")))
    )
    row = dict(zip(rows[0], next(r for r in rows[1:] if "Send the quote" in r), strict=True))
    assert row["Completed at"].startswith("2026-03-05 10:35")  # Shanghai
    assert row["Due date"] == "2026-03-05"


def test_an_older_database_gets_the_users_timezone_column_on_upgrade(db_url, tmp_path):
    from sqlalchemy import inspect, text

    app = build(db_url, tmp_path)
    db = app.extensions["trellis"].db
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE sys_users DROP COLUMN timezone"))
    db.engine.dispose()
    upgraded = make_runtime(db_url, REFERENCE_APP, schema=False).db
    report = upgraded.create_or_upgrade()
    assert "sys_users.timezone" in report["added_columns"]
    with upgraded.engine.connect() as conn:
        assert "timezone" in {c["name"] for c in inspect(conn).get_columns("sys_users")}
    upgraded.engine.dispose()


def test_preferences_refuse_an_unknown_zone_naming_the_field_and_switch_language(app):
    client = signed_in(app)
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', client.get("/preferences").get_data(True)
    )[1]
    refused = client.post(
        "/preferences", data={"timezone": "Mars/Olympus", "locale": "en", "csrf_token": token}
    )
    assert refused.status_code == 422
    html = refused.get_data(True)
    assert 'id="f-timezone-error"' in html and "Mars/Olympus" in html
    assert app.extensions["trellis"].users.get(1)["timezone"] is None
    saved = client.post(
        "/preferences", data={"timezone": "Asia/Tokyo", "locale": "zh", "csrf_token": token}
    )
    assert saved.status_code == 302
    page = client.get("/preferences").get_data(True)
    assert "偏好设置" in page and "Asia/Tokyo" in page
    assert client.post("/preferences", data={"timezone": "", "locale": "en"}).status_code == 400


def test_a_new_activity_defaults_to_today_in_the_teams_zone(app):
    """At 02:30 in Shanghai (18:30 UTC the day before) ``=today()`` is Shanghai's today."""
    client = signed_in(app)
    with use_clock(lambda: datetime(2026, 3, 1, 18, 30, tzinfo=UTC)):
        html = client.get("/e/activity/new").get_data(True)
    control = re.search(r'<input\b[^>]*\bname="activity_date"[^>]*>', html)[0]
    assert 'value="2026-03-02"' in control


def test_unknown_zone_in_app_yaml_is_a_check_code_with_a_hint(tmp_path):
    app_dir = Path(shutil.copytree(REFERENCE_APP, tmp_path / "opportunity"))
    text = (app_dir / "app.yaml").read_text(encoding="utf-8")
    (app_dir / "app.yaml").write_text(
        text.replace("timezone: Asia/Shanghai", "timezone: Asia/Shanghi"), encoding="utf-8"
    )
    problems = [p for p in check_app(app_dir) if p.code == "TRL-E063"]
    assert len(problems) == 1
    assert problems[0].file.endswith("app.yaml") and problems[0].line > 0
    assert "Asia/Shanghi" in problems[0].message
    assert "Asia/Shanghai" in problems[0].hint
