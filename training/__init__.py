"""Offline training job for recsvc: load shop data, fit recommenders, evaluate, export and publish."""

from __future__ import annotations

import os

# implicit warns (and runs slower) when BLAS uses several threads inside its own thread pool;
# set this before numpy is imported anywhere in the job.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
