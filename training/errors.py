"""Errors and warnings of the training job; the CLI maps them to exit codes."""

from __future__ import annotations


class TrainingError(Exception):
    """A failure the user can act on; the CLI prints the message and exits with `exit_code`."""

    exit_code = 1


class InputFileError(TrainingError):
    """An input file is wrong as a whole (unreadable, a required column missing)."""

    exit_code = 2

    def __init__(self, path: object, message: str, column: str | None = None) -> None:
        self.path = str(path)
        self.column = column
        where = f"{self.path}" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")


class ModelFitError(TrainingError):
    """A model produced unusable output (NaN factors, empty similarity)."""

    exit_code = 3


class InputFixedWarning(UserWarning):
    """Input was usable only after fixing it up (rows skipped, ids unknown to the catalog)."""
