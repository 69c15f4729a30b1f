"""Jobs: domain events delivered from the outbox, periodic jobs and e-mail, on Huey.

``JobQueue`` is built by ``runtime.wiring.build_runtime`` for one runtime; it owns a
Huey instance (SQLite file in the instance folder, Redis when ``TRELLIS_REDIS_URL`` is
set, or immediate mode) and registers its tasks on it. ``trellis worker`` consumes it.
"""

from .queue import JobQueue, Schedule, make_huey, queue_mode

__all__ = ["JobQueue", "Schedule", "make_huey", "queue_mode"]
