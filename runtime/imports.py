"""Read a CSV or XLSX file laid out as the list export writes it back into record values,
each cell through its field type's import conversion (``FieldType.import_values``).

A column is found by the header the export gives it in the reader's locale (a field's
label; money adds "<label> (currency)") or by the record key itself (``amount``,
``amount_currency``). Columns of read-only and computed fields, of system columns and
unknown headers are left out and listed. The apostrophe the export puts before text a
spreadsheet would run as a formula is taken off again. Every refused cell is reported
with its row, its header and its field; nothing is written here: the caller hands the
values to ``Repository.bulk_create`` (``import_records``), which checks them again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.definition.model import Entity, FieldDef
from runtime.errors import FieldMessage, TrellisError
from runtime.fieldtypes import CoerceContext, ImportContext, ImportRefused, type_of

# What the export puts an apostrophe before (runtime.web.export.FORMULA_PREFIXES).
NEUTRALISED = ("=", "+", "-", "@", "\t", "\r", "'")


def plain_gettext(message: str, **params: Any) -> str:
    """The untranslated header pattern (``"%(label)s (currency)"``), for readers outside
    a request."""
    return message % params if params else message


@dataclass(frozen=True)
class CellProblem:
    """One cell that cannot be read: its line in the file (the header is line 1)."""

    line: int
    header: str
    field_id: str
    message: FieldMessage

    def text(self, locale: str = "en") -> str:
        return (
            f"line {self.line}, column '{self.header}' (field '{self.field_id}'): "
            f"{self.message.text(locale)}"
        )


@dataclass(frozen=True)
class ImportedRows:
    """The record values read from a file, the problems found, and the columns left out."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[CellProblem] = field(default_factory=list)
    ignored: tuple[str, ...] = ()


class ImportFileError(TrellisError):
    """The file has cells that cannot be read; ``problems`` names each one."""

    code = "import_file_error"

    def __init__(self, problems: Sequence[CellProblem]):
        self.problems = list(problems)
        shown = "; ".join(p.text() for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} cells cannot be imported: {shown}{more}")


# --------------------------------------------------------------------------- files


def read_csv(data: bytes | str) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and the rows of a CSV file (UTF-8, with or without a BOM)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, [])
    return list(header), (list(row) for row in rows)


