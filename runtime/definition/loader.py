"""Read an app folder into documents with line numbers, checked against schemas/.

Nothing here knows what the metadata means; that is the compiler's job. Every bad
input (unreadable, binary, malformed, duplicate keys, schema violations) becomes a
``Problem`` naming the file and line, never a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from runtime.errors import Problem
from runtime.resources import shipped_dir

from . import codes
from .codes import Code
from .reserved import ID_PATTERN

SCHEMAS_DIR = Path(os.environ.get("TRELLIS_SCHEMAS_DIR") or shipped_dir("schemas"))
SUFFIXES = (".yaml", ".yml", ".json")
# The app's demo data generator (a Python package `trellis demo` runs), not metadata:
# its files are neither read here nor named as unread.
DEMO_FOLDER = "demo"
MAX_FILE_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_DEPTH = 60

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Kind:
    """One kind of metadata file: where it lives and which schema checks it.

    ``single`` kinds are one file at the app's top level (``app.yaml``); the others
    are every file of a folder. The schema file is looked up in ``schemas/`` first,
    then in ``schema_dir`` (where a feature keeps its own). A kind whose schema file
    does not exist yet is only parsed; the compiler decides which kinds it compiles.
    """

    name: str
    location: str  # file stem (single) or folder name
    schema: str
    single: bool = False
    schema_dir: str | None = None


# The kinds every runtime reads; features add theirs (``Feature.kinds()``): see kinds_of.
KINDS: tuple[Kind, ...] = (
    Kind("app", "app", "app.schema.json", single=True),
    Kind("roles", "roles", "roles.schema.json", single=True),
    Kind("entity", "entities", "entity.schema.json"),
    Kind("form", "forms", "form.schema.json"),
    Kind("view", "views", "view.schema.json"),
    Kind("approval", "approvals", "approval.schema.json"),
    Kind("automation", "automations", "automation.schema.json"),
)


class KindClash(Exception):
    """Two kinds (of the core or of features) share a name or a folder."""


def kinds_of(features: Iterable[Any] = ()) -> tuple[Kind, ...]:
    """The core kinds, then every feature's ``kinds()``; a name or folder used twice raises."""
    kinds = list(KINDS)
    for feature in features:
        hook = getattr(feature, "kinds", None)
        for kind in (hook() if hook else None) or ():
            clash = next(
                (k for k in kinds if k.name == kind.name or k.location == kind.location), None
            )
            if clash is not None:
                raise KindClash(
                    f"feature {getattr(feature, 'name', '')!r}: kind {kind.name!r} "
                    f"({kind.location}) clashes with kind {clash.name!r} ({clash.location})"
                )
            kinds.append(kind)
    return tuple(kinds)


@dataclass(frozen=True)
class SourceFile:
    kind: Kind
    rel: str  # relative to the app folder, posix
    file: str  # as shown in problems: "<app folder name>/<rel>"
    data: bytes


@dataclass
class Document:
    """One parsed file: plain JSON-like data plus the line of every path in it."""

    kind: str
    file: str
    data: Any
    lines: dict[JsonPath, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key: JsonPath = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1 if self.lines else 0)


@dataclass
class LoadedApp:
    root: Path
    digest: str
    documents: list[Document]
    problems: list[Problem]

    def of_kind(self, kind: str) -> list[Document]:
        return [d for d in self.documents if d.kind == kind]


# ---------------------------------------------------------------------------- reading


