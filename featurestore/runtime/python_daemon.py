"""PySpark's Python daemon, without re-reading its zip files before every task.

Spark starts Python workers through a daemon module (`spark.python.daemon.module`,
`pyspark.daemon` by default). Before each task a worker calls
`importlib.invalidate_caches()` (pyspark.worker_util.setup_spark_files), and since
Python 3.10 that makes every `zipimporter` read its whole zip directory again:
pyspark.zip, py4j's zip and spark-core's jar are on the workers' path, so each task
spent about 100 ms of CPU on it (measured with py-spy: nearly all of a short task's
time). A Python step of 8 tasks (a mapInArrow over a training set's 8 shuffle
partitions) paid 0.4 to 0.5 s on 2 cores before reading a row (docs/performance.md).

Those zips never change while a worker lives (Spark refuses to add a file twice under
one name), so here their importers skip the re-read; new path entries, such as a zip
added with addPyFile, still get importers of their own when first imported from.
spark-defaults.conf names this module for every session; the workers need featurestore
installed, as they already do for its own Python steps (mapInArrow functions are sent
by reference to their modules).
"""
from __future__ import annotations

import zipimport


def keep_zip_directories() -> None:
    """Let `importlib.invalidate_caches()` leave zip importers' directories as read."""
    zipimport.zipimporter.invalidate_caches = _unchanged


def _unchanged(_importer) -> None:
    """A zip on the workers' path is not rewritten while they run: nothing to re-read."""


if __name__ == "__main__":
    from pyspark import daemon

    keep_zip_directories()
    daemon.manager()
