"""The OpenAPI description at /openapi.json and a browsable page at /docs (Swagger UI, served locally)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from flask import Blueprint, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

SPEC = Path(__file__).resolve().parents[1] / "openapi.yaml"
bp = Blueprint("openapi", __name__)
swagger = get_swaggerui_blueprint("/docs", "/openapi.json", config={"app_name": "recsvc"})


@cache
def spec() -> dict:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
