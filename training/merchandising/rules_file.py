"""The business-rules file of `training run --rules F` (JSON or YAML), rejected whole before any training."""

from __future__ import annotations

from pathlib import Path

from contract.rules import RulesError, RuleSet, parse_rules
from training.data.config_files import read_structured
from training.failures import BadInputError


class RulesFileError(BadInputError):
    """A rules file that cannot be used (exit code 2); the message names the file, the rule and the field."""


def load(path: str | Path) -> RuleSet:
    data = read_structured(path, RulesFileError)
    try:
        return parse_rules(data)
    except RulesError as exc:
        raise RulesFileError(f"{path}: {exc}") from None
