"""The Flask app factory: settings, services, templating, auth, errors and blueprints.

``create_app()`` serves the app definition named by ``TRELLIS_APP`` from the database
at ``TRELLIS_DATABASE_URL`` (see ``runtime.web.config`` for every setting). It never
creates tables; ``trellis init`` does, and until then every page explains that.

Plugging in a screen: write ``runtime/web/<name>.py`` with a ``bp = Blueprint(...)``
(or a ``register(app)`` function) and add the module to ``BLUEPRINT_MODULES``. The
optional modules listed there are skipped while they do not exist yet.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from runtime.definition import ModelCache
from runtime.definition.model import AppModel
from runtime.events import EventBus
from runtime.expressions import clock_in_zone, restore_clock
from runtime.features import FeatureSet
from runtime.resources import shipped_dir
from runtime.store import Database, Repository
from runtime.store.users import UserService
from runtime.store.versions import VersionError, current_digest, materialise, stored_version
from runtime.timezones import is_zone
from runtime.web.auth import install_auth
from runtime.web.config import flask_config, load_settings
from runtime.web.errors import DatabaseNotInitialised, register_error_handlers
from runtime.web.i18n import I18n, get_timezone
from runtime.web.templating import install_templating
from runtime.wiring import build_runtime, features_from_env

log = logging.getLogger("trellis.web")

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Blueprint modules in registration order. Core ones must import; optional ones are
# skipped while their module does not exist (they are being built by later issues).
CORE_BLUEPRINTS = ("runtime.web.auth", "runtime.web.home")
OPTIONAL_BLUEPRINTS = (
    "runtime.web.entities",
    "runtime.web.records",
    "runtime.web.api",
    "runtime.web.admin",
    "runtime.web.admin_jobs",
    "runtime.web.preferences",
)
BLUEPRINT_MODULES = CORE_BLUEPRINTS + OPTIONAL_BLUEPRINTS

# A table every initialised database has; its absence means `trellis init` never ran.
MARKER_TABLE = "sys_users"


@dataclass
class Services:
    """What views need, built once per app: ``app.extensions["trellis"]``."""

    model: AppModel
    db: Database
    repo: Repository
    users: UserService
    bus: EventBus
    features: FeatureSet
    jobs: Any = None  # runtime.jobs.JobQueue
    ready: bool = False  # the tables exist (checked at start, then until true)
    applied: str | None = None  # hash of the stored version these services follow

    def check_ready(self) -> bool:
        if not self.ready:
            self.ready = self.db.has_table(MARKER_TABLE)
        return self.ready


def _resolve_app_dir(path: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        # The default works from any working directory, in a checkout or a wheel install.
        for root in (ROOT, shipped_dir("app_definitions").parent):
            if (root / candidate).exists():
                return root / candidate
    return candidate


def _resolve_database_url(url: str, instance_path: str) -> str:
    """Make the relative default ``sqlite:///instance/...`` land in the instance folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        relative = url[len(prefix) :]
        if relative.startswith("instance/"):
            relative = relative[len("instance/") :]
            target = Path(instance_path) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            return prefix + str(target)
    return url


def build_services(
    settings: Mapping[str, Any],
    *,
    model_cache: ModelCache | None = None,
    features: Iterable[Any] | None = None,
) -> Services:
    """The services of ``settings``' app; ``features`` (names or ``Feature`` objects)
    replaces the default ones plus ``TRELLIS_FEATURES`` when given (``[]``: none)."""
    return _services_of(_resolve_app_dir(settings["TRELLIS_APP"]), settings, model_cache, features)


def _services_of(
    app_dir: Path | AppModel,
    settings: Mapping[str, Any],
    model_cache: ModelCache | None,
    features: Iterable[Any] | None,
) -> Services:
    url = _resolve_database_url(settings["TRELLIS_DATABASE_URL"], settings["TRELLIS_INSTANCE_PATH"])
    if features is None:
        features = features_from_env(settings.get("TRELLIS_FEATURES"))
    runtime = build_runtime(
        app_dir,
        url,
        features,
        model_cache=model_cache,
        queue=settings.get("TRELLIS_QUEUE") or None,
        instance_path=settings["TRELLIS_INSTANCE_PATH"],
        redis_url=settings.get("TRELLIS_REDIS_URL") or "",
    )
    return Services(
        model=runtime.model,
        db=runtime.db,
        repo=runtime.repo,
        users=runtime.users,
        bus=runtime.bus,
        features=runtime.features,
        jobs=runtime.jobs,
    )


def register_blueprints(app: Flask, modules: Iterable[str] = BLUEPRINT_MODULES) -> list[str]:
    """Import each module and register its ``bp`` (or call its ``register(app)``).

    Only a missing optional module is skipped: an ImportError inside a module that
    exists is a bug and propagates.
    """
    registered = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name and name not in CORE_BLUEPRINTS:
                continue
            raise
        if hasattr(module, "register"):
            module.register(app)
        else:
            app.register_blueprint(module.bp)
        registered.append(name)
    return registered


