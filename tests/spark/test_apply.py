"""apply / plan / teardown against real Hive and Delta tables in the test warehouse."""
import sqlite3
import uuid
from datetime import datetime

import pytest

from featurestore.errors import DefinitionError, RepoError, ValidationError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    """A Hive (parquet) table, a Delta table, a Delta path and a parquet path with the same rows."""
    suffix = uuid.uuid4().hex[:6]
    rows = [(1, datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 9, 5), 0.5, 10, "x")]
    frame = spark.createDataFrame(rows, "driver_id bigint, event_timestamp timestamp, created timestamp, "
                                        "conv_rate float, trips int, note string")
    hive, delta = f"hive_stats_{suffix}", f"delta_stats_{suffix}"
    spark.sql(f"CREATE TABLE {hive} (driver_id bigint, event_timestamp timestamp, created timestamp, "
              f"conv_rate float, trips int, note string) STORED AS PARQUET")
    frame.write.insertInto(hive)
    frame.write.format("delta").saveAsTable(delta)
    folder = tmp_path_factory.mktemp("paths")
    frame.write.format("delta").save(str(folder / "delta"))
    frame.write.parquet(str(folder / "parquet"))
    return {"hive": hive, "delta": delta, "delta_path": str(folder / "delta"), "parquet_path": str(folder / "parquet")}


def definitions(source: str, view: str = "driver_stats", extra: str = "", fields: str = "") -> str:
    fields = fields or ('Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32), '
                        'Field(name="trips", dtype=Int32)')
    return f"""
from datetime import timedelta
from featurestore import Entity, FeatureService, FeatureView, Field, FileSource, SparkSource
from featurestore.types import Float32, Float64, Int32, Int64, String
driver = Entity(name="driver", join_keys=["driver_id"])
source = {source}
{view} = FeatureView(name="{view}", entities=[driver], ttl=timedelta(days=1), source=source,
    schema=[{fields}])
ranking = FeatureService(name="ranking", features=[{view}[["conv_rate"]]])
{extra}
"""


def table_source(table: str, **extra) -> str:
    options = "".join(f", {k}={v!r}" for k, v in extra.items())
    return (f'SparkSource(name="stats_source", table="{table}", timestamp_field="event_timestamp", '
            f'created_timestamp_column="created"{options})')


def online_tables(repo):
    path = repo / "data" / "online_store.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'featurestore:tables'")
        return sorted(r[0] for r in tables)


@pytest.mark.parametrize("kind", ["hive", "delta", "delta_path", "parquet_path", "query"])
def test_apply_registers_every_kind_of_source(spark, repo_factory, tables, kind):
    source = {
        "hive": table_source(tables["hive"]),
        "delta": table_source(tables["delta"]),
        "delta_path": f'SparkSource(name="stats_source", path="{tables["delta_path"]}", file_format="delta", '
                      f'timestamp_field="event_timestamp")',
        "parquet_path": f'FileSource(name="stats_source", path="{tables["parquet_path"]}", '
                        f'timestamp_field="event_timestamp")',
        "query": f'SparkSource(name="stats_source", query="SELECT * FROM {tables["hive"]} WHERE trips > 0", '
                 f'timestamp_field="event_timestamp")',
    }[kind]
    repo = repo_factory(definitions(source))
    store = FeatureStore(repo)
    diff = store.apply(store.load_repo(), partial=False)
    assert [(c.action, c.kind, c.name) for c in diff.changes] == [
        ("add", "entities", "driver"), ("add", "data_sources", "stats_source"),
        ("add", "feature_views", "driver_stats"), ("add", "feature_services", "ranking")]
    assert [v.name for v in store.list_feature_views()] == ["driver_stats"]
    assert store.registry.version == 1
    assert online_tables(repo) == ["test_project_driver_stats"]
    assert store.apply(store.load_repo(), partial=False).is_empty()  # idempotent
    assert store.registry.version == 1


