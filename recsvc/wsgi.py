"""gunicorn entry point: `gunicorn recsvc.wsgi:app`."""

import sys

from recsvc.app import create_app
from recsvc.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    print(f"recsvc: bad configuration: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(4) from None  # gunicorn's APP_LOAD_ERROR: the arbiter stops instead of respawning
