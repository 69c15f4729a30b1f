"""The definition layer: read an app folder, check it, and compile the frozen AppModel.

``load_app`` compiles each version of an app once per process: models are cached by
(folder, digest of its files), so an unchanged folder gives back the same object.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from runtime.errors import DefinitionError, Problem

from . import codes
from . import follow_ups as _follow_ups  # noqa: F401  (registers the follow-up compile step)
from . import pipelines as _pipelines  # noqa: F401  (registers the pipelines compile step)
from .compiler import EXTENSION_STEPS, compile_sources
from .loader import KINDS, digest_of, read_sources, unread_files
from .model import AppModel

__all__ = ["AppModel", "DefinitionError", "Problem", "app_warnings", "check_app", "load_app"]

_CACHE_SIZE = 16
_cache: OrderedDict[tuple[str, str], AppModel] = OrderedDict()
_cache_lock = threading.Lock()


def load_app(path: str | os.PathLike[str]) -> AppModel:
    """The compiled model of the app folder at ``path``; raises DefinitionError."""
    model, problems = _load(path)
    if model is None:
        raise DefinitionError(problems)
    return model


def check_app(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem of the app folder at ``path`` (empty when it compiles). Never raises."""
    try:
        return _load(path)[1]
    except Exception as exc:  # the promise is a list of problems, never a traceback
        return [
            Problem(
                codes.INTERNAL_ERROR.code,
                str(path),
                0,
                "app",
                f"the checker failed: {type(exc).__name__}: {exc}",
                "please report this with the app folder",
            )
        ]


def app_warnings(path: str | os.PathLike[str]) -> list[Problem]:
    """What in the app folder is not used, though the app runs: files Trellis does not
    read (``TRL-W001``, ``TRL-W002``) and folders of kinds not compiled yet (``TRL-W003``)."""
    app_dir = Path(path).resolve()
    warnings = unread_files(app_dir)
    sources, _problems = read_sources(app_dir)
    compiled = {"app", "roles", "entity", "form", "view"}
    compiled |= {getattr(step, "kind", kind) for kind, step in EXTENSION_STEPS.items()}
    folders = {k.name: k.location for k in KINDS}
    for source in sources:
        if source.kind.name not in compiled:
            warnings.append(
                Problem(
                    codes.UNCOMPILED_KIND.code,
                    source.file,
                    0,
                    "file",
                    f"not used: this version of Trellis does not compile "
                    f"'{folders[source.kind.name]}/' yet",
                    "the file is only checked for well-formed YAML or JSON",
                )
            )
    return sorted(warnings, key=lambda p: p.file)


def _load(path: str | os.PathLike[str]) -> tuple[AppModel | None, list[Problem]]:
    app_dir = Path(path).resolve()
    sources, problems = read_sources(app_dir)
    key = (str(app_dir), digest_of(sources))
    if not problems:
        with _cache_lock:
            model = _cache.get(key)
            if model is not None:
                _cache.move_to_end(key)
                return model, []
    model, problems = compile_sources(app_dir, sources, problems)
    if model is not None:
        with _cache_lock:
            model = _cache.setdefault(key, model)
            _cache.move_to_end(key)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return model, problems
