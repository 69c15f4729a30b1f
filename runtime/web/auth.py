"""Sign-in, sign-out, the login rate limit, API bearer keys and the request guards.

* Pages use Flask-Login sessions (signed cookies); ``/login`` checks the password with
  ``UserService.authenticate`` and ``/logout`` is a POST.
* ``/api/`` requests may instead send ``Authorization: Bearer <key>``; a bearer request
  is authenticated by that key alone and is the only kind exempt from CSRF, since a
  browser never attaches it on its own. An API call riding on a session cookie is
  checked for CSRF like any form post.
* Every view needs a signed-in user unless it is a static file, ``/login``,
  ``/healthz`` or decorated with :func:`public` (for example public lead forms).
* Failed logins are counted per e-mail and client address, and per address alone
  (so one address cannot try many e-mails). The counter lives in process memory by
  default, which is right for one process; with several workers or hosts set
  ``TRELLIS_REDIS_URL`` so they share it (web workers keep no state). The client
  address is the socket's, or with ``TRELLIS_PROXY_COUNT`` set, the one the proxies
  in front of Trellis put in ``X-Forwarded-For`` (see ``runtime.web.app``).
* A session and a remember cookie carry the user's ``session_version``: sign-out, a
  new password and deactivation raise it, which ends every session of that user on
  every device. API keys are separate and stay valid until revoked.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from runtime.web.avatars import initials
from runtime.web.i18n import SESSION_KEY
from runtime.web.i18n import gettext as _

log = logging.getLogger("trellis.web")

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

PUBLIC_ENDPOINTS = frozenset({"static", "auth.login", "auth.set_locale", "home.healthz"})


def public(view: Callable) -> Callable:
    """Mark a view as reachable without signing in."""
    view._trellis_public = True  # type: ignore[attr-defined]
    return view


def csrf_exempt(view: Callable) -> Callable:
    """Exempt a view from CSRF (signed webhooks and the like; never a page form)."""
    view._trellis_csrf_exempt = True  # type: ignore[attr-defined]
    return view


class WebUser:
    """A ``runtime.store.Principal`` dressed for Flask-Login.

    ``current_user.principal`` is what views pass to the repository; attribute reads
    (``current_user.name``, ``.roles``, ``.locale``) fall through to the principal.
    """

    is_anonymous = False

    def __init__(self, principal: Any, via_api_key: bool = False):
        self.principal = principal
        self.via_api_key = via_api_key

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return True

    def get_id(self) -> str:
        # Flask-Login keeps this in the session and signs it into the remember cookie.
        return f"{self.principal.id}:{self.principal.session_version}"

    @property
    def initials(self) -> str:
        return initials(getattr(self.principal, "name", "") or self.principal.email)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.principal, name)


# -- login rate limit ----------------------------------------------------------------


class FailureStore(Protocol):
    def count(self, key: str) -> int: ...
    def add(self, key: str) -> int: ...
    def reset(self, key: str) -> None: ...


class MemoryFailureStore:
    """Failure timestamps per key in this process; a sliding window."""

    def __init__(self, window: int):
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return deque()
        return hits

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._prune(key, time.monotonic()))

    def add(self, key: str) -> int:
        with self._lock:
            now = time.monotonic()
            hits = self._prune(key, now)
            hits.append(now)
            self._hits[key] = hits
            return len(hits)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class RedisFailureStore:
    """A counter per key in Redis that expires a window after the first failure."""

    def __init__(self, url: str, window: int, prefix: str = "trellis:login-failures:"):
        import redis

        self.client = redis.Redis.from_url(url)
        self.window = window
        self.prefix = prefix

    def count(self, key: str) -> int:
        return int(self.client.get(self.prefix + key) or 0)

    def add(self, key: str) -> int:
        pipe = self.client.pipeline()
        pipe.incr(self.prefix + key)
        pipe.expire(self.prefix + key, self.window, nx=True)
        value, _ = pipe.execute()
        return int(value)

    def reset(self, key: str) -> None:
        self.client.delete(self.prefix + key)


class LoginThrottle:
    """Counts failed sign-ins per key. If the shared store is unreachable the limit is
    not enforced (and a warning is logged) rather than locking everybody out."""

    def __init__(self, store: FailureStore, max_failures: int, max_failures_per_address: int = 0):
        self.store = store
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address

    @staticmethod
    def key(email: str, address: str | None) -> str:
        raw = f"{email.strip().lower()}|{address or '-'}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    @staticmethod
    def address_key(address: str | None) -> str:
        raw = f"address|{address or '-'}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def attempt_blocked(self, email: str, address: str | None) -> bool:
        """Too many failures for this e-mail from this address, or from this address at all."""
        if self.blocked(self.key(email, address)):
            return True
        limit = self.max_failures_per_address
        return bool(limit) and self._call(self.store.count, self.address_key(address), 0) >= limit

    def attempt_failed(self, email: str, address: str | None) -> None:
        self.failed(self.key(email, address))
        if self.max_failures_per_address:
            self.failed(self.address_key(address))

    def attempt_succeeded(self, email: str, address: str | None) -> None:
        # The address count is kept: one good password must not reset a spray of guesses.
        self.succeeded(self.key(email, address))

    def _call(self, method: Callable[[str], Any], key: str, default: Any = None) -> Any:
        try:
            return method(key)
        except (OSError, _redis_error()) as exc:
            log.warning("login rate-limit store unavailable: %s", exc)
            return default

    def blocked(self, key: str) -> bool:
        return self._call(self.store.count, key, 0) >= self.max_failures

    def failed(self, key: str) -> None:
        self._call(self.store.add, key)

    def succeeded(self, key: str) -> None:
        self._call(self.store.reset, key)


def _redis_error() -> type[Exception]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # redis is a dependency, but the in-memory store needs none
        return OSError
    return RedisError


def make_throttle(config: dict[str, Any]) -> LoginThrottle:
    window = int(config["TRELLIS_LOGIN_WINDOW_SECONDS"])
    store: FailureStore
    if config.get("TRELLIS_REDIS_URL"):
        store = RedisFailureStore(config["TRELLIS_REDIS_URL"], window)
    else:
        store = MemoryFailureStore(window)
    return LoginThrottle(
        store,
        int(config["TRELLIS_LOGIN_MAX_FAILURES"]),
        int(config.get("TRELLIS_LOGIN_MAX_FAILURES_PER_IP") or 0),
    )


# -- views -----------------------------------------------------------------------------


def _services():
    return current_app.extensions["trellis"]


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted link cannot bounce a user elsewhere."""
    # Control characters (CR/LF) cannot go into a Location header: they once gave a 500.
    if target and target.isprintable():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    email = ""
    error = None
    status = 200
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()
        password = request.form.get("password") or ""
        throttle: LoginThrottle = current_app.extensions["trellis_login_throttle"]
        address = request.remote_addr
        if throttle.attempt_blocked(email, address):
            abort(429)
        principal = _services().users.authenticate(email, password) if email and password else None
        if principal is None:
            throttle.attempt_failed(email, address)
            error = _("The e-mail address or password is not correct.")
            status = 401
        else:
            throttle.attempt_succeeded(email, address)
            locale = session.get(SESSION_KEY)
            session.clear()  # no state from before sign-in survives it
            if locale:
                # The language picked on the login page becomes the user's own.
                session[SESSION_KEY] = locale
                if locale != principal.locale:
                    _services().users.set_locale(principal.id, locale)
                    principal = replace(principal, locale=locale)
            login_user(WebUser(principal), remember=bool(request.form.get("remember")))
            return redirect(_safe_next(request.form.get("next") or request.args.get("next")))
    from runtime.web.templating import render_screen

    return (
        render_screen("login", email=email, error=error, next=request.values.get("next", "")),
        status,
    )


