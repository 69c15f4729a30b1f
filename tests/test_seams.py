"""The seams between generic code and features: generic modules import no feature's
modules and name none of its words (checked on the source, with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Modules that are the pipelines capability (wherever they live today).
PIPELINE_MODULES = (
    "runtime.features.pipelines",
    "runtime.features.pipelines.flow",
    "runtime.features.pipelines.write_steps",
    "runtime.web.pipelines",  # now runtime.features.pipelines.screens
    "runtime.features.pipelines.stage_history",
    "runtime.features.pipelines.stage_checklist",
    "runtime.features.pipelines.board_queries",
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


# The generic screens: the list, the record page, forms, the API and its document, home;
# in fact every module of runtime/web (the pipelines' screens live in their feature).
NAMED_WEB_MODULES = (
    "list_view.py",
    "list_request.py",
    "list_cells.py",
    "list_controls.py",
    "record_view.py",
    "records.py",
    "forms.py",
    "api.py",
    "openapi.py",
    "home.py",
    "query.py",
    "config.py",
    "auth.py",
    "app.py",
    "templating.py",
)
GENERIC_WEB_MODULES = sorted((ROOT / "runtime" / "web").glob("*.py"))
# Words of other libraries that happen to contain ours: Redis' ``client.pipeline()``.
NOT_OURS = {"runtime/web/auth.py": {"pipeline"}}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of ``tree`` (module, classes, functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def code_words(path: Path) -> set[str]:
    """Names, attributes, imported names, arguments and string constants (docstrings
    left out) of the module at ``path``; comments are not in the tree."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.arg):
            words.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            words.add(node.arg)
        elif isinstance(node, ast.alias):
            words.add(node.asname or node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.add(node.name)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            words.add(node.value)
    return words


def test_the_generic_web_modules_import_no_pipeline_module():
    assert {path.name for path in GENERIC_WEB_MODULES} >= set(NAMED_WEB_MODULES)
    offending = {
        str(path.relative_to(ROOT)): sorted(filter(is_pipeline_module, imported_modules(path)))
        for path in GENERIC_WEB_MODULES
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_generic_web_modules_name_no_stage_or_pipeline():
    """Stages and pipelines reach the screens only through the feature hooks."""
    named = {}
    for path in GENERIC_WEB_MODULES:
        where = str(path.relative_to(ROOT))
        words = {
            w
            for w in code_words(path)
            if "has_stage" in w or "stage" in w.lower() or "pipeline" in w.lower()
        }
        words -= NOT_OURS.get(where, set())
        if words:
            named[where] = sorted(words)
    assert named == {}


def test_the_word_check_sees_code_not_docstrings(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text(
        '"""A module about stages."""\n'
        "def show(record):\n"
        '    """Shows the stage."""\n'
        '    return record.stage_label, "pipeline", has_stage\n',
        encoding="utf-8",
    )
    words = code_words(module)
    assert {"stage_label", "pipeline", "has_stage", "record", "show"} <= words
    assert not any("stages" in w or "Shows" in w for w in words)


# --------------------------------------------------------------------------- no features

STAGE_WORDS = {"stage", "stage_entered_at", "stage_kind"}


def featureless_reference_app(tmp_path: Path) -> Path:
    """The reference app as a runtime without pipelines can compile it: no
    ``pipelines/`` folder, and its views without the stage columns and filters."""
    import shutil

    import yaml

    target = tmp_path / "opportunity"
    shutil.copytree(ROOT / "app_definitions" / "opportunity", target)
    shutil.rmtree(target / "pipelines")
    for path in (target / "views").glob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for view in document.get("views", []):
            for key in ("columns", "filter_fields"):
                view[key] = [c for c in view.get(key, []) if c not in STAGE_WORDS]
            view["filters"] = [f for f in view.get("filters", []) if f["field"] not in STAGE_WORDS]
            view["sort"] = [s for s in view.get("sort", []) if s.lstrip("-") not in STAGE_WORDS]
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    for path in (target / "entities").glob("*.yaml"):  # rollups filtered by stage kind
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for field in document["fields"]:
            if "rollup" in field:
                where = field["rollup"].get("where", [])
                field["rollup"]["where"] = [f for f in where if f["field"] not in STAGE_WORDS]
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return target


def test_a_runtime_without_features_serves_the_reference_apps_pages(tmp_path):
    import re

    from runtime.store import SYSTEM
    from tests.conftest import make_runtime, make_web_app

    app_dir = featureless_reference_app(tmp_path)
    url = f"sqlite:///{tmp_path / 'trellis.db'}"
    runtime = make_runtime(url, app_dir, [])  # build_runtime(..., features=[]), tables too
    assert len(runtime.features) == 0 and runtime.model.entities["opportunity"].system_fields == ()
    runtime.users.create_user("admin@example.com", "Admin", "secret-pass-1", roles=["admin"])
    account = runtime.repo.create(SYSTEM, "account", {"name": "Harbour Components"})
    app = make_web_app(url, tmp_path, app_dir, schema=False, features=[])
    assert len(app.extensions["trellis"].features) == 0
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(True))
    client.post(
        "/login",
        data={"email": "admin@example.com", "password": "secret-pass-1", "csrf_token": token[1]},
    )
    pages = {
        "/": "Harbour Components",
        "/e/account": "Harbour Components",
        f"/e/account/{account['id']}": "Harbour Components",
        "/e/opportunity": "Opportunities",
        "/e/opportunity.json": '"rows"',
        "/api/v1/openapi.json": '"paths"',
    }
    for path, shown in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(True)[:500])
        html = response.get_data(True)
        assert shown in html, path
        assert "idle" not in html.lower() or path == "/api/v1/openapi.json", path
        assert "path-bar" not in html and "/p/" not in html.replace("/p/new_business", ""), path
    assert client.get("/p/new_business").status_code == 404  # no board without the feature


def test_a_features_nav_item_hides_its_link_from_users_it_is_not_visible_to():
    from runtime.definition import load_app
    from runtime.definition.model import Label
    from runtime.features.screens import NavItem
    from runtime.web.templating import navigation_for
    from tests.conftest import MODELS

    model = load_app(ROOT / "app_definitions" / "opportunity", cache=MODELS)

    def links(*screens):
        sections = navigation_for(model, None, "en", screens=screens)
        return {link.url: link.icon for section in sections for link in section.links}

    board = "/p/new_business"
    assert links()[board] == "link"
    assert links(NavItem(Label.of("Board"), board, "kanban"))[board] == "kanban"
    assert board not in links(NavItem(Label.of("Board"), board, visible=lambda _user: False))


# --------------------------------------------------------------------------- store and definition

STORE_MODULES = sorted((ROOT / "runtime" / "store").rglob("*.py"))


def test_no_store_module_imports_a_pipeline_module():
    assert {p.name for p in STORE_MODULES} >= {"repository.py", "tables.py", "plan.py"}
    offending = {
        str(path.relative_to(ROOT)): sorted(filter(is_pipeline_module, imported_modules(path)))
        for path in STORE_MODULES
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_store_and_definition_modules_name_no_stage_or_pipeline():
    """Stages reach storage and the model only as a feature's system fields, write
    steps, tables, clauses and sort orders: no name or string of theirs says stage."""
    named = {}
    for path in [*STORE_MODULES, *DEFINITION_MODULES]:
        words = {
            w
            for w in code_words(path)
            if "has_stage" in w or "stage" in w.lower() or "pipeline" in w.lower()
        }
        if words:
            named[str(path.relative_to(ROOT))] = sorted(words)
    assert named == {}


# --------------------------------------------------------------------------- the one door

# Where code outside the repository may name an entity's table: the builders of the
# pipelines' named clauses, which the repository calls while it compiles a filter
# (``Feature.query_clauses``) and hands its own table. Everything else reads records
# through the repository (``list``, ``get``, ``count``, ``readable_rows``).
CLAUSE_BUILDERS = {
    "runtime/features/pipelines/board_queries.py": {"membership", "idle_clause"},
}


def _is_database(node: ast.AST) -> bool:
    """``db``, ``self.db``, ``services.db``, ``ctx.db``: a runtime.store.Database."""
    if isinstance(node, ast.Name):
        return node.id == "db"
    return isinstance(node, ast.Attribute) and node.attr == "db"


def _functions_naming_tables(path: Path) -> set[str]:
    """The functions of ``path`` that reach an entity's table: ``<db>.tables``,
    ``<db>.table(...)``, ``<db>.child_table(...)``."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef) else where
            if (
                isinstance(child, ast.Attribute)
                and child.attr in ("tables", "table", "child_table", "child_tables")
                and _is_database(child.value)
            ):
                found.add(where)
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_outside_the_store_records_are_read_through_the_repository():
    modules = [
        p
        for folder in ("runtime/web", "runtime/features", "runtime/jobs")
        for p in sorted((ROOT / folder).rglob("*.py"))
    ]
    assert len(modules) > 30
    offending = {}
    for path in modules:
        rel = str(path.relative_to(ROOT))
        naming = _functions_naming_tables(path) - CLAUSE_BUILDERS.get(rel, set())
        if naming:
            offending[rel] = sorted(naming)
    assert offending == {}


# --------------------------------------------------------------------------- no SQL in screens

# The web layer and the features' screens run no SQL of their own: they call the
# repository, the users / jobs services, ``Database.ping`` (the health probe) or a
# feature's read module (``stage_history.stage_history_of``, ``BoardQueries``...).
SCREEN_MODULES = sorted((ROOT / "runtime" / "web").rglob("*.py")) + sorted(
    (ROOT / "runtime" / "features").glob("*/screens*.py")
)
# Calls that look like SQL and are not: the login throttle's Redis pipeline.
NOT_SQL = {("runtime/web/auth.py", "pipe.execute")}
# From sqlalchemy a screen may import only its exception classes (to answer them).
ALLOWED_SQLALCHEMY = ("sqlalchemy.exc",)


def sql_in(path: Path) -> list[str]:
    """``<line>: <code>`` of every place ``path`` runs or builds SQL: ``.execute(``,
    ``select(`` / ``.select(``, ``engine.connect`` / ``engine.begin``, and imports of
    sqlalchemy other than its exceptions."""
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        hit = None
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("execute", "select"):
                hit = ast.unparse(func)
            elif isinstance(func, ast.Name) and func.id == "select":
                hit = "select"
        elif isinstance(node, ast.Attribute) and node.attr in (
            "connect",
            "begin",
            "raw_connection",
        ):
            owner = node.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "engine") or (
                isinstance(owner, ast.Name) and owner.id == "engine"
            ):
                hit = ast.unparse(node)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                if (name or "").split(".")[0] == "sqlalchemy" and name not in ALLOWED_SQLALCHEMY:
                    hit = f"import {name}"
        if hit is not None and (rel, hit) not in NOT_SQL:
            found.append((node.lineno, hit))
    return [f"{line}: {hit}" for line, hit in sorted(found)]


def test_the_web_layer_and_the_screens_run_no_sql_of_their_own():
    assert len(SCREEN_MODULES) > 25
    assert any(p.name == "screens_list.py" for p in SCREEN_MODULES)
    offending = {
        str(path.relative_to(ROOT)): sql_in(path) for path in SCREEN_MODULES if sql_in(path)
    }
    assert offending == {}


def test_the_sql_check_sees_each_way_of_running_sql(tmp_path):
    planted = tmp_path / "screen.py"
    planted.write_text(
        "from sqlalchemy import select\n"
        "from sqlalchemy.exc import DataError\n"
        "def idle_ids(services, table):\n"
        "    with services.db.engine.connect() as conn:\n"
        "        return conn.execute(select(table.c.id)).scalars()\n"
        "def tick(db):\n"
        "    with db.engine.begin() as conn:\n"
        "        conn.execute(db.sys.users.select())\n",
        encoding="utf-8",
    )
    assert sql_in(planted) == [
        "1: import sqlalchemy",
        "4: services.db.engine.connect",
        "5: conn.execute",
        "5: select",
        "7: db.engine.begin",
        "8: conn.execute",
        "8: db.sys.users.select",
    ]


def id_lists_in(path: Path) -> list[int]:
    """Lines of ``path`` that build an ``("id", "in", ...)`` filter: a list of record ids
    collected in a screen, where a named clause compiles to SQL instead."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Tuple)
        and len(node.elts) == 3
        and all(isinstance(e, ast.Constant) for e in node.elts[:2])
        and [e.value for e in node.elts[:2]] == ["id", "in"]
    )


def test_no_screen_collects_record_ids_into_an_in_list(tmp_path):
    offending = {
        str(path.relative_to(ROOT)): id_lists_in(path)
        for path in SCREEN_MODULES
        if id_lists_in(path)
    }
    assert offending == {}
    planted = tmp_path / "screen.py"
    planted.write_text("ids = [1, 2]\nfilters = [('id', 'in', ids)]\n", encoding="utf-8")
    assert id_lists_in(planted) == [2]
