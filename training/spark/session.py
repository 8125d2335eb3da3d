"""One SparkSession for a run, started quietly (no UI, no progress bars, log4j at error level)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

# pyspark 4.3 warns that pandas 3 is "not fully supported"; the parts used here (Arrow conversion,
# mapInPandas, applyInPandas) are covered by tests/training/spark with the project's pandas.
PANDAS_WARNING = "ignore:PySpark does not yet fully support pandas:FutureWarning"
# Errors only. Spark's own logger has a level of its own (the same as the root's): else a pyspark shell
# announces "Setting default log level".
LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = error
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.netty.name = io.netty
logger.netty.level = error
"""

# MLlib's ALS cuts its lineage every checkpointInterval (10) iterations only where a checkpoint directory is
# set; without one, serialising a task of a 15-iteration fit's factors overflowed the driver thread's stack
# (a StackOverflowError in about one local run in three). A local run checkpoints into a temporary folder of
# its own, removed when the session stops; a cluster needs a path every executor reaches.
CHECKPOINT_PREFIX = "recsvc-spark-checkpoints-"
_OWNED_CHECKPOINTS: dict[int, str] = {}


def _log4j_file() -> Path:
    path = Path(tempfile.gettempdir()) / "recsvc-spark-log4j2.properties"
    if not path.exists() or path.read_text() != LOG4J:
        # written aside, then renamed: a run starting at the same time never reads a half-written file
        part = path.with_name(f"{path.name}.{os.getpid()}")
        part.write_text(LOG4J)
        os.replace(part, path)
    return path


def spark_session(master: str | None = None, app_name: str = "recsvc-training", conf: dict | None = None):
    """The active session, or a new one on `master` (default: $SPARK_MASTER, else local[2]).

    Under spark-submit the session (and its master and memory settings) comes from the command line;
    the settings here only fill what it leaves unset.
    """
    check_requirements()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # executors run the same interpreter as the driver (a virtualenv's, with pyarrow and the project)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings(*_warning_filter())
    logging.getLogger("py4j").setLevel(logging.WARNING)  # the job logs at INFO; py4j's chatter is not news
    from pyspark.sql import SparkSession

    java_opts = f"-Dlog4j2.configurationFile=file:{_log4j_file()}"
    builder = SparkSession.builder.appName(app_name)
    if not master and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit, which names its own
        master = os.environ.get("SPARK_MASTER", "local[2]")
    if master:
        builder = builder.master(master)
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": java_opts,
        "spark.executor.extraJavaOptions": java_opts,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": str(_shuffle_partitions(master)),
        # tasks start at once: waiting for a "local" slot only delays the many small jobs of a run
        "spark.locality.wait": "0s",
        "spark.sql.adaptive.enabled": "true",
        "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning",
        "spark.executorEnv.OPENBLAS_NUM_THREADS": "1",
        "spark.python.worker.reuse": "true",
        "spark.driver.memory": "4g",  # read only when this call starts the JVM (not under spark-submit)
    }
    settings.update(conf or {})
    settings.setdefault("spark.cleaner.referenceTracking.cleanCheckpoints", "true")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _checkpoint_dir(session.sparkContext)
    return session


def _checkpoint_dir(sc) -> None:
    """A checkpoint directory for the run: spark.checkpoint.dir where given, else (local masters) a fresh
    temporary folder; on a cluster without one, a warning."""
    if sc.getCheckpointDir() is not None:
        return
    if _is_local(sc.master):
        owned = tempfile.mkdtemp(prefix=CHECKPOINT_PREFIX)
        sc.setCheckpointDir(owned)
        _OWNED_CHECKPOINTS[id(sc)] = owned
    else:
        logging.getLogger(__name__).warning(
            "no Spark checkpoint directory: MLlib's ALS keeps its whole lineage, which can overflow the driver's "
            "stack on long fits; set one on storage every executor reaches (--spark-conf "
            "spark.checkpoint.dir=hdfs://...; docs/spark.md)"
        )


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def _shuffle_partitions(master: str | None) -> int:
    """Two per core on a local master (local[N]); 8 elsewhere unless spark-submit or --spark-conf says."""
    match = re.fullmatch(r"local\[(\d+)(?:,\d+)?\]", master or "")
    if match:
        return max(2, 2 * int(match.group(1)))
    return 2 if master == "local" else 8


def check_requirements() -> None:
    """BadInputError (exit 2) naming what is missing: pyspark (the `spark` extra) or a Java runtime."""
    import importlib.util
    import shutil

    from training.failures import BadInputError

    if importlib.util.find_spec("pyspark") is None:
        raise BadInputError(
            "--engine spark needs pyspark: pip install 'recsvc[spark]' (pyspark 4.3, Java 17; docs/spark.md)"
        )
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and shutil.which("java") is None:
        raise BadInputError(
            "--engine spark needs a Java runtime (17): none on PATH and JAVA_HOME unset "
            "(Debian: apt-get install openjdk-17-jre-headless; docs/spark.md)"
        )


def _warning_filter() -> tuple:
    action, message, category = PANDAS_WARNING.split(":")
    return action, message, FutureWarning if category == "FutureWarning" else Warning


def jvm_rss_bytes(session) -> int | None:
    """Resident memory of the driver's JVM (local mode: the executors too), read from /proc."""
    try:
        pid = int(session.sparkContext._jvm.ProcessHandle.current().pid())
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except Exception:  # not Linux, or a remote driver: unknown
        return None
    return None


def jvm_heap_bytes(session) -> tuple[int, int] | None:
    """(heap in use after a full GC, the heap's limit) of the driver's JVM: what a run really keeps there."""
    try:
        runtime = session.sparkContext._jvm.java.lang.Runtime.getRuntime()
        session.sparkContext._jvm.java.lang.System.gc()
        return int(runtime.totalMemory() - runtime.freeMemory()), int(runtime.maxMemory())
    except Exception:  # a remote driver or a JVM gone: unknown
        return None


def stop_session(session) -> None:
    """Stop the session; a JVM that has already died is logged with its exit status, not raised.

    The run's outcome (published, or a failure with its own exit code) is decided before this: a JVM
    gone by then (killed, or out of memory: Spark exits 52) must not turn it into a traceback.
    """
    owned = _OWNED_CHECKPOINTS.pop(id(getattr(session, "sparkContext", None)), None)
    try:
        session.stop()
    except Exception as exc:  # py4j cannot reach the JVM any more
        gateway = getattr(getattr(session, "sparkContext", None), "_gateway", None)
        proc = getattr(gateway, "proc", None)
        status = proc.poll() if proc is not None else None
        logging.getLogger(__name__).warning(
            "the Spark JVM was gone when the run stopped it (exit status %s; 52 is Spark's out-of-memory exit, "
            "-9 a kill): %s",
            status,
            type(exc).__name__,
        )
    finally:
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
