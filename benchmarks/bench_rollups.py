"""The cost of rollups on a child's write: the reference app against the same app without
its account rollups, on two SQLite databases of the same data, in the same run.

An opportunity's write maintains two rollups of its account (open pipeline and won
amount: one UPDATE recomputes both). Prints, for a create, an update of the amount and
a re-parenting (two accounts recomputed): the median time with and without rollups, the
ratio (target <= 1.5x) and the statements each write runs (target: at most 2 extra),
then the time of `trellis rollups rebuild` over every account.

    .venv/bin/python benchmarks/bench_rollups.py [--accounts 10000] [--per-account 20]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import APP, ROOT  # noqa: E402
from sqlalchemy import event, func, insert, select  # noqa: E402

from runtime.store import SYSTEM  # noqa: E402
from runtime.wiring import build_runtime  # noqa: E402

DATA = ROOT / "benchmarks" / "data"


def app_without_rollups(target: Path) -> Path:
    """A copy of the reference app whose entities, views and forms have no rollup."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(APP, target)
    dropped: set[str] = set()
    for path in (target / "entities").glob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        dropped |= {f["id"] for f in document["fields"] if f["type"] == "rollup"}
        document["fields"] = [f for f in document["fields"] if f["type"] != "rollup"]
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    for folder, key in (("views", "views"), ("forms", "sections")):
        for path in (target / folder).glob("*.yaml"):
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            for item in document.get(key, []):
                for name in ("columns", "fields", "filter_fields", "sort"):
                    if isinstance(item.get(name), list):
                        item[name] = [c for c in item[name] if c.lstrip("-") not in dropped]
            document[key] = [i for i in document.get(key, []) if i.get("fields", [1])]
            path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return target


def fill(runtime, accounts: int, per_account: int) -> list[int]:
    """The same accounts and opportunities (once per database), by plain inserts."""
    db = runtime.db
    acc, opp = db.tables["account"], db.tables["opportunity"]
    with db.engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(acc)).scalar_one()
    if have < accounts:
        print(f"building {accounts:,} accounts, {accounts * per_account:,} deals ...", flush=True)
        rng = random.Random(7)
        now = datetime.now(UTC)
        stages = ["qualification", "discovery", "negotiation", "won", "lost"]
        system = {"created_at": now, "updated_at": now, "row_version": 1}
        with db.engine.begin() as conn:
            conn.execute(insert(acc), [{"name": f"Account {i}", **system} for i in range(accounts)])
            ids = [r[0] for r in conn.execute(select(acc.c.id))]
        rows = []
        for n in range(accounts * per_account):
            rows.append(
                {
                    "number": f"OPP-R-{n:08d}",
                    "name": f"Deal {n}",
                    "account": ids[n % len(ids)],
                    "amount": Decimal(rng.randrange(10_000, 5_000_000)),
                    "amount_currency": "CNY",
                    "close_date": date.today() + timedelta(days=rng.randrange(-200, 200)),
                    "stage": rng.choice(stages),
                    "stage_entered_at": now,
                    **system,
                }
            )
            if len(rows) == 20_000:
                with db.engine.begin() as conn:
                    conn.execute(insert(opp), rows)
                rows = []
        if rows:
            with db.engine.begin() as conn:
                conn.execute(insert(opp), rows)
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(select(acc.c.id).order_by(acc.c.id))]


def statements(runtime, action) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    return len(seen)


def writes(runtime, account_ids: list[int]):
    """The three child writes, each a fresh call on the next record."""
    repo = runtime.repo
    rng = random.Random(11)
    made: list[int] = []

    def create():
        account = rng.choice(account_ids)
        values = {"name": "Bench", "account": account, "amount": 1000, "close_date": "2027-01-01"}
        made.append(repo.create(SYSTEM, "opportunity", values)["id"])

    def update():
        deal = rng.choice(made)
        repo.update(SYSTEM, "opportunity", deal, {"amount": rng.randrange(1, 10**6)})

    def move():
        deal = rng.choice(made)
        repo.update(SYSTEM, "opportunity", deal, {"account": rng.choice(account_ids)})

    return {"create": create, "update amount": update, "re-parent": move}


def interleaved(calls: dict, repeat: int) -> dict[str, float]:
    """Median milliseconds of each call, run in turns (so neither gets the warmer disk
    or the quieter moment of a shared machine)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--per-account", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    plain_app = app_without_rollups(DATA / "app_without_rollups")
    size = f"{args.accounts}x{args.per_account}"
    runtimes = {}
    for name, app in (("with", APP), ("without", plain_app)):
        url = f"sqlite:///{DATA / f'bench_rollups_{name}_{size}.db'}"
        runtime = build_runtime(app, url, queue="immediate", instance_path=DATA / "instance")
        runtime.db.create_or_upgrade()
        runtimes[name] = (runtime, fill(runtime, args.accounts, args.per_account))
    with_rt, ids = runtimes["with"]
    start = time.perf_counter()
    done = with_rt.repo.rollups.rebuild()
    rebuilt = time.perf_counter() - start
    ops = {name: writes(rt, account_ids) for name, (rt, account_ids) in runtimes.items()}
    for name in ops:  # warm the statement caches, and give update/move records to pick
        for _ in range(20):
            ops[name]["create"]()
    print(
        f"{args.accounts:,} accounts, {args.accounts * args.per_account:,} opportunities (SQLite)"
    )
    for op in ops["with"]:
        counts = {name: statements(runtimes[name][0], ops[name][op]) for name in ops}
        times = interleaved({name: ops[name][op] for name in ops}, args.repeat)
        ratio = times["with"] / times["without"]
        extra = counts["with"] - counts["without"]
        print(
            f"{op:>15}: with rollups {times['with']:.2f} ms, without {times['without']:.2f} ms, "
            f"ratio {ratio:.2f}x (target <= 1.5x); statements {counts['with']} vs "
            f"{counts['without']}: {extra} extra (target <= 2)"
        )
    parents = sum(count for _e, f, count in done if f == "open_pipeline")
    print(f"rebuild of {len(done)} rollups over {parents:,} accounts: {rebuilt:.2f} s")


if __name__ == "__main__":
    main()
