"""Repos have a lifecycle: deleted and made again at the same path, moved, copied, while the
shared catalog server (one per user, featurestore.runtime.metastore_server) keeps running.

Each step is its own process, as a user's commands are: the server holds each repo's Derby
database open between them, which is what used to serve a deleted repo's catalog to the
new one and point a moved or copied repo's tables at the old folder.
"""
import os
import shutil
import subprocess
import sys

import pytest

from featurestore.testing.repos import write_repo

pytestmark = pytest.mark.spark

# In a fresh process: the repo's session writes (or reads) a Delta table and prints where the
# catalog says it lives, its rows and where the repo's catalog database is.
SCRIPT = """
import sys
from featurestore import FeatureStore
spark = FeatureStore(repo_path=sys.argv[1]).spark
if sys.argv[2] == "write":
    spark.createDataFrame([(int(sys.argv[3]),)], "n long").write.format("delta").mode("overwrite").saveAsTable("numbers")
location = spark.sql("DESCRIBE DETAIL numbers").first()["location"]
print(location, sorted(r.n for r in spark.table("numbers").collect()))
"""


def session(repo, action, value=0):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(repo), action, str(value)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, result.stderr[-3000:]
    location, rows = result.stdout.strip().splitlines()[-1].split(" ", 1)
    return location, rows


def test_deleted_and_made_again_moved_and_copied(tmp_path):
    first = write_repo(tmp_path / "repo")
    assert session(first, "write", 1) == (f"file:{first}/data/spark-warehouse/numbers", "[1]")

    shutil.rmtree(first)  # made again at the same path: a new, empty catalog, kept on disk
    write_repo(first)
    assert session(first, "write", 2) == (f"file:{first}/data/spark-warehouse/numbers", "[2]")
    assert (first / "data" / "metastore_db" / "service.properties").is_file()

    moved = tmp_path / "moved"
    first.rename(moved)  # moved: the catalog's locations follow the folder
    assert session(moved, "read") == (f"file:{moved}/data/spark-warehouse/numbers", "[2]")

    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)  # copied: the copy's tables are its own
    assert session(copy, "write", 3) == (f"file:{copy}/data/spark-warehouse/numbers", "[3]")
    assert session(moved, "read") == (f"file:{moved}/data/spark-warehouse/numbers", "[2]")