def read_sources(
    app_dir: Path, kinds: tuple[Kind, ...] = KINDS
) -> tuple[list[SourceFile], list[Problem]]:
    """Every metadata file of the app (of ``kinds``), in a stable order, with its bytes."""
    name = app_dir.name
    problems: list[Problem] = []
    if not app_dir.is_dir():
        problems.append(_problem(codes.MISSING_APP, str(app_dir), 0, "app", "no such folder"))
        return [], problems
    sources: list[SourceFile] = []
    for kind in kinds:
        if kind.single:
            paths = [app_dir / f"{kind.location}{s}" for s in SUFFIXES]
            paths = [p for p in paths if p.is_file()]
        else:
            folder = app_dir / kind.location
            paths = sorted(
                p
                for p in (folder.iterdir() if folder.is_dir() else ())
                if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()
            )
        for path in paths:
            rel = path.relative_to(app_dir).as_posix()
            shown = f"{name}/{rel}"
            try:
                size = path.stat().st_size
                if size > MAX_FILE_BYTES:
                    problems.append(
                        _problem(
                            codes.FILE_TOO_COMPLEX,
                            shown,
                            0,
                            "file",
                            f"{size} bytes is over the limit of {MAX_FILE_BYTES}",
                        )
                    )
                    continue
                data = path.read_bytes()
            except OSError as exc:
                problems.append(
                    _problem(codes.UNREADABLE_FILE, shown, 0, "file", exc.strerror or str(exc))
                )
                continue
            sources.append(SourceFile(kind, rel, shown, data))
    if not any(s.kind.name == "app" for s in sources) and not problems:
        problems.append(
            _problem(
                codes.MISSING_APP,
                f"{name}/app.yaml",
                0,
                "app",
                "the app folder has no app.yaml",
                "create app.yaml with at least an id",
            )
        )
    for kind in (k for k in kinds if k.single):
        same = [s for s in sources if s.kind is kind]
        for extra in same[1:]:
            problems.append(
                _problem(
                    codes.DUPLICATE_FILE,
                    extra.file,
                    0,
                    kind.name,
                    f"{same[0].file} already defines the {kind.name}",
                    "keep one of the two files",
                )
            )
    return sources, problems


def unread_files(app_dir: Path, kinds: tuple[Kind, ...] = KINDS) -> list[Problem]:
    """A warning for every file of the app folder that ``read_sources`` leaves out.

    Hidden files and folders (``.git``, ``.DS_Store``) are not part of the app.
    """
    if not app_dir.is_dir():
        return []
    name = app_dir.name
    singles = {f"{k.location}{s}" for k in kinds if k.single for s in SUFFIXES}
    folders = {k.location for k in kinds if not k.single}
    warnings = []
    for path in sorted(app_dir.rglob("*")):
        rel = path.relative_to(app_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        code, message, hint = _why_unread(rel, singles, folders)
        if code is not None:
            warnings.append(_problem(code, f"{name}/{rel.as_posix()}", 0, "file", message, hint))
    return warnings


def _why_unread(rel: Path, singles: set[str], folders: set[str]) -> tuple[Code | None, str, str]:
    parts = rel.parts
    layout = (
        f"Trellis reads {', '.join(sorted(singles & {'app.yaml', 'roles.yaml'}))} and the "
        f"folders {', '.join(sorted(f + '/' for f in folders))}; {DEMO_FOLDER}/ holds the "
        "demo data generator (Python, run by `trellis demo`)"
    )
    if parts[0] == DEMO_FOLDER and len(parts) > 1:
        return None, "", ""
    if len(parts) == 1:
        if parts[0] in singles:
            return None, "", ""
        return codes.UNREAD_FILE, "not read: not a metadata file name", layout
    if parts[0] not in folders:
        close = difflib.get_close_matches(parts[0], sorted({*folders, DEMO_FOLDER}), n=1)
        hint = f"did you mean '{close[0]}/'?" if close else layout
        return codes.UNREAD_FILE, f"not read: '{parts[0]}/' is not a metadata folder", hint
    if len(parts) > 2:
        return (
            codes.UNREAD_FILE,
            f"not read: subfolders of '{parts[0]}/' are not read",
            f"move the file up into '{parts[0]}/'",
        )
    if rel.suffix not in SUFFIXES:
        return (
            codes.UNREAD_SUFFIX,
            f"not read: '{rel.suffix or rel.name}' files are not metadata",
            "only .yaml, .yml and .json files are read; rename or remove it",
        )
    return None, "", ""


def digest_of(sources: Iterable[SourceFile]) -> str:
    """sha256 over the sorted relative paths and bytes: one value per app version."""
    h = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.rel):
        h.update(source.rel.encode())
        h.update(b"\0%d\0" % len(source.data))
        h.update(source.data)
    return h.hexdigest()


