"""Report widgets benchmark: on 1,000,000 opportunities with their stage history, each
widget of an 8-widget board against hand-written SQL for the same numbers (cold, no
cache), the cached time, the whole board cold and warm, and the write path's cost of
the cache's change counter. Prints medians and ratios against the baseline measured in
the same run.

    .venv/bin/python benchmarks/bench_reports.py                    # SQLite, 1,000,000 rows
    .venv/bin/python benchmarks/bench_reports.py --rows 20000       # smaller
    .venv/bin/python benchmarks/bench_reports.py --postgres URL     # also PostgreSQL

The data is bench_relations' (its SQLite file is copied when it exists; else built the
same way), plus one stage-history row per stage each opportunity passed through.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_relations  # noqa: E402
from bench_common import median_ms  # noqa: E402
from sqlalchemy import Integer, and_, case, cast, func, literal, select, union_all  # noqa: E402

from runtime.features.pipelines.clauses import stage_ids_by_kind  # noqa: E402
from runtime.features.pipelines.definition import pipelines_for_entity  # noqa: E402
from runtime.features.pipelines.stage_history import table as history  # noqa: E402
from runtime.relative_dates import relative_range  # noqa: E402
from runtime.reports.cache import ResultCache, bump_version  # noqa: E402
from runtime.reports.engine import ReportContext, run_widget  # noqa: E402
from runtime.reports.kinds import kind_registry  # noqa: E402

E = "opportunity"
WIDGETS = [
    {"id": "won_this_year", "kind": "kpi", "entity": E, "measures": [{"fn": "sum", "field": "amount"}],
     "filters": [{"field": "stage_kind", "value": "won"}, {"field": "closed_date", "value": "this_year"}]},
    {"id": "open_by_region", "kind": "bar", "entity": E, "dimensions": [{"field": "region"}],
     "measures": [{"fn": "sum", "field": "amount"}], "filters": [{"field": "stage_kind", "value": "open"}]},
    {"id": "open_by_month", "kind": "stacked_bar", "entity": E,
     "dimensions": [{"field": "close_date", "bucket": "month"}, {"field": "region"}],
     "measures": [{"fn": "sum", "field": "amount"}], "filters": [{"field": "stage_kind", "value": "open"}]},
    {"id": "lost_by_stage", "kind": "pie", "entity": E, "dimensions": [{"field": "stage"}],
     "measures": [{"fn": "count"}], "filters": [{"field": "stage_kind", "value": "open"}]},
    {"id": "top_owners", "kind": "leaderboard", "entity": E, "dimensions": [{"field": "owner_id"}],
     "measures": [{"fn": "sum", "field": "amount"}], "filters": [{"field": "stage_kind", "value": "won"}]},
    {"id": "win_rate", "kind": "win_rate", "entity": E, "filters": [{"field": "closed_date", "value": "this_year"}]},
    {"id": "cycle", "kind": "sales_cycle", "entity": E, "filters": [{"field": "closed_date", "value": "this_year"}]},
    {"id": "conversion", "kind": "stage_conversion", "entity": E, "filters": []},
]  # fmt: skip


def open_data(url: str, rows: int, folder: str, label: str):
    if url.startswith("sqlite"):
        target = Path(url.split("///", 1)[1])
        source = Path(bench_relations.sqlite_url(rows, folder).split("///", 1)[1])
        if not target.exists() and source.exists():
            print(f"copying {source} ...", flush=True)
            with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
                src.backup(dst)
    bench = bench_relations.open_bench(label, url, rows, folder)
    fill_history(bench.runtime)
    return bench


def fill_history(runtime) -> None:
    """One history row per stage passed: stages up to the current one (won deals passed
    every open stage; lost ones the open stages up to a rank drawn from their id)."""
    db = runtime.db
    with db.engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(history)).scalar_one()
    if have:
        return
    start = time.perf_counter()
    pipeline = pipelines_for_entity(runtime.model, E)[0]
    open_ids = [s.id for s in pipeline.stages if s.kind == "open"]
    rank = {s: i for i, s in enumerate(open_ids)}
    opp = db.tables[E]
    kinds = stage_ids_by_kind(runtime.model, E)
    won, lost = kinds["won"], kinds["lost"]
    reached = case(
        *[(opp.c.stage == s, literal(i)) for s, i in rank.items()],
        (opp.c.stage.in_(won), literal(len(open_ids) - 1)),
        else_=opp.c.id % len(open_ids),
    )
    with db.engine.begin() as conn:
        for i, stage_id in enumerate(open_ids):
            query = select(
                literal(E), opp.c.id, literal(open_ids[i - 1] if i else None), literal(stage_id),
                opp.c.owner_id, opp.c.created_at,
            ).where(reached >= i)  # fmt: skip
            conn.execute(
                history.insert().from_select(
                    ["entity", "record_id", "from_stage", "to_stage", "changed_by", "changed_at"],
                    query,
                )
            )
        closing = select(
            literal(E),
            opp.c.id,
            literal(open_ids[-1]),
            opp.c.stage,
            opp.c.owner_id,
            opp.c.updated_at,
        )
        conn.execute(
            history.insert().from_select(
                ["entity", "record_id", "from_stage", "to_stage", "changed_by", "changed_at"],
                closing.where(opp.c.stage.in_(won + lost)),
            )
        )
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE sys_stage_history")
    print(f"  stage history written in {time.perf_counter() - start:.1f} s", flush=True)


# ------------------------------------------------------------------ hand-written SQL


def hand_sql(runtime, widget) -> list:
    """The same numbers as the widget, written by hand (the admin reads everything)."""
    db = runtime.db
    opp = db.tables[E]
    kinds = stage_ids_by_kind(runtime.model, E)
    live = opp.c.archived_at.is_(None)
    year = relative_range("this_year", date.today())
    this_year = and_(opp.c.closed_date >= year[0], opp.c.closed_date < year[1])
    month = (func.to_char(opp.c.close_date, "YYYY-MM") if db.is_postgres
             else func.strftime("%Y-%m", opp.c.close_date))  # fmt: skip
    is_open, is_won = opp.c.stage.in_(kinds["open"]), opp.c.stage.in_(kinds["won"])
    wid = widget["id"]
    if wid == "won_this_year":
        queries = [select(opp.c.amount_currency, func.sum(opp.c.amount)).where(live, is_won, this_year)
                   .group_by(opp.c.amount_currency)]  # fmt: skip
    elif wid == "open_by_region":
        queries = [select(opp.c.region, opp.c.amount_currency, func.sum(opp.c.amount)).where(live, is_open)
                   .group_by(opp.c.region, opp.c.amount_currency).order_by(opp.c.region)]  # fmt: skip
    elif wid == "open_by_month":
        queries = [select(month, opp.c.region, opp.c.amount_currency, func.sum(opp.c.amount))
                   .where(live, is_open).group_by(month, opp.c.region, opp.c.amount_currency)]  # fmt: skip
    elif wid == "lost_by_stage":
        queries = [select(opp.c.stage, func.count()).where(live, is_open).group_by(opp.c.stage)]
    elif wid == "top_owners":
        total = func.sum(opp.c.amount)
        queries = [select(opp.c.owner_id, opp.c.amount_currency, total).where(live, is_won)
                   .group_by(opp.c.owner_id, opp.c.amount_currency).order_by(total.desc()).limit(10)]  # fmt: skip
    elif wid == "win_rate":
        closed = opp.c.stage.in_(kinds["won"] + kinds["lost"])
        queries = [select(opp.c.stage, opp.c.amount_currency, func.count(), func.sum(opp.c.amount))
                   .where(live, closed, this_year).group_by(opp.c.stage, opp.c.amount_currency)]  # fmt: skip
    elif wid == "cycle":
        if db.is_postgres:
            days = cast(
                cast(opp.c.closed_date, db.tables[E].c.close_date.type)
                - func.date(opp.c.created_at),
                Integer,
            )
        else:
            days = cast(
                func.julianday(opp.c.closed_date) - func.julianday(func.date(opp.c.created_at)),
                Integer,
            )
        base = (
            select(days.label("d"))
            .where(live, is_won, this_year, opp.c.closed_date.is_not(None))
            .subquery()
        )
        n = runtime.db.engine.connect().execute(select(func.count()).select_from(base)).scalar_one()
        ordered = select(base.c.d).order_by(base.c.d)
        queries = [select(func.count(), func.avg(base.c.d)),
                   ordered.offset(max((n - 1) // 2, 0)).limit(1), ordered.offset(n // 2).limit(1)]  # fmt: skip
    else:
        pipeline = pipelines_for_entity(runtime.model, E)[0]
        steps = [s.id for s in pipeline.stages if s.kind in ("open", "won")]
        hr = case({s: i for i, s in enumerate(steps)}, value=history.c.to_stage, else_=-1)
        cr = case({s: i for i, s in enumerate(steps)}, value=opp.c.stage, else_=-1)
        ids = select(opp.c.id).where(live)
        both = union_all(
            select(history.c.record_id.label("rid"), hr.label("r")).where(
                history.c.entity == E, history.c.record_id.in_(ids)
            ),
            select(opp.c.id.label("rid"), cr.label("r")).where(live),
        ).subquery()
        best = select(both.c.rid, func.max(both.c.r).label("top")).group_by(both.c.rid).subquery()
        queries = [select(best.c.top, func.count()).group_by(best.c.top)]
    with db.engine.connect() as conn:
        return [conn.execute(q).all() for q in queries]


# ------------------------------------------------------------------ measures


def context(bench, cache=None) -> ReportContext:
    return ReportContext(
        bench.runtime.repo, bench.runtime.model, bench.admin, "en", date.today(), cache
    )


def run(label: str, url: str, rows: int, repeat: int, folder: str) -> None:
    bench = open_data(url, rows, folder, label)
    runtime, kinds = bench.runtime, kind_registry()
    print(f"\n{label}: {rows:,} opportunities, median of {repeat} (ms)")
    print(
        f"  {'widget':<16} {'ours cold':>10} {'hand SQL':>10} {'ratio':>7} {'cached':>8}   target <=1.1x, <50 ms"
    )
    cache = ResultCache(runtime.db.engine)
    for widget in WIDGETS:
        ours = median_ms(lambda w=widget: run_widget(context(bench), w, kinds), repeat)
        hand = median_ms(lambda w=widget: hand_sql(runtime, w), repeat)
        run_widget(context(bench, cache), widget, kinds)
        cached = median_ms(lambda w=widget: run_widget(context(bench, cache), w, kinds), repeat)
        print(
            f"  {widget['id']:<16} {ours:10.1f} {hand:10.1f} {ours / hand:6.2f}x {cached:8.2f}",
            flush=True,
        )
    board_cold = median_ms(
        lambda: [
            run_widget(context(bench, ResultCache(runtime.db.engine)), w, kinds) for w in WIDGETS
        ],
        max(3, repeat // 3),
    )
    warm = ResultCache(runtime.db.engine)
    warm_ctx = context(bench, warm)
    for w in WIDGETS:
        run_widget(warm_ctx, w, kinds)

    def board_warm():
        ctx = context(bench, warm)  # a new request: reads the counters once
        return [run_widget(ctx, w, kinds) for w in WIDGETS]

    print(f"  board of {len(WIDGETS)} widgets: cold {board_cold:.0f} ms (target < 1000), "
          f"warm {median_ms(board_warm, repeat):.1f} ms (target < 100)")  # fmt: skip
    measure_write(bench)


def measure_write(bench) -> None:
    """A repository update with the counter step, against the counter's upsert alone."""
    runtime = bench.runtime
    repo, opp = runtime.repo, runtime.db.tables[E]
    with runtime.db.engine.connect() as conn:
        record_id = conn.execute(select(func.min(opp.c.id))).scalar_one()
    names = iter(range(10_000))

    def update_one():
        current = repo.get(bench.admin, E, record_id)
        repo.update(
            bench.admin,
            E,
            record_id,
            {"name": f"Bench {next(names)}"},
            row_version=current["row_version"],
        )

    def bump_only():
        with runtime.db.engine.begin() as conn:
            bump_version(conn, E)

    update = median_ms(update_one, 15)
    bump = median_ms(bump_only, 15)
    print(f"  write: repo.update {update:.2f} ms; the counter's upsert in its own transaction "
          f"{bump:.2f} ms ({bump / update:.0%} of an update, an upper bound: in the write it shares the commit)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("TRELLIS_TEST_POSTGRES_URL", ""))
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--data", default=tempfile.gettempdir())
    args = parser.parse_args()
    if not args.postgres_only:
        path = Path(args.data).resolve() / f"trellis-bench-reports-{args.rows}.db"
        run("SQLite", f"sqlite:///{path}", args.rows, args.repeat, args.data)
    if args.postgres:
        run(
            "PostgreSQL",
            bench_relations.postgres_url(args.postgres, args.rows),
            args.rows,
            args.repeat,
            args.data,
        )


if __name__ == "__main__":
    main()
