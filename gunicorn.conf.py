"""gunicorn settings from the environment (see README: Configuration)."""

import os
import tempfile

bind = os.environ.get("RECSVC_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread, answering a too long request line with a JSON 414 (recsvc/gunicorn_worker.py).
worker_class = os.environ.get("RECSVC_WORKER_CLASS", "recsvc.gunicorn_worker.JsonErrorWorker")
threads = int(os.environ.get("RECSVC_THREADS", "4"))
timeout = int(os.environ.get("RECSVC_TIMEOUT_S", "30"))
graceful_timeout = int(os.environ.get("RECSVC_GRACEFUL_TIMEOUT_S", "20"))
keepalive = int(os.environ.get("RECSVC_KEEPALIVE_S", "5"))
# gunicorn's largest bounded request line (its default is 4094): `exclude` lists of item ids fit.
limit_request_line = int(os.environ.get("RECSVC_LIMIT_REQUEST_LINE", "8190"))
accesslog = None  # the app writes its own JSON access lines
errorlog = "-"
loglevel = os.environ.get("RECSVC_LOG_LEVEL", "info").lower()

# Prometheus multiprocess mode: every worker writes its samples to this folder.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="recsvc-prom-")


def on_starting(server):  # noqa: ARG001 - gunicorn hook signature
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))


def child_exit(server, worker):  # noqa: ARG001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
