"""Reading the JSON or YAML configuration files of the training job (offers, experiments)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from training.failures import TrainingError


def read_structured(path: str | Path, error: type[TrainingError]) -> object:
    """The parsed content of a .json file, or of any other file as YAML; `error` names the file."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: file not found")
    text = path.read_text(encoding="utf-8")
    is_json = path.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise error(f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from None
