"""Where the folders shipped with Trellis live: templates, schemas and the reference app.

From a checkout (or an editable install) they are the source tree's top-level folders.
A wheel carries a copy inside the package, ``runtime/_bundled/`` (made at build time by
``setup.py``), so an installed ``trellis`` works from any folder.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
BUNDLED_DIR = PACKAGE_DIR / "_bundled"
SHIPPED = ("templates", "schemas", "app_definitions")
REFERENCE_APP = "app_definitions/opportunity"


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (one of SHIPPED): the wheel's copy, else the source tree's."""
    bundled = BUNDLED_DIR / name
    return bundled if bundled.is_dir() else SOURCE_ROOT / name


def default_app() -> str:
    """The app to run when none is named: ``app_definitions/opportunity`` under the
    current folder when there is one (a checkout), else the shipped reference app."""
    if Path(REFERENCE_APP).is_dir():
        return REFERENCE_APP
    return str(shipped_dir("app_definitions") / "opportunity")
