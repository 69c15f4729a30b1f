"""Domain events: what happened to which record, delivered to subscribers after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

RECORD_CREATED = "record.created"
RECORD_UPDATED = "record.updated"
RECORD_ARCHIVED = "record.archived"
RECORD_RESTORED = "record.restored"


@dataclass(frozen=True)
class Event:
    """One domain event. ``changes`` maps field id -> (old, new); ``record`` is the saved
    record as its author may read it (system view for SYSTEM)."""

    name: str
    entity: str
    record_id: int
    user_id: int | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event], Any]


class EventBus:
    """Synchronous publish/subscribe. ``"*"`` subscribes to every event.

    The repository publishes only after its transaction committed. A failing handler is
    logged and does not stop the others: the write it reports on has already happened.
    Set ``raise_errors=True`` (tests) to let handler exceptions propagate.
    """

    def __init__(self, *, raise_errors: bool = False):
        self._handlers: dict[str, list[Handler]] = {}
        self.raise_errors = raise_errors

    def subscribe(self, name: str, handler: Handler) -> Handler:
        self._handlers.setdefault(name, []).append(handler)
        return handler

    def unsubscribe(self, name: str, handler: Handler) -> None:
        handlers = self._handlers.get(name, [])
        if handler in handlers:
            handlers.remove(handler)

    def publish(self, event: Event) -> None:
        for handler in (*self._handlers.get(event.name, ()), *self._handlers.get("*", ())):
            try:
                handler(event)
            except Exception:
                if self.raise_errors:
                    raise
                log.exception("event handler %r failed on %s", handler, event.name)

    def publish_all(self, events: list[Event]) -> None:
        for event in events:
            self.publish(event)
