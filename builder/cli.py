"""The `trellis` command: validate, init, versions, demo, rollups, users, API keys, serve, worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

DEFAULT_APP = "app_definitions/opportunity"
DEFAULT_DATABASE = "sqlite:///instance/trellis.db"


def database_url(explicit: str | None = None) -> str:
    url = explicit or os.environ.get("TRELLIS_DATABASE_URL") or DEFAULT_DATABASE
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # A relative SQLite path: make sure its folder exists.
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return url


def app_path(explicit: str | None = None) -> str:
    from runtime.resources import default_app

    return explicit or os.environ.get("TRELLIS_APP") or default_app()


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _features():
    """The features this process runs with (the defaults plus ``TRELLIS_FEATURES``)."""
    from runtime.features import FeatureError
    from runtime.wiring import features_from_env

    try:
        return features_from_env()
    except FeatureError as exc:
        _fail(f"TRELLIS_FEATURES: {exc}")


def _load_model(path: str):
    """The compiled app (compiled once); its problems printed and exit 1 when it has any."""
    from runtime.definition import check_app, load_app
    from runtime.errors import DefinitionError

    features = _features()
    try:
        return load_app(path, features)
    except DefinitionError as exc:
        problems = exc.problems
    except Exception:  # the checker turns an unexpected failure into a problem line
        problems = check_app(path, features)
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(problems)} problem(s) in {path}", err=True)
    sys.exit(1)


def runtime_for(app: str | None, database: str | None):
    """The runtime of ``--app``/``--database`` (or their defaults) with this process's
    features: what a feature's own command (``Feature.cli_commands``) works on."""
    from runtime.wiring import build_runtime

    return build_runtime(_load_model(app_path(app)), database_url(database), _features())


def _services(app: str | None, database: str | None):
    runtime = runtime_for(app, database)
    return runtime.model, runtime.db, runtime.repo, runtime.users


app_option = click.option(
    "--app",
    "app",
    default=None,
    help="App folder (default: TRELLIS_APP or app_definitions/opportunity).",
)
db_option = click.option(
    "--database",
    "database",
    default=None,
    help="Database URL (default: TRELLIS_DATABASE_URL or sqlite:///instance/trellis.db).",
)


class TrellisGroup(click.Group):
    """The built-in commands plus those the features contribute (``Feature.cli_commands``).

    Features are asked when a command is looked up, not at import, so ``TRELLIS_FEATURES``
    decides which commands exist; a feature's command may not take a built-in's name.
    """

    def _feature_commands(self) -> dict[str, click.Command]:
        commands: dict[str, click.Command] = {}
        for feature in _features():
            for command in feature.cli_commands() or ():
                if command.name in self.commands or command.name in commands:
                    _fail(f"feature {feature.name!r}: command {command.name!r} already exists")
                commands[command.name] = command
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._feature_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._feature_commands().get(cmd_name)


@click.group(cls=TrellisGroup)
def main() -> None:
    """Trellis: metadata-driven apps."""


@main.command()
@click.argument("path", type=click.Path())
def validate(path: str) -> None:
    """Check an app folder; print one line per problem and exit non-zero if any.

    Warnings (TRL-W...) name files the runtime does not read; they do not fail."""
    from runtime.definition import app_warnings, check_app

    features = _features()
    problems = check_app(path, features)
    warnings = app_warnings(path, features)
    for problem in [*problems, *warnings]:
        click.echo(str(problem))
    noted = f", {len(warnings)} warning(s)" if warnings else ""
    if problems:
        click.echo(f"{len(problems)} problem(s){noted}", err=True)
        sys.exit(1)
    click.echo(f"{path}: ok{noted}")


@main.command()
@app_option
@db_option
def init(app: str | None, database: str | None) -> None:
    """Create or upgrade the database for an app, keeping every existing value."""
    model, db, repo, _users = _services(app, database)
    report = db.create_or_upgrade()
    for action, names in report.items():
        for name in names:
            click.echo(f"  {action.replace('_', ' ')}: {name}")
    _fill_new_rollups(model, db, repo, report["added_columns"])
    click.echo(f"database ready for app '{model.id}' version {model.version}")


