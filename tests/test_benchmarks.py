"""The relations benchmark still runs (on a thousand rows; never timed, never at size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_relations_benchmark_runs_on_a_thousand_rows(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_relations.py"), "--rows", "1000",
         "--repeat", "1", "--only", "ae", "--data", str(tmp_path), "--postgres", ""],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "building 1,000 opportunities and 100 accounts" in out
    assert "(a) path filter" in out and "same rows: True" in out
    assert "(e) same page without the index" in out and "init made 2 again" in out