@pytest.mark.parametrize("source, fields, message", [
    ('table_source("no_such_table")', None,
     "source 'stats_source' reads table no_such_table, which does not exist in the warehouse"),
    (None, 'Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32), Field(name="speed", dtype=Float32)',
     "column 'speed' (field 'speed') is not in table {hive}; its columns are driver_id, event_timestamp, created, "
     "conv_rate, trips, note"),
    (None, 'Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32), Field(name="note", dtype=Int64)',
     "column 'note' of table {hive} has Spark type string, which does not fit Int64"),
    (None, 'Field(name="driver_id", dtype=String), Field(name="conv_rate", dtype=Float32)',
     "column 'driver_id' of table {hive} has Spark type bigint, which does not fit String"),
    ('table_source("{hive}").replace("event_timestamp", "note")', None,
     "timestamp_field 'note' of table {hive} has Spark type string, not timestamp"),
    ('table_source("{hive}").replace("column=\\"created", "column=\\"made")', None,
     "created_timestamp_column 'made' is not a column of table {hive}"),
])
def test_validation_failures_name_the_problem_and_change_nothing(spark, repo_factory, tables, source, fields, message):
    repo = repo_factory(definitions(table_source(tables["hive"])))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    registry_bytes = (repo / "data" / "registry.db").read_bytes()
    source_code = eval(source.format(**tables)) if source else table_source(tables["hive"])
    (repo / "features.py").write_text(definitions(source_code, fields=fields or ""))
    with pytest.raises(ValidationError) as error:
        store.apply(store.load_repo(), partial=False)
    assert message.format(**tables) in str(error.value)
    assert "features.py: FeatureView 'driver_stats'" in str(error.value)
    assert (repo / "data" / "registry.db").read_bytes() == registry_bytes


def test_bad_definitions_in_the_repo_change_nothing(spark, repo_factory, tables):
    repo = repo_factory(definitions(table_source(tables["hive"])))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    before = (repo / "data" / "registry.db").read_bytes()
    (repo / "features.py").write_text(definitions(table_source(tables["hive"])).replace(
        "ttl=timedelta(days=1)", "ttl=timedelta(days=-1)"))
    with pytest.raises(DefinitionError, match="features.py:7: FeatureView 'driver_stats': ttl must not be negative"):
        store.load_repo()
    (repo / "features.py").write_text(definitions(table_source(tables["hive"]), extra=(
        'driver2 = Entity(name="driver", join_keys=["other_id"])')))
    with pytest.raises(RepoError, match="duplicate entity name 'driver'"):
        store.load_repo()
    assert (repo / "data" / "registry.db").read_bytes() == before


def test_plan_shows_changes_and_writes_nothing(spark, repo_factory, tables):
    repo = repo_factory(definitions(table_source(tables["hive"])))
    store = FeatureStore(repo)
    assert store.plan().render().splitlines() == [
        "+ add    Entity              driver", "+ add    DataSource          stats_source",
        "+ add    FeatureView         driver_stats", "+ add    FeatureService      ranking",
        "4 to add, 0 to change, 0 to delete."]
    assert not (repo / "data" / "registry.db").exists()
    store.apply(store.load_repo(), partial=False)
    (repo / "features.py").write_text(definitions(table_source(tables["hive"]), view="driver_daily"))
    assert store.plan().render().splitlines() == [
        "+ add    FeatureView         driver_daily", "- delete FeatureView         driver_stats",
        "~ change FeatureService      ranking", "1 to add, 1 to change, 1 to delete."]
    assert store.registry.version == 1


def test_apply_adds_and_drops_online_tables_as_views_come_and_go(spark, repo_factory, tables):
    repo = repo_factory(definitions(table_source(tables["hive"])))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    (repo / "features.py").write_text(definitions(table_source(tables["hive"]), view="driver_daily"))
    store.apply(store.load_repo(), partial=False)
    assert online_tables(repo) == ["test_project_driver_daily"]
    assert [v.name for v in store.list_feature_views()] == ["driver_daily"]
    store.teardown()
    assert online_tables(repo) == [] and not (repo / "data" / "registry.db").exists()


def test_python_api_apply_is_additive(spark, repo_factory, tables):
    repo = repo_factory(definitions(table_source(tables["hive"])))
    store = FeatureStore(repo)
    contents = store.load_repo()
    store.apply([contents.entities["driver"], contents.feature_views["driver_stats"]])
    store.apply([contents.feature_services["ranking"]])
    assert [s.name for s in store.list_feature_services()] == ["ranking"]
    assert [v.name for v in store.list_feature_views()] == ["driver_stats"]
    store.apply([], objects_to_delete=[contents.feature_services["ranking"]])
    assert store.list_feature_services() == []


def test_a_service_naming_a_missing_feature_is_refused(spark, repo_factory, tables):
    repo = repo_factory(definitions(table_source(tables["hive"])))
    store = FeatureStore(repo)
    contents = store.load_repo()
    store.apply([contents.entities["driver"], contents.feature_views["driver_stats"]])
    from featurestore import FeatureService
    from featurestore.definitions import FeatureViewProjection

    service = FeatureService(name="bad", features=[FeatureViewProjection("driver_stats", ["speed"])])
    with pytest.raises(DefinitionError, match="FeatureService 'bad' uses feature 'speed' that view 'driver_stats' "
                                              "does not have"):
        store.apply([service])
