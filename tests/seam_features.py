"""A feature written as an outside extension would be, for the write-path tests: records
whose name starts with "Locked" may not be changed, archived or restored (as a record
pending approval will be locked), and every step it sees is noted."""

from __future__ import annotations

from runtime.errors import PermissionDenied
from runtime.features import Feature
from runtime.store.write_steps import WriteStep


class ApprovalLock(Feature):
    name = "approval_lock"
    docs = "docs/internals.md"

    def write_steps(self, model):
        def refuse_locked(repo, write):
            if str((write.current or {}).get("name") or "").startswith("Locked"):
                raise PermissionDenied(
                    f"this {write.entity.id} is locked while its approval is pending"
                )

        return [
            WriteStep(
                "approval_lock.refuse",
                refuse_locked,
                before="write",
                ops=frozenset({"update", "archive", "restore"}),
            )
        ]


LOCK = ApprovalLock()