@bp.route("/logout", methods=["POST"])
def logout():
    principal = getattr(current_user, "principal", None)
    if principal is not None and not current_user.via_api_key:
        # Every copy of this user's session and remember cookie stops working, here
        # and on every other device.
        _services().users.end_sessions(principal.id)
    logout_user()
    locale = session.get(SESSION_KEY)
    session.clear()
    if locale:
        session[SESSION_KEY] = locale
    if current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies:
        # logout_user() asked for the remember cookie's deletion with a session flag
        # that session.clear() just wiped: ask again.
        session["_remember"] = "clear"
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/locale", methods=["POST"])
def set_locale():
    """The header's language switcher: saved on the user, or in the session."""
    i18n = current_app.extensions["trellis_i18n"]
    locale = i18n.normalise(request.form.get("locale"))
    if locale is None:
        abort(400)
    if current_user.is_authenticated:
        _services().users.set_locale(current_user.principal.id, locale)
    session[SESSION_KEY] = locale
    g.pop("locale", None)
    return redirect(_safe_next(request.form.get("next") or _referrer_path()))


def _referrer_path() -> str | None:
    if not request.referrer:
        return None
    parts = urlsplit(request.referrer)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


# -- request guards ----------------------------------------------------------------------


def _is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _authenticate_bearer() -> None:
    """For ``/api/``: a bearer key wins over any cookie; a bad key is a 401."""
    g.bearer_authenticated = False
    if not _is_api_request():
        return
    token = _bearer_token()
    if token is None:
        if request.headers.get("Authorization"):
            abort(401, description=_("Use an Authorization: Bearer <API key> header."))
        return
    principal = _services().users.principal_for_api_key(token)
    if principal is None:
        abort(401, description=_("The API key is not valid, or it has been revoked."))
    g._login_user = WebUser(principal, via_api_key=True)  # Flask-Login's per-request slot
    g.bearer_authenticated = True


def _protect_csrf() -> None:
    if g.get("bearer_authenticated"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "_trellis_csrf_exempt", False):
        return
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        return  # nothing to forge without a session: the sign-in check answers 401
    csrf.protect()  # checks only POST/PUT/PATCH/DELETE


def _require_login():
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.endswith(".static"):
        return None
    view = current_app.view_functions.get(endpoint)
    if view is None:  # 404 / 405: let the error handler answer
        return None
    if getattr(view, "_trellis_public", False) or current_user.is_authenticated:
        return None
    if _is_api_request():
        abort(401, description=_("Sign in, or send a valid API key, to continue."))
    if request.headers.get("HX-Request"):
        # htmx follows redirects inside the page; ask for a full navigation instead.
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = url_for("auth.login", next=request.full_path)
        return response
    return redirect(url_for("auth.login", next=_next_param()))


def _next_param() -> str:
    return request.full_path if request.query_string else request.path


def install_auth(app: Flask) -> None:
    login_manager = LoginManager()
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str) -> WebUser | None:
        """``"<id>:<session_version>"`` from the session or the remember cookie."""
        raw_id, _sep, raw_version = str(user_id).partition(":")
        try:
            principal = app.extensions["trellis"].users.principal(int(raw_id))
            version = int(raw_version)
        except (TypeError, ValueError):
            return None
        if principal is None or principal.session_version != version:
            return None  # signed out everywhere, new password, or deactivated since
        return WebUser(principal)

    login_manager.init_app(app)
    csrf.init_app(app)
    app.extensions["trellis_login_throttle"] = make_throttle(app.config)
    # Order matters: who is calling, then CSRF (unless by bearer key), then sign-in.
    app.before_request(_authenticate_bearer)
    app.before_request(_protect_csrf)
    app.before_request(_require_login)
