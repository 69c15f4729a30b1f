"""Follow-ups: a record's date field (``follow_up`` metadata) keeps one open follow-up
record, e.g. a task, due on that date, for the record's owner.

Subscribed to the event bus (``install_follow_ups``), so it acts on every write - form,
board, API, import - after it committed. Handlers are idempotent: the follow-up is
found again through its link back to the source record, so a redelivered event moves
nothing twice and creates nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from runtime.definition.model import AppModel
from runtime.errors import NotFound
from runtime.events import RECORD_CREATED, RECORD_RESTORED, RECORD_UPDATED, Event, EventBus
from runtime.features.follow_ups.definition import FollowUp, follow_ups_of
from runtime.store.principal import SYSTEM

log = logging.getLogger(__name__)

SEARCH_LIMIT = 20  # follow-ups of one record looked at (newest first)


class FollowUpFlow:
    """One per app model and repository; holds no state between events."""

    def __init__(self, model: AppModel, repo: Any, users: Any = None):
        self.model = model
        self.repo = repo
        self.users = users
        self.rules: Mapping[str, FollowUp] = follow_ups_of(model)

    def handle(self, event: Event) -> None:
        rule = self.rules.get(event.entity)
        if rule is None:
            return
        if event.name == RECORD_UPDATED and rule.date not in event.changes:
            return
        try:
            record = self.repo.get(SYSTEM, event.entity, event.record_id)
        except NotFound:
            return
        if record.get("archived_at") is not None or record.get(rule.date) is None:
            return  # no date (or cleared): nothing to schedule; an existing task stays
        self.schedule(rule, record)

    def schedule(self, rule: FollowUp, record: Mapping[str, Any]) -> dict[str, Any]:
        """The open follow-up of ``record``, created or moved to its date."""
        due = _as_date(record[rule.date])
        current = self._open_follow_up(rule, record["id"])
        if current is None:
            return self.repo.create(SYSTEM, rule.creates, self._new_values(rule, record, due))
        changes: dict[str, Any] = {}
        if _as_date(current.get(rule.due)) != due:
            changes[rule.due] = due
        if not changes:
            return current
        return self.repo.update(SYSTEM, rule.creates, current["id"], changes)

    def _open_follow_up(self, rule: FollowUp, record_id: int) -> dict[str, Any] | None:
        filters: list[tuple[str, str, Any]] = [(rule.source, "eq", record_id)]
        if rule.done_field:
            status = self.model.entities[rule.creates].field(rule.done_field)
            still_open = [o.id for o in status.options if o.id not in rule.done_values]
            filters.append((rule.done_field, "in", still_open))
        page = self.repo.list(
            SYSTEM, rule.creates, filters=filters, sort=["-id"], page_size=SEARCH_LIMIT
        )
        return page.rows[0] if page.rows else None

    def _new_values(self, rule: FollowUp, record: Mapping[str, Any], due: date) -> dict[str, Any]:
        owner = record.get("owner_id")
        values: dict[str, Any] = {rule.due: due, rule.source: record["id"], "owner_id": owner}
        if rule.assignee and owner is not None:
            values[rule.assignee] = owner
        for field_id in rule.copy:
            if record.get(field_id) is not None:
                values[field_id] = record[field_id]
        target = self.model.entities[rule.creates]
        if rule.title is not None and target.has_field(target.title_field):
            title = rule.render_title(record, self._locale(owner))
            limit = target.field(target.title_field).max_length
            values[target.title_field] = (
                title[: limit - 1] + "…" if limit and len(title) > limit else title
            )
        return values

    def _locale(self, user_id: int | None) -> str:
        principal = self.users.principal(user_id) if self.users and user_id else None
        return getattr(principal, "locale", None) or self.model.default_locale


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10])
    return None


def install_follow_ups(model: AppModel, repo: Any, bus: EventBus, users: Any = None) -> None:
    """Subscribe the follow-up flow when the app defines any follow-up."""
    flow = FollowUpFlow(model, repo, users)
    if not flow.rules:
        return
    for name in (RECORD_CREATED, RECORD_UPDATED, RECORD_RESTORED):
        bus.subscribe(name, flow.handle)


__all__ = ["FollowUpFlow", "install_follow_ups"]
