"""LIKE patterns from user text: wildcards typed by a user match literally."""

from __future__ import annotations


def contains_pattern(text: str) -> str:
    """``%text%`` with ``\\``, ``%`` and ``_`` escaped; use with ``escape="\\\\"``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
