"""The WSGI entry point for gunicorn: ``gunicorn 'runtime.web.wsgi:app'``.

Configuration comes from ``TRELLIS_*`` environment variables (``runtime.web.config``).
"""

from runtime.web.app import create_app

app = create_app()
