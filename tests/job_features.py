"""Features used by the job tests: a counting subscriber, a failing one, a slow one."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runtime.features import Feature


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


JOURNAL = Journal()
