"""Keyset paging in the repository: every sort direction with NULLs and ties, both ways.

Each sort is walked page by page with ``after=page.next_key`` and back with
``before=page.prev_key``; the rows must be exactly the ones a Python sort of the same
data gives (NULL sorting as the largest value, ``id`` breaking ties), with no OFFSET.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event

from runtime.errors import ValidationError
from runtime.store import Position, StaleCursor
from tests.store_fixtures import setup_store

NAMES = ["delta", "alpha", None, "beta", "beta", "echo", None, "alpha", "fox", "beta", "golf"]


def _account(n: int) -> dict:
    """Values with NULLs and ties in every sortable type (n = 0 .. 22)."""
    name = NAMES[n % len(NAMES)]
    return {
        "name": f"acct{n:02d}",
        "email": name and f"{name}{n % 3}@example.com",
        "employees": None if n % 5 == 0 else n % 4,
        "rating": None if n % 4 == 1 else Decimal(n % 3) + Decimal("0.5"),
        "founded": None if n % 6 == 2 else date(2020, 1 + n % 3, 1),
        "last_contact": None if n % 7 == 3 else datetime(2024, 5, 1 + n % 2, 9, 30, tzinfo=UTC),
        "active": None if n % 8 == 4 else n % 2 == 0,
        "revenue": None if n % 3 == 0 else 1000 * (n % 4),
    }


@pytest.fixture
def store(db_url):
    store = setup_store(db_url)
    created = store.repo.bulk_create(store.admin, "account", [_account(n) for n in range(23)])
    store.accounts = {row["id"]: row for row in created}
    # A few owned by rep A (team East: rep A and A2 read these, rep B does not).
    table = store.db.table("account")
    mine = sorted(store.accounts)[::3]
    with store.db.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id.in_(mine)).values(owner_id=store.rep_a.id))
    store.mine = set(mine)
    yield store
    store.db.dispose()


def _expected(rows: list[dict], sort: list[str]) -> list[int]:
    """Ids in the order the list promises: each key with NULL largest, then id."""
    ordered = sorted(rows, key=lambda r: r["id"], reverse=sort[-1].startswith("-"))
    for item in reversed(sort):
        name = item.lstrip("-")
        present = [r for r in ordered if r[name] is not None]
        empty = [r for r in ordered if r[name] is None]
        present.sort(key=lambda r: r[name], reverse=item.startswith("-"))
        ordered = (empty + present) if item.startswith("-") else (present + empty)
    return [r["id"] for r in ordered]


def _walk(repo, user, sort, page_size=4, **kw):
    """Every page forward by cursor, then every page back; both as lists of id lists."""
    forward = []
    page = repo.list(user, "account", sort=sort, page_size=page_size, **kw)
    forward.append([r["id"] for r in page.rows])
    assert not page.has_prev and page.prev_key is None
    while page.has_next:
        page = repo.list(user, "account", sort=sort, page_size=page_size, after=page.next_key, **kw)
        forward.append([r["id"] for r in page.rows])
        assert page.has_prev
    backward = [forward[-1]]
    while page.has_prev:
        page = repo.list(
            user, "account", sort=sort, page_size=page_size, before=page.prev_key, **kw
        )
        backward.append([r["id"] for r in page.rows])
        assert page.has_next
    return forward, backward[::-1]


SORTS = [
    [key, "-" + key][d : d + 1]
    for key in ("email", "employees", "rating", "founded", "last_contact", "active", "revenue")
    for d in (0, 1)
] + [
    ["employees", "-email"],
    ["-employees", "rating", "-founded"],
    ["active", "-last_contact"],
    ["-revenue", "email", "employees"],
    ["id"],
    ["-id"],
]


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: ",".join(s))
def test_keyset_pages_follow_the_sort_with_nulls_and_ties_both_ways(store, sort):
    rows = list(store.accounts.values())
    # id breaks ties in the direction of the last key.
    tie = "-id" if sort[-1].startswith("-") else "id"
    expected = _expected(rows, sort if sort[-1].lstrip("-") == "id" else sort + [tie])
    forward, backward = _walk(store.repo, store.admin, sort)
    assert [i for p in forward for i in p] == expected
    assert all(len(p) == 4 for p in forward[:-1])
    assert backward == forward  # the same pages, read back from the end


def test_default_sort_breaks_updated_at_ties_by_id(store):
    # bulk_create stamps every row with one updated_at: only id orders them.
    forward, backward = _walk(store.repo, store.admin, [], page_size=5)
    assert [i for p in forward for i in p] == sorted(store.accounts, reverse=True)
    assert backward == forward


def test_cursor_pages_keep_row_scope(store):
    forward, backward = _walk(store.repo, store.rep_a2, ["-employees", "email"], page_size=2)
    seen = [i for p in forward for i in p]
    rows = [store.accounts[i] for i in store.mine]
    assert seen == _expected(rows, ["-employees", "email", "id"])
    assert backward == forward
    # A cursor taken from the admin's list does not widen a rep's scope.
    admin_page = store.repo.list(store.admin, "account", sort=["email"], page_size=3)
    other = store.repo.list(store.rep_b, "account", sort=["email"], after=admin_page.next_key)
    assert other.rows == []


def test_cursor_with_filters_and_search(store):
    kw = {"filters": [("employees", "isnull", False)], "search": "acct1"}
    forward, _ = _walk(store.repo, store.admin, ["-rating"], page_size=2, **kw)
    rows = [
        r for r in store.accounts.values()
        if r["employees"] is not None and r["name"].startswith("acct1")
    ]  # fmt: skip
    assert [i for p in forward for i in p] == _expected(rows, ["-rating", "-id"])


def test_a_cursor_of_another_sort_is_refused(store):
    page = store.repo.list(store.admin, "account", sort=["email"], page_size=3)
    assert page.next_key.sort == ("email", "id")
    with pytest.raises(StaleCursor) as caught:
        store.repo.list(store.admin, "account", sort=["-email"], after=page.next_key)
    assert caught.value.param == "after"
    with pytest.raises(StaleCursor) as caught:
        store.repo.list(
            store.admin, "account", sort=["email"], before=Position(("email", "id"), (1,))
        )
    assert caught.value.param == "before"


def test_sorting_by_a_hidden_field_is_refused_with_or_without_a_cursor(store):
    deal = store.repo.list(store.admin, "deal", sort=["secret_note"])
    assert deal.rows == []
    with pytest.raises(ValidationError):
        store.repo.list(store.rep_a, "deal", sort=["secret_note"])
    with pytest.raises(ValidationError):
        store.repo.list(
            store.rep_a, "deal", sort=["secret_note"],
            after=Position(("secret_note", "id"), ("x", 1)),
        )  # fmt: skip


def test_cursor_pages_use_no_offset_and_one_statement(store):
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, *args):
        if "account" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement.upper(), parameters))

    page = store.repo.list(store.admin, "account", sort=["-updated_at"], page_size=5)
    event.listen(store.db.engine, "before_cursor_execute", record)
    try:
        deeper = store.repo.list(
            store.admin, "account", sort=["-updated_at"], page_size=5, after=page.next_key
        )
    finally:
        event.remove(store.db.engine, "before_cursor_execute", record)
    assert len(deeper.rows) == 5
    assert len(statements) == 1
    statement, parameters = statements[0]
    # SQLite always spells "LIMIT ? OFFSET ?"; the offset bound is then 0.
    assert "OFFSET" not in statement or (statement.endswith("OFFSET ?") and parameters[-1] == 0)


def test_cursor_query_searches_the_sort_index_on_sqlite(store):
    if not store.db.is_sqlite:
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    statements: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, *args):
        if "ent_account" in statement and "_sort0" in statement:
            statements.append((statement, parameters))

    page = store.repo.list(store.admin, "account", sort=["-updated_at"], page_size=5)
    event.listen(store.db.engine, "before_cursor_execute", record)
    try:
        store.repo.list(
            store.admin, "account", sort=["-updated_at"], page_size=5, after=page.next_key
        )
    finally:
        event.remove(store.db.engine, "before_cursor_execute", record)
    statement, parameters = statements[-1]
    raw = store.db.engine.raw_connection()
    try:
        plan = " ".join(
            str(row[-1]) for row in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        )
    finally:
        raw.close()
    # A range search on the updated_at index, not a scan from the first row.
    assert "SEARCH" in plan and "updated_at<" in plan.replace(" ", ""), plan
