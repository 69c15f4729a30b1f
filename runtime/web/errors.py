"""Turn HTTP errors and the runtime's error values into pages and JSON bodies.

Pages get ``runtime/error.html``; ``/api/`` paths (and clients that ask for JSON only)
get ``{"error": {"code": ..., "message": ...}}`` with the same status. The runtime's
exceptions map to statuses here, once: ``PermissionDenied`` 403, ``NotFound`` 404,
``ConflictError`` 409, ``ValidationError`` 422.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.exceptions import HTTPException, InternalServerError

from runtime.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from runtime.web.i18n import get_locale
from runtime.web.i18n import gettext as _

log = logging.getLogger("trellis.web")


class DatabaseNotInitialised(Exception):
    """The app's tables are missing: ``trellis init`` has not been run on this database."""


def _messages() -> dict[int, tuple[str, str, str]]:
    # status -> (code, title, message); built per call so the text follows the locale.
    return {
        400: ("bad_request", _("Bad request"), _("The request could not be understood.")),
        401: (
            "unauthorized",
            _("Sign-in required"),
            _("Sign in, or send a valid API key, to continue."),
        ),
        403: ("forbidden", _("Access denied"), _("You do not have permission to do this.")),
        404: (
            "not_found",
            _("Page not found"),
            _("The page or record does not exist, or you cannot see it."),
        ),
        405: (
            "method_not_allowed",
            _("Not allowed"),
            _("This address does not accept that kind of request."),
        ),
        409: (
            "conflict",
            _("Changed meanwhile"),
            _("Someone else saved this record first. Reload it and apply your changes again."),
        ),
        422: ("validation_error", _("Check your input"), _("Some values are not valid.")),
        429: (
            "too_many_requests",
            _("Too many attempts"),
            _("Too many attempts. Wait a few minutes, then try again."),
        ),
        500: (
            "internal_error",
            _("Something went wrong"),
            _("An unexpected error occurred. It has been logged; please try again."),
        ),
        503: (
            "unavailable",
            _("Not available"),
            _("The service is not available right now. Please try again shortly."),
        ),
    }


def wants_json() -> bool:
    if request.path == "/api" or request.path.startswith("/api/"):
        return True
    accept = request.accept_mimetypes
    return accept.best == "application/json" and not accept.accept_html


def error_response(
    status: int,
    *,
    code: str | None = None,
    message: str | None = None,
    title: str | None = None,
    details: dict[str, Any] | None = None,
):
    default_code, default_title, default_message = _messages().get(
        status, ("error", _("Error"), _("The request failed."))
    )
    code = code or default_code
    message = message or default_message
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        if details:
            body.update(details)
        response = jsonify({"error": body})
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="trellis"'
        return response
    from runtime.web.templating import render_screen

    html = render_screen(
        "error",
        signed_in=_signed_in(code),
        status=status,
        code=code,
        title=title or default_title,
        message=message,
        details=details or {},
    )
    return html, status


def _signed_in(code: str) -> bool:
    """Whether to draw the full shell; never touch the user table when it is missing."""
    if code == "database_not_initialised":
        return False
    try:
        from flask_login import current_user

        return bool(current_user and current_user.is_authenticated)
    except Exception:  # the error page must render even when loading the user fails
        return False


def _handle_http(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        return _handle_500(exc)
    if isinstance(exc, CSRFError):
        return error_response(
            400,
            code="csrf_failed",
            title=_("Form expired"),
            message=_(
                "The form has expired or was sent from elsewhere. Reload the page and try again."
            ),
        )
    if exc.response is not None:
        return exc.response
    # A description given at abort() says more than the generic text for the status.
    custom = exc.description if exc.description != type(exc).description else None
    response = error_response(status, message=custom)
    if status == 405 and getattr(exc, "valid_methods", None):
        response = current_app.make_response(response)
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _handle_500(exc: Exception):
    original = getattr(exc, "original_exception", None) or exc
    if _is_missing_table(original):
        return _handle_not_initialised(original)
    # Flask has logged the traceback already (Flask.log_exception).
    return error_response(500)


def _is_missing_table(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseNotInitialised):
        return True
    if isinstance(exc, (OperationalError, ProgrammingError)):
        text = str(exc).lower()
        return "no such table" in text or ("relation" in text and "does not exist" in text)
    return False


def _handle_not_initialised(exc: BaseException):
    log.error("database tables are missing (%s); run `trellis init`", exc)
    return error_response(
        503,
        code="database_not_initialised",
        title=_("Database not set up"),
        message=_(
            "The database has no Trellis tables yet. An administrator must run "
            "“trellis init” once, then reload this page."
        ),
    )


def _handle_permission_denied(exc: PermissionDenied):
    detail = str(exc)
    return error_response(403, code=exc.code, details={"detail": detail} if detail else None)


def _handle_not_found(exc: NotFound):
    return error_response(404, code=exc.code)


def _handle_validation(exc: ValidationError):
    locale = g.get("locale") or get_locale()
    return error_response(422, code=exc.code, details={"fields": exc.as_dict(locale)})


def _handle_conflict(exc: ConflictError):
    return error_response(
        409,
        code=exc.code,
        details={"current_version": exc.current_version, "changes": exc.changes},
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(InternalServerError, _handle_500)
    app.register_error_handler(DatabaseNotInitialised, _handle_not_initialised)
    app.register_error_handler(OperationalError, _handle_database_error)
    app.register_error_handler(ProgrammingError, _handle_database_error)
    app.register_error_handler(PermissionDenied, _handle_permission_denied)
    app.register_error_handler(NotFound, _handle_not_found)
    app.register_error_handler(ValidationError, _handle_validation)
    app.register_error_handler(ConflictError, _handle_conflict)


def _handle_database_error(exc: Exception):
    if _is_missing_table(exc):
        return _handle_not_initialised(exc)
    raise exc
