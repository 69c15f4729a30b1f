"""The job queue of one runtime: Huey, its tasks, and the once-per-period guard."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.api import PeriodicTask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from runtime.store import system_tables as st

log = logging.getLogger("trellis.jobs")

RETRIES = 3  # a failing delivery is tried this many more times by the queue
RETRY_DELAY = 10  # seconds between tries
# The longest a worker waits between looks at an empty queue (Huey's default is 10 s:
# an event written during a quiet spell would wait that long for its delivery).
MAX_POLL_DELAY = 1.0
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Schedule:
    """A periodic job: ``run(runtime)`` every ``minutes`` minutes (1 = each minute).

    Periods are counted from midnight UTC, so ``minutes`` must divide an hour (1 ... 60)
    or be whole hours that divide a day (120, 180, 240, 360, 480, 720, 1440). However
    many workers run, it runs once per period: the first worker to claim the period (a
    row in ``sys_job_runs``, keyed by the period's start) runs it, the others skip it.
    """

    name: str
    run: Callable[[Any], Any]
    minutes: int = 1

    def __post_init__(self) -> None:
        self.crontab()  # refuses a period that does not repeat evenly through the day

    def crontab(self) -> dict[str, str]:
        """Huey ``crontab`` arguments firing at the start of each period (UTC)."""
        every = self.minutes
        if isinstance(every, int) and not isinstance(every, bool):
            if 1 <= every <= 60 and 60 % every == 0:
                return {"minute": "*" if every == 1 else "0" if every == 60 else f"*/{every}"}
            if every > 60 and every % 60 == 0 and MINUTES_PER_DAY % every == 0:
                hours = every // 60
                return {"minute": "0", "hour": "0" if hours == 24 else f"*/{hours}"}
        raise ValueError(
            f"schedule {self.name!r}: minutes={every!r} does not repeat evenly through "
            "the day; use minutes that divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, "
            "30, 60) or whole hours that divide a day (120, 180, 240, 360, 480, 720, 1440)"
        )

    def period_start(self, due: datetime) -> datetime:
        """The start (UTC) of the period ``due`` falls in, counted from midnight UTC."""
        due = due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)
        midnight = due.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = (due - midnight) // timedelta(minutes=1)
        return midnight + timedelta(minutes=elapsed - elapsed % self.minutes)


class DuePeriodicTask(PeriodicTask):
    """A Huey periodic task that carries the time its scheduler found it due, so a run
    the queue starts late still claims its own period, never the next one."""

    matches: Callable[[datetime], bool]  # the crontab test, set per task class

    def validate_datetime(self, timestamp: datetime) -> bool:
        if not self.matches(timestamp):
            return False
        self.kwargs = {"due": timestamp.isoformat()}  # naive UTC: Huey's clock (utc=True)
        return True


def queue_mode(settings: dict[str, Any] | None = None) -> str:
    """``immediate`` (jobs run inline: tests), ``redis`` or ``sqlite`` (the default)."""
    settings = settings or {}
    mode = (settings.get("TRELLIS_QUEUE") or os.environ.get("TRELLIS_QUEUE") or "").lower()
    if mode in ("immediate", "redis", "sqlite"):
        return mode
    if mode:
        raise ValueError(f"TRELLIS_QUEUE={mode!r}: use immediate, sqlite or redis")
    redis_url = settings.get("TRELLIS_REDIS_URL") or os.environ.get("TRELLIS_REDIS_URL")
    return "redis" if redis_url else "sqlite"


def make_huey(
    name: str,
    mode: str,
    *,
    instance_path: str | os.PathLike[str] = "instance",
    redis_url: str = "",
) -> Any:
    """The Huey instance for ``mode``; web server, CLI and worker of one app share it."""
    if mode == "immediate":
        return MemoryHuey(name, immediate=True, results=False)
    if mode == "redis":
        url = redis_url or os.environ.get("TRELLIS_REDIS_URL") or "redis://127.0.0.1:6379/0"
        return RedisHuey(name, url=url, results=False)
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(folder / "jobs.sqlite3"), results=False)


class JobQueue:
    """Tasks of one runtime on one Huey: deliver an event, relay the outbox, send mail,
    and the features' periodic jobs."""

    def __init__(self, huey: Any, runtime: Any, schedules: Sequence[Schedule] = ()):
        from .mail import Mailer
        from .outbox import Outbox

        self.huey = huey
        self.runtime = runtime
        self.mode = "immediate" if huey.immediate else type(huey).__name__
        self.outbox = Outbox(runtime, self)
        self.mail = Mailer(runtime, self)
        self._deliver = huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, name="deliver")(
            self.outbox.deliver
        )
        self._send_mail = huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, name="mail.send")(
            self.mail.deliver
        )
        relay = Schedule("outbox.relay", lambda _runtime: self.outbox.relay(), minutes=1)
        self.schedules = (relay, *schedules)
        for schedule in self.schedules:
            self._register_periodic(schedule)

    @property
    def immediate(self) -> bool:
        return bool(self.huey.immediate)

    def deliver_later(self, event_ids: Sequence[int]) -> None:
        for event_id in event_ids:
            try:
                self._deliver(event_id)
            except Exception:  # the event stays pending: the relay enqueues it again
                log.exception("could not enqueue event %s", event_id)

    def send_mail_later(self, mail_id: int) -> None:
        self._send_mail(mail_id)

    def consumer(self, workers: int = 2) -> Any:
        """A Huey consumer of this queue (``trellis worker``)."""
        return self.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=True, max_delay=MAX_POLL_DELAY
        )

    # ------------------------------------------------------------------ periodic jobs

    def _register_periodic(self, schedule: Schedule) -> None:
        def run_for_due_period(due: str) -> None:
            self.run_periodic(schedule, datetime.fromisoformat(due))

        run_for_due_period.__name__ = schedule.name.replace(".", "_")
        self.huey.task_wrapper_class(
            self.huey,
            run_for_due_period,
            name=f"periodic.{schedule.name}",
            task_base=DuePeriodicTask,
            matches=staticmethod(crontab(**schedule.crontab())),
        )

    def recent_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest periodic job runs (``sys_job_runs``), newest first."""
        table = st.job_runs
        query = select(table).order_by(table.c.started_at.desc()).limit(limit)
        with self.runtime.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def run_periodic(self, schedule: Schedule, due: datetime | None = None) -> bool:
        """Run ``schedule`` for the period ``due`` (default: now) falls in, unless another
        worker has claimed that period; True if run. A naive ``due`` is UTC."""
        period = schedule.period_start(due or datetime.now(UTC))
        key = period.strftime("%Y-%m-%dT%H:%M")
        engine = self.runtime.db.engine
        try:
            with engine.begin() as conn:
                conn.execute(st.job_runs.insert().values(job=schedule.name, period=key))
        except IntegrityError:
            return False  # another worker runs it in this period
        state, error = "done", None
        try:
            schedule.run(self.runtime)
        except Exception as exc:
            log.exception("periodic job %s failed", schedule.name)
            state, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        with engine.begin() as conn:
            conn.execute(
                update(st.job_runs)
                .where(st.job_runs.c.job == schedule.name, st.job_runs.c.period == key)
                .values(state=state, error=error, finished_at=datetime.now(UTC))
            )
        return True


__all__ = ["JobQueue", "Schedule", "make_huey", "queue_mode"]
