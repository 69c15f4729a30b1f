"""The event outbox: events saved with the change they report, delivered at least once
to every durable subscriber, and done at most once by each (``sys_outbox_deliveries``).

A delivery first claims its event for a lease (``TRELLIS_OUTBOX_LEASE_SECONDS``): a
worker killed mid-delivery leaves the claim to expire, and the relay - every minute
and when a worker starts - enqueues every event still pending, so nothing is lost.
Subscribers get the event's changes as JSON values and read the record again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from runtime.events import Event
from runtime.store import system_tables as st

log = logging.getLogger("trellis.jobs")

RELAY_GRACE_SECONDS = 5  # an event younger than this is still being enqueued by its writer
RELAY_BATCH = 500


class DeliveryFailed(Exception):
    """A subscriber failed on an event; the queue tries the event again."""


def lease_seconds() -> int:
    return int(os.environ.get("TRELLIS_OUTBOX_LEASE_SECONDS") or 60)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    return value


class Subscriber:
    """One durable handler: ``key`` names it in the deliveries table; ``entities``, when
    given, are the only entities whose events it wants."""

    def __init__(
        self,
        key: str,
        event_name: str,
        handler: Callable[[Event], Any],
        entities: Iterable[str] | None = None,
    ):
        self.key = key
        self.event_name = event_name
        self.handler = handler
        self.entities = frozenset(entities) if entities is not None else None

    def wants(self, name: str, entity: str) -> bool:
        return self.event_name in ("*", name) and (self.entities is None or entity in self.entities)


def subscribers_of(runtime: Any) -> list[Subscriber]:
    """Every feature's durable subscribers, each keyed ``<feature>.<handler>``.

    Two handlers with one ``__qualname__`` (say, made by one factory) are told apart by
    their order: the second is ``<feature>.<handler>#2``, so neither's deliveries are
    recorded as done for the other. The order is the features' and their hooks', the
    same in every process."""
    found: list[Subscriber] = []
    taken: set[str] = set()
    for feature in runtime.features:
        for index, (name, handler, *entities) in enumerate(feature.subscribers(runtime) or ()):
            label = getattr(handler, "__qualname__", None) or f"handler{index}"
            key, count = f"{feature.name}.{label}", 1
            while key in taken:
                count += 1
                key = f"{feature.name}.{label}#{count}"
            taken.add(key)
            found.append(Subscriber(key, name, handler, *entities[:1]))
    return found


class Outbox:
    """Record events in the writer's transaction; deliver them from the queue."""

    def __init__(self, runtime: Any, queue: Any):
        self.runtime = runtime
        self.queue = queue
        self._subscribers: list[Subscriber] | None = None

    @property
    def subscribers(self) -> list[Subscriber]:
        if self._subscribers is None:
            self._subscribers = subscribers_of(self.runtime)
        return self._subscribers

    def listened_to(self, name: str, entity: str) -> bool:
        return any(s.wants(name, entity) for s in self.subscribers)

    # ------------------------------------------------------------------ writing

    def record(self, conn: Connection, events: Iterable[Event]) -> list[int]:
        """Insert the ``events`` some subscriber wants, in the caller's transaction; their
        ids. An event nobody listens to is not kept: there is nothing to deliver."""
        to_deliver = []
        now = datetime.now(UTC)
        for event in events:
            if not self.listened_to(event.name, event.entity):
                continue
            row = {
                "name": event.name,
                "entity": event.entity,
                "record_id": event.record_id,
                "user_id": event.user_id,
                "changes": _json_value({k: list(v) for k, v in event.changes.items()}),
                "created_at": now,
                "state": "pending",
            }
            event_id = conn.execute(st.outbox.insert().values(**row)).inserted_primary_key[0]
            to_deliver.append(int(event_id))
        return to_deliver

    def dispatch(self, event_ids: Sequence[int]) -> None:
        """After the writer's commit: hand the events to the queue."""
        if event_ids:
            self.queue.deliver_later(event_ids)

    # ------------------------------------------------------------------ delivering

    def deliver(self, event_id: int) -> str:
        """Run every subscriber of the event that has not done it yet; the new state."""
        event_id = int(event_id)
        row = self._claim(event_id)
        if row is None:
            return "skipped"
        event = Event(
            row.name,
            row.entity,
            int(row.record_id),
            row.user_id,
            {k: tuple(v) for k, v in (row.changes or {}).items()},
            {},
        )
        failures: list[str] = []
        for subscriber in self.subscribers:
            if not subscriber.wants(event.name, event.entity) or self._done_by(
                event_id, subscriber
            ):
                continue
            try:
                subscriber.handler(event)
            except Exception as exc:  # the others still run; this one is tried again
                log.exception("subscriber %s failed on event %s", subscriber.key, event_id)
                failures.append(f"{subscriber.key}: {type(exc).__name__}: {exc}")
                continue
            self._mark_done_by(event_id, subscriber)
        if failures:
            self._finish(event_id, "failed", "; ".join(failures)[:2000])
            raise DeliveryFailed(failures[0])  # the queue retries it
        self._finish(event_id, "done", None)
        return "done"

    def _claim(self, event_id: int) -> Any:
        now = datetime.now(UTC)
        table = st.outbox
        with self.runtime.db.engine.begin() as conn:
            claimed = conn.execute(
                update(table)
                .where(
                    table.c.id == event_id,
                    table.c.state != "done",
                    or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
                )
                .values(
                    claimed_until=now + timedelta(seconds=lease_seconds()),
                    attempts=table.c.attempts + 1,
                )
            ).rowcount
            if claimed != 1:
                return None
            return conn.execute(select(table).where(table.c.id == event_id)).one()

    def _done_by(self, event_id: int, subscriber: Subscriber) -> bool:
        table = st.outbox_deliveries
        with self.runtime.db.engine.connect() as conn:
            found = conn.execute(
                select(table.c.event_id).where(
                    table.c.event_id == event_id, table.c.subscriber == subscriber.key
                )
            ).first()
        return found is not None

    def _mark_done_by(self, event_id: int, subscriber: Subscriber) -> None:
        try:
            with self.runtime.db.engine.begin() as conn:
                conn.execute(
                    st.outbox_deliveries.insert().values(
                        event_id=event_id, subscriber=subscriber.key, done_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            pass  # recorded by an earlier try

    def _finish(self, event_id: int, state: str, error: str | None) -> None:
        values: dict[str, Any] = {"state": state, "last_error": error, "claimed_until": None}
        if state == "done":
            values["done_at"] = datetime.now(UTC)
        with self.runtime.db.engine.begin() as conn:
            conn.execute(update(st.outbox).where(st.outbox.c.id == event_id).values(**values))

    # ------------------------------------------------------------------ relay and retry

    def relay(self, grace_seconds: float = RELAY_GRACE_SECONDS) -> int:
        """Enqueue the pending events nobody holds (their writer or worker died)."""
        now = datetime.now(UTC)
        table = st.outbox
        with self.runtime.db.engine.connect() as conn:
            ids = conn.execute(
                select(table.c.id)
                .where(
                    table.c.state == "pending",
                    table.c.created_at < now - timedelta(seconds=grace_seconds),
                    or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
                )
                .order_by(table.c.id)
                .limit(RELAY_BATCH)
            ).scalars()
            ids = [int(i) for i in ids]
        self.queue.deliver_later(ids)
        return len(ids)

    def retry(self, event_id: int) -> bool:
        """An admin's retry of a failed event: pending again, and enqueued."""
        table = st.outbox
        with self.runtime.db.engine.begin() as conn:
            changed = conn.execute(
                update(table)
                .where(table.c.id == event_id, table.c.state == "failed")
                .values(state="pending", claimed_until=None)
            ).rowcount
        if changed:
            self.queue.deliver_later([event_id])
        return bool(changed)

    # ------------------------------------------------------------------ reading (admin)

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func

        table = st.outbox
        with self.runtime.db.engine.connect() as conn:
            rows = conn.execute(select(table.c.state, func.count()).group_by(table.c.state))
            counts = {state: int(n) for state, n in rows}
        return {state: counts.get(state, 0) for state in ("pending", "failed", "done")}

    def recent(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        table = st.outbox
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if state:
            query = query.where(table.c.state == state)
        with self.runtime.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


__all__ = ["Outbox", "Subscriber", "subscribers_of"]