@main.command()
@app_option
@db_option
def versions(app: str | None, database: str | None) -> None:
    """List the applied versions of the app: version, hash, author, time, message."""
    from runtime.store.versions import list_versions

    model, db, _repo, _users = _services(app, database)
    if not db.has_table("sys_app_versions"):
        _fail("the database has no Trellis tables: run `trellis init` first")
    rows = list_versions(db.engine, model.id)
    if not rows:
        click.echo(f"no versions of app '{model.id}' recorded yet: run `trellis init`")
        return
    click.echo(f"{'version':>7}  {'hash':<12} {'author':<24} {'time':<16} message")
    for row in rows:
        click.echo(
            f"{row.number:>7}  {row.digest[:12]:<12} {row.author or '-':<24} "
            f"{_when(row.applied_at):<16} {row.message}"
        )


def _fill_new_rollups(model, db, repo, added: list[str]) -> None:
    """A rollup column just added to a table with records: computed from its records."""
    from runtime.store.rollups import rollup_fields

    new = {(entity, field.id) for entity, field in rollup_fields(model)}
    tables = {db.tables[entity].name: entity for entity, _field in new}
    for name in added:
        table, _, column = name.partition(".")
        entity = tables.get(table)
        if entity is not None and (entity, column) in new:
            for _entity, field_id, count in repo.rollups.rebuild(entity, [column]):
                click.echo(f"  filled rollup: {entity}.{field_id} ({count} records)")


@main.command()
@app_option
@db_option
def indexes(app: str | None, database: str | None) -> None:
    """List the app's declared and derived indexes: entity, name, keys, why, and whether
    the database has it (``trellis init`` creates the missing ones)."""
    from runtime.store.schema_sync import existing_index_names

    model, db, _repo, _users = _services(app, database)
    missing = 0
    with db.engine.connect() as conn:
        for entity_id, plans in db.indexes.items():
            table = db.tables[entity_id].name
            have = existing_index_names(conn, table)
            for plan in plans:
                state = "ok" if plan.name in have else "missing"
                missing += state == "missing"
                why = "; ".join(plan.reasons)
                click.echo(f"{entity_id}\t{plan.name}\t({plan.spec})\t{why}\t{state}")
    total = sum(len(p) for p in db.indexes.values())
    click.echo(
        f"{total} index(es) for app '{model.id}', {missing} missing (trellis init creates them)"
    )


@main.command("import")
@click.argument("entity")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--as", "as_email", default=None, help="Import as this user (their permissions apply)."
)
@click.option("--locale", default="en", show_default=True, help="Language of the headers.")
@app_option
@db_option
def import_file(entity, file, as_email, locale, app, database) -> None:
    """Create ENTITY records from a CSV or XLSX file laid out as the list export writes it.

    Columns are found by the field labels of --locale (or the field ids); one file is
    one transaction: a cell that cannot be read is named by line and column and
    nothing is written."""
    from runtime.errors import PermissionDenied, ValidationError
    from runtime.imports import ImportFileError, import_records, read_csv, read_xlsx
    from runtime.store import SYSTEM

    runtime = runtime_for(app, database)
    if entity not in runtime.model.entities:
        _fail(f"no entity {entity!r} (entities: {', '.join(sorted(runtime.model.entities))})")
    principal = SYSTEM
    if as_email:
        principal = runtime.users.principal(_user_id(runtime.users, as_email))
    data = Path(file).read_bytes()
    try:
        headers, rows = read_xlsx(data) if file.lower().endswith(".xlsx") else read_csv(data)
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text; save the CSV as UTF-8 (or use the XLSX export)")
    except Exception as exc:  # openpyxl/zipfile: anything that is not a workbook
        _fail(f"{file}: cannot be read as a workbook ({type(exc).__name__}: {exc})")
    try:
        created = import_records(
            runtime.repo, principal, entity, headers, rows, users=runtime.users, locale=locale
        )
    except ImportFileError as exc:
        for problem in exc.problems:
            click.echo(f"error: {file}: {problem.text(locale)}", err=True)
        _fail(f"{len(exc.problems)} cell(s) cannot be imported; nothing was written")
    except ValidationError as exc:
        for key, messages in exc.as_dict(locale).items():
            click.echo(f"error: {file}: {key}: {' '.join(messages)}", err=True)
        _fail("nothing was written")
    except PermissionDenied as exc:
        _fail(str(exc))
    click.echo(f"{len(created)} {entity} record(s) imported from {file}")


