"""offline.schema_reader against Spark itself: every schema it reads without Spark (Delta logs,
parquet footers) is the one Spark resolves, for randomly chosen column types; what it cannot
read for certain it leaves to Spark; a view checked either way fails with the same message;
a transformation's output is known without Spark once Spark ran it, and only for that code."""
import random
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.config import load_config
from featurestore.errors import ValidationError
from featurestore.offline.schema_reader import NeedsSpark, ViewColumns, source_columns, view_columns
from featurestore.offline.sources import check_columns, read_source, spark_columns, validate_feature_view, view_where
from featurestore.repo import load_repo
from featurestore.testing.repos import offline_store
from featurestore.types import Float32, Int64

pytestmark = pytest.mark.spark
MOMENT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

# (the type Spark shows, an SQL expression of that type)
SQL_COLUMNS = [
    ("tinyint", "CAST(1 AS TINYINT)"), ("smallint", "CAST(1 AS SMALLINT)"), ("int", "1"),
    ("bigint", "CAST(1 AS BIGINT)"), ("float", "CAST(1.5 AS FLOAT)"), ("double", "1.5D"),
    ("decimal(10,2)", "CAST(1.25 AS DECIMAL(10,2))"), ("string", "'a'"), ("boolean", "true"), ("binary", "X'01'"),
    ("date", "DATE'2024-01-01'"), ("timestamp", "TIMESTAMP'2024-01-01 00:00:00'"),
    ("timestamp_ntz", "TIMESTAMP_NTZ'2024-01-01 00:00:00'"), ("array<bigint>", "array(CAST(1 AS BIGINT))"),
    ("map<string,double>", "map('a', 1.5D)"), ("struct<x:int,y:string>", "named_struct('x', 1, 'y', 'a')"),
    ("array<struct<x:int>>", "array(named_struct('x', 1))"),
]

# (pyarrow type, a value of it)
ARROW_COLUMNS = [
    (pa.int8(), 1), (pa.int16(), 1), (pa.int32(), 1), (pa.int64(), 1), (pa.float32(), 1.5), (pa.float64(), 1.5),
    (pa.bool_(), True), (pa.string(), "a"), (pa.large_string(), "a"), (pa.binary(), b"\x01"),
    (pa.date32(), MOMENT.date()), (pa.decimal128(12, 3), Decimal("1.250")),
    (pa.timestamp("us", tz="UTC"), MOMENT), (pa.timestamp("ms", tz="UTC"), MOMENT),
    (pa.timestamp("us"), MOMENT.replace(tzinfo=None)), (pa.timestamp("ns", tz="UTC"), MOMENT),
    (pa.timestamp("ns"), MOMENT.replace(tzinfo=None)), (pa.list_(pa.int64()), [1, 2]), (pa.list_(pa.string()), ["a"]),
    (pa.map_(pa.string(), pa.int32()), [("k", 1)]),
    (pa.struct([("a", pa.int32()), ("b", pa.string())]), {"a": 1, "b": "x"}),
]


@pytest.fixture
def config(repo_factory, spark_dir):
    """A repo whose warehouse is the test session's, where the tables below are made."""
    return load_config(repo_factory(None, offline=offline_store(warehouse_dir=str(spark_dir / "spark-warehouse"))))


def table_source(table: str) -> SparkSource:
    return SparkSource(name="src", table=table, timestamp_field="ts")


@pytest.mark.parametrize("seed", range(6))
def test_delta_tables_read_as_spark_reads_them(spark, config, seed):
    rng = random.Random(seed)
    chosen = rng.sample(SQL_COLUMNS, 6)
    database = "default" if seed % 2 == 0 else "schema_reader_db"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    table = f"{database}.Reader_{uuid.uuid4().hex[:6]}"  # mixed case: Spark keeps its folder lower case
    select = ", ".join(f"{expression} AS c{i}_{spark_type.split('<')[0].split('(')[0]}"
                       for i, (spark_type, expression) in enumerate(chosen))
    spark.sql(f"CREATE TABLE {table} USING delta AS SELECT {select}")
    if seed == 5:  # later versions: a column added, and a checkpoint
        spark.sql(f"ALTER TABLE {table} ADD COLUMNS (added_later array<string>)")
        spark.sql(f"ALTER TABLE {table} SET TBLPROPERTIES (delta.checkpointInterval = 1)")
        spark.sql(f"INSERT INTO {table} SELECT * FROM {table}")
    expected = spark_columns(spark.table(table))
    assert source_columns(config, table_source(table if database != "default" else table.split(".")[1])) == expected
    assert list(expected.values())[:6] == [spark_type for spark_type, _ in chosen]


