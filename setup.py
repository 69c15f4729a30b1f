"""Build hook: copy the shipped folders into the package so a wheel is complete.

Everything else about the distribution is in pyproject.toml. ``templates/``,
``schemas/`` and ``app_definitions/`` live at the top of the source tree (where
consultants read and edit them); a wheel carries them as ``runtime/_bundled/<name>``,
which ``runtime.resources.shipped_dir`` finds. Editable installs read the source tree.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("templates", "schemas", "app_definitions")
HERE = Path(__file__).resolve().parent


class BuildWithShippedFolders(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "runtime" / "_bundled"
        for name in SHIPPED:
            shutil.copytree(
                HERE / name,
                target / name,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
            )


setup(cmdclass={"build_py": BuildWithShippedFolders})