@main.command()
@app_option
@db_option
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option("--scale", default=1.0, show_default=True, help="Fraction of the full demo data set.")
def demo(app: str | None, database: str | None, if_empty: bool, scale: float) -> None:
    """Create the database, demo users and demo data; print the logins.

    The data comes from the app's own generator, the ``demo/`` package in its folder."""
    from builder.app_demo import DemoNotFound, demo_generator

    try:
        generator = demo_generator(app_path(app))
    except DemoNotFound as exc:
        _fail(str(exc))
    model, db, repo, users = _services(app, database)
    db.create_or_upgrade()
    if if_empty and users.count() > 0:
        click.echo("demo data already present; log in with the accounts listed in the README")
        return
    result = generator.load_demo(db, repo, users, model, scale=scale)
    click.echo("demo data loaded. Logins (password: trellis-demo):")
    for login in result["logins"]:
        click.echo(f"  {login['email']:<28} {login['role']:<14} {login.get('team') or ''}")


@main.group()
def rollups() -> None:
    """Rollup fields: aggregates over the records that link to a record."""


@rollups.command("rebuild")
@click.argument("entity", required=False)
@click.option("--field", "field_ids", multiple=True, help="Only this rollup field (repeatable).")
@click.option("--batch", default=1000, show_default=True, type=int, help="Records per statement.")
@app_option
@db_option
def rollups_rebuild(entity, field_ids, batch, app, database) -> None:
    """Recompute every rollup (of ENTITY, or only --field) from the records, in batches.

    The repository keeps rollups current on every write; this repairs values changed
    behind its back (SQL run by hand, a restored backup) and prints what it did."""
    from runtime.store.rollups import rollup_fields

    model, _db, repo, _users = _services(app, database)
    known = rollup_fields(model)
    if entity is not None and entity not in model.entities:
        _fail(f"no entity {entity!r} (entities: {', '.join(sorted(model.entities))})")
    mine = sorted(f.id for e, f in known if entity is None or e == entity)
    unknown = [f for f in field_ids if f not in mine]
    if unknown:
        _fail(f"no rollup field {unknown[0]!r} (rollups: {', '.join(mine) or 'none'})")
    done = repo.rollups.rebuild(entity, field_ids or None, batch=max(batch, 1))
    for parent, field_id, count in done:
        click.echo(f"  {parent}.{field_id}: {count} records recomputed")
    click.echo(f"{len(done)} rollup(s) rebuilt")


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("email")
@click.option("--role", "roles", multiple=True, required=True, help="Role id (repeatable).")
@click.option("--team", default=None, help="Team name (created if missing).")
@click.option("--name", default=None)
@click.option("--password", default=None, help="Prompted for when omitted.")
@click.option(
    "--locale",
    default=None,
    help="Interface language (e.g. en, zh; default: the app's first locale).",
)
@click.option(
    "--timezone",
    default=None,
    help="The user's own time zone, e.g. Asia/Tokyo (default: the app's).",
)
@app_option
@db_option
def user_create(email, roles, team, name, password, locale, timezone, app, database) -> None:
    """Create a user with one or more roles."""
    from runtime.errors import ValidationError

    model, db, _repo, users = _services(app, database)
    db.create_or_upgrade()
    if locale is not None and locale not in model.locales:
        _fail(f"--locale: '{locale}' is not one of the app's locales ({', '.join(model.locales)})")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    team_id = users.ensure_team(team) if team else None
    try:
        user_id = users.create_user(
            email,
            name or email.split("@")[0],
            password,
            roles=list(roles),
            team_id=team_id,
            locale=locale or model.default_locale,
            timezone=timezone,
        )
    except ValidationError as exc:
        for field, messages in exc.as_dict().items():
            click.echo(f"error: {field}: {' '.join(messages)}", err=True)
        sys.exit(2)
    click.echo(f"user {user_id} created: {email}")


def _user_id(users, email: str) -> int:
    user_id = users.id_for_email(email)
    if user_id is None:
        _fail(f"no user with e-mail {email}")
    return user_id


@user.command("deactivate")
@click.argument("email")
@app_option
@db_option
def user_deactivate(email, app, database) -> None:
    """Stop a user signing in; ends their sessions (their API keys stop working too)."""
    _model, _db, _repo, users = _services(app, database)
    users.set_active(_user_id(users, email), False)
    click.echo(f"user {email} deactivated; their sessions have ended")


