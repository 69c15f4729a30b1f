"""The definition layer: read an app folder, check it, and compile the frozen AppModel.

``load_app`` compiles the folder with the compile steps of the features given (the
default features when none are). It keeps nothing between calls; a ``ModelCache``
owned by the caller (a test session, a dev server) reuses the model of an unchanged
folder, keyed by (folder, digest of its files, feature names).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from runtime.errors import DefinitionError, Problem
from runtime.features import FeatureSet, load_features

from . import codes
from .compiler import compile_sources
from .loader import digest_of, kinds_of, read_sources, unread_files
from .model import AppModel

__all__ = [
    "AppModel",
    "DefinitionError",
    "ModelCache",
    "Problem",
    "app_warnings",
    "check_app",
    "load_app",
]


class ModelCache:
    """Compiled models by (folder, digest of its files, features), the newest ``size``."""

    def __init__(self, size: int = 16):
        self.size = size
        self._models: OrderedDict[tuple[str, str, tuple[str, ...]], AppModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, tuple[str, ...]]) -> AppModel | None:
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
            return model

    def put(self, key: tuple[str, str, tuple[str, ...]], model: AppModel) -> AppModel:
        with self._lock:
            model = self._models.setdefault(key, model)
            self._models.move_to_end(key)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return model


def load_app(
    path: str | os.PathLike[str],
    features: FeatureSet | None = None,
    *,
    cache: ModelCache | None = None,
) -> AppModel:
    """The compiled model of the app folder at ``path``; raises DefinitionError."""
    model, problems = _load(path, features, cache)
    if model is None:
        raise DefinitionError(problems)
    return model


def check_app(path: str | os.PathLike[str], features: FeatureSet | None = None) -> list[Problem]:
    """Every problem of the app folder at ``path`` (empty when it compiles). Never raises."""
    try:
        return _load(path, features, None)[1]
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


def app_warnings(path: str | os.PathLike[str], features: FeatureSet | None = None) -> list[Problem]:
    """What in the app folder is not used, though the app runs: files Trellis does not
    read (``TRL-W001``, ``TRL-W002``) and folders of kinds not compiled yet (``TRL-W003``)."""
    features = features if features is not None else load_features()
    kinds = kinds_of(features)
    app_dir = Path(path).resolve()
    warnings = unread_files(app_dir, kinds)
    sources, _problems = read_sources(app_dir, kinds)
    compiled = {"app", "roles", "entity", "form", "view"}
    steps = features.merge("compile_steps")
    compiled |= {getattr(step, "kind", kind) for kind, step in steps.items()}
    folders = {k.name: k.location for k in kinds}
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


def _load(
    path: str | os.PathLike[str], features: FeatureSet | None, cache: ModelCache | None
) -> tuple[AppModel | None, list[Problem]]:
    features = features if features is not None else load_features()
    app_dir = Path(path).resolve()
    sources, problems = read_sources(app_dir, kinds_of(features))
    key = (str(app_dir), digest_of(sources), features.names)
    if cache is not None and not problems:
        model = cache.get(key)
        if model is not None:
            return model, []
    model, problems = compile_sources(app_dir, sources, problems, features)
    if model is not None and cache is not None:
        model = cache.put(key, model)
    return model, problems
