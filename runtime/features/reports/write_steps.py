"""The write step that keeps cached widget results honest: every create, update,
archive and restore bumps its entity's counter in ``sys_report_versions``, in the
write's own transaction (so a rolled-back write bumps nothing)."""

from __future__ import annotations

from typing import Any

from runtime.reports.cache import bump_version
from runtime.store.write_steps import WriteStep


def _bump(_repo: Any, write: Any) -> None:
    bump_version(write.conn, write.plan.entity.id)


def version_steps() -> list[WriteStep]:
    return [WriteStep("reports.version", _bump, after="write")]
