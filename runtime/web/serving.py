"""The development server (``trellis serve``): werkzeug's, minus its version banner.

werkzeug's handler answers ``Server: Werkzeug/3.x Python/3.x``, which tells a scanner
exactly which known flaws to try. Gunicorn, the production server, already sends a
bare ``Server: gunicorn``.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.serving import WSGIRequestHandler

SERVER_NAME = "Trellis"


class QuietRequestHandler(WSGIRequestHandler):
    """Names the server without any version."""

    server_version = SERVER_NAME  # type: ignore[assignment]
    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME


def run_dev_server(app: Flask, host: str, port: int, debug: bool = False) -> None:
    app.run(host=host, port=port, debug=debug, request_handler=QuietRequestHandler)
