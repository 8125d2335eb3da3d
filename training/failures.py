"""Errors and warnings of the training job; the CLI maps them to exit codes."""

from __future__ import annotations


class TrainingError(Exception):
    """A failure the user can act on (by default: an input or a flag that cannot be used); the CLI prints the
    message and exits with `exit_code`. Exit code 1 is left to unexpected errors (a bug: a traceback)."""

    exit_code = 2


class BadInputError(TrainingError):
    """Input that cannot be used (a dataset to convert, a configuration value)."""

    exit_code = 2


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