@pytest.mark.parametrize("seed", range(8))
def test_parquet_files_read_as_spark_reads_them(spark, config, tmp_path, seed):
    rng = random.Random(seed)
    chosen = rng.sample(ARROW_COLUMNS, 7)
    table = pa.table({f"c{i}": pa.array([value], type=arrow) for i, (arrow, value) in enumerate(chosen)})
    path = tmp_path / f"data{seed}"
    if seed % 2:  # a folder of two files, with Spark's marker files beside them
        path.mkdir()
        pq.write_table(table, path / "part-0.parquet")
        pq.write_table(table, path / "part-1.parquet")
        (path / "_SUCCESS").write_text("")
    else:
        pq.write_table(table, path)
    source = SparkSource(name="src", path=str(path), timestamp_field="ts")
    assert source_columns(config, source) == spark_columns(read_source(spark, source))


def test_parquet_spark_wrote_reads_its_legacy_timestamps_as_timestamps(spark, config, tmp_path):
    path = str(tmp_path / "spark_written")
    spark.sql("SELECT 1 AS id, TIMESTAMP'2024-01-01 00:00:00' AS ts, array(1.5D) AS xs").write.parquet(path)
    source = SparkSource(name="src", path=path, timestamp_field="ts")
    assert source_columns(config, source) == spark_columns(read_source(spark, source)) == \
        {"id": "int", "ts": "timestamp", "xs": "array<double>"}


def test_delta_path_written_without_spark(spark, config, tmp_path):
    from deltalake import write_deltalake

    path = tmp_path / "delta_rs"
    write_deltalake(str(path), pa.table({"driver_id": pa.array([1], pa.int64()),
                                         "ts": pa.array([MOMENT], pa.timestamp("us", tz="UTC")),
                                         "rate": pa.array([0.5], pa.float32())}))
    source = SparkSource(name="src", path=str(path), file_format="delta", timestamp_field="ts")
    assert source_columns(config, source) == spark_columns(read_source(spark, source)) == \
        {"driver_id": "bigint", "ts": "timestamp", "rate": "float"}


def test_what_only_spark_can_answer(spark, config, tmp_path, repo_factory):
    hive = f"hive_{uuid.uuid4().hex[:6]}"
    spark.sql(f"CREATE TABLE {hive} USING parquet AS SELECT 1 AS id")
    partitioned = str(tmp_path / "partitioned")
    spark.sql("SELECT 1 AS id, 'a' AS part").write.partitionBy("part").parquet(partitioned)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"a": [1]}), mixed / "one.parquet")
    pq.write_table(pa.table({"a": ["x"]}), mixed / "two.parquet")
    warehouse = config.warehouse_dir
    answers = {
        "query": source_columns(config, SparkSource(name="q", query="SELECT 1 AS id", timestamp_field="ts")),
        "hive": source_columns(config, table_source(hive)),
        "missing": source_columns(config, table_source("no_such_table")),
        "partitioned": source_columns(config, SparkSource(name="p", path=partitioned, timestamp_field="ts")),
        "mixed": source_columns(config, SparkSource(name="m", path=str(mixed), timestamp_field="ts")),
    }
    assert answers == {
        "query": NeedsSpark("source 'q' is a SQL query"),
        "hive": NeedsSpark(f"table {hive} is not a Delta table in the warehouse {warehouse}"),
        "missing": NeedsSpark(f"table no_such_table is not a Delta table in the warehouse {warehouse}"),
        "partitioned": NeedsSpark(f"{partitioned} is partitioned into folders"),
        "mixed": NeedsSpark(f"the files of {mixed} differ in their schemas"),
    }
    team = load_config(repo_factory(None, name="team", offline=offline_store(
        metastore_url="jdbc:postgresql://db:5432/metastore?user=hive", warehouse_dir=str(warehouse))))
    assert source_columns(team, table_source(hive)) == NeedsSpark(
        "the Hive catalog is jdbc:postgresql://db:5432/metastore")


def view_of(source, schema) -> FeatureView:
    driver = Entity(name="driver", join_keys=["driver_id"])
    return FeatureView(name="v", entities=[driver], source=source, schema=schema)


@pytest.mark.parametrize("case", ["missing column", "wrong type", "timestamp not a time", "fits"])
def test_a_view_fails_with_the_same_message_with_or_without_spark(spark, config, case):
    table = f"checked_{uuid.uuid4().hex[:6]}"
    spark.sql(f"CREATE TABLE {table} USING delta AS SELECT CAST(1 AS BIGINT) AS driver_id, "
              f"TIMESTAMP'2024-01-01 00:00:00' AS ts, 'x' AS label, CAST(0.5 AS FLOAT) AS rate, 7 AS when_seen")
    schema = {"missing column": [Field(name="driver_id", dtype=Int64), Field(name="trips", dtype=Int64)],
              "wrong type": [Field(name="driver_id", dtype=Int64), Field(name="label", dtype=Float32)],
              "timestamp not a time": [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32)],
              "fits": [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32)]}[case]
    source = SparkSource(name="src", table=table, timestamp_field="when_seen" if case.startswith("timestamp") else "ts")
    view = view_of(source, schema)
    where = view_where("features.py", view)
    known = view_columns(config, view, where)
    assert isinstance(known, ViewColumns)
    outcomes = []
    for check in (lambda: validate_feature_view(spark, view, "features.py"),
                  lambda: check_columns(view, known.columns, where, known.location)):
        try:
            check()
            outcomes.append("ok")
        except ValidationError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] == "ok") == (case == "fits")


