"""The experiments file (`training run --experiments F`, JSON or YAML): schema and validation.

    experiments:
      - experiment_id: hybrid-vs-popular     # [A-Za-z0-9._-]{1,64}, unique
        variants:                             # 2+ variants, traffic in percent summing to 100
          - {name: control, model: popularity, traffic: 50}
          - {name: hybrid, model: current, traffic: 50}   # current | popularity | version:<id>
        control: control                      # optional, default: the first variant
        start: 2026-11-01                     # ISO date or time (UTC)
        end: 2026-12-31
        primary_metric: ctr                   # ctr | conversion | revenue_per_user
        attribution_window_days: 7            # optional, 1..90 (default 7)
        min_users_per_variant: 2000           # planned sample size per variant (fixed horizon)

`current` is the version this run publishes; `version:<id>` a complete published version (checked
when publishing); `popularity` serves the popular lists only (a control without personalisation).
A different training configuration (other blend weights, another exclude-seen policy) is published
by its own run and referenced by `version:<id>`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from training.config_files import read_structured
from training.errors import TrainingError

ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
METRICS = ("ctr", "conversion", "revenue_per_user")
KEYS = {
    "experiment_id",
    "variants",
    "control",
    "start",
    "end",
    "primary_metric",
    "attribution_window_days",
    "min_users_per_variant",
}


class ExperimentConfigError(TrainingError):
    exit_code = 2


def _time(value: object, where: str) -> str:
    try:
        ts = pd.Timestamp(str(value))
    except ValueError:
        ts = pd.NaT
    if ts is pd.NaT:
        raise ExperimentConfigError(f"{where}: not an ISO date or time: {value!r}")
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()


def _variant(raw: object, where: str) -> dict:
    if not isinstance(raw, dict) or set(raw) - {"name", "model", "traffic"}:
        raise ExperimentConfigError(f"{where}: must be an object with name, model and traffic")
    name, model, traffic = raw.get("name"), raw.get("model"), raw.get("traffic")
    if not isinstance(name, str) or not ID.match(name):
        raise ExperimentConfigError(f"{where}, field 'name': must be 1-64 letters, digits, '.', '_' or '-'")
    if not isinstance(model, str) or not (
        model in ("current", "popularity") or (model.startswith("version:") and len(model) > len("version:"))
    ):
        raise ExperimentConfigError(f"{where}, field 'model': must be current, popularity or version:<id>")
    if isinstance(traffic, bool) or not isinstance(traffic, (int, float)) or not 0 < traffic <= 100:
        raise ExperimentConfigError(f"{where}, field 'traffic': must be a percentage in (0, 100]")
    return {"name": name, "model": model, "traffic": float(traffic)}


def _experiment(raw: object, source: str, index: int) -> dict:
    if not isinstance(raw, dict):
        raise ExperimentConfigError(f"{source}: experiments[{index}]: must be an object")
    eid = raw.get("experiment_id")
    where = f"{source}: experiment '{eid}'" if isinstance(eid, str) and eid else f"{source}: experiments[{index}]"
    unknown = set(raw) - KEYS
    if unknown:
        raise ExperimentConfigError(f"{where}, field '{sorted(unknown)[0]}': unknown field")
    for key in ("experiment_id", "variants", "start", "end", "primary_metric"):
        if key not in raw:
            raise ExperimentConfigError(f"{where}, field '{key}': is required")
    if not isinstance(eid, str) or not ID.match(eid):
        raise ExperimentConfigError(f"{where}, field 'experiment_id': must be 1-64 letters, digits, '.', '_' or '-'")
    variants_raw = raw["variants"]
    if not isinstance(variants_raw, list) or len(variants_raw) < 2:
        raise ExperimentConfigError(f"{where}, field 'variants': needs at least two variants")
    variants = [_variant(v, f"{where}, variants[{k}]") for k, v in enumerate(variants_raw)]
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        raise ExperimentConfigError(f"{where}, field 'variants': variant names must be unique")
    total = sum(v["traffic"] for v in variants)
    if abs(total - 100.0) > 1e-6:
        raise ExperimentConfigError(f"{where}, field 'variants': traffic must sum to 100, got {total:g}")
    control = raw.get("control", names[0])
    if control not in names:
        raise ExperimentConfigError(f"{where}, field 'control': '{control}' is not one of the variants")
    start, end = _time(raw["start"], f"{where}, field 'start'"), _time(raw["end"], f"{where}, field 'end'")
    if end <= start:
        raise ExperimentConfigError(f"{where}, field 'end': must be after start")
    if raw["primary_metric"] not in METRICS:
        raise ExperimentConfigError(f"{where}, field 'primary_metric': must be one of {', '.join(METRICS)}")
    window = raw.get("attribution_window_days", 7)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 1 <= window <= 90:
        raise ExperimentConfigError(f"{where}, field 'attribution_window_days': must be between 1 and 90")
    planned = raw.get("min_users_per_variant", 1000)
    if isinstance(planned, bool) or not isinstance(planned, int) or planned < 1:
        raise ExperimentConfigError(f"{where}, field 'min_users_per_variant': must be an integer >= 1")
    return {
        "experiment_id": eid,
        "variants": variants,
        "control": control,
        "start": start,
        "end": end,
        "primary_metric": raw["primary_metric"],
        "attribution_window_days": float(window),
        "min_users_per_variant": planned,
    }


def parse(data: object, source: str = "experiments") -> list[dict]:
    if not isinstance(data, dict) or set(data) != {"experiments"} or not isinstance(data["experiments"], list):
        raise ExperimentConfigError(f"{source}: must be an object with one field, 'experiments' (a list)")
    experiments = [_experiment(e, source, k) for k, e in enumerate(data["experiments"])]
    ids = [e["experiment_id"] for e in experiments]
    if len(set(ids)) != len(ids):
        raise ExperimentConfigError(f"{source}: experiment ids must be unique")
    return experiments


def load(path: str | Path) -> list[dict]:
    return parse(read_structured(path, ExperimentConfigError), str(path))
