"""What `--engine spark` needs, checked before a JVM starts: pyspark and a Java runtime (exit 2 naming
what is missing). Runs without pyspark too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from training.failures import BadInputError
from training.spark import session


def test_missing_pyspark_is_a_bad_input_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(BadInputError, match=r"needs pyspark: pip install 'recsvc\[spark\]'") as err:
        session.check_requirements()
    assert err.value.exit_code == 2


def test_missing_java_is_a_bad_input(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is checked first")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BadInputError, match="needs a Java runtime"):
        session.check_requirements()


@pytest.mark.parametrize(
    ("master", "partitions"), [("local[2]", 4), ("local[8,3]", 16), ("local", 2), ("yarn", 8), (None, 8)]
)
def test_shuffle_partitions_follow_local_cores(master: str | None, partitions: int) -> None:
    assert session._shuffle_partitions(master) == partitions


def _in_a_fresh_interpreter(script: str, timeout: int) -> subprocess.CompletedProcess:
    """`script` run by a new interpreter (its own JVM), which must exit 0; skipped without pyspark."""
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("needs pyspark")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_jvm_gone_before_the_stop_is_logged_not_raised() -> None:
    """A run's outcome is decided before the session stops: a JVM killed by then (here: SIGKILL) is a
    warning with its exit status, and the process exits as the run decided (a real JVM, in a subprocess)."""
    script = (
        "from training.spark.session import spark_session, stop_session\n"
        "s = spark_session('local[1]', conf={'spark.driver.memory': '512m'})\n"
        "proc = s.sparkContext._gateway.proc\n"
        "proc.kill(); proc.wait()\n"
        "stop_session(s)\n"
        "print('stopped')\n"
    )
    done = _in_a_fresh_interpreter(script, timeout=180)
    assert done.stdout.strip().endswith("stopped")
    assert "the Spark JVM was gone when the run stopped it (exit status -9" in done.stderr


def test_als_factors_come_from_a_checkpoint_that_the_stop_removes() -> None:
    """MLlib's ALS lineage (1,000+ RDDs for 15 iterations) overflowed the driver's stack when later tasks
    were serialised with it (one local run in three in CI): a local session checkpoints into a folder of its
    own, the user factors start from a checkpoint, and stopping the session removes the folder."""
    script = (
        "import os, numpy as np, pandas as pd\n"
        "from training.spark import session as S\n"
        "from training.spark.item_models import als\n"
        "s = S.spark_session('local[1]', conf={'spark.driver.memory': '512m'})\n"
        "rng = np.random.default_rng(0)\n"
        "cells = s.createDataFrame(pd.DataFrame({'u': rng.integers(0, 200, 3000), 'i': rng.integers(0, 50, 3000),"
        " 'lx': rng.random(3000) + 0.1}))\n"
        "items, factors = als(s, cells, 50, 1)\n"
        "lineage = factors.rdd.toDebugString().decode()\n"
        "folder = S._OWNED_CHECKPOINTS[id(s.sparkContext)]\n"
        "print('users', factors.count(), 'lineage', lineage.count(chr(10)), 'checkpoint', 'CheckpointRDD' in lineage)\n"
        "print('folder', os.path.isdir(folder), s.sparkContext.getCheckpointDir().startswith('file:' + folder))\n"
        "S.stop_session(s)\n"
        "print('after', os.path.exists(folder))\n"
    )
    said = _in_a_fresh_interpreter(script, timeout=300).stdout.split()
    assert said[said.index("users") + 1] == "200"
    assert int(said[said.index("lineage") + 1]) < 20, said
    assert said[said.index("checkpoint") + 1] == "True"
    assert said[said.index("folder") + 1 :][:2] == ["True", "True"]
    assert said[said.index("after") + 1] == "False"
