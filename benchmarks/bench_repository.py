"""Repository overhead on a 1,000,000-opportunity SQLite database, against plain SQLAlchemy Core.

Prints, measured in the same run:
  (a) one page of 50 with a filter and a sort: repository.list vs the same Core query
  (b) one create: repository.create vs a plain Core insert
Targets: list <= 1.5x, create <= 3x.

    .venv/bin/python benchmarks/bench_repository.py [--rows 1000000] [--db benchmarks/data/bench.db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import ROOT, runtime_on  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from runtime.store import Database, Repository  # noqa: E402


def build_database(url: str, rows: int) -> tuple[Database, Repository, int]:
    """Create (once) the database with `rows` opportunities; return db, repo and an admin id.

    The repository is the one production wires: the default features (pipeline gates and
    stage history, follow-ups) and the event outbox on the SQLite job queue."""
    instance = Path(url.removeprefix("sqlite:///")).parent / "bench-instance"
    runtime = runtime_on(url, instance)
    db, users = runtime.db, runtime.users
    db.create_or_upgrade()
    with db.engine.connect() as conn:
        admin_id = conn.execute(
            select(db.sys.users.c.id).where(db.sys.users.c.email == "bench-admin@example.com")
        ).scalar()
    if admin_id is None:
        admin_id = users.create_user(
            "bench-admin@example.com", "Bench Admin", "bench-pass-1", roles=["admin"]
        )
    opp = db.tables["opportunity"]
    acc = db.tables["account"]
    regions = [o.id for o in db.model.entities["opportunity"].field("region").options]
    with db.engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(opp)).scalar_one()
    if have >= rows:
        return db, runtime.repo, admin_id
    print(f"building {rows:,} opportunities in {url} (once) ...", flush=True)
    rng = random.Random(7)
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        conn.execute(
            insert(acc),
            [
                {
                    "name": f"Account {i}",
                    "owner_id": admin_id,
                    "created_by": admin_id,
                    "created_at": now,
                    "updated_at": now,
                    "row_version": 1,
                }
                for i in range(1000)
            ],
        )
        account_ids = [r[0] for r in conn.execute(select(acc.c.id))]
    stage_cols = {"stage": "qualification", "stage_entered_at": now} if "stage" in opp.c else {}
    batch = 20_000
    for start in range(have, rows, batch):
        chunk = []
        for i in range(start, min(rows, start + batch)):
            created = now - timedelta(minutes=i)
            amount = Decimal(rng.randrange(10_000, 5_000_000))
            chunk.append(
                {
                    "number": f"OPP-B-{i:07d}",
                    "name": f"Deal {i}",
                    "account": rng.choice(account_ids),
                    "amount": amount,
                    "amount_currency": "CNY",
                    "close_date": date.today() + timedelta(days=rng.randrange(-200, 200)),
                    "probability": Decimal(10),
                    "expected_revenue": amount / 10,
                    "region": rng.choice(regions),
                    "owner_id": admin_id,
                    "created_by": admin_id,
                    "created_at": created,
                    "updated_at": created,
                    "row_version": 1,
                    **stage_cols,
                }
            )
        with db.engine.begin() as conn:
            conn.execute(insert(opp), chunk)
    return db, runtime.repo, admin_id


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", default=str(ROOT / "benchmarks" / "data" / "bench.db"))
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    db, repo, admin_id = build_database(f"sqlite:///{args.db}", args.rows)
    admin = repo.principal(admin_id)
    opp = db.tables["opportunity"]
    columns = [c for c in opp.c if c.name != "description"]

    def repo_list():
        repo.list(
            admin,
            "opportunity",
            filters=[("region", "eq", "east_china")],
            sort=["-amount"],
            page=3,
            page_size=50,
        )

    def core_list():
        query = (
            select(*columns)
            .where(opp.c.region == "east_china", opp.c.archived_at.is_(None))
            .order_by(opp.c.amount.desc(), opp.c.id.desc())
            .limit(51)
            .offset(100)
        )
        with db.engine.connect() as conn:
            [dict(r._mapping) for r in conn.execute(query)]

    repo_list(), core_list()  # warm caches and the statement cache
    t_repo_list = timed(repo_list, args.repeat)
    t_core_list = timed(core_list, args.repeat)

    account_id = (
        db.engine.connect().execute(select(db.tables["account"].c.id).limit(1)).scalar_one()
    )
    counter = iter(range(10**9))

    def repo_create():
        n = next(counter)
        repo.create(
            admin,
            "opportunity",
            {
                "name": f"Bench {n}",
                "account": account_id,
                "amount": 1000,
                "close_date": date.today().isoformat(),
                "region": "east_china",
            },
        )

    def core_create():
        n = next(counter)
        now = datetime.now(UTC)
        with db.engine.begin() as conn:
            conn.execute(
                insert(opp).values(
                    name=f"Plain {n}",
                    account=account_id,
                    amount=Decimal(1000),
                    amount_currency="CNY",
                    close_date=date.today(),
                    region="east_china",
                    owner_id=admin_id,
                    created_by=admin_id,
                    created_at=now,
                    updated_at=now,
                    row_version=1,
                )
            )

    repo_create(), core_create()
    t_repo_create = timed(repo_create, args.repeat)
    t_core_create = timed(core_create, args.repeat)

    print(f"rows: {args.rows:,} opportunities (SQLite, {args.db})")
    print(
        f"list page of 50 (filter region, sort -amount): repository {t_repo_list * 1000:.2f} ms, "
        f"core {t_core_list * 1000:.2f} ms, ratio {t_repo_list / t_core_list:.2f}x (target <= 1.5x)"
    )
    print(
        f"create one record: repository {t_repo_create * 1000:.2f} ms, core insert {t_core_create * 1000:.2f} ms, "
        f"ratio {t_repo_create / t_core_create:.2f}x (target <= 3x)"
    )


if __name__ == "__main__":
    main()
