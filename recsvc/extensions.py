"""The one accessor views use for the app's shared resources (as flaskr's `get_db()`)."""

from __future__ import annotations

from flask import current_app

from recsvc.settings import Settings
from recsvc.store import Store


def get_store() -> Store:
    return current_app.extensions["store"]


def get_settings() -> Settings:
    return current_app.config["SETTINGS"]
