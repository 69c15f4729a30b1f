"""Finds an app's demo data generator: the Python package ``demo/`` in its app folder,
which `trellis demo` loads from there (an app folder is not on the import path)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from runtime.definition.loader import DEMO_FOLDER


class DemoNotFound(Exception):
    """The app folder has no demo data generator, or one without ``load_demo``."""


def demo_generator(app_dir: str | os.PathLike[str]) -> ModuleType:
    """The app's ``demo`` package, loaded once per folder; raises DemoNotFound."""
    folder = Path(app_dir).resolve()
    init = folder / DEMO_FOLDER / "__init__.py"
    if not init.is_file():
        raise DemoNotFound(
            f"app folder {folder.name}/ has no demo data generator: "
            f"expected {DEMO_FOLDER}/__init__.py defining load_demo(db, repo, users, model, "
            "*, scale)"
        )
    # One module name per folder: two copies of an app (tests, a consultant's fork) each
    # get their own generator.
    name = f"trellis_demo_{hashlib.sha256(str(folder).encode()).hexdigest()[:16]}"
    module = sys.modules.get(name) or _load_package(name, init)
    if not callable(getattr(module, "load_demo", None)):
        raise DemoNotFound(
            f"{folder.name}/{DEMO_FOLDER}/__init__.py defines no load_demo(db, repo, users, "
            "model, *, scale)"
        )
    return module


def _load_package(name: str, init: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: its relative imports look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


__all__ = ["DemoNotFound", "demo_generator"]
