"""The reports feature: widgets and dashboards as metadata (``reports/``,
``dashboards/``), users' own boards, the JSON API and the cache's write step, plugged
in through the feature hooks (see docs/reports.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runtime.features import Feature

_HERE = str(Path(__file__).resolve().parent)  # where the schemas live


class ReportsFeature(Feature):
    name = "reports"
    docs = "docs/reports.md"

    def compile_steps(self) -> Mapping[str, Any]:
        from runtime.features.reports.definition import (
            DASHBOARDS_KEY,
            REPORTS_KEY,
            compile_dashboards,
            compile_reports,
        )

        return {REPORTS_KEY: compile_reports, DASHBOARDS_KEY: compile_dashboards}

    def kinds(self) -> Sequence[Any]:
        from runtime.definition.loader import Kind

        return (
            Kind("report", "reports", "report.schema.json", schema_dir=_HERE),
            Kind("dashboard", "dashboards", "dashboard.schema.json", schema_dir=_HERE),
        )

    def check_codes(self) -> Sequence[Any]:
        from runtime.features.reports.codes import CODES

        return CODES

    def define_tables(self, metadata) -> None:
        from runtime.features.reports import board_store
        from runtime.reports import cache

        cache.table.to_metadata(metadata)
        board_store.table.to_metadata(metadata)

    def write_steps(self, model) -> Sequence[Any]:
        from runtime.features.reports.write_steps import version_steps

        return version_steps()

    def blueprints(self) -> Sequence[Any]:
        from runtime.features.reports import api, screens

        return (api, screens)

    def nav_items(self, model) -> Sequence[Any]:
        from runtime.features.reports.screens import nav_items

        return nav_items(model)


FEATURE = ReportsFeature()
