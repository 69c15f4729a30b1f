"""A wheel is complete: built from the source tree, installed into a fresh virtual
environment, ``trellis validate`` and ``trellis demo`` work from an unrelated folder.

The wheel is built offline (``--no-build-isolation``, the dev extra's setuptools) and
installed ``--no-deps``; the new environment sees this environment's dependencies
through a ``.pth`` line, but not its editable install of Trellis, so only the wheel's
own files can answer. About 15 seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# screenshots: the browser tests write there meanwhile (the suite runs in two processes)
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "instance", "build", "dist", "*.egg-info",
    "__pycache__", ".pytest_cache", ".ruff_cache", "benchmarks", "tests", "screenshots",
)  # fmt: skip


def run(*args: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)  # never write build/ into the checkout
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", base / "dist", source, cwd=base)  # fmt: skip
    wheel = next((base / "dist").glob("trellis-*.whl"))
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base
    )
    site = Path(purelib.stdout.strip())
    # Dependencies from this environment; its .pth files (the editable Trellis) are not read.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel,
        cwd=base)  # fmt: skip
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["TRELLIS_PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"wheel": wheel, "venv": venv, "python": python, "cwd": elsewhere, "env": env}


def test_the_wheel_carries_templates_schemas_the_reference_app_and_static_files(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for expected in (
        "runtime/_bundled/templates/base.html",
        "runtime/_bundled/schemas/entity.schema.json",
        "runtime/_bundled/app_definitions/opportunity/app.yaml",
        "runtime/static/css/trellis.css",
        "runtime/translations/zh/LC_MESSAGES/messages.po",
    ):
        assert expected in names, expected


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    where = run(installed["python"], "-c", "import runtime; print(runtime.__file__)",
                cwd=installed["cwd"], env=installed["env"]).stdout  # fmt: skip
    assert str(installed["venv"]) in where and str(ROOT) not in where


def test_trellis_validate_from_another_folder(installed):
    app = installed["venv"] / "lib"
    reference = next(
        app.glob("python3*/site-packages/runtime/_bundled/app_definitions/opportunity")
    )
    result = run("trellis", "validate", reference, cwd=installed["cwd"], env=installed["env"])
    assert result.stdout.strip().endswith(": ok")


def test_trellis_demo_then_the_login_page_from_another_folder(installed):
    cwd, env = installed["cwd"], installed["env"]
    result = run("trellis", "demo", "--scale", "0.02", cwd=cwd, env=env)
    assert "admin@example.com" in result.stdout
    assert (cwd / "instance" / "trellis.db").is_file()
    page = run(installed["python"], "-c", (
        "from runtime.web.app import create_app\n"
        "client = create_app().test_client()\n"
        "response = client.get('/login')\n"
        "css = client.get('/static/css/trellis.css')\n"
        "print(response.status_code, css.status_code, 'Trellis' in response.get_data(True))\n"
    ), cwd=cwd, env=env)  # fmt: skip
    assert page.stdout.split() == ["200", "200", "True"], page.stdout + page.stderr
