"""The gunicorn entry point: a worker boots without the heavy libraries only some endpoints need."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import sys, recsvc.wsgi; print(sorted(m for m in ('scipy.stats', 'matplotlib', 'pandas') if m in sys.modules))"


def test_worker_boot_leaves_report_libraries_unimported() -> None:
    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:1/0")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # scipy.stats, matplotlib and pandas load on first use
