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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract import records
from contract.timestamps import iso
from contract.validation import Location, Number, first_error
from training.data.config_files import read_structured
from training.failures import TrainingError

ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ID_RULE = "must be 1-64 letters, digits, '.', '_' or '-'"


class ExperimentConfigError(TrainingError):
    exit_code = 2


def _id(value: object) -> str:
    if not isinstance(value, str) or not ID.match(value):
        raise ValueError(ID_RULE)
    return value


def _time(value: object) -> str:
    try:
        return iso(value)
    except ValueError:
        raise ValueError(f"not an ISO date or time: {value!r}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSpec(_Strict):
    name: str
    model: str
    traffic: Annotated[Number, Field(gt=0, le=100)]

    _name = field_validator("name", mode="before")(classmethod(lambda cls, v: _id(v)))

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: object) -> str:
        if not isinstance(value, str) or not (
            value in ("current", "popularity") or (value.startswith("version:") and len(value) > len("version:"))
        ):
            raise ValueError("must be current, popularity or version:<id>")
        return value


class ExperimentSpec(_Strict):
    experiment_id: str
    variants: list[VariantSpec]
    control: str | None = None
    start: str
    end: str
    primary_metric: Literal["ctr", "conversion", "revenue_per_user"]
    attribution_window_days: Annotated[Number, Field(ge=1, le=90)] = 7.0
    min_users_per_variant: Annotated[int, Field(strict=True, ge=1)] = 1000

    _experiment_id = field_validator("experiment_id", mode="before")(classmethod(lambda cls, v: _id(v)))
    _times = field_validator("start", "end", mode="before")(classmethod(lambda cls, v: _time(v)))

    @field_validator("variants")
    @classmethod
    def _variants(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        if len(variants) < 2:
            raise ValueError("needs at least two variants")
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        total = sum(v.traffic for v in variants)
        if abs(total - 100.0) > 1e-6:
            raise ValueError(f"traffic must sum to 100, got {total:g}")
        return variants

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        names = [v.name for v in self.variants]
        if self.control is None:
            self.control = names[0]
        elif self.control not in names:
            raise ValueError(f"control: '{self.control}' is not one of the variants")
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self

    def record(self) -> records.Experiment:
        """The experiment as it is published (variant versions are pinned at publish time)."""
        return records.Experiment(
            experiment_id=self.experiment_id,
            variants=[records.Variant(name=v.name, model=v.model, traffic=v.traffic) for v in self.variants],
            control=self.control,
            start=self.start,
            end=self.end,
            primary_metric=self.primary_metric,
            attribution_window_days=self.attribution_window_days,
            min_users_per_variant=self.min_users_per_variant,
        )


class ExperimentsFile(_Strict):
    experiments: list[ExperimentSpec]

    @field_validator("experiments")
    @classmethod
    def _unique(cls, experiments: list[ExperimentSpec]) -> list[ExperimentSpec]:
        ids = [e.experiment_id for e in experiments]
        if len(set(ids)) != len(ids):
            raise ValueError("experiment ids must be unique")
        return experiments


def _where(loc: Location, data: object, source: str) -> str:
    """exp.yaml: experiment 'e1', variants[1], field 'model'"""
    if len(loc) < 2 or loc[0] != "experiments" or not isinstance(loc[1], int):
        return source
    raw = data["experiments"][loc[1]] if isinstance(data, dict) else None
    eid = raw.get("experiment_id") if isinstance(raw, dict) else None
    where = f"{source}: experiment '{eid}'" if isinstance(eid, str) and eid else f"{source}: experiments[{loc[1]}]"
    rest = loc[2:]
    if len(rest) >= 2 and rest[0] == "variants" and isinstance(rest[1], int):
        where += f", variants[{rest[1]}]"
        rest = rest[2:]
    return where + (f", field '{rest[0]}'" if rest else "")


def parse(data: object, source: str = "experiments") -> list[records.Experiment]:
    """Validated experiments, rejected whole with a message naming the experiment and the field."""
    if not isinstance(data, dict) or set(data) != {"experiments"} or not isinstance(data["experiments"], list):
        raise ExperimentConfigError(f"{source}: must be an object with one field, 'experiments' (a list)")
    try:
        spec = ExperimentsFile.model_validate(data)
    except ValidationError as exc:
        loc, message = first_error(exc)
        field, sep, rest = message.partition(": ")
        if sep and field in ("control", "end") and not loc[2:]:  # a cross-field check names its field first
            loc, message = (*loc, field), rest
        raise ExperimentConfigError(f"{_where(loc, data, source)}: {message}") from None
    return [e.record() for e in spec.experiments]


def load(path: str | Path) -> list[records.Experiment]:
    return parse(read_structured(path, ExperimentConfigError), str(path))
