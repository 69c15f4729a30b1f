"""Keyset paging and exports: a deep page and a big export cost per row what the first ones do.

On the opportunity database of bench_repository.py (SQLite; PostgreSQL too when
TRELLIS_BENCH_POSTGRES_URL is set), measured in the same run:
  (a) repository.list, page of 50, sort -updated_at (indexed) and -amount (not indexed):
      page 1, page 2,000 by keyset cursor (after=), page 2,000 by OFFSET (page=2000).
      Ratios against page 1; target: keyset page 2,000 / page 1 <= 1.5x.
  (b) the CSV export through the Flask app (GET /e/opportunity/export.csv?view=all,
      admin session), capped at 1,000 and at 100,000 rows: ms per row, the ratio of the
      two (target <= 1.5x), the repo.list batches it made, and the peak of Python
      memory (tracemalloc) while streaming each (flat: the 100,000-row peak stays near
      the 1,000-row one). Also the XLSX export per row.
  (c) the same 100,000 rows read by the repository in batches of 200: by keyset vs by
      OFFSET (what exports did before), total seconds.

    .venv/bin/python benchmarks/bench_keyset.py [--rows 200000] [--db benchmarks/data/bench_keyset.db]
        [--repeat 7]
    TRELLIS_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/bench ... (adds PostgreSQL;
        --postgres-only skips SQLite)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import make_app, median_ms, signed_in_client  # noqa: E402
from bench_repository import build_database  # noqa: E402

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-pass-1"  # as bench_repository.build_database creates it
PAGE = 50
DEEP = 2_000
EXPORT_SMALL, EXPORT_BIG = 1_000, 100_000


def deep_cursor(repo, admin, sort: list[str], pages: int):
    """The position after page ``pages - 1``, reached by walking the cursors."""
    page = repo.list(admin, "opportunity", sort=sort, page_size=PAGE, fields=["name"])
    for _ in range(pages - 2):
        page = repo.list(
            admin, "opportunity", sort=sort, page_size=PAGE, fields=["name"], after=page.next_key
        )
    return page.next_key


def bench_pages(repo, admin, repeat: int) -> None:
    print(f"(a) repository.list, page of {PAGE}, page 1 vs page {DEEP:,} (median of {repeat}):")
    for sort in (["-updated_at"], ["-amount"]):
        cursor = deep_cursor(repo, admin, sort, DEEP)

        def first(sort=sort):
            repo.list(admin, "opportunity", sort=sort, page_size=PAGE)

        def keyset(sort=sort, cursor=cursor):
            repo.list(admin, "opportunity", sort=sort, page_size=PAGE, after=cursor)

        def offset(sort=sort):
            repo.list(admin, "opportunity", sort=sort, page_size=PAGE, page=DEEP)

        keyset_rows = repo.list(admin, "opportunity", sort=sort, page_size=PAGE, after=cursor).rows
        offset_rows = repo.list(admin, "opportunity", sort=sort, page_size=PAGE, page=DEEP).rows
        same = [r["id"] for r in keyset_rows] == [r["id"] for r in offset_rows]
        for fn in (first, keyset, offset):
            fn()
        t_first = median_ms(first, repeat)
        t_keyset = median_ms(keyset, repeat)
        t_offset = median_ms(offset, max(3, repeat // 2))
        print(
            f"  sort {sort[0]:<12} page 1 {t_first:7.2f} ms | page {DEEP:,} keyset {t_keyset:7.2f} ms"
            f" ({t_keyset / t_first:.2f}x, target <= 1.5x) | page {DEEP:,} OFFSET {t_offset:8.2f} ms"
            f" ({t_offset / t_first:.1f}x) | same rows: {same}"
        )


def export_once(client, kind: str, measure_memory: bool = False) -> tuple[float, int, int]:
    """Seconds, body lines (CSV) or bytes (XLSX), and the tracemalloc peak in bytes."""
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    response = client.get(f"/e/opportunity/export.{kind}?view=all", buffered=False)
    assert response.status_code == 200, response.status_code
    lines = size = 0
    for chunk in response.response:
        lines += chunk.count(b"\n")
        size += len(chunk)
    response.close()
    elapsed = time.perf_counter() - start
    peak = 0
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, (lines if kind == "csv" else size), peak


def bench_exports(url: str, repeat: int) -> None:
    from runtime.web import export

    app = make_app(url, Path(tempfile.mkdtemp(prefix="trellis-bench-keyset-")), "bench-keyset")
    client = signed_in_client(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    repo = app.extensions["trellis"].repo
    calls = []
    original = repo.list

    def counting(*args, **kw):
        calls.append(kw.get("after") is not None)
        return original(*args, **kw)

    repo.list = counting
    print("(b) CSV / XLSX export through the app (view=all, sort -updated_at):")
    per_row = {}
    for kind in ("csv", "xlsx"):
        export.MAX_ROWS = EXPORT_SMALL
        export_once(client, kind)  # warm
        for cap in (EXPORT_SMALL, EXPORT_BIG):
            export.MAX_ROWS = cap
            runs = 1 if cap == EXPORT_BIG else repeat
            times = []
            for _ in range(runs):
                calls.clear()
                seconds, count, _peak = export_once(client, kind)
                times.append(seconds)
            seconds = statistics.median(times)
            per_row[(kind, cap)] = seconds / cap * 1000
            batches, by_cursor = len(calls), sum(calls)
            peak = 0
            if kind == "csv":
                _s, _c, peak = export_once(client, kind, measure_memory=True)
            shown = f"{count - 1:,} rows" if kind == "csv" else f"{count / 1e6:.1f} MB"
            memory = f", Python memory peak {peak / 1e6:.1f} MB" if kind == "csv" else ""
            print(
                f"  {kind} {cap:>7,} rows: {seconds:7.2f} s, {per_row[(kind, cap)] * 1000:6.1f} µs/row,"
                f" {batches} repo.list batches ({by_cursor} by cursor), {shown}{memory}"
            )
        ratio = per_row[(kind, EXPORT_BIG)] / per_row[(kind, EXPORT_SMALL)]
        print(
            f"  {kind}: per-row cost at {EXPORT_BIG:,} / at {EXPORT_SMALL:,} rows = {ratio:.2f}x (target <= 1.5x)"
        )
    repo.list = original
    app.extensions["trellis"].db.engine.dispose()


def bench_batches(repo, admin) -> None:
    print(f"(c) the first {EXPORT_BIG:,} rows (sort -updated_at) in repo.list batches of 200:")
    start = time.perf_counter()
    page = repo.list(admin, "opportunity", page_size=200, fields=["name"])
    seen = len(page.rows)
    while seen < EXPORT_BIG and page.has_next:
        page = repo.list(admin, "opportunity", page_size=200, fields=["name"], after=page.next_key)
        seen += len(page.rows)
    t_keyset = time.perf_counter() - start
    start = time.perf_counter()
    seen, number = 0, 1
    while seen < EXPORT_BIG:
        page = repo.list(admin, "opportunity", page_size=200, fields=["name"], page=number)
        seen += len(page.rows)
        number += 1
        if not page.has_next:
            break
    t_offset = time.perf_counter() - start
    print(f"  by keyset {t_keyset:.2f} s | by OFFSET {t_offset:.2f} s ({t_offset / t_keyset:.1f}x)")


def run(url: str, rows: int, repeat: int, label: str, exports_only: bool = False) -> None:
    db, repo, admin_id = build_database(url, rows)
    admin = repo.principal(admin_id)
    print(f"== {label}: {rows:,} opportunities ({url})")
    if not exports_only:
        bench_pages(repo, admin, repeat)
        bench_batches(repo, admin)
    db.engine.dispose()
    bench_exports(url, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db", default=str(ROOT / "benchmarks" / "data" / "bench_keyset.db"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres-only", action="store_true", help="skip the SQLite run")
    parser.add_argument("--exports-only", action="store_true", help="only (b)")
    args = parser.parse_args()
    if args.rows < EXPORT_BIG + DEEP * PAGE:
        parser.error(f"--rows must be at least {EXPORT_BIG + DEEP * PAGE:,}")
    db_path = Path(args.db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if not args.postgres_only:
        run(f"sqlite:///{db_path}", args.rows, args.repeat, "SQLite", args.exports_only)
    postgres = os.environ.get("TRELLIS_BENCH_POSTGRES_URL")
    if postgres:
        run(postgres, args.rows, args.repeat, "PostgreSQL", args.exports_only)


if __name__ == "__main__":
    main()
