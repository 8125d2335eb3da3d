"""`python -m tools bench candidates` on a small synthetic shop: it runs and reports the recall of the
approximation and that the sparse path scores as the dense one."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from training.datasets.synthetic import generate, write


def test_bench_candidates_reports_recall_and_exactness(tmp_path) -> None:
    write(generate(600, 900, seed=2), tmp_path, fmt="parquet")
    done = subprocess.run(
        [sys.executable, "-m", "tools", "bench", "candidates", "--data", str(tmp_path), "--users", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={"OPENBLAS_NUM_THREADS": "1", "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "recall@60" in out and "'tuning_recall'" in out
    assert "itemknn: fit" in out and "copurchase: fit" in out
    assert out.count("same scores True") == 2
