"""Read the web app's settings from ``TRELLIS_*`` environment variables, with defaults
that run on one laptop with nothing else installed.

| variable | default | meaning |
|---|---|---|
| ``TRELLIS_DATABASE_URL`` | ``sqlite:///instance/trellis.db`` | SQLAlchemy URL; PostgreSQL in production |
| ``TRELLIS_APP`` | ``app_definitions/opportunity`` | folder of the app definition to run |
| ``TRELLIS_FEATURES`` | empty | more features to load, comma-separated ``module`` or ``module:ATTRIBUTE`` (pipelines and follow-ups are always on) |
| ``TRELLIS_SECRET_KEY`` | random, kept in ``instance/secret_key`` | signs sessions and CSRF tokens |
| ``TRELLIS_REDIS_URL`` | unset | shared storage for login rate limits and the job queue (``RedisHuey``) |
| ``TRELLIS_QUEUE`` | empty (``redis`` when ``TRELLIS_REDIS_URL`` is set, else ``sqlite``) | the job queue: ``sqlite`` (a file in the instance folder), ``redis``, or ``immediate`` (jobs run inline, tests) |
| ``TRELLIS_LOCALE`` | the app's default locale | interface locale when neither user nor browser says |
| ``TRELLIS_TIMEZONE`` | empty (the app's ``timezone``) | time zone in which date-times are shown, unless a user picked their own |
| ``TRELLIS_INSTANCE_PATH`` | ``instance`` | folder for the SQLite file and the generated secret key |
| ``TRELLIS_SECURE_COOKIES`` | ``0`` | ``1`` behind HTTPS: cookies get the ``Secure`` flag |
| ``TRELLIS_LOGIN_MAX_FAILURES`` | ``5`` | failed logins per e-mail and IP address ... |
| ``TRELLIS_LOGIN_WINDOW_SECONDS`` | ``300`` | ... within this many seconds before answering 429 |
| ``TRELLIS_LOGIN_MAX_FAILURES_PER_IP`` | ``20`` | failed logins from one address (any e-mail) in the window; ``0`` = no limit |
| ``TRELLIS_PROXY_COUNT`` | ``0`` | reverse proxies in front of Trellis whose ``X-Forwarded-For`` / ``-Proto`` to trust |

Production must set ``TRELLIS_SECRET_KEY``: the generated key is shared only by the
workers of one host (they read the same file); workers on several hosts would each
make their own and reject each other's sessions. Production behind several hosts must
also set ``TRELLIS_REDIS_URL`` so that the login rate limit is counted across workers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "TRELLIS_DATABASE_URL": "sqlite:///instance/trellis.db",
    "TRELLIS_APP": "app_definitions/opportunity",
    "TRELLIS_FEATURES": "",
    "TRELLIS_SECRET_KEY": "",
    "TRELLIS_REDIS_URL": "",
    "TRELLIS_QUEUE": "",
    "TRELLIS_LOCALE": "",
    "TRELLIS_TIMEZONE": "",
    "TRELLIS_INSTANCE_PATH": "instance",
    "TRELLIS_SECURE_COOKIES": False,
    "TRELLIS_LOGIN_MAX_FAILURES": 5,
    "TRELLIS_LOGIN_WINDOW_SECONDS": 300,
    "TRELLIS_LOGIN_MAX_FAILURES_PER_IP": 20,
    "TRELLIS_PROXY_COUNT": 0,
}

_BOOL_TRUE = {"1", "true", "yes", "on"}


def _coerce(name: str, raw: str) -> Any:
    default = DEFAULTS[name]
    if isinstance(default, bool):
        return raw.strip().lower() in _BOOL_TRUE
    if isinstance(default, int):
        return int(raw)
    return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults, then ``TRELLIS_*`` environment variables, then ``overrides``."""
    env = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        if env.get(name, "") != "":
            settings[name] = _coerce(name, env[name])
    settings.update(overrides or {})
    settings["TRELLIS_INSTANCE_PATH"] = str(Path(settings["TRELLIS_INSTANCE_PATH"]).resolve())
    return settings


def ensure_secret_key(instance_path: str | os.PathLike[str]) -> str:
    """The key kept in ``<instance>/secret_key``, created once with mode 0600.

    Written with O_EXCL so that workers starting at the same moment agree on one key.
    """
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
        # A worker is writing it right now (or a crash left it empty): wait briefly.
        import time

        for _ in range(50):
            time.sleep(0.02)
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
        raise RuntimeError(f"{path} is empty: delete it or set TRELLIS_SECRET_KEY") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def flask_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The Flask, Flask-Login and Flask-WTF settings derived from ours."""
    secure = bool(settings["TRELLIS_SECURE_COOKIES"])
    return {
        "SECRET_KEY": settings["TRELLIS_SECRET_KEY"]
        or ensure_secret_key(settings["TRELLIS_INSTANCE_PATH"]),
        # Forms and API bodies are small; spreadsheet imports stay well under this.
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "SESSION_COOKIE_NAME": "trellis_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_NAME": "trellis_remember",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        # CSRF is checked by our own before_request so that bearer-token API calls
        # (and only those) can skip it; see runtime.web.auth.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "WTF_CSRF_SSL_STRICT": secure,
        "JSON_SORT_KEYS": False,
    }
