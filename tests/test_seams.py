"""The seams between generic code and features: generic modules import no feature's
modules and name none of its words (checked on the source, with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Modules that are the pipelines capability (wherever they live today).
PIPELINE_MODULES = (
    "runtime.features.pipelines",
    "runtime.flows.pipeline",
    "runtime.flows.pipeline_hook",
    "runtime.web.pipelines",  # now runtime.features.pipelines.screens
    "runtime.store.stage_history",
    "runtime.store.stage_checklist",
    "runtime.store.board_queries",
)
COMPILER_MODULES = [ROOT / "runtime" / "definition" / "compiler.py"] + sorted(
    (ROOT / "runtime" / "definition" / "checks").glob("*.py")
)
DEFINITION_MODULES = sorted((ROOT / "runtime" / "definition").rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved), at any depth."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def is_pipeline_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in PIPELINE_MODULES)


def test_the_compiler_modules_import_no_pipeline_module():
    assert len(COMPILER_MODULES) > 5  # the checks package is there
    offending = {
        str(path.relative_to(ROOT)): sorted(filter(is_pipeline_module, imported_modules(path)))
        for path in COMPILER_MODULES
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_no_definition_module_imports_a_pipeline_module():
    offending = {
        str(path.relative_to(ROOT)): sorted(filter(is_pipeline_module, imported_modules(path)))
        for path in DEFINITION_MODULES
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_compiler_modules_name_no_stage():
    """Stages reach the compiler only as a feature's system fields and filter checks."""
    named = {}
    for path in COMPILER_MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        words = {
            node.value if isinstance(node, ast.Constant) else node.id
            for node in ast.walk(tree)
            if (isinstance(node, ast.Constant) and isinstance(node.value, str))
            or isinstance(node, ast.Name)
        }
        stage_words = sorted(w for w in words if "stage" in w.lower() or "pipeline" in w.lower())
        if stage_words:
            named[str(path.relative_to(ROOT))] = stage_words
    assert named == {}


def test_the_import_check_sees_a_pipeline_import(tmp_path, monkeypatch):
    module = ROOT / "runtime" / "definition" / "checks" / "base.py"
    assert not any(map(is_pipeline_module, imported_modules(module)))
    assert is_pipeline_module("runtime.features.pipelines.definition")
    assert not is_pipeline_module("runtime.features.pipelines_extra")
