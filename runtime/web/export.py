"""Export the current list view to CSV or XLSX: same filters, sort, search and columns.

Rows come from the same ``resolve_list_request`` and ``present_rows`` as the page, in
batches of ``CHUNK`` through ``repo.list`` (so scope and field permissions apply), each
batch continuing by keyset after the last row of the one before (no OFFSET: row
100,000 costs what row 1 costs), and stop at ``MAX_ROWS``. Only one batch is held at a
time. CSV is streamed as it is produced, in UTF-8 with a BOM so Excel opens Chinese
text correctly; XLSX is written by openpyxl in write-only mode to a temporary file and
then streamed. Text that a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@`` first) is prefixed with an apostrophe.
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
from typing import Any

from runtime.definition.model import FieldDef
from runtime.fieldtypes import type_of
from runtime.web.list_view import (
    Cell,
    ListEnv,
    ListRequest,
    fetch_page,
    present_rows,
)

CHUNK = 200  # rows per repo.list call (the repository's largest page)
MAX_ROWS = 100_000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _has_currency(col: FieldDef) -> bool:
    """A money column (or a formula with a money result): its currency gets a column."""
    return type_of(col).value_type(col).has_currency


def export_headers(req: ListRequest, locale: str, gettext: Callable[..., str]) -> list[str]:
    """Column labels; a money column is followed by its currency column."""
    headers = []
    for col in req.columns:
        label = col.label.get(locale)
        headers.append(label)
        if _has_currency(col):
            headers.append(gettext("%(label)s (currency)", label=label))
    return headers


def iter_cells(env: ListEnv, req: ListRequest, max_rows: int | None = None) -> Iterator[list[Cell]]:
    """Every row of the view from the first, as cells: ``CHUNK`` rows per keyset batch,
    at most ``max_rows`` (default ``MAX_ROWS``)."""
    max_rows = MAX_ROWS if max_rows is None else max_rows
    req = replace(req, after=None, before=None, page=1)  # the whole view, not this page
    emitted = 0
    after = None
    while emitted < max_rows:
        size = min(CHUNK, max_rows - emitted)
        result = fetch_page(env, req, page_size=CHUNK, after=after)
        rows = present_rows(env, req, list(result.rows)[:size])
        for row in rows:
            yield list(row.cells)
        emitted += len(rows)
        if not result.has_next or not rows or result.next_key is None:
            return
        after = result.next_key


def _safe_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _plain(cell: Cell, with_currency: bool) -> list[Any]:
    """Export values of one cell: numbers stay numbers, dates stay dates."""
    if cell.kind == "empty":
        values: list[Any] = [None]
    elif cell.kind == "num":
        values = [cell.value]
    elif cell.kind == "date":
        values = [cell.value]
    elif cell.kind == "bool":
        values = [cell.text]
    else:
        values = [_safe_text(str(cell.value if cell.value is not None else cell.text))]
    if with_currency:
        values.append(cell.currency if cell.kind == "num" else None)
    return values


def export_rows(env: ListEnv, req: ListRequest, max_rows: int | None = None) -> Iterator[list[Any]]:
    money = [_has_currency(c) for c in req.columns]
    for cells in iter_cells(env, req, max_rows):
        out: list[Any] = []
        for cell, is_money in zip(cells, money, strict=True):
            out.extend(_plain(cell, is_money))
        yield out


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