def read_xlsx(data: bytes) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and the rows of the first sheet of a workbook (cells keep their types:
    numbers, date-times, text)."""
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, ())
    return [str(h) if h is not None else "" for h in header], (list(row) for row in rows)


# --------------------------------------------------------------------------- columns


def importable_fields(entity: Entity) -> list[FieldDef]:
    """The fields an import writes: stored or row-holding, not read-only, not computed."""
    found = []
    for f in entity.fields:
        ftype = type_of(f)
        if f.readonly or ftype.always_readonly or ftype.computed:
            continue
        found.append(f)
    return found


def column_plan(
    entity: Entity,
    headers: Sequence[str],
    locale: str = "en",
    gettext: Callable[..., str] = plain_gettext,
) -> tuple[list[tuple[FieldDef, list[int | None]]], tuple[str, ...]]:
    """For each importable field with a column in the file, the position of each of its
    export columns (None when the file lacks one); and the headers left out."""
    position = {str(h).strip(): n for n, h in enumerate(headers)}
    used: set[int] = set()
    plan = []
    for f in importable_fields(entity):
        ftype = type_of(f)
        names = ftype.export_headers(f, f.label.get(locale), gettext)
        keys = [f.id, *ftype.extra_keys(f)]
        spots: list[int | None] = []
        for n, name in enumerate(names):
            key = keys[n] if n < len(keys) else None
            spot = position.get(name.strip())
            if spot is None and key is not None:
                spot = position.get(key)
            spots.append(spot)
        if any(spot is not None for spot in spots):
            plan.append((f, spots))
            used.update(s for s in spots if s is not None)
    ignored = tuple(str(h) for n, h in enumerate(headers) if n not in used and str(h).strip())
    return plan, ignored


def _unneutralised(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 1 and value[0] == "'":
        if value[1:].startswith(NEUTRALISED):
            return value[1:]
    return value


# --------------------------------------------------------------------------- rows


def read_records(
    entity: Entity,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    ctx: ImportContext | None = None,
    *,
    locale: str = "en",
    gettext: Callable[..., str] = plain_gettext,
) -> ImportedRows:
    """Record values for ``rows`` (blank rows skipped), and every cell refused."""
    ctx = ctx or ImportContext()
    plan, ignored = column_plan(entity, headers, locale, gettext)
    records: list[dict[str, Any]] = []
    problems: list[CellProblem] = []
    for line, row in enumerate(rows, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        values: dict[str, Any] = {}
        for f, spots in plan:
            cells = [
                _unneutralised(row[s]) if s is not None and s < len(row) else None for s in spots
            ]
            try:
                values.update(type_of(f).import_values(f, cells, ctx))
            except ImportRefused as exc:
                spot = next((s for s in spots if s is not None), 0)
                problems.append(CellProblem(line, str(headers[spot]), f.id, exc.message))
        records.append(values)
    return ImportedRows(records, problems, ignored)


def repository_references(
    repo: Any, principal: Any, model: Any, users: Any = None
) -> Callable[[FieldDef, str], int | None]:
    """A ``find_reference`` for ``ImportContext``: the one record of a link's target whose
    title is the text (as ``principal`` may read), or the one active user whose name or
    e-mail is; None when there is none or more than one. Answers are remembered."""
    found: dict[tuple[str, str], int | None] = {}

    def lookup(f: FieldDef, text: str) -> int | None:
        kind = type_of(f).value_type(f).references
        key = (f.target or "" if kind == "record" else "user", text.casefold())
        if key not in found:
            found[key] = (
                _find_user(users, text)
                if kind == "user"
                else _find_record(repo, principal, model, f.target, text)
            )
        return found[key]

    return lookup


def _find_record(repo, principal, model, target: str | None, text: str) -> int | None:
    if not target or target not in model.entities:
        return None
    title = model.entities[target].title_field
    try:
        page = repo.list(principal, target, filters=[(title, "eq", text)], page_size=2)
    except TrellisError:  # not readable, or a title the filter cannot compare
        return None
    return page.rows[0]["id"] if len(page.rows) == 1 else None


def _find_user(users, text: str) -> int | None:
    if users is None:
        return None
    folded = text.casefold()
    matches = [
        u["id"]
        for u in users.find(text, limit=20)
        if folded in (str(u.get("name", "")).casefold(), str(u.get("email", "")).casefold())
    ]
    return matches[0] if len(matches) == 1 else None


def import_records(
    repo: Any,
    principal: Any,
    entity_id: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    users: Any = None,
    coerce: CoerceContext | None = None,
    locale: str = "en",
    gettext: Callable[..., str] = plain_gettext,
) -> list[dict[str, Any]]:
    """Create one record per row through the repository, in one transaction; raises
    ImportFileError (nothing written) when a cell cannot be read."""
    model = repo.model
    entity = model.entities[entity_id]
    ctx = ImportContext(
        coerce or CoerceContext(model.default_currency, model.default_region, locale),
        repository_references(repo, principal, model, users),
    )
    read = read_records(entity, headers, rows, ctx, locale=locale, gettext=gettext)
    if read.problems:
        raise ImportFileError(read.problems)
    return repo.bulk_create(principal, entity_id, read.records)


__all__ = [
    "CellProblem",
    "ImportFileError",
    "ImportedRows",
    "column_plan",
    "import_records",
    "importable_fields",
    "plain_gettext",
    "read_csv",
    "read_records",
    "read_xlsx",
    "repository_references",
]