def load_documents(app_dir: Path, sources: list[SourceFile], problems: list[Problem]) -> LoadedApp:
    """Parse and schema-check every source; problems are appended, never raised."""
    schemas = Schemas()
    documents: list[Document] = []
    for source in sources:
        if source.kind.single and any(d.kind == source.kind.name for d in documents):
            continue  # a duplicate file, already reported
        doc, found = parse_source(source)
        problems.extend(found)
        if doc is None:
            continue
        if not found:
            kind = source.kind
            problems.extend(validate_document(doc, kind.schema, kind.schema_dir, schemas))
        documents.append(doc)
    return LoadedApp(app_dir, digest_of(sources), documents, problems)


# ---------------------------------------------------------------------------- parsing


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml is ~10x faster
    """YAML 1.2-like scalars: only true/false are booleans (``NO`` stays Norway) and
    dates stay strings, so every document is plain JSON data."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":timestamp"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _TooComplex(Exception):
    pass


def parse_source(source: SourceFile) -> tuple[Document | None, list[Problem]]:
    if b"\0" in source.data:
        return None, [
            _problem(codes.UNREADABLE_FILE, source.file, 0, "file", "binary file, not text")
        ]
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = source.data[: exc.start].count(b"\n") + 1
        return None, [
            _problem(
                codes.UNREADABLE_FILE,
                source.file,
                line,
                "file",
                "not UTF-8 text",
                "save the file as UTF-8",
            )
        ]
    doc, problems = _parse_yaml(source, text)
    if problems and source.rel.endswith(".json"):
        # JSON that YAML 1.1 cannot read (tabs, odd escapes): plain JSON, no line numbers.
        doc, problems = _parse_json(source, text)
    if doc is not None and not problems and not isinstance(doc.data, dict):
        what = "empty" if doc.data is None else f"a {_json_type(doc.data)}, not a mapping"
        problems.append(
            _problem(
                codes.NOT_A_MAPPING,
                source.file,
                doc.line(),
                "file",
                f"the file is {what}",
                "the top level must be a mapping of keys to values, like 'id: ...'",
            )
        )
    return doc, problems


def _parse_yaml(source: SourceFile, text: str) -> tuple[Document | None, list[Problem]]:
    loader = _Loader(text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(source.kind.name, source.file, None, {}), []
        lines: dict[JsonPath, int] = {}
        data = _Converter(loader, source.file, lines, problems).convert(node, (), 0)
        return Document(source.kind.name, source.file, data, lines), problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return None, [_problem(codes.MALFORMED_FILE, source.file, line, "file", message)]
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        return None, [
            _problem(
                codes.UNREADABLE_FILE,
                source.file,
                line,
                "file",
                f"character {_codepoint(exc.character)} is not allowed in YAML",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [_problem(codes.MALFORMED_FILE, source.file, 0, "file", str(exc))]
    except (_TooComplex, RecursionError):
        return None, [
            _problem(
                codes.FILE_TOO_COMPLEX,
                source.file,
                0,
                "file",
                f"more than {MAX_NODES} values or {MAX_DEPTH} levels (aliases expanded)",
            )
        ]
    finally:
        loader.dispose()


def _parse_json(source: SourceFile, text: str) -> tuple[Document | None, list[Problem]]:
    problems: list[Problem] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                problems.append(
                    _problem(
                        codes.DUPLICATE_KEY,
                        source.file,
                        0,
                        "file",
                        f"key '{key}' appears twice in the same object",
                    )
                )
            result.setdefault(key, value)
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return None, [_problem(codes.MALFORMED_FILE, source.file, exc.lineno, "file", exc.msg)]
    except RecursionError:
        return None, [_problem(codes.FILE_TOO_COMPLEX, source.file, 0, "file", "nested too deeply")]
    return Document(source.kind.name, source.file, data, {}), problems


class _Converter:
    """Turns a composed YAML node tree into plain data, noting each path's line."""

    def __init__(self, loader: _Loader, file: str, lines: dict, problems: list[Problem]):
        self.loader = loader
        self.file = file
        self.lines = lines
        self.problems = problems
        self.count = 0

    def convert(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _TooComplex
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
                raise yaml.MarkedYAMLError(
                    problem=f"cannot read the value: {exc}", problem_mark=node.start_mark
                ) from None
        if isinstance(node, yaml.SequenceNode):
            out = []
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                out.append(self.convert(item, path + (index,), depth + 1))
            return out
        return self._mapping(node, path, depth)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath, depth: int) -> dict:
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.MarkedYAMLError(
                    problem="a key must be plain text, not a list or mapping",
                    problem_mark=key_node.start_mark,
                )
            key = key_node.value  # as written: "1" stays "1", "true" stays "true"
            line = key_node.start_mark.line + 1
            if key in out:
                first = self.lines.get(path + (key,), 0)
                self.problems.append(
                    _problem(
                        codes.DUPLICATE_KEY,
                        self.file,
                        line,
                        describe_path(out, path),
                        f"key '{key}' appears twice (first on line {first})",
                        "remove one of them",
                    )
                )
                continue
            self.lines[path + (key,)] = line
            out[key] = self.convert(value_node, path + (key,), depth + 1)
        return out


