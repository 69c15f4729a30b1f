"""The follow-ups feature: a record's follow-up date keeps one open task, due then."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime.features import Feature


class FollowUpsFeature(Feature):
    name = "follow_ups"
    docs = "docs/follow_ups.md"

    def compile_steps(self) -> Mapping[str, Any]:
        from runtime.features.follow_ups.definition import EXTENSION_KEY, compile_follow_ups

        return {EXTENSION_KEY: compile_follow_ups}

    def check_codes(self) -> Sequence[Any]:
        from runtime.features.follow_ups.codes import CODES

        return CODES

    def subscribers(self, runtime) -> Sequence[tuple[str, Callable[..., Any]]]:
        from runtime.events import RECORD_CREATED, RECORD_RESTORED, RECORD_UPDATED
        from runtime.features.follow_ups.flow import FollowUpFlow

        flow = FollowUpFlow(runtime.model, runtime.repo, runtime.users)
        if not flow.rules:
            return ()
        entities = tuple(flow.rules)  # only the entities with a follow-up date
        names = (RECORD_CREATED, RECORD_UPDATED, RECORD_RESTORED)
        return [(name, flow.handle, entities) for name in names]


FEATURE = FollowUpsFeature()
