"""Issue 9's measures: the query layer against hand-written SQL for the same answer, in one run.

On 1,000,000 opportunities and 100,000 accounts (``--rows``; accounts are a tenth),
owned by 20 teams of 5 reps; a rep reads in team scope. Measured on SQLite and, when
``--postgres URL`` or TRELLIS_TEST_POSTGRES_URL is given, on PostgreSQL too:

  (a) a list page of 50, as a rep, filtered through a link path (account.industry =
      manufacturing) and sorted by a rollup of the account (-account.open_pipeline):
      repo.list vs the hand-written join.                              target <= 1.5x
  (b) sum of amount by close month and region in a rep's scope: Repository.aggregate
      vs the hand-written GROUP BY.                                    target <= 1.1x
  (c) a child write that keeps two rollups current: measured by bench_rollups.py (the
      same writes in the app without its rollup fields; target <= +2 statements, 1.5x).
  (d) keyset page 2,000 of the default opportunity list (admin) vs page 1, per row
      (target <= 1.2x); the CSV export of 10,000 and of 100,000 rows through the app,
      per row (target <= 1.2x) with the Python memory peak of each (flat).
  (e) the filtered and sorted page (region = east_china, 1 in 8 of the rows; -amount)
      with its index and with the derived indexes that serve it dropped (then made
      again by create_or_upgrade, as ``trellis init`` would).

Data is written with bulk Core inserts into the app's tables after ``create_or_upgrade``
(the indexes of the two big tables are dropped for the load and made again after it),
then the rollups are rebuilt. The SQLite file is kept in /tmp by size
(/tmp/trellis-bench-relations-<rows>.db) and PostgreSQL data in a schema by size
(bench_relations_<rows>), so a second run starts measuring at once. A measure whose
part of issue 9 is not on this branch yet prints "missing" and what it needs.

    .venv/bin/python benchmarks/bench_relations.py [--rows 1000000] [--repeat 15]
        [--postgres postgresql://postgres@127.0.0.1:5432/bench] [--postgres-only]
        [--only a,b,c,d,e]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("TRELLIS_PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import APP, make_app, median_ms, signed_in_client  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.sql import operators  # noqa: E402
from sqlalchemy.sql.elements import UnaryExpression  # noqa: E402

from runtime.wiring import build_runtime  # noqa: E402

TEAMS, REPS_PER_TEAM = 20, 5
ADMIN = ("bench-admin@bench.example", "bench-admin-pass-1")
REP = ("rep-00-0@bench.example", "bench-rep-pass-1")  # team 0, reads in team scope
PAGE, DEEP = 50, 2_000
EXPORT_SMALL, EXPORT_BIG = 10_000, 100_000
FULL_ROWS = 1_000_000  # below it, (d) goes as deep and exports as much as the data allows
REGION_BY_AMOUNT = "ix_ent_opportunity__region__amount_desc"
BY_AMOUNT = "ix_ent_opportunity__amount_desc"  # view big_deals: serves the same page


@dataclass
class Bench:
    label: str
    url: str
    instance: Path
    runtime: Any
    admin: Any
    rep: Any
    team: list[int]  # the rep's team (the ids a hand-written scope names)
    results: list[tuple] = field(default_factory=list)
    rows: int = FULL_ROWS

    @property
    def deep(self) -> int:
        """The deep page of (d): 2,000, or as deep as a smaller run's open list goes."""
        return min(DEEP, max(2, int(self.rows * 0.6) // PAGE))

    @property
    def exports(self) -> tuple[int, int]:
        return min(EXPORT_SMALL, max(self.rows // 20, 10)), min(EXPORT_BIG, self.rows // 2)

    @property
    def db(self):
        return self.runtime.db

    @property
    def repo(self):
        return self.runtime.repo

    def row(self, measure: str, ours: float | None, baseline: float | None, target: str, note=""):
        self.results.append((measure, ours, baseline, target, note))
        ratio = f"{ours / baseline:.2f}x" if ours is not None and baseline else "-"
        shown = f"{ours:9.2f}" if ours is not None else "  missing"
        base = f"{baseline:9.2f}" if baseline is not None else "        -"
        print(f"  {measure:<44} {shown} {base} {ratio:>7}  {target:<16} {note}", flush=True)


# ------------------------------------------------------------------ data


def sqlite_url(rows: int, folder: str) -> str:
    return f"sqlite:///{Path(folder).resolve() / f'trellis-bench-relations-{rows}.db'}"


def postgres_url(base: str, rows: int) -> str:
    """``base`` with search_path set to this size's schema (created when missing)."""
    from sqlalchemy import create_engine

    from runtime.store.database import normalise_url

    schema = f"bench_relations_{rows}"
    engine = create_engine(normalise_url(base))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    engine.dispose()
    url = make_url(normalise_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def open_bench(label: str, url: str, rows: int, folder: str) -> Bench:
    instance = Path(folder) / f"trellis-bench-relations-{label.lower()}-instance"
    runtime = build_runtime(APP, url, queue="sqlite", instance_path=instance)
    added = runtime.db.create_or_upgrade()["added_columns"]
    rollups = getattr(runtime.repo, "rollups", None)
    if rollups is not None and any(c.startswith("ent_account.") for c in added):
        start = time.perf_counter()
        rollups.rebuild("account")  # columns a newer app version added (as trellis init fills)
        print(f"  rollups of the existing accounts filled in {time.perf_counter() - start:.1f} s")
    opp = runtime.db.tables["opportunity"]
    with runtime.db.engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(opp)).scalar_one()
    if have != rows:
        if have:
            raise SystemExit(
                f"{url} holds {have:,} opportunities, not {rows:,}: remove it (the SQLite file,"
                " or DROP SCHEMA ... CASCADE) and run again"
            )
        load(runtime, rows)
    users, sys_users = runtime.users, runtime.db.sys.users
    admin = users.principal(_user_id(runtime, ADMIN[0]))
    rep_id = _user_id(runtime, REP[0])
    with runtime.db.engine.connect() as conn:
        team_id = conn.execute(
            select(sys_users.c.team_id).where(sys_users.c.id == rep_id)
        ).scalar_one()
        team = conn.execute(select(sys_users.c.id).where(sys_users.c.team_id == team_id))
        members = sorted(r[0] for r in team)
    return Bench(label, url, instance, runtime, admin, users.principal(rep_id), members, rows=rows)


def _user_id(runtime, email: str) -> int:
    sys_users = runtime.db.sys.users
    with runtime.db.engine.connect() as conn:
        return conn.execute(select(sys_users.c.id).where(sys_users.c.email == email)).scalar_one()


def load(runtime, rows: int) -> None:
    """Users, ``rows // 10`` accounts and ``rows`` opportunities by bulk insert, then the
    indexes and the rollups."""
    from runtime.features.pipelines.clauses import stage_ids_by_kind

    db, users = runtime.db, runtime.users
    accounts = max(rows // 10, TEAMS)
    start = time.perf_counter()
    print(f"building {rows:,} opportunities and {accounts:,} accounts in {db.url} ...", flush=True)
    admin = users.create_user(ADMIN[0], "Bench Admin", ADMIN[1], roles=["admin"])
    reps: list[list[int]] = []
    for t in range(TEAMS):
        team = users.create_team(f"Bench team {t:02d}")
        reps.append(
            [
                users.create_user(
                    f"rep-{t:02d}-{r}@bench.example",
                    f"Rep {t:02d}-{r}",
                    REP[1] if (t, r) == (0, 0) else None,
                    roles=["sales_rep"],
                    team_id=team,
                )
                for r in range(REPS_PER_TEAM)
            ]
        )
    model = db.model
    acc, opp = db.tables["account"], db.tables["opportunity"]
    dropped = _drop_indexes(db, [acc, opp])
    options = {
        f: [o.id for o in model.entities["account"].field(f).options]
        for f in ("customer_status", "tier", "industry", "region")
    }
    regions = [o.id for o in model.entities["opportunity"].field("region").options]
    kinds = stage_ids_by_kind(model, "opportunity")
    rng = random.Random(9)
    now = datetime.now(UTC).replace(microsecond=0)
    system = {"created_by": admin, "row_version": 1}
    batch = []
    with db.engine.begin() as conn:
        for i in range(accounts):
            owner = reps[i % TEAMS][(i // TEAMS) % REPS_PER_TEAM]
            made = now - timedelta(minutes=i)
            batch.append(
                {
                    "name": f"Account {i:06d}",
                    "customer_status": rng.choice(options["customer_status"]),
                    "tier": rng.choice(options["tier"]),
                    # Not tied to the team (i % TEAMS): each team has every industry.
                    "industry": options["industry"][(i // TEAMS) % len(options["industry"])],
                    "region": rng.choice(options["region"]),
                    "owner_id": owner,
                    "created_at": made,
                    "updated_at": made,
                    **system,
                }
            )
            if len(batch) == 10_000:
                conn.execute(insert(acc), batch)
                batch = []
        if batch:
            conn.execute(insert(acc), batch)
        first_account = conn.execute(select(func.min(acc.c.id))).scalar_one()
    today = date.today()
    for chunk_start in range(0, rows, 20_000):
        chunk = []
        for j in range(chunk_start, min(rows, chunk_start + 20_000)):
            a = rng.randrange(accounts)
            owner = rng.choice(reps[a % TEAMS])
            roll = rng.random()
            kind = "open" if roll < 0.7 else ("won" if roll < 0.85 else "lost")
            stage = rng.choice(kinds[kind])
            amount = None if rng.random() < 0.02 else Decimal(rng.randrange(10_000, 5_000_000))
            made = now - timedelta(minutes=j, seconds=rng.randrange(60))
            close = today + timedelta(days=rng.randrange(-365, 365))
            chunk.append(
                {
                    "number": f"OPP-B-{j:07d}",
                    "name": f"Deal {j}",
                    "account": first_account + a,
                    "amount": amount,
                    "amount_currency": "CNY",
                    "close_date": close,
                    "closed_date": close if kind != "open" else None,
                    "probability": Decimal(10),
                    "expected_revenue": (amount / 10) if amount is not None else None,
                    "forecast_category": "pipeline",
                    "region": rng.choice(regions),
                    "stage": stage,
                    "stage_entered_at": made,
                    "owner_id": owner,
                    "created_at": made,
                    "updated_at": made,
                    **system,
                }
            )
        with db.engine.begin() as conn:
            conn.execute(insert(opp), chunk)
    loaded = time.perf_counter()
    report = db.create_or_upgrade()
    made = [n for n in report["created_indexes"] if n in dropped]
    indexed = time.perf_counter()
    rebuilt = ""
    rollups = getattr(runtime.repo, "rollups", None)
    if rollups is not None:
        done = rollups.rebuild("account")
        rebuilt = f", rollups rebuilt in {time.perf_counter() - indexed:.1f} s ({len(done)} fields)"
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(
        f"  loaded in {loaded - start:.1f} s, {len(made)} indexes made in {indexed - loaded:.1f} s"
        f"{rebuilt}",
        flush=True,
    )


def _drop_indexes(db, tables) -> set[str]:
    """Drop the indexes of ``tables`` (a bulk load then sorts once per index)."""
    from runtime.store.schema_sync import existing_index_names

    dropped = set()
    with db.engine.begin() as conn:
        for table in tables:
            for name in existing_index_names(conn, table.name):
                if name.startswith(("ix_", "uq_")):
                    conn.execute(text(f"DROP INDEX {name}"))
                    dropped.add(name)
    return dropped


# ------------------------------------------------------------------ helpers


def columns_of(table, skip=("description",)):
    return [c for c in table.c if c.name not in skip]


def fetch(db, query) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def active(db, table):
    """``archived_at IS NULL`` as one writes it for SQLite's planner: ``+archived_at``, or
    without statistics it reads nearly every row through the archived_at index and sorts
    them (the repository writes it so too, and its partial indexes repeat it)."""
    column = table.c.archived_at
    if db.is_sqlite:
        column = UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)
    return column.is_(None)


def nulls_first_desc(db, expr):
    """``expr DESC`` with NULL first, as the repository orders (PostgreSQL's default)."""
    return expr.desc().nulls_first() if db.is_sqlite else expr.desc()


def has_field(db, entity: str, field_id: str) -> bool:
    return db.model.entities[entity].has_field(field_id)


# ------------------------------------------------------------------ (a)


def measure_path_and_rollup(b: Bench, repeat: int) -> None:
    db = b.db
    opp, acc = db.tables["opportunity"], db.tables["account"]
    rollup = has_field(db, "account", "open_pipeline")
    sort_key = "-account.open_pipeline" if rollup else "-amount"
    filters = [("account.industry", "eq", "manufacturing")]

    def ours():
        return b.repo.list(b.rep, "opportunity", filters=filters, sort=[sort_key], page_size=PAGE)

    order = acc.c.open_pipeline if rollup else opp.c.amount
    query = (
        select(*columns_of(opp))
        .select_from(opp.join(acc, acc.c.id == opp.c.account))
        .where(
            opp.c.owner_id.in_(b.team),
            active(db, opp),
            acc.c.industry == "manufacturing",
            acc.c.owner_id.in_(b.team),
        )
        .order_by(nulls_first_desc(db, order), opp.c.id.desc())
        .limit(PAGE + 1)
    )

    def hand():
        return fetch(db, query)

    try:
        page = ours()
    except Exception as exc:  # noqa: BLE001 - a part of issue 9 not landed yet
        b.row("(a) path filter + rollup sort, ms", None, median_ms(hand, repeat), "<= 1.5x",
              f"missing: {type(exc).__name__}: {str(exc)[:80]}")  # fmt: skip
        return
    same = [r["id"] for r in page.rows] == [r["id"] for r in hand()[:PAGE]]
    t_ours, t_hand = median_ms(ours, repeat), median_ms(hand, repeat)
    what = "rollup sort" if rollup else "sort -amount (rollups missing)"
    b.row(f"(a) path filter + {what}, ms", t_ours, t_hand, "<= 1.5x", f"same rows: {same}")


# ------------------------------------------------------------------ (b)


def month_of(db, column):
    if db.is_sqlite:
        return func.strftime("%Y-%m", column)
    return func.to_char(func.date_trunc("month", column), "YYYY-MM")


def measure_aggregate(b: Bench, repeat: int) -> None:
    db = b.db
    opp = db.tables["opportunity"]
    month = month_of(db, opp.c.close_date).label("month")
    # Money is summed per currency (as the repository does), so the currency is a group.
    query = (
        select(month, opp.c.region, opp.c.amount_currency, func.sum(opp.c.amount).label("amount"))
        .where(opp.c.owner_id.in_(b.team), active(db, opp))
        .group_by(month, opp.c.region, opp.c.amount_currency)
        .order_by(month, opp.c.region, opp.c.amount_currency)
    )

    def hand():
        return fetch(db, query)

    aggregate = getattr(b.repo, "aggregate", None)
    if aggregate is None:
        b.row("(b) sum by month and region, ms", None, median_ms(hand, repeat), "<= 1.1x",
              "missing: Repository.aggregate (aggregates) not on this branch")  # fmt: skip
        return

    def ours():
        return aggregate(
            b.rep, "opportunity", group_by=["close_date:month", "region"], measures=["sum:amount"]
        )

    try:
        answer = ours()
    except Exception as exc:  # noqa: BLE001 - the call's shape may differ from this guess
        b.row("(b) sum by month and region, ms", None, median_ms(hand, repeat), "<= 1.1x",
              f"missing: {type(exc).__name__}: {str(exc)[:80]}")  # fmt: skip
        return
    rows = getattr(answer, "rows", answer) or []
    mine = sorted(
        (str(r.get("close_date:month")), r.get("region"), r.get("sum:amount")) for r in rows
    )
    theirs = sorted((str(r["month"]), r["region"], r["amount"]) for r in hand())
    same = mine == theirs
    more = " (more left out)" if getattr(answer, "has_more", False) else ""
    t_ours, t_hand = median_ms(ours, repeat), median_ms(hand, repeat)
    b.row("(b) sum by month and region, ms", t_ours, t_hand, "<= 1.1x",
          f"{len(rows)} groups{more}; same groups: {same}")  # fmt: skip


# ------------------------------------------------------------------ (c)


def measure_rollup_write(b: Bench, repeat: int) -> None:
    """Measured by the rollups' own benchmark (same app with and without its rollups)."""
    there = (Path(__file__).parent / "bench_rollups.py").exists()
    note = "run benchmarks/bench_rollups.py" if there else "missing: bench_rollups.py (rollups)"
    b.row("(c) child write keeping two rollups", None, None, "+2 stmts, 1.5x", note)


# ------------------------------------------------------------------ (d)


def measure_deep_page_and_export(b: Bench, repeat: int) -> None:
    view = b.db.model.views["opportunity"][0]
    args = {"filters": view.filters, "sort": view.sort, "page_size": PAGE}

    def first():
        return b.repo.list(b.admin, "opportunity", **args)

    deep_page = b.deep
    start = time.perf_counter()
    page = first()
    for _ in range(deep_page - 2):
        page = b.repo.list(b.admin, "opportunity", after=page.next_key, **args)
    walk = time.perf_counter() - start
    cursor = page.next_key

    def deep():
        return b.repo.list(b.admin, "opportunity", after=cursor, **args)

    rows_first, rows_deep = len(first().rows), len(deep().rows)
    t_first, t_deep = median_ms(first, repeat), median_ms(deep, repeat)
    b.row(f"(d) view '{view.id}' page {deep_page:,} vs page 1, ms/row",
          t_deep / max(rows_deep, 1), t_first / max(rows_first, 1), "<= 1.2x",
          f"walk to it {walk:.1f} s ({deep_page - 1} pages)")  # fmt: skip
    export_per_row(b, view.id)


def export_per_row(b: Bench, view_id: str) -> None:
    from runtime.web import export

    app = make_app(b.url, b.instance, "bench-relations")
    client = signed_in_client(app, *ADMIN)
    per_row, peaks, counts = {}, {}, {}
    small, big = b.exports
    saved = export.MAX_ROWS
    try:
        export.MAX_ROWS = small  # warm: templates, imports, the statement cache
        client.get(f"/e/opportunity/export.csv?view={view_id}").get_data()
        for cap in (small, big):
            export.MAX_ROWS = cap
            tracemalloc.start()
            start = time.perf_counter()
            response = client.get(f"/e/opportunity/export.csv?view={view_id}", buffered=False)
            lines = sum(chunk.count(b"\n") for chunk in response.response)
            response.close()
            seconds = time.perf_counter() - start
            peaks[cap] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            counts[cap] = lines - 1
            per_row[cap] = seconds * 1000 / max(lines - 1, 1)
    finally:
        export.MAX_ROWS = saved
        app.extensions["trellis"].db.engine.dispose()
    b.row(f"(d) CSV export {big:,} vs {small:,} rows, ms/row", per_row[big], per_row[small],
          "<= 1.2x", f"rows {counts[big]:,}/{counts[small]:,}; tracemalloc peak "
          f"{peaks[big] / 1e6:.1f} MB vs {peaks[small] / 1e6:.1f} MB")  # fmt: skip


# ------------------------------------------------------------------ (e)


def measure_index(b: Bench, repeat: int) -> None:
    db = b.db
    opp = db.tables["opportunity"]
    args = {"filters": [("region", "eq", "east_china")], "sort": ["-amount"], "page_size": PAGE}

    def ours():
        return b.repo.list(b.admin, "opportunity", **args)

    query = (
        select(*columns_of(opp))
        .where(opp.c.region == "east_china", active(db, opp))
        .order_by(nulls_first_desc(db, opp.c.amount), opp.c.id.desc())
        .limit(PAGE + 1)
    )

    def hand():
        return fetch(db, query)

    ours(), hand()
    t_with, t_hand_with = median_ms(ours, repeat), median_ms(hand, repeat)
    with db.engine.connect() as conn:
        count = select(func.count()).select_from(opp).where(opp.c.region == "east_china")
        matching = conn.execute(count).scalar_one()
    with db.engine.begin() as conn:
        for name in (REGION_BY_AMOUNT, BY_AMOUNT):
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    try:
        ours(), hand()
        t_without = median_ms(ours, max(3, repeat // 3))
        t_hand_without = median_ms(hand, max(3, repeat // 3))
    finally:
        start = time.perf_counter()
        made = db.create_or_upgrade()["created_indexes"]
        remade = time.perf_counter() - start
    b.row("(e) region page -amount, with index, ms", t_with, t_hand_with, "milliseconds",
          f"{matching:,} rows match; ratio vs hand-written SQL")  # fmt: skip
    b.row("(e) same page without the index, ms", t_without, t_hand_without, "(was ~200 ms)",
          f"with/without {t_with / t_without:.3f}; init made {len(made)} again in {remade:.1f} s")  # fmt: skip


# ------------------------------------------------------------------ run

MEASURES = {
    "a": measure_path_and_rollup,
    "b": measure_aggregate,
    "c": measure_rollup_write,
    "d": measure_deep_page_and_export,
    "e": measure_index,
}


def run(label: str, url: str, rows: int, repeat: int, only: list[str], folder: str) -> Bench:
    b = open_bench(label, url, rows, folder)
    print(f"== {label}: {rows:,} opportunities, {rows // 10:,} accounts; rep in team scope "
          f"({len(b.team)} members)")  # fmt: skip
    print(f"  {'measure':<44} {'ours':>9} {'baseline':>9} {'ratio':>7}  {'target':<16} note")
    for key in only:
        MEASURES[key](b, repeat)
    b.db.dispose()
    return b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", default=os.environ.get("TRELLIS_TEST_POSTGRES_URL", ""))
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--only", default="abcde", help="measures to run, e.g. ae")
    parser.add_argument("--data", default=tempfile.gettempdir(), help="folder of the SQLite file")
    args = parser.parse_args()
    only = [k for k in args.only.replace(",", "") if k in MEASURES]
    if args.rows < 1_000:
        parser.error("--rows must be at least 1,000")
    if not args.postgres_only:
        url = sqlite_url(args.rows, args.data)
        run("SQLite", url, args.rows, args.repeat, only, args.data)
    if args.postgres:
        url = postgres_url(args.postgres, args.rows)
        run("PostgreSQL", url, args.rows, args.repeat, only, args.data)


if __name__ == "__main__":
    main()
