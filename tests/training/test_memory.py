"""`release_unused` hands freed memory back: Arrow's pool and malloc's heap each keep what a stage freed
(resident, on top of the next stage) until it is called. Measured in a fresh interpreter, whose allocators
hold nothing from other tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = """
import gc
import numpy as np, pyarrow as pa
from training.memory import release_unused

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) * 1024

base = rss()
strings = [pa.array(np.arange(k, k + 250_000, dtype=np.int64)).cast(pa.string()) for k in range(40)]
del strings
gc.collect()
held = rss() - base
release_unused()
print('arrow', held >> 20, (rss() - base) >> 20)
base = rss()
blocks = [np.ones(1_000_000 + k, dtype=np.float64)[::2].copy() for k in range(100)]
del blocks[:-1]
gc.collect()
held = rss() - base
release_unused()
print('numpy', held >> 20, (rss() - base) >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; malloc_trim is glibc's")
def test_freed_arrow_and_numpy_memory_leaves_the_process() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    said = {line.split()[0]: [int(v) for v in line.split()[1:]] for line in done.stdout.splitlines()}
    for kind in ("arrow", "numpy"):
        held, after = said[kind]
        assert held >= 100, f"{kind}: only {held} MB held after freeing; the test no longer measures a release"
        assert after <= held // 3, f"{kind}: {held} MB held, {after} MB after release_unused"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_memory_is_what_the_system_reports_or_less() -> None:
    from training.memory import available_bytes

    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    free = available_bytes()
    assert free is not None and 0 < free <= info["MemTotal"]
    assert free <= info["MemAvailable"] * 1.1  # what it was a moment ago, give or take other processes
