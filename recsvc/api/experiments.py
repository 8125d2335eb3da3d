"""GET /v1/experiments, a user's assignment and an experiment's report."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify

from contract.records import Experiment, to_json_ready
from recsvc.api.params import path_id
from recsvc.errors import NotFound
from recsvc.extensions import get_store
from recsvc.logic.assignment import assign
from recsvc.logic.experiment_report import build_report

bp = Blueprint("experiments", __name__)


def _find(experiment_id: str) -> Experiment:
    path_id(experiment_id, "experiment_id")
    for e in get_store().versions.experiments():
        if e.experiment_id == experiment_id:
            return e
    raise NotFound(f"unknown experiment '{experiment_id}'", code="unknown_experiment")


@bp.get("/v1/experiments")
def list_experiments():
    experiments = get_store().versions.experiments()
    now = datetime.now(UTC).isoformat()
    return jsonify({"experiments": [to_json_ready(e) | {"status": e.status(now)} for e in experiments]})


@bp.get("/v1/experiments/<experiment_id>/assignments/<path:user_id>")
def assignment(experiment_id: str, user_id: str):
    path_id(user_id, "user_id")
    exp = _find(experiment_id)
    return jsonify(
        {"experiment_id": experiment_id, "user_id": user_id, "variant": assign(experiment_id, user_id, exp.variants)}
    )


@bp.get("/v1/experiments/<experiment_id>/report")
def report(experiment_id: str):
    return jsonify(build_report(get_store().reads, _find(experiment_id)))
