"""`featurestore init` without a JVM: the sample tables written with delta-rs are the rows and
types Spark writes, the repo's first Spark session registers them (from whatever process),
and the template's transformation output recorded by init is the one Spark computes."""
import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality

from featurestore.scaffold import ENTITY_TABLE, STATS_TABLE, TRIPS_TABLE
from featurestore.scaffold.sample_data import write_sample_data, write_sample_tables

pytestmark = pytest.mark.spark
END = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_the_tables_written_without_spark_are_those_spark_writes(spark, tmp_path):
    names = {name: f"{name}_{uuid.uuid4().hex[:6]}" for name in (STATS_TABLE, ENTITY_TABLE, TRIPS_TABLE)}
    write_sample_data(spark, names[STATS_TABLE], names[ENTITY_TABLE], tmp_path / "spark.parquet", end=END,
                      trips_table=names[TRIPS_TABLE])
    written = write_sample_tables(tmp_path / "warehouse", STATS_TABLE, ENTITY_TABLE, tmp_path / "rs.parquet", end=END,
                                  trips_table=TRIPS_TABLE)
    assert written == [STATS_TABLE, ENTITY_TABLE, TRIPS_TABLE]
    for name, table in names.items():
        ours = spark.read.format("delta").load(str(tmp_path / "warehouse" / name))
        assert_df_equality(ours, spark.table(table), ignore_row_order=True)
    assert_df_equality(spark.read.parquet(str(tmp_path / "rs.parquet")), spark.read.parquet(str(tmp_path / "spark.parquet")),
                       ignore_row_order=True)


def test_init_starts_no_jvm_and_the_first_session_registers_its_tables(tmp_path):
    env = dict(os.environ, FEATURESTORE_WARM_SPARK="off", XDG_CACHE_HOME=str(tmp_path / "cache"))
    init = subprocess.run([sys.executable, "-c", "import sys; from featurestore.cli import main; code = main(['init', "
                           "'fresh']); print('pyspark imported:', 'pyspark' in sys.modules); sys.exit(code)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert init.stdout.splitlines()[-1] == "pyspark imported: False"
    repo = tmp_path / "fresh"
    warehouse = repo / "data" / "spark-warehouse"
    assert json.loads((warehouse / ".featurestore-tables-to-register").read_text()) == sorted(
        [STATS_TABLE, ENTITY_TABLE, TRIPS_TABLE])
    script = textwrap.dedent(f"""
        import json
        from featurestore.config import load_config
        from featurestore.offline import transformation_schemas
        from featurestore.offline.sources import source_frame, spark_columns, transform
        from featurestore.repo import load_repo
        from featurestore.runtime.session import get_spark
        repo = {str(repo)!r}
        spark = get_spark(load_config(repo))
        view = load_repo(repo).feature_views["driver_hourly_stats"]
        given = source_frame(spark, view.source, "test", repo)
        out = {{"recorded": transformation_schemas.recall(view, repo, spark_columns(given)),
               "spark": spark_columns(transform(spark, view, given, "test", repo)),
               "counts": [spark.table(t).count() for t in ({STATS_TABLE!r}, {ENTITY_TABLE!r}, {TRIPS_TABLE!r})],
               "types": [r["col_name"] + " " + r["data_type"] for r in
                         spark.sql("DESCRIBE TABLE {STATS_TABLE}").collect() if not r["col_name"].startswith("#")]}}
        print(json.dumps(out))
        """)
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    found = json.loads(first.stdout.splitlines()[-1])
    assert found["recorded"] == found["spark"]
    assert found["counts"] == [5 * 7 * 24, 5 * 40, found["counts"][2]] and found["counts"][2] > 0
    assert found["types"] == ["driver_id bigint", "event_timestamp timestamp", "conv_rate float", "acc_rate float",
                              "avg_daily_trips int", "created timestamp"]
    assert not (warehouse / ".featurestore-tables-to-register").exists()
    assert (warehouse / STATS_TABLE / "_delta_log" / "00000000000000000001.crc").is_file()
