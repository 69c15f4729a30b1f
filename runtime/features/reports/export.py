"""A widget's result as a table for CSV/XLSX: its rows' labels and measures."""

from __future__ import annotations

from typing import Any


def export_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    rows = result.get("rows")
    if rows is None:  # a number: one line
        keys = [k for k in ("value", "previous", "change", "target", "of_target", "by_value",
                            "median", "won", "lost") if k in result]  # fmt: skip
        return ["title", *keys], [[result.get("title", ""), *(result[k] for k in keys)]]
    keys: list[str] = []
    for row in rows:
        for key in row:
            if key != "labels" and key not in keys:
                keys.append(key)
    labelled = [f"{k} (label)" for k in (rows[0].get("labels") or {})] if rows else []
    table = [[*(row.get("labels") or {}).values(), *(row.get(k) for k in keys)] for row in rows]
    return [*labelled, *keys], table
