"""Export the current list view to CSV or XLSX: same filters, sort, search and columns.

Each column's field type writes its values (``FieldType.export_values``: numbers stay
numbers, dates dates, options their labels, links the titles the list shows) and reads
them back on import (``runtime.imports``). Rows come from the list context the page
and the API share (``runtime.web.list_context``: ``resolve_list_request``, ``fetch_page``)
and the page's ``present_rows``, in
batches of ``CHUNK`` through ``repo.list`` (so scope and field permissions apply), each
batch continuing by keyset after the last row of the one before (no OFFSET: row
100,000 costs what row 1 costs), and stop at ``MAX_ROWS``. Only one batch is held at a
time. CSV is streamed as it is produced, in UTF-8 with a BOM so Excel opens Chinese
text correctly; XLSX is written by openpyxl in write-only mode to a temporary file and
then streamed. Text that a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@`` first) is prefixed with an apostrophe (an apostrophe too).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from runtime.fieldtypes import ExportContext, FieldType, type_of
from runtime.web.list_view import (
    Cell,
    ListEnv,
    ListRequest,
    Row,
    fetch_page,
    present_rows,
)

CHUNK = 200  # rows per repo.list call (the repository's largest page)
MAX_ROWS = 100_000
# A leading apostrophe is doubled too, so an import can always drop the one added.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _types(req: ListRequest) -> list[FieldType]:
    return [type_of(col) for col in req.columns]


def export_headers(req: ListRequest, locale: str, gettext: Callable[..., str]) -> list[str]:
    """Column labels, as each field's type lays out its columns (money adds its currency)."""
    headers = []
    for col, ftype in zip(req.columns, _types(req), strict=True):
        headers += ftype.export_headers(col, col.label.get(locale), gettext)
    return headers


def _batches(
    env: ListEnv, req: ListRequest, max_rows: int | None
) -> Iterator[tuple[list[Any], list[Row]]]:
    """The view's records from the first, with their presented rows: ``CHUNK`` per keyset
    batch, at most ``max_rows`` (default ``MAX_ROWS``)."""
    max_rows = MAX_ROWS if max_rows is None else max_rows
    req = replace(req, after=None, before=None, page=1)  # the whole view, not this page
    emitted = 0
    after = None
    while emitted < max_rows:
        size = min(CHUNK, max_rows - emitted)
        result = fetch_page(env, req, page_size=CHUNK, after=after)
        records = list(result.rows)[:size]
        rows = present_rows(env, req, records)
        yield records, rows
        emitted += len(rows)
        if not result.has_next or not rows or result.next_key is None:
            return
        after = result.next_key


def iter_cells(env: ListEnv, req: ListRequest, max_rows: int | None = None) -> Iterator[list[Cell]]:
    """Every row of the view from the first, as the list presents its cells."""
    for _records, rows in _batches(env, req, max_rows):
        for row in rows:
            yield list(row.cells)


def _safe_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _safe(value: Any) -> Any:
    return _safe_text(value) if isinstance(value, str) else value


def export_rows(env: ListEnv, req: ListRequest, max_rows: int | None = None) -> Iterator[list[Any]]:
    """The export values of every row: each column's field type writes its own
    (``FieldType.export_values``). A feature's system field (``Entity.system_fields``)
    is written as the list presents it (a stage by its label)."""
    types = _types(req)
    feature_ids = {f.id for f in req.entity.system_fields}
    for records, rows in _batches(env, req, max_rows):
        for record, row in zip(records, rows, strict=True):
            shown = {
                col.id: None if cell.kind == "empty" else cell.value
                for col, cell in zip(req.columns, row.cells, strict=True)
            }
            ctx = ExportContext(
                env.locale, env.timezone, env.model.default_currency, MappingProxyType(shown)
            )
            out: list[Any] = []
            for col, ftype in zip(req.columns, types, strict=True):
                if col.id in feature_ids:
                    out.append(shown[col.id])
                else:
                    out += ftype.export_values(col, record, ctx)
            yield [_safe(value) for value in out]


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def stream_csv(headers: list[str], rows: Iterator[list[Any]]) -> Iterator[bytes]:
    """CSV bytes: a BOM and the header first, then about 200 rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    count = 0
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
        count += 1
        if count % CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode("utf-8")


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        # openpyxl writes Decimal; keep integral values integral for Excel's display.
        return (
            int(value)
            if value == value.to_integral_value() and abs(value) < 2**53
            else float(value)
        )
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def write_xlsx(title: str, headers: list[str], rows: Iterator[list[Any]]) -> str:
    """Write a workbook (write-only: constant memory) to a temporary file; return its path."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    bold = Font(bold=True)
    head = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    sheet.freeze_panes = "A2"
    for row in rows:
        out = []
        for value in row:
            value = _xlsx_value(value)
            if isinstance(value, datetime):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd hh:mm"
                out.append(cell)
            elif isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    handle, path = tempfile.mkstemp(prefix="trellis-export-", suffix=".xlsx")
    os.close(handle)
    workbook.save(path)
    return path


def stream_file(path: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes, then the file is removed (also when the client goes away)."""
    try:
        with open(path, "rb") as handle:
            while True:
                data = handle.read(chunk_size)
                if not data:
                    break
                yield data
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def _sheet_title(title: str) -> str:
    cleaned = "".join(ch for ch in title if ch not in "[]:*?/\\").strip()
    return (cleaned or "Export")[:31]


def export_filename(entity_id: str, ext: str) -> str:
    return f"{entity_id}-{date.today().isoformat()}.{ext}"


__all__ = [
    "CHUNK",
    "MAX_ROWS",
    "XLSX_MIME",
    "export_filename",
    "export_headers",
    "export_rows",
    "stream_csv",
    "stream_file",
    "write_xlsx",
]