# ---------------------------------------------------------------------------- schemas


class Schemas:
    """The JSON Schemas of one load: ``schemas/`` (``SCHEMAS_DIR``) first, then the folder
    a kind names (``Kind.schema_dir``, where a feature keeps its own). Built for each
    load and dropped with it, so nothing is kept between loads (building is cheap:
    schemas are checked against the meta-schema by a test, not on every load)."""

    def __init__(self, schemas_dir: Path | None = None):
        self.schemas_dir = Path(schemas_dir if schemas_dir is not None else SCHEMAS_DIR)
        self._registries: dict[str | None, Registry] = {}
        self._validators: dict[tuple[str, str | None], Draft202012Validator | None] = {}

    def path(self, schema_file: str, schema_dir: str | None = None) -> Path | None:
        """Where ``schema_file`` is, or None when that schema does not exist yet."""
        for folder in (self.schemas_dir, Path(schema_dir) if schema_dir else None):
            if folder is not None and (folder / schema_file).is_file():
                return folder / schema_file
        return None

    def validator(
        self, schema_file: str, schema_dir: str | None = None
    ) -> Draft202012Validator | None:
        key = (schema_file, schema_dir)
        if key not in self._validators:
            path = self.path(schema_file, schema_dir)
            self._validators[key] = (
                None
                if path is None
                else Draft202012Validator(_read_json(path), registry=self._registry(schema_dir))
            )
        return self._validators[key]

    def _registry(self, schema_dir: str | None) -> Registry:
        """Every schema a ``$ref`` may name: ``schemas/`` plus the kind's own folder."""
        if schema_dir not in self._registries:
            folders = [self.schemas_dir] + ([Path(schema_dir)] if schema_dir else [])
            resources = {}
            for folder in folders:
                for path in sorted(folder.glob("*.schema.json")):
                    contents = _read_json(path)
                    resources.setdefault(contents["$id"], Resource.from_contents(contents))
            self._registries[schema_dir] = Registry().with_resources(resources.items())
        return self._registries[schema_dir]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def validate_document(
    doc: Document, schema_file: str, schema_dir: str | None = None, schemas: Schemas | None = None
) -> list[Problem]:
    validator = (schemas or Schemas()).validator(schema_file, schema_dir)
    if validator is None or not isinstance(doc.data, dict):
        return []
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        problems.extend(_schema_problems(doc, error))
    return problems


