"""What `--engine spark` needs, checked before a JVM starts: pyspark and a Java runtime (exit 2 naming
what is missing). Runs without pyspark too."""

from __future__ import annotations

import importlib.util

import pytest

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
