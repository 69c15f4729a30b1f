"""Durable events: the outbox is written with the change, delivered at least once and
done once per subscriber; periodic jobs run once per period; mail is kept in development;
admins see it all at /admin/jobs, /admin/mail and /api/v1/admin/jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from runtime.errors import ValidationError
from runtime.jobs import Schedule
from runtime.jobs.queue import make_huey
from runtime.store import SYSTEM
from runtime.store import system_tables as st
from runtime.wiring import build_runtime
from tests.conftest import MODELS, REFERENCE_APP, ROOT, build_schema, make_web_app
from tests.job_features import Flaky
from tests.store_fixtures import build_model


def _outbox(runtime) -> list[dict]:
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(select(st.outbox).order_by(st.outbox.c.id))
        return [dict(r._mapping) for r in rows]


@pytest.fixture
def deals(db_url):
    """The code-built deals app with a feature whose subscriber fails until told not to."""
    model = build_model()
    build_schema(db_url, model)
    flaky = Flaky()
    runtime = build_runtime(model, db_url, [flaky], queue="immediate")
    yield runtime, flaky
    runtime.db.dispose()


def test_an_event_is_saved_with_its_change_and_not_without(deals):
    runtime, flaky = deals
    flaky.failing = False
    account = runtime.repo.create(SYSTEM, "account", {"name": "Acme"})
    with pytest.raises(ValidationError):
        runtime.repo.create(SYSTEM, "account", {"name": ""})  # refused: no event either

    runtime.repo.update(SYSTEM, "account", account["id"], {"employees": 5})
    runtime.repo.archive(SYSTEM, "account", account["id"])

    events = _outbox(runtime)
    assert [(e["name"], e["record_id"]) for e in events] == [
        ("record.created", account["id"]),
        ("record.updated", account["id"]),
        ("record.archived", account["id"]),
    ]
    assert events[1]["changes"] == {"employees": [None, 5]}
    assert all(e["state"] == "done" for e in events)
    assert flaky.seen == [
        ("record.created", account["id"]),
        ("record.updated", account["id"]),
        ("record.archived", account["id"]),
    ]
    # a deal's events: nobody listens, so none is kept
    runtime.repo.create(SYSTEM, "deal", {"name": "Big", "account": account["id"]})
    assert len(_outbox(runtime)) == 3


def test_a_failing_subscriber_leaves_the_event_failed_until_a_retry_succeeds(deals):
    runtime, flaky = deals
    account = runtime.repo.create(SYSTEM, "account", {"name": "Acme"})  # the write stands

    [event] = [e for e in _outbox(runtime) if e["name"] == "record.created"]
    assert event["state"] == "failed" and event["attempts"] == 1
    assert (
        event["last_error"]
        == "flaky.Flaky.subscribers.<locals>.flaky: RuntimeError: the mail server is down"
    )

    flaky.failing = False
    assert runtime.jobs.outbox.retry(event["id"]) is True
    [event] = [e for e in _outbox(runtime) if e["name"] == "record.created"]
    assert (event["state"], event["attempts"], event["last_error"]) == ("done", 2, None)
    assert flaky.seen == [("record.created", account["id"])]
    assert runtime.jobs.outbox.retry(event["id"]) is False  # done: nothing to retry


def test_a_redelivered_event_is_not_done_twice(deals):
    runtime, flaky = deals
    flaky.failing = False
    runtime.repo.create(SYSTEM, "account", {"name": "Acme"})
    [event] = [e for e in _outbox(runtime) if e["name"] == "record.created"]

    # a relay or a second queue entry hands over the same event again
    with runtime.db.engine.begin() as conn:
        conn.execute(st.outbox.update().values(state="pending"))
    runtime.jobs.outbox.deliver(event["id"])
    runtime.jobs.outbox.deliver(event["id"])

    assert len(flaky.seen) == 1
    with runtime.db.engine.connect() as conn:
        done = conn.execute(select(func.count()).select_from(st.outbox_deliveries)).scalar_one()
    assert done == 1


def test_a_periodic_job_runs_once_per_period_however_many_workers(db_url):
    model = build_model()
    build_schema(db_url, model)
    first = build_runtime(model, db_url, [], queue="immediate")
    second = build_runtime(model, db_url, [], queue="immediate")  # another worker process
    runs = []
    schedule = Schedule("test.count", lambda runtime: runs.append(runtime), minutes=5)
    at = datetime(2026, 12, 2, 10, 7, tzinfo=UTC)

    assert first.jobs.run_periodic(schedule, at) is True
    assert second.jobs.run_periodic(schedule, at.replace(minute=9)) is False  # same period
    assert second.jobs.run_periodic(schedule, at.replace(minute=10)) is True  # the next one

    assert runs == [first, second]
    with first.db.engine.connect() as conn:
        rows = conn.execute(select(st.job_runs.c.period, st.job_runs.c.state)).all()
    assert sorted(rows) == [("2026-12-02T10:05", "done"), ("2026-12-02T10:10", "done")]


def test_a_late_run_claims_the_period_it_was_due_in_not_the_next(db_url):
    from huey import MemoryHuey

    from runtime.jobs import JobQueue

    model = build_model()
    build_schema(db_url, model)
    runtime = build_runtime(model, db_url, [], queue="immediate")
    runs = []
    schedule = Schedule("test.late", lambda runtime: runs.append(1), minutes=5)
    huey = MemoryHuey("late", immediate=False, results=False)
    queue = JobQueue(huey, runtime, [schedule])

    def due(at):  # what a worker's scheduler enqueues at ``at`` (Huey's clock: naive UTC)
        return [t for t in huey.read_periodic(at) if type(t).__name__ == "periodic.test.late"]

    assert due(datetime(2026, 12, 2, 10, 6, 30)) == []  # not a period start
    [late] = due(datetime(2026, 12, 2, 10, 5, 30))
    [next_one] = due(datetime(2026, 12, 2, 10, 10, 30))
    huey.execute(late)  # the queue was busy: it runs today, long after 10:05
    huey.execute(next_one)

    assert runs == [1, 1]
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(
            select(st.job_runs.c.period).where(st.job_runs.c.job == "test.late")
        ).scalars()
        assert sorted(rows) == ["2026-12-02T10:05", "2026-12-02T10:10"]
    assert queue.run_periodic(schedule, datetime(2026, 12, 2, 10, 9)) is False  # 10:05's
    # an idle worker looks at the queue at least every second (Huey's default: 10 s)
    assert queue.consumer(workers=1).max_delay == 1.0


def test_hourly_and_daily_periods_count_from_midnight_utc_and_odd_ones_are_refused():
    def job(runtime):
        return None

    assert Schedule("a.b", job, minutes=1).crontab() == {"minute": "*"}
    assert Schedule("a.b", job, minutes=15).crontab() == {"minute": "*/15"}
    assert Schedule("a.b", job, minutes=60).crontab() == {"minute": "0"}
    assert Schedule("a.b", job, minutes=180).crontab() == {"minute": "0", "hour": "*/3"}
    assert Schedule("a.b", job, minutes=1440).crontab() == {"minute": "0", "hour": "0"}
    at = datetime(2026, 12, 2, 10, 7, 42, tzinfo=UTC)
    assert Schedule("a.b", job, minutes=180).period_start(at) == at.replace(
        hour=9, minute=0, second=0
    )
    assert Schedule("a.b", job, minutes=1440).period_start(at) == datetime(2026, 12, 2, tzinfo=UTC)
    assert Schedule("a.b", job, minutes=20).period_start(at) == at.replace(minute=0, second=0)
    for minutes in (0, 7, 45, 90, 300, 1500, 2880, 1.5):
        with pytest.raises(ValueError, match=rf"schedule 'reports\.digest': minutes={minutes}"):
            Schedule("reports.digest", job, minutes=minutes)


def test_two_handlers_with_one_name_are_each_done_once(db_url):
    from tests.job_features import Twins

    model = build_model()
    build_schema(db_url, model)
    twins = Twins()
    runtime = build_runtime(model, db_url, [twins], queue="immediate")
    account = runtime.repo.create(SYSTEM, "account", {"name": "Acme"})["id"]
    [event] = [e for e in _outbox(runtime) if e["name"] == "record.created"]
    with runtime.db.engine.begin() as conn:  # a replay: both are recorded as done
        conn.execute(st.outbox.update().values(state="pending"))
    runtime.jobs.outbox.deliver(event["id"])

    assert twins.seen == [("first", account), ("second", account)]
    with runtime.db.engine.connect() as conn:
        keys = conn.execute(select(st.outbox_deliveries.c.subscriber)).scalars().all()
    label = "twins.Twins.subscribers.<locals>.noting.<locals>.note"
    assert sorted(keys) == [label, f"{label}#2"]


@pytest.mark.parametrize(
    ("debug", "run_main", "workers"),
    [(False, None, 1), (True, None, 0), (True, "true", 1)],
    ids=["plain", "reloader-parent", "reloader-child"],
)
def test_serve_with_worker_starts_one_worker_under_the_reloader(
    monkeypatch, debug, run_main, workers
):
    import subprocess
    from types import SimpleNamespace

    from click.testing import CliRunner

    import runtime.web.app
    import runtime.web.serving
    from builder.cli import main

    started = []
    app = SimpleNamespace(
        extensions={"trellis": SimpleNamespace(jobs=SimpleNamespace(immediate=False))}
    )
    monkeypatch.setattr(runtime.web.app, "create_app", lambda: app)
    monkeypatch.setattr(runtime.web.serving, "run_dev_server", lambda *args: None)
    monkeypatch.setattr(
        subprocess,
        "Popen",
        lambda args: (
            started.append(args)
            or SimpleNamespace(pid=1, terminate=lambda: None, wait=lambda timeout: 0)
        ),
    )
    if run_main:
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", run_main)
    else:
        monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    result = CliRunner().invoke(main, ["serve", "--with-worker", *(["--debug"] if debug else [])])

    assert result.exit_code == 0, result.output
    assert len(started) == workers
    assert all(args[-1] == "worker" for args in started)


def test_mail_is_kept_in_development_and_shown_to_admins(db_url, tmp_path):
    from tests.test_web_shell import login

    app = make_web_app(db_url, tmp_path, REFERENCE_APP)
    services = app.extensions["trellis"]
    admin = services.users.create_user("admin@example.com", "Ada", "admin-password", ["admin"])
    rep = services.users.create_user("rep@example.com", "Rep", "rep-password-1", ["sales_rep"])
    assert admin and rep
    mail_id = services.jobs.mail.send("lin@example.com", "Follow up: Acme", "Call Lin today.")
    with pytest.raises(ValueError, match="mail 'to'"):
        services.jobs.mail.send("not an address", "Hello", "")

    [mail] = services.jobs.mail.recent()
    assert (mail["id"], mail["state"]) == (mail_id, "kept")

    client = app.test_client()
    login(client, "rep@example.com", "rep-password-1")
    assert client.get("/admin/mail").status_code == 403
    assert client.get("/api/v1/admin/jobs").status_code == 403

    client = app.test_client()
    login(client, "admin@example.com", "admin-password")
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "Follow up: Acme" in page and "Call Lin today." in page and "lin@example.com" in page


def test_admins_see_and_retry_failed_events(db_url, tmp_path, monkeypatch):
    from tests.test_web_shell import login, page_token

    app = make_web_app(db_url, tmp_path, REFERENCE_APP)
    services = app.extensions["trellis"]
    services.users.create_user("admin@example.com", "Ada", "admin-password", ["admin"])
    calls = []

    def broken(event):
        calls.append(event.record_id)
        if len(calls) == 1:
            raise RuntimeError("webhook answered 502")

    outbox = services.jobs.outbox
    monkeypatch.setattr(outbox, "_subscribers", [*outbox.subscribers])
    from runtime.jobs.outbox import Subscriber

    outbox._subscribers.append(Subscriber("test.broken", "record.created", broken))
    account = services.repo.create(SYSTEM, "account", {"name": "Acme"})

    client = app.test_client()
    login(client, "admin@example.com", "admin-password")
    page = client.get("/admin/jobs?state=failed").get_data(as_text=True)
    assert "test.broken: RuntimeError: webhook answered 502" in page and "record.created" in page
    data = client.get("/api/v1/admin/jobs?state=failed").get_json()
    assert data["counts"]["failed"] == 1 and data["queue"] == "immediate"
    [event] = data["events"]
    assert event["record_id"] == account["id"] and event["attempts"] == 1
    assert client.get("/api/v1/admin/jobs?state=lost").status_code == 400

    token = page_token(client, "/admin/jobs")
    page = client.post(
        f"/admin/jobs/{event['id']}/retry", data={"csrf_token": token}, follow_redirects=True
    )
    assert page.status_code == 200
    assert client.get("/api/v1/admin/jobs").get_json()["counts"]["failed"] == 0
    assert calls == [account["id"], account["id"]]
    assert "Periodic jobs" in page.get_data(as_text=True)
    client.post("/locale", data={"locale": "zh", "csrf_token": page_token(client), "next": "/"})
    zh = client.get("/admin/jobs").get_data(as_text=True)
    assert "后台任务与邮件" in zh and "定时任务" in zh


# ---------------------------------------------------------------------- a real worker


def _worker(env: dict, database: str, log: Path | None = None) -> subprocess.Popen:
    log = log or Path(env["TRELLIS_INSTANCE_PATH"]).parent / "worker.log"
    return subprocess.Popen(
        [sys.executable, "-m", "builder.cli", "worker", "--app", str(REFERENCE_APP),
         "--database", database, "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"),
    )  # fmt: skip


def _wait(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_a_killed_worker_loses_no_event_and_the_next_does_each_once(tmp_path):
    database = f"sqlite:///{tmp_path / 'jobs.db'}"
    instance = tmp_path / "instance"
    journal = tmp_path / "journal.txt"
    journal.touch()
    env = {
        **os.environ,
        "TRELLIS_QUEUE": "sqlite",
        "TRELLIS_INSTANCE_PATH": str(instance),
        "TRELLIS_FEATURES": "tests.job_features:JOURNAL",
        "TRELLIS_TEST_JOURNAL": str(journal),
        "TRELLIS_TEST_JOURNAL_DELAY": "0.05",
        "TRELLIS_OUTBOX_LEASE_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }
    from runtime.definition import load_app

    model = load_app(REFERENCE_APP, cache=MODELS)
    build_schema(database, model)
    os.environ["TRELLIS_TEST_JOURNAL"] = str(journal)  # this process only enqueues
    runtime = build_runtime(
        model, database, ["runtime.features.pipelines", "runtime.features.follow_ups",
                          "tests.job_features:JOURNAL"],
        queue="sqlite", instance_path=instance,
    )  # fmt: skip
    due = date(2027, 1, 15)
    rep_id = runtime.users.create_user("rep@example.com", "Rep", "rep-password-1", ["sales_rep"])
    rep = runtime.users.principal(rep_id)
    account = runtime.repo.create(rep, "account", {"name": "Acme"})["id"]
    created = [
        runtime.repo.create(
            rep, "activity", {"subject": f"Call {n}", "next_follow_up": due, "account": account}
        )["id"]
        for n in range(30)
    ]
    expected = len(_outbox(runtime))
    assert expected == 31

    first = _worker(env, database)
    try:
        assert _wait(lambda: len(journal.read_text().splitlines()) >= 5), "worker never started"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    handled_by_first = len(journal.read_text().splitlines())
    assert handled_by_first < expected  # killed mid-way

    second = _worker(env, database)
    try:
        assert _wait(lambda: all(e["state"] == "done" for e in _outbox(runtime)), 90)
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=20)

    lines = journal.read_text().splitlines()
    written = [line for line in lines if " task " not in line]  # tasks: the follow-ups' own
    journaled = {line.split()[2] for line in written if line.startswith("record.created activity")}
    assert journaled == {str(i) for i in created}  # nothing lost
    assert len(written) <= expected + 1  # at most the one in flight when killed ran twice
    # the follow-up subscriber is idempotent: one task per activity, however delivered
    tasks = runtime.repo.list(SYSTEM, "task", page_size=100).rows
    assert sorted(t["activity"] for t in tasks) == sorted(created)


@pytest.mark.slow
def test_two_real_workers_run_a_periodic_job_once_per_period_between_them(tmp_path):
    database = f"sqlite:///{tmp_path / 'jobs.db'}"
    ticks = tmp_path / "ticks.txt"
    ticks.touch()
    env = {
        **os.environ,
        "TRELLIS_QUEUE": "sqlite",
        "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "TRELLIS_FEATURES": "tests.job_features:TICKER",
        "TRELLIS_TEST_TICKS": str(ticks),
        "PYTHONPATH": str(ROOT),
    }
    from runtime.definition import load_app

    model = load_app(REFERENCE_APP, cache=MODELS)
    build_schema(database, model)
    runtime = build_runtime(model, database, [], queue="immediate")

    def periods() -> list[str]:
        with runtime.db.engine.connect() as conn:
            query = select(st.job_runs.c.period).where(st.job_runs.c.job == "ticker.tick")
            return sorted(conn.execute(query).scalars())

    # A worker's scheduler enqueues the jobs due in the current minute as it starts, then
    # every minute. Two workers started in one minute both enqueue that minute's tick.
    if datetime.now(UTC).second > 30:  # (a loaded machine may take 20 s to start both)
        time.sleep(61 - datetime.now(UTC).second)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [_worker(env, database, log) for log in logs]
    huey = make_huey(f"trellis-{model.id}", "sqlite", instance_path=tmp_path / "instance")

    def enqueued(log: Path) -> int:
        text = log.read_text() if log.exists() else ""
        return sum("Enqueueing periodic task" in line and "ticker.tick" in line
                   for line in text.splitlines())  # fmt: skip

    try:
        assert _wait(lambda: all(enqueued(log) for log in logs) and periods(), 90), (
            "the workers did not both enqueue the tick within 90 s"
        )
        assert _wait(lambda: huey.pending_count() == 0, 30), "the second tick was not taken"
        time.sleep(1)  # the worker that took it has asked for the period and been refused
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            worker.wait(timeout=20)

    runs = ticks.read_text().splitlines()
    assert [enqueued(log) for log in logs] == [1, 1]  # each worker enqueued it once
    assert len(periods()) == 1 and len(runs) == 1  # and it ran once between them


def test_the_jobs_page_names_a_features_events_in_words(db_url, tmp_path, monkeypatch):
    from runtime.jobs.outbox import Subscriber
    from tests.test_web_shell import login, page_token

    fixture = Path(__file__).parent / "fixtures" / "pipeline_app"
    app = make_web_app(db_url, tmp_path, fixture)
    services = app.extensions["trellis"]
    services.users.create_user("admin@example.com", "Ada", "admin-password", ["admin"])
    outbox = services.jobs.outbox
    monkeypatch.setattr(outbox, "_subscribers", [*outbox.subscribers])

    def down(event):
        raise RuntimeError("the forecast service is down")

    outbox._subscribers.append(Subscriber("test.forecast", "stage.changed", down))
    deal = {"name": "Deal", "amount": 1000, "close_date": "2025-06-30"}
    deal = services.repo.create(SYSTEM, "deal", deal)
    services.repo.update(SYSTEM, "deal", deal["id"], {"stage": "discovery"})

    client = app.test_client()
    login(client, "admin@example.com", "admin-password")
    page = client.get("/admin/jobs?state=failed").get_data(as_text=True)
    assert "Stage changed" in page  # the pipelines feature's label for stage.changed
    client.post("/locale", data={"locale": "zh", "csrf_token": page_token(client), "next": "/"})
    assert "阶段已变更" in client.get("/admin/jobs?state=failed").get_data(as_text=True)
