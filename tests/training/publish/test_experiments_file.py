from __future__ import annotations

import copy

import pytest

from tests.conftest import mutated
from training.publish.experiments_file import ExperimentConfigError, parse

GOOD = {
    "experiments": [
        {
            "experiment_id": "e1",
            "start": "2026-01-01",
            "end": "2027-01-01",
            "primary_metric": "ctr",
            "variants": [
                {"name": "a", "model": "popularity", "traffic": 50},
                {"name": "b", "model": "current", "traffic": 50},
            ],
        }
    ]
}


def test_valid_config_defaults() -> None:
    (e,) = parse(GOOD)
    assert e.control == "a" and e.attribution_window_days == 7 and e.min_users_per_variant == 1000
    assert e.start.startswith("2026-01-01T00:00:00")


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["variants", 0, "traffic"], 60, "traffic must sum to 100"),
        (["variants", 1, "model"], "v2", "variants[1], field 'model'"),
        (["variants", 1, "name"], "a", "variant names must be unique"),
        (["variants"], [{"name": "a", "model": "current", "traffic": 100}], "at least two variants"),
        (["end"], "2025-01-01", "field 'end': must be after start"),
        (["start"], "soon", "field 'start': not an ISO date"),
        (["primary_metric"], "happiness", "field 'primary_metric'"),
        (["control"], "z", "field 'control'"),
        (["attribution_window_days"], 365, "field 'attribution_window_days'"),
        (["min_users_per_variant"], 0, "field 'min_users_per_variant'"),
        (["colour"], "red", "field 'colour': unknown field"),
        (["primary_metric"], KeyError, "field 'primary_metric': is required"),
    ],
)
def test_bad_configs_are_rejected_whole(path, value, fragment) -> None:
    with pytest.raises(ExperimentConfigError) as err:
        parse(mutated(GOOD, ["experiments", 0, *path], value), "exp.yaml")
    assert fragment in str(err.value) and "experiment 'e1'" in str(err.value)


def test_duplicate_experiment_ids() -> None:
    data = copy.deepcopy(GOOD)
    data["experiments"].append(copy.deepcopy(data["experiments"][0]))
    with pytest.raises(ExperimentConfigError, match="unique"):
        parse(data)