@user.command("activate")
@click.argument("email")
@app_option
@db_option
def user_activate(email, app, database) -> None:
    """Let a deactivated user sign in again (old sessions stay ended)."""
    _model, _db, _repo, users = _services(app, database)
    users.set_active(_user_id(users, email), True)
    click.echo(f"user {email} activated")


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the key is for.")
@app_option
@db_option
def apikey_create(email, name, app, database) -> None:
    """Create an API key for a user; the key is shown once."""
    _model, _db, _repo, users = _services(app, database)
    token = users.create_api_key(_user_id(users, email), name=name)
    click.echo(token)


@apikey.command("list")
@click.argument("email", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@app_option
@db_option
def apikey_list(email, show_all, app, database) -> None:
    """List API keys (of one user, or everybody's): id, owner, name, created, last used."""
    _model, _db, _repo, users = _services(app, database)
    keys = users.api_keys(_user_id(users, email) if email else None)
    if not show_all:
        keys = [k for k in keys if k["revoked_at"] is None]
    if not keys:
        click.echo("no API keys")
        return
    click.echo(f"{'id':>5}  {'owner':<28} {'name':<20} {'created':<16} {'last used':<16} status")
    for key in keys:
        status = f"revoked {_when(key['revoked_at'])}" if key["revoked_at"] else "active"
        click.echo(
            f"{key['id']:>5}  {key['email']:<28} {key['name'] or '-':<20} "
            f"{_when(key['created_at']):<16} {_when(key['last_used_at']) or 'never':<16} {status}"
        )


@apikey.command("revoke")
@click.argument("key_id", type=int)
@app_option
@db_option
def apikey_revoke(key_id, app, database) -> None:
    """Revoke an API key by its id (see `trellis apikey list`); it stops working at once."""
    _model, _db, _repo, users = _services(app, database)
    if not users.revoke_api_key(key_id):
        _fail(f"no live API key with id {key_id}")
    click.echo(f"API key {key_id} revoked")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True)
@click.option(
    "--with-worker",
    is_flag=True,
    help="Also start `trellis worker` beside the server (stopped with it): the demo's one command.",
)
def serve(host: str, port: int, debug: bool, with_worker: bool) -> None:
    """Run the development server (production: gunicorn 'runtime.web.wsgi:app')."""
    import subprocess

    from runtime.web.app import create_app
    from runtime.web.serving import run_dev_server

    app = create_app()
    worker = None
    if with_worker and _serves_here(debug) and not app.extensions["trellis"].jobs.immediate:
        worker = subprocess.Popen([sys.executable, "-m", "builder.cli", "worker"])
        click.echo(f"worker started (pid {worker.pid}); jobs at http://{host}:{port}/admin/jobs")
    try:
        run_dev_server(app, host, port, debug)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()


def _serves_here(debug: bool) -> bool:
    """False in the watching parent of Werkzeug's reloader (``--debug``): it only
    restarts the serving child (``WERKZEUG_RUN_MAIN=true``), which starts the worker
    itself; a worker started in both would be two."""
    return not debug or os.environ.get("WERKZEUG_RUN_MAIN") == "true"


@main.command()
@app_option
@db_option
@click.option("--workers", default=2, show_default=True, type=int, help="Worker threads.")
def worker(app: str | None, database: str | None, workers: int) -> None:
    """Deliver events, send mail and run periodic jobs until stopped (Ctrl-C)."""
    import logging

    from runtime.wiring import build_runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("huey").setLevel(logging.WARNING)  # not a line per delivered event
    logging.getLogger("huey.consumer").setLevel(logging.INFO)
    runtime = build_runtime(_load_model(app_path(app)), database_url(database))
    if runtime.jobs.immediate:
        _fail("TRELLIS_QUEUE=immediate runs jobs inline: there is nothing for a worker to do")
    relayed = runtime.jobs.outbox.relay(grace_seconds=0)  # what a stopped worker left
    click.echo(
        f"worker: {runtime.jobs.mode} queue, {workers} thread(s), {relayed} event(s) relayed"
    )
    runtime.jobs.consumer(workers=workers).run()


if __name__ == "__main__":
    main()
