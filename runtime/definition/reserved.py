"""Words an id may not be: they would clash with SQL, Python, system columns or expressions.

SQL: the words PostgreSQL and SQLite reserve outright, plus the core statement words of
SQL-92. Type and function names (``date``, ``year``, ``value``, ``position``) are NOT
reserved: identifiers are always quoted by SQLAlchemy, and forbidding natural field names
would hurt more than it protects.
"""

from __future__ import annotations

import keyword
import re

ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
ID_RE = re.compile(ID_PATTERN)

# Columns every entity table has; features add their own (``Entity.system_fields``)
# and reserve their ids (``Feature.reserved_field_ids``).
BASE_SYSTEM_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "owner_id",
    "row_version",
    "archived_at",
)
SYSTEM_COLUMNS: frozenset[str] = frozenset(BASE_SYSTEM_COLUMNS)

# Names the expression engine gives a meaning of its own.
EXPRESSION_NAMES: frozenset[str] = frozenset({"old", "user", "true", "false", "none"})

SQL_KEYWORDS: frozenset[str] = frozenset(
    """
    abort add all alter analyse analyze and any array as asc asymmetric autoincrement
    between both by case cast check collate column commit constraint create cross
    current_catalog current_date current_role current_time current_timestamp current_user
    default deferrable delete desc distinct do drop else end escape except exists
    false fetch for foreign from full glob grant group having in index initially inner
    insert intersect into is isnull join lateral leading left like limit localtime
    localtimestamp natural not notnull null offset on only or order outer placing
    pragma primary references regexp returning right rollback select session_user set
    some symmetric table then to trailing transaction true union unique update user
    using vacuum values variadic when where window with
    """.split()
)

PYTHON_KEYWORDS: frozenset[str] = frozenset(word.lower() for word in keyword.kwlist)

RESERVED_WORDS: frozenset[str] = SQL_KEYWORDS | PYTHON_KEYWORDS | SYSTEM_COLUMNS | EXPRESSION_NAMES


def reserved_reason(word: str) -> str:
    """Why ``word`` is reserved ("" when it is free), for the error message."""
    if word in SYSTEM_COLUMNS:
        return "it is a system column"
    if word in EXPRESSION_NAMES:
        return "it has a meaning in expressions"
    if word in PYTHON_KEYWORDS:
        return "it is a Python keyword"
    if word in SQL_KEYWORDS:
        return "it is an SQL keyword"
    return ""


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_RE.match(value))