def _schema_problems(doc: Document, error: SchemaError) -> list[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    obj = describe_path(doc.data, path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extras = [
            k for k in error.instance if k not in allowed and not any(p.search(k) for p in patterns)
        ]
        return [
            _problem(
                codes.UNKNOWN_PROPERTY,
                doc.file,
                doc.line(*path, key),
                obj,
                f"unknown property '{key}'",
                _split_by_comma_hint(error.instance, key)
                or _did_you_mean(key, allowed)
                or _comma_hint(key),
            )
            for key in extras
        ]
    if error.validator == "required":
        return [_problem(codes.MISSING_PROPERTY, doc.file, doc.line(*path), obj, error.message)]
    if error.validator == "propertyNames":
        key = error.instance if isinstance(error.instance, str) else ""
        bad = [e.instance for e in error.context or () if isinstance(e.instance, str)]
        key = bad[0] if bad else key
        return [
            _problem(
                codes.INVALID_ID,
                doc.file,
                doc.line(*path, key),
                obj,
                f"'{key}' is not a valid id",
                "ids match ^[a-z][a-z0-9_]{0,62}$",
            )
        ]
    if error.validator == "pattern" and error.validator_value == ID_PATTERN:
        return [
            _problem(
                codes.INVALID_ID,
                doc.file,
                doc.line(*path),
                obj,
                f"{_short(error.instance)} is not a valid id",
                "use a lowercase letter, then lowercase letters, digits or _ (at most 63)",
            )
        ]
    if error.validator == "anyOf" and error.context:
        # Report the branches whose type fits the value (a label written as a mapping
        # is judged as a mapping), not "is not of type 'string'".
        fitting = [e for e in error.context if e.relative_path or e.validator != "type"]
        if fitting:
            return [p for e in fitting for p in _schema_problems(doc, e)]
        best = best_match(error.context)
        message = _trim(best.message if best is not None else error.message)
        hint = error.schema.get("description", "")
        return [_problem(codes.SCHEMA_VIOLATION, doc.file, doc.line(*path), obj, message, hint)]
    if error.validator == "oneOf":
        description = error.schema.get("description", "")
        message = f"does not fit: {description}" if description else _trim(error.message)
        return [_problem(codes.SCHEMA_VIOLATION, doc.file, doc.line(*path), obj, message)]
    hint = ""
    if error.validator == "type" and error.instance is None:
        hint = "the value is empty; " + _comma_hint(" ")
    return [
        _problem(codes.SCHEMA_VIOLATION, doc.file, doc.line(*path), obj, _trim(error.message), hint)
    ]


# ---------------------------------------------------------------------------- helpers


def describe_path(data: Any, path: JsonPath) -> str:
    """``fields[amount].max_length``: list items are named by their id when they have one."""
    if not path:
        return "top level"
    parts: list[str] = []
    node = data
    for step in path:
        if isinstance(step, int):
            item = node[step] if isinstance(node, list) and step < len(node) else None
            ident = item.get("id") if isinstance(item, dict) else None
            parts.append(f"[{ident}]" if isinstance(ident, str) and ident else f"[{step}]")
            node = item
        else:
            parts.append(f".{step}" if parts else str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return "".join(parts)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


def _codepoint(character: str | int) -> str:
    number = character if isinstance(character, int) else ord(character[:1] or "\0")
    return f"U+{number:04X}"


def _comma_hint(key: str) -> str:
    if " " in key or key[:1].isdigit():
        return "inside {...} a comma ends the value: put text that contains commas in quotes"
    return ""


def _split_by_comma_hint(mapping: dict, key: str) -> str:
    """``{en: Reason, details, zh: ...}`` reads as en: Reason plus an empty key 'details'."""
    if mapping.get(key) is not None:
        return ""
    keys = list(mapping)
    before = keys[keys.index(key) - 1] if keys.index(key) > 0 else None
    if before is None or not isinstance(mapping[before], str):
        return "inside {...} a comma ends the value: put text that contains commas in quotes"
    joined = f"{mapping[before]}, {key}".replace('"', '\\"')
    return (
        "inside {...} a comma ends the value: put text that contains commas in quotes, "
        f'e.g. {before}: "{joined}"'
    )


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _short(value: Any) -> str:
    return _trim(repr(value), 80)


def _trim(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problem(code: Code, file: str, line: int, obj: str, message: str, hint: str = "") -> Problem:
    return Problem(code.code, file, line, obj, message, hint)
