"""The pipelines feature: stages, gates, the board and the path bar, plugged in
through the feature hooks like any outside extension (see docs/internals.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runtime.features import Feature


class PipelinesFeature(Feature):
    name = "pipelines"
    docs = "docs/pipelines.md"

    def compile_steps(self) -> Mapping[str, Any]:
        from runtime.features.pipelines.definition import EXTENSION_KEY, compile_pipelines

        return {EXTENSION_KEY: compile_pipelines}

    def write_steps(self, model) -> Sequence[Any]:
        from runtime.flows.pipeline_hook import write_hooks

        return write_hooks(model)

    def blueprints(self) -> Sequence[Any]:
        from runtime.web import pipelines as screens  # registers its blueprint and globals

        return (screens,)


FEATURE = PipelinesFeature()
