"""Python workers start from featurestore's daemon (featurestore/runtime/python_daemon.py).

It keeps the zip directories on the workers' path read once instead of before every
task; a zip added while the workers run must still be importable by the next task.
"""
import zipfile


def test_workers_run_featurestores_daemon_and_import_a_zip_added_later(spark, tmp_path):
    def probe(_rows):
        import zipimport

        import fs_added_later

        yield zipimport.zipimporter.invalidate_caches.__name__, fs_added_later.VALUE  # its module runs as __main__

    rows = spark.sparkContext.parallelize(range(4), 4)
    assert rows.mapPartitions(lambda _: [1]).count() == 4  # workers started before the zip exists
    archive = tmp_path / "fs_added_later.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("fs_added_later.py", "VALUE = 42\n")
    spark.sparkContext.addPyFile(str(archive))
    assert rows.mapPartitions(probe).collect() == [("_unchanged", 42)] * 4
