"""Run every benchmark in sequence with the same Python: bench_repository.py, bench_web.py,
bench_board.py, bench_keyset.py, bench_rollups.py, bench_relations.py. --rows (and --db)
go to the two that use the big opportunity database (--rows to bench_relations.py too, which keeps its own
database in /tmp); bench_board.py builds its own board data, bench_keyset.py its own
200,000-opportunity database (benchmarks/data/bench_keyset.db). See benchmarks/README.md.

    .venv/bin/python benchmarks/run_all.py [--rows 1000000] [--db benchmarks/data/bench.db]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="opportunities in the big database")
    parser.add_argument("--db", default=None, help="path of the big SQLite database")
    args = parser.parse_args()
    shared: list[str] = []
    if args.rows is not None:
        shared += ["--rows", str(args.rows)]
    if args.db:
        shared += ["--db", args.db]
    runs = [
        ("bench_repository.py", shared),
        ("bench_web.py", shared),
        ("bench_board.py", []),
        ("bench_keyset.py", []),
        ("bench_rollups.py", []),
        ("bench_relations.py", ["--rows", str(args.rows)] if args.rows is not None else []),
    ]
    failed = []
    for script, extra in runs:
        command = [sys.executable, str(HERE / script), *extra]
        print(f"==> {' '.join(command)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command)
        print(f"<== {script}: exit {code}, {time.perf_counter() - start:.1f} s\n", flush=True)
        if code:
            failed.append(script)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
