"""Features used by the job tests: a counting subscriber, a failing one, a slow one,
two handlers of one name, and a periodic job that notes each run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runtime.features import Feature
from runtime.jobs import Schedule


class Journal(Feature):
    """Appends ``<event id> <event name> <record id>`` for every event to a file
    (``TRELLIS_TEST_JOURNAL``), sleeping ``TRELLIS_TEST_JOURNAL_DELAY`` seconds first."""

    name = "journal"
    docs = "docs/jobs.md"

    def subscribers(self, runtime):
        def write_journal(event):
            time.sleep(float(os.environ.get("TRELLIS_TEST_JOURNAL_DELAY") or 0))
            with Path(os.environ["TRELLIS_TEST_JOURNAL"]).open("a") as out:
                out.write(f"{event.name} {event.entity} {event.record_id}\n")

        return [("*", write_journal)]


class Flaky(Feature):
    """Fails every event while ``self.failing`` is true."""

    name = "flaky"
    docs = "docs/jobs.md"

    def __init__(self):
        self.failing = True
        self.seen: list[tuple[str, int]] = []

    def subscribers(self, runtime):
        def flaky(event):
            if self.failing and event.name == "record.created":
                raise RuntimeError("the mail server is down")
            self.seen.append((event.name, event.record_id))

        return [("*", flaky, ("account",))]


class Twins(Feature):
    """Two subscribers made by one factory: the same ``__qualname__``, different work."""

    name = "twins"
    docs = "docs/jobs.md"

    def __init__(self):
        self.seen: list[tuple[str, int]] = []

    def subscribers(self, runtime):
        def noting(label):
            def note(event):
                self.seen.append((label, event.record_id))

            return note

        return [("record.created", noting("first")), ("record.created", noting("second"))]


class Ticker(Feature):
    """A periodic job, every minute, that appends ``<pid>`` to ``TRELLIS_TEST_TICKS``."""

    name = "ticker"
    docs = "docs/jobs.md"

    def schedules(self, runtime):
        def tick(runtime):
            with Path(os.environ["TRELLIS_TEST_TICKS"]).open("a") as out:
                out.write(f"{os.getpid()}\n")

        return [Schedule("ticker.tick", tick, minutes=1)]


JOURNAL = Journal()
TICKER = Ticker()
