"""The package rules of docs/architecture.md hold, and import-linter would catch a forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("contract", "recsvc", "reporting", "tools", "training")


def _lint(root: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, env=env)


def test_the_package_rules_hold() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout[-3000:]


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    bad = tmp_path / "contract" / "keys.py"
    bad.write_text(bad.read_text() + "\nfrom recsvc.store import Store  # noqa\n")
    res = _lint(tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert res.returncode != 0 and "contract.keys -> recsvc.store" in res.stdout
