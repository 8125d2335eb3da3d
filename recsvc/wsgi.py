"""gunicorn entry point: `gunicorn recsvc.wsgi:app`."""

import gc
import sys

from recsvc.app import create_app
from recsvc.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    print(f"recsvc: bad configuration: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(4) from None  # gunicorn's APP_LOAD_ERROR: the arbiter stops instead of respawning

# Every worker keeps large, long-lived caches (catalog, decoded lists): with the default thresholds the
# collector rescans them often. Freeze what import and start-up made, and collect the young generation
# less often; reference counting still frees everything without cycles at once (docs/benchmarks.md).
gc.freeze()
gc.set_threshold(20_000, 20, 20)