def create_app(
    config_overrides: Mapping[str, Any] | None = None,
    *,
    model_cache: ModelCache | None = None,
    features: Iterable[Any] | None = None,
) -> Flask:
    """The web app; ``features`` replaces the configured ones when given (tests serve
    an app without any: ``features=[]``)."""
    settings = load_settings(config_overrides)
    app = Flask(
        "runtime.web",
        static_folder=str(STATIC_DIR),
        static_url_path="/static",
        instance_path=settings["TRELLIS_INSTANCE_PATH"],
        instance_relative_config=False,
    )
    app.config.update(settings)
    app.config.update(flask_config(settings))
    # Plain Flask settings in the overrides (TESTING, WTF_CSRF_ENABLED, ...) win.
    app.config.update({k: v for k, v in (config_overrides or {}).items() if k not in settings})
    app.json.sort_keys = False  # type: ignore[attr-defined]

    services = build_services(settings, model_cache=model_cache, features=features)
    app.extensions["trellis"] = services
    app.extensions["trellis_reload"] = VersionReloader(settings, features)
    if not services.check_ready():
        log.error(
            "database %s has no Trellis tables: run `trellis init` (pages answer 503 until then)",
            services.db.engine.url.render_as_string(hide_password=True),
        )
    else:
        services.applied = current_digest(services.db.engine, services.model.id)
        _warn_if_folder_differs(services)

    I18n(app, settings["TRELLIS_LOCALE"] or services.model.default_locale)
    install_templating(app, services.model.source_dir or _resolve_app_dir(settings["TRELLIS_APP"]))
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.before_request(_require_database)
    app.before_request(_viewer_clock)
    app.teardown_request(_restore_clock)
    if settings["TRELLIS_TIMEZONE"] and not is_zone(settings["TRELLIS_TIMEZONE"]):
        log.error(
            "TRELLIS_TIMEZONE=%r is not a time zone (use a name such as Asia/Shanghai); "
            "the app's own zone is used",
            settings["TRELLIS_TIMEZONE"],
        )
    install_auth(app)
    register_error_handlers(app)
    app.after_request(_security_headers)
    register_blueprints(app)
    for blueprint in services.features.gather("blueprints"):
        if isinstance(blueprint, Blueprint):
            app.register_blueprint(blueprint)
        else:  # an object that registers itself (several blueprints, error handlers...)
            blueprint.register(app)
    proxies = int(settings["TRELLIS_PROXY_COUNT"] or 0)
    if proxies > 0:
        # Only then is X-Forwarded-For believed: the login limit counts per client
        # address, and a client could otherwise name any address it likes.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    return app


def _require_database() -> None:
    if request.endpoint in ("static", "home.healthz"):
        return
    from flask import current_app

    if not current_app.extensions["trellis"].check_ready():
        raise DatabaseNotInitialised()
    current_app.extensions["trellis_reload"].follow(current_app)


def _warn_if_folder_differs(services: Services) -> None:
    if services.applied and services.model.digest and services.applied != services.model.digest:
        log.warning(
            "app folder %s differs from the applied version of app '%s': it is served as it "
            "is; run `trellis init` to apply additive changes and record them as a version",
            services.model.source_dir,
            services.model.id,
        )


class VersionReloader:
    """Swaps ``app.extensions["trellis"]`` for services built from the stored files
    when another process applies a new version (``trellis init`` today).

    Each request costs one indexed query (the newest version's hash); the rebuild runs
    once per new version, under a lock, and the swap is one assignment, so a request
    sees either the old services or the new ones, never a mix."""

    def __init__(self, settings: Mapping[str, Any], features: Iterable[Any] | None):
        self.settings = settings
        self.features = features
        self.lock = threading.Lock()

    def follow(self, app: Flask) -> None:
        services: Services = app.extensions["trellis"]
        stored = current_digest(services.db.engine, services.model.id)
        if stored is None or stored == services.applied:
            return
        with self.lock:
            services = app.extensions["trellis"]
            if stored == services.applied:
                return  # another thread has just swapped them
            app.extensions["trellis"] = self._rebuilt(services, stored)

    def _rebuilt(self, services: Services, stored: str) -> Services:
        if stored == services.model.digest:
            services.applied = stored  # the stored version is the one being served
            return services
        version = stored_version(services.db.engine, services.model.id)
        if version is None or version.digest != stored or not version.files:
            services.applied = stored  # recorded without its files: nothing to rebuild
            return services
        try:
            folder = materialise(version.files, self.settings["TRELLIS_INSTANCE_PATH"], stored)
            fresh = _services_of(folder, self.settings, None, self.features)
        except (VersionError, OSError, Exception) as exc:  # noqa: BLE001 keep the old version
            log.error("could not load applied version %s: %s", version.number, exc)
            services.applied = stored
            return services
        fresh.ready = True
        fresh.applied = stored
        log.info("now serving version %s of app '%s'", version.number, fresh.model.id)
        return fresh


def _viewer_clock() -> None:
    # today() / now() in expressions (defaults such as ``=today()``) follow the viewer.
    g._trellis_clock = clock_in_zone(get_timezone)


def _restore_clock(_exc: BaseException | None = None) -> None:
    token = g.pop("_trellis_clock", None)
    if token is not None:
        try:
            restore_clock(token)
        except ValueError:  # created in another context (never in a normal request)
            pass


def csp_nonce() -> str:
    """A per-request nonce for the rare inline ``<script nonce="{{ csp_nonce() }}">``."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def _security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static" and not (request.endpoint or "").endswith(".static"):
        # Pages and JSON show one user's data (and CSRF tokens): no cache, shared or
        # the browser's own (the back button after sign-out), may keep them.
        headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        # Scripts only from our own static files (and nonce'd inline ones); styles may
        # be inline because Gridstack and ECharts set style attributes.
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{csp_nonce()}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; "
            "base-uri 'self'; form-action 'self'; object-src 'none'",
        )
    return response
