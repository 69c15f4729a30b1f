"""Board and move benchmark: render the kanban board with 2,000 open opportunities, and
apply one stage move through the repository (transition rules + gates + stage history
+ events) against a plain SQL UPDATE of the same row. Prints medians and ratios.

    .venv/bin/python benchmarks/bench_board.py                 # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_board.py --postgres URL  # also on PostgreSQL
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import create_tables, make_app, median_ms, signed_in_client  # noqa: E402

from runtime.store import SYSTEM  # noqa: E402

OPEN = ("qualification", "discovery", "solutioning", "quotation", "negotiation")
PASSWORD = "bench-password-123"


def seed(app, n: int) -> tuple[list[int], int]:
    services = app.extensions["trellis"]
    repo, users = services.repo, services.users
    admin = users.create_user("admin@example.com", "Ada Admin", PASSWORD, roles=["admin"])
    reps = [
        users.create_user(f"rep{i}@example.com", f"Rep {i}", None, roles=["sales_rep"])
        for i in range(10)
    ]
    status = services.model.entities["account"].field("customer_status").options[0].id
    accounts = [
        r["id"]
        for r in repo.bulk_create(
            SYSTEM,
            "account",
            [{"name": f"Account {i}", "customer_status": status} for i in range(50)],
        )
    ]
    contact = repo.create(
        SYSTEM, "contact", {"name": "Chen Jie", "account": accounts[0], "email": "chen@example.com"}
    )
    today = date.today()
    rows = [
        {
            "name": f"Deal {i}",
            "account": accounts[i % len(accounts)],
            "primary_contact": contact["id"],
            "amount": 10_000 + (i * 7919) % 900_000,
            "close_date": (today + timedelta(days=(i % 120))).isoformat(),
            "need": "MES rollout",
            "timing": "in_1_3_months",
            "key_pains": "Manual reporting",
            "owner_id": reps[i % len(reps)],
            "region": "east_china",
        }
        for i in range(n)
    ]
    ids: list[int] = []
    for start in range(0, n, 500):
        ids += [r["id"] for r in repo.bulk_create(SYSTEM, "opportunity", rows[start : start + 500])]
    table = services.db.tables["opportunity"]
    with services.db.engine.begin() as conn:
        for k, stage in enumerate(OPEN):
            conn.execute(update(table).where(table.c.id.in_(ids[k::5])).values(stage=stage))
    return ids, admin


def run(url: str, n: int, runs: int) -> dict[str, float]:
    instance = tempfile.mkdtemp()
    create_tables(url, instance)
    app = make_app(url, instance)
    ids, admin_id = seed(app, n)
    services = app.extensions["trellis"]
    client = signed_in_client(app, "admin@example.com", PASSWORD)

    def board():
        response = client.get("/p/new_business")
        assert response.status_code == 200, response.status_code

    board()  # warm caches (templates, compiled statements)
    board_ms = median_ms(board, runs)

    def column():
        assert client.get("/p/new_business/column/discovery?offset=20").status_code == 200

    column_ms = median_ms(column, runs)

    admin = services.repo.principal(admin_id)
    qualification = iter(ids[0::5])  # every 5th deal sits in qualification

    def move():
        services.repo.update(admin, "opportunity", next(qualification), {"stage": "discovery"})

    move()
    move_ms = median_ms(move, runs * 4)
    table = services.db.tables["opportunity"]
    plain_ids = iter(ids[1::5])

    def plain():
        with services.db.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == next(plain_ids))
                .values(stage="solutioning", row_version=table.c.row_version + 1)
            )

    plain()
    plain_ms = median_ms(plain, runs * 4)
    services.db.dispose()
    return {"board": board_ms, "column": column_ms, "move": move_ms, "plain": plain_ms}


def report(name: str, r: dict[str, float], n: int) -> None:
    print(f"[{name}] {n} open opportunities")
    print(f"  board page (5 columns x 20 cards, totals) : {r['board']:8.1f} ms")
    print(f"  lazy column page (20 cards)               : {r['column']:8.1f} ms")
    print(f"  move via repository (gates+history+events): {r['move']:8.2f} ms")
    print(f"  plain UPDATE of the stage                 : {r['plain']:8.2f} ms")
    print(f"  ratio move / plain UPDATE                 : {r['move'] / r['plain']:8.1f} x")
    print(f"  ratio board / plain UPDATE                : {r['board'] / r['plain']:8.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=2000, help="open opportunities (default 2000)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL to run on as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", run(f"sqlite:///{folder}/bench.db", args.open, args.runs), args.open)
    if args.postgres:
        base = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in base else "?"
            url = f"{base}{sep}options=-csearch_path%3D{schema}"
            report("postgresql", run(url, args.open, args.runs), args.open)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