def test_a_missing_path_fails_before_spark_with_its_message(config, tmp_path):
    view = view_of(SparkSource(name="src", path="data/nothing_here", timestamp_field="ts"),
                   [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32)])
    with pytest.raises(ValidationError) as error:
        view_columns(config, view, "FeatureView 'v'")
    assert str(error.value) == (f"FeatureView 'v': source 'src' reads parquet path {config.repo_path.resolve()}/data/"
                                f"nothing_here, which does not exist; fix path= (a relative path is relative to the "
                                f"feature repo)")


TRANSFORMED = """
from featurestore import Entity, FeatureView, Field, SparkSource, spark_transformation
from featurestore.types import Float32, Int64

SCALE = {scale}

@spark_transformation
def doubled(df):
    from pyspark.sql import functions as F
    return df.withColumn("rate_doubled", (F.col("rate") * SCALE).cast("float"))

driver = Entity(name="driver", join_keys=["driver_id"])
view = FeatureView(name="transformed", entities=[driver], transformation=doubled,
    source=SparkSource(name="src", table="{table}", timestamp_field="ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate_doubled", dtype=Float32)])
"""


def test_a_transformation_output_is_known_once_spark_ran_that_code(spark, repo_factory, spark_dir, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    table = f"transformed_{uuid.uuid4().hex[:6]}"
    spark.sql(f"CREATE TABLE {table} USING delta AS SELECT CAST(1 AS BIGINT) AS driver_id, "
              f"TIMESTAMP'2024-01-01 00:00:00' AS ts, CAST(0.5 AS FLOAT) AS rate")
    repo = repo_factory(TRANSFORMED.format(scale=2, table=table),
                        offline=offline_store(warehouse_dir=str(spark_dir / "spark-warehouse")))
    config = load_config(repo)

    def known():
        view = load_repo(repo).feature_views["transformed"]
        return view, view_columns(config, view, "FeatureView 'transformed'")

    view, answer = known()
    assert answer == NeedsSpark("transformation features.py:doubled has not run on these columns yet")
    validate_feature_view(spark, view, "", repo)
    assert known()[1] == ViewColumns({"driver_id": "bigint", "ts": "timestamp", "rate": "float",
                                      "rate_doubled": "float"}, "the output of transformation features.py:doubled")
    (repo / "features.py").write_text(TRANSFORMED.format(scale=3, table=table))  # a constant the function reads
    assert known()[1] == NeedsSpark("transformation features.py:doubled has not run on these columns yet")


def test_plan_and_apply_in_a_fresh_process_start_no_jvm(repo_factory, tmp_path):
    """A repo of a Delta path and a parquet path (written without Spark): apply and plan read their
    schemas from the files; pyspark is never imported."""
    from deltalake import write_deltalake

    repo = repo_factory(textwrap.dedent("""
        from datetime import timedelta
        from featurestore import Entity, FeatureView, Field, SparkSource
        from featurestore.types import Float32, Int64
        driver = Entity(name="driver", join_keys=["driver_id"])
        stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
            source=SparkSource(name="stats_src", path="data/stats", file_format="delta", timestamp_field="ts"),
            schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32)])
        inferred = FeatureView(name="inferred", entities=[driver], ttl=timedelta(days=1),
            source=SparkSource(name="trips_src", path="data/trips.parquet", timestamp_field="ts"))
        """))
    rows = pa.table({"driver_id": pa.array([1], pa.int64()), "ts": pa.array([MOMENT], pa.timestamp("us", tz="UTC")),
                     "rate": pa.array([0.5], pa.float32())})
    (repo / "data").mkdir(exist_ok=True)
    write_deltalake(str(repo / "data" / "stats"), rows)
    pq.write_table(rows, repo / "data" / "trips.parquet")
    script = textwrap.dedent(f"""
        import sys
        from featurestore import FeatureStore
        store = FeatureStore(repo_path={str(repo)!r})
        print(store.apply(None, partial=False).render())
        print(store.plan().render())
        print([f.name for f in store.registry.feature_views["inferred"].schema])
        print("pyspark imported:", "pyspark" in sys.modules)
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "in Spark" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-3:] == ["No changes: the registry already matches the definitions.",
                                               "['driver_id', 'rate']", "pyspark imported: False"]
