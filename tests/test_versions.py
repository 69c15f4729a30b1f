"""App versions: each applied definition is stored with its files; web processes follow it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runtime.store.principal import SYSTEM
from runtime.store.versions import (
    VersionError,
    current_digest,
    list_versions,
    materialise,
    read_app_files,
    stored_version,
)
from tests.conftest import ROOT, make_runtime, make_web_app

API_APP = ROOT / "tests" / "fixtures" / "api_app"
SIZE_FIELD = "  - id: size_band\n    type: text\n    max_length: 20\n"


def _copy_app(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    shutil.copytree(API_APP, folder)
    return folder


def _add_company_field(folder: Path) -> None:
    path = folder / "entities" / "company.yaml"
    path.write_text(path.read_text() + SIZE_FIELD)


def _init(db_url: str, folder: Path):
    runtime = make_runtime(db_url, folder, features=[], schema=False)
    runtime.db.create_or_upgrade()
    return runtime


def test_init_records_version_one_with_every_file(db_url, tmp_path):
    folder = _copy_app(tmp_path)
    runtime = _init(db_url, folder)
    [version] = list_versions(runtime.db.engine, runtime.model.id)
    assert version.number == 1
    assert version.digest == runtime.model.digest
    stored = stored_version(runtime.db.engine, runtime.model.id)
    assert stored.files == read_app_files(folder)
    assert stored.files["entities/company.yaml"] == (folder / "entities/company.yaml").read_text()


def test_a_changed_folder_is_a_new_version_an_unchanged_one_is_not(db_url, tmp_path):
    folder = _copy_app(tmp_path)
    first = _init(db_url, folder)
    _init(db_url, folder)
    _add_company_field(folder)
    second = _init(db_url, folder)
    versions = list_versions(second.db.engine, second.model.id)
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].digest == first.model.digest
    assert current_digest(second.db.engine, second.model.id) == second.model.digest
    assert (
        "size_band"
        in stored_version(second.db.engine, second.model.id, 2).files["entities/company.yaml"]
    )
    assert (
        "size_band"
        not in stored_version(second.db.engine, second.model.id, 1).files["entities/company.yaml"]
    )


def test_stored_files_rebuild_the_same_app(db_url, tmp_path):
    folder = _copy_app(tmp_path)
    runtime = _init(db_url, folder)
    version = stored_version(runtime.db.engine, runtime.model.id)
    rebuilt = materialise(version.files, tmp_path / "instance", version.digest)
    again = make_runtime(db_url, rebuilt, features=[], schema=False)
    assert again.model.digest == version.digest
    assert again.model.entity("company").field("employees").type == "integer"


def test_a_stored_path_outside_the_folder_is_refused(tmp_path):
    with pytest.raises(VersionError, match=r"'\.\./evil\.yaml'"):
        materialise({"../evil.yaml": "x"}, tmp_path, "abc")


def test_a_binary_file_in_the_app_folder_is_named(tmp_path):
    folder = _copy_app(tmp_path)
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(VersionError, match=r"logo\.png: not UTF-8"):
        read_app_files(folder)


def test_a_web_app_follows_a_version_applied_by_another_process(db_url, tmp_path):
    folder = _copy_app(tmp_path)
    app = make_web_app(db_url, tmp_path, folder, schema=False, features=[])
    _init(db_url, folder)
    client = app.test_client()
    client.get("/login")
    served = app.extensions["trellis"]
    assert "size_band" not in {f.id for f in served.model.entity("company").fields}

    changed = _copy_app(tmp_path / "elsewhere")
    _add_company_field(changed)
    _init(db_url, changed)  # another process applies version 2

    client.get("/login")
    now = app.extensions["trellis"]
    assert now is not served
    assert "size_band" in {f.id for f in now.model.entity("company").fields}
    created = now.repo.create(SYSTEM, "company", {"name": "Acme", "size_band": "large"})
    assert created["size_band"] == "large"
    client.get("/login")
    assert app.extensions["trellis"] is now  # one rebuild per version
