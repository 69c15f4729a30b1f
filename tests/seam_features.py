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


class RecordCounter(Feature):
    """A feature contributing a command, as an outside extension would: ``trellis
    count ENTITY`` prints how many records of ENTITY the database holds."""

    name = "record_counter"
    docs = "docs/internals.md"

    def cli_commands(self):
        import click

        from builder.cli import app_option, db_option, runtime_for

        @click.command("count")
        @click.argument("entity")
        @app_option
        @db_option
        def count(entity, app, database):
            """Print how many ENTITY records there are."""
            runtime = runtime_for(app, database)
            from runtime.store import SYSTEM

            click.echo(f"{entity}: {runtime.repo.count(SYSTEM, entity)}")

        return [count]


COUNTER = RecordCounter()


class Clash(Feature):
    """A feature whose command takes a built-in's name (refused)."""

    name = "clash"

    def cli_commands(self):
        import click

        return [click.Command("init", callback=lambda: None)]


CLASH = Clash()
