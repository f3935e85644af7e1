"""Bad input, table-driven: each case breaks one thing and checks that featurestore

- raises the right error type, with a message naming what is wrong and where,
- exits the CLI with status 1 and one line on stderr (no traceback),
- leaves the registry and the online store byte-for-byte unchanged.
"""
import shutil
import socket
import textwrap
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from featurestore import errors
from featurestore.cli import main
from featurestore.store import FeatureStore
from featurestore.testing.repos import feature_store_yaml, redis_online_store, write_repo

pytestmark = pytest.mark.spark

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float32, Int32, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
source = SparkSource(name="stats_source", table="{table}", timestamp_field="event_timestamp",
                     created_timestamp_column="created")
driver_stats = FeatureView(name="driver_stats", entities=[driver], ttl=timedelta(0), source=source,
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
            Field(name="trips", dtype=Int32)])
ranking = FeatureService(name="ranking", features=[driver_stats[["conv_rate"]]])
"""


@pytest.fixture(scope="module")
def base_repo(spark, tmp_path_factory):
    """An applied and materialized repo that every case copies before breaking something."""
    table = f"bad_input_{uuid.uuid4().hex[:6]}"
    spark.createDataFrame([(1, datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 9, 5), 0.5, 10, "x")],
                          "driver_id bigint, event_timestamp timestamp, created timestamp, conv_rate float, "
                          "trips int, note string").write.format("delta").saveAsTable(table)
    repo = write_repo(tmp_path_factory.mktemp("bad") / "repo", DEFINITIONS.format(table=table), project="bad_input")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    store.materialize(datetime(2026, 1, 1), datetime(2026, 1, 2), log=lambda m: None)
    store.online_store.close()
    return repo, table


@dataclass
class Case:
    id: str
    cli: list[str] | None  # the CLI arguments to run (after --repo), None when the case is API-only
    error: type
    says: list[str]  # substrings the message must contain: what, where, how to fix
    breaks: Callable = lambda repo, table: None  # mutates the copied repo before running
    api: Callable | None = None  # an API call that must raise exactly `error` (store, repo, table, spark)
    exact: bool = False  # the API error's message is exactly says[0]
    extra: dict = field(default_factory=dict)


def edit(name: str, old: str, new: str):
    def mutate(repo, table):
        path = repo / name
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))
    return mutate


def write(name: str, text: str):
    def mutate(repo, table):
        (repo / name).write_text(textwrap.dedent(text).format(table=table))
    return mutate


def yaml(text: str):
    return write("feature_store.yaml", text)


def defs(old: str, new: str):
    return edit("features.py", old, new)


def entity_frame(spark, rows, schema):
    return spark.createDataFrame(rows, schema)


def historical(frame_of, refs=("driver_stats:conv_rate",)):
    def call(store, repo, table, spark):
        frame = frame_of(spark) if callable(frame_of) else frame_of
        store.get_historical_features(frame, list(refs)).to_df()
    return call


def online(refs, rows):
    def call(store, repo, table, spark):
        store.get_online_features(refs, rows)
    return call


def silent_server():
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    threading.Thread(target=lambda: [server.accept() for _ in range(16)], daemon=True).start()
    return server.getsockname()[1]


OK_YAML = feature_store_yaml("bad_input")  # what base_repo holds; the yaml cases break a copy of it
E = errors
CASES = [
    # feature_store.yaml
    Case("yaml-malformed", ["plan"], E.ConfigError, ["feature_store.yaml:4", "malformed YAML", "started at line 3"],
         yaml("project: bad_input\nonline_store:\n  type: [sqlite\n")),
    Case("yaml-misspelled-top-key", ["plan"], E.ConfigError, ["feature_store.yaml:2", "unknown setting 'registy'",
                                                             "Did you mean 'registry'"],
         yaml("project: bad_input\nregisty: data/registry.db\n")),
    Case("yaml-unknown-store-key", ["plan"], E.ConfigError, ["feature_store.yaml:6", "'online_store.paht'",
                                                            "Did you mean 'path'"],
         yaml(OK_YAML.replace("  path:", "  path: data/online_store.db\n  paht:"))),
    Case("yaml-wrong-type", ["plan"], E.ConfigError, ["feature_store.yaml:5", "'online_store.port' must be int"],
         yaml("project: bad_input\nregistry: data/registry.db\nonline_store:\n  type: redis\n  port: high\n")),
    Case("yaml-unknown-store-type", ["plan"], E.ConfigError, ["'online_store.type' is 'dynamo'", "sqlite, redis"],
         yaml(OK_YAML.replace("type: sqlite", "type: dynamo"))),
    Case("yaml-bad-project", ["plan"], E.ConfigError, ["'project' must be a plain identifier", "'bad input'"],
         yaml(OK_YAML.replace("project: bad_input", "project: bad input"))),
    Case("yaml-spark-conf-key", ["plan"], E.ConfigError, ["spark_conf key 'shuffle.partitions'", "'spark.'"],
         yaml(OK_YAML + "offline_store:\n  type: spark\n  spark_conf:\n    shuffle.partitions: 4\n")),
    Case("yaml-empty", ["plan"], E.ConfigError, ["feature_store.yaml", "must be a mapping with at least 'project:'"],
         yaml("")),
    Case("yaml-missing", ["plan"], E.ConfigError, ["feature_store.yaml: not found", "featurestore init"],
         lambda repo, table: (repo / "feature_store.yaml").unlink()),
    # definitions
    Case("def-missing-field", ["apply"], E.DefinitionError, ["features.py:8", "FeatureView 'driver_stats': source= is "
                                                             "required"], defs("ttl=timedelta(0), source=source,",
                                                                               "ttl=timedelta(0),")),
    Case("def-extra-field", ["apply"], E.RepoError, ["features.py:8", "unexpected keyword argument 'colour'"],
         defs("ttl=timedelta(0),", "ttl=timedelta(0), colour='red',")),
    Case("def-wrong-dtype", ["apply"], E.DefinitionError, ["features.py:9", "Field 'conv_rate'",
                                                           "dtype must be a featurestore.types type"],
         defs("Field(name=\"conv_rate\", dtype=Float32)", "Field(name=\"conv_rate\", dtype=float)")),
    Case("def-duplicate-names", ["apply"], E.RepoError, ["more.py", "duplicate feature view name 'driver_stats'",
                                                         "features.py", "rename one of them"],
         write("more.py", """
             from features import driver, source
             from featurestore import FeatureView, Field
             from featurestore.types import Int64, Float32
             driver_stats = FeatureView(name="driver_stats", entities=[driver], source=source,
                 schema=[Field(name="driver_id", dtype=Int64), Field(name="other", dtype=Float32)])
             """)),
    # a join key left out of schema= is inferred from the source (as in Feast): one it lacks is named
    Case("def-join-key-not-in-source", ["apply"], E.ValidationError, ["features.py", "FeatureView 'driver_stats'",
                                                                      "column 'rider_id' is not in its source",
                                                                      "so its type cannot be inferred"],
         defs('join_keys=["driver_id"]', 'join_keys=["rider_id"]')),
    Case("def-join-key-typo", ["apply"], E.ValidationError, ["column 'driverid' is not in its source",
                                                             "'driverid' is a join key of Entity 'driver': every join "
                                                             "key must be a column of the source",
                                                             "Did you mean 'driver_id'?"],
         defs('join_keys=["driver_id"]', 'join_keys=["driverid"]')),
    # a field renamed in the view is reported at the reference that now misses it, naming both fixes
    Case("def-renamed-field", ["apply"], E.NotFoundError, [
        "features.py:11", "feature view 'driver_stats' has no feature 'conv_rate' (its features: conv_rat, trips)",
        "If the view's field 'conv_rat' was renamed by mistake, name it 'conv_rate' again in the view's schema"],
         defs('Field(name="conv_rate"', 'Field(name="conv_rat"')),
    Case("def-negative-ttl", ["apply"], E.DefinitionError, ["features.py:8", "ttl must not be negative"],
         defs("ttl=timedelta(0)", "ttl=timedelta(hours=-1)")),
    Case("def-absurd-ttl", ["apply"], E.DefinitionError, ["features.py:8", "longer than the 10,000 years"],
         defs("ttl=timedelta(0)", "ttl=timedelta(days=4_000_000)")),
    Case("def-quote-in-name", ["apply"], E.DefinitionError, ["features.py:5", "'driver\"x' is not a plain identifier"],
         defs('Entity(name="driver"', "Entity(name='driver\"x'")),
    Case("def-backtick-in-name", ["apply"], E.DefinitionError, ["features.py:8", "'driver`stats' is not a plain "
                                                                "identifier"],
         defs('FeatureView(name="driver_stats"', 'FeatureView(name="driver`stats"')),
    Case("def-semicolon-in-table", ["apply"], E.DefinitionError, ["features.py:6", "is not a valid table name"],
         defs('table="', 'table="x; DROP TABLE y; --')),
    Case("def-space-in-field", ["apply"], E.DefinitionError, ["features.py:9", "'conv rate' is not a plain identifier"],
         defs('Field(name="conv_rate"', 'Field(name="conv rate"')),
    Case("def-unicode-name", ["apply"], E.DefinitionError, ["features.py:9", "'conv_ráte' is not a plain identifier"],
         defs('Field(name="conv_rate"', 'Field(name="conv_ráte"')),
    Case("def-service-unknown-feature", ["apply"], E.NotFoundError, ["features.py:11", "has no feature 'speed'"],
         defs('driver_stats[["conv_rate"]]', 'driver_stats[["speed"]]')),
    Case("def-syntax-error", ["apply"], E.RepoError, ["features.py:12", "SyntaxError"],
         lambda repo, table: (repo / "features.py").write_text((repo / "features.py").read_text() + "def (:\n")),
    Case("def-not-a-definition-in-apply", None, E.DefinitionError, ["apply() takes Entity"],
         api=lambda store, repo, table, spark: store.apply(["driver_stats"])),
    # sources
    Case("src-missing-table", ["apply"], E.ValidationError, ["features.py: FeatureView 'driver_stats'",
                                                             "reads table no_such_table, which does not exist",
                                                             "create the table or fix table="],
         lambda repo, table: defs(table, "no_such_table")(repo, table)),
    Case("src-missing-column", ["apply"], E.ValidationError, ["column 'speed' (field 'speed') is not in table"],
         defs('Field(name="trips", dtype=Int32)', 'Field(name="trips", dtype=Int32), Field(name="speed", dtype=Int32)')),
    Case("src-wrong-column-type", ["apply"], E.ValidationError, ["column 'trips'", "has Spark type int, which does not "
                                                                 "fit Float32", "change the field's dtype"],
         defs('Field(name="trips", dtype=Int32)', 'Field(name="trips", dtype=Float32)')),
    Case("src-timestamp-not-timestamp", ["apply"], E.ValidationError, ["timestamp_field 'note'", "has Spark type "
                                                                       "string, not timestamp", "to_timestamp(note)"],
         defs('timestamp_field="event_timestamp"', 'timestamp_field="note"')),
    Case("src-missing-created-column", ["apply"], E.ValidationError, ["created_timestamp_column 'made'", "is not a "
                                                                      "column of table"],
         defs('created_timestamp_column="created"', 'created_timestamp_column="made"')),
    Case("src-bad-query", ["apply"], E.ValidationError, ["source 'stats_source'", "cannot be read"],
         lambda repo, table: defs(f'table="{table}"', 'query="SELECT * FROM nowhere_to_be_found"')(repo, table)),
    Case("src-missing-path", ["apply"], E.ValidationError, ["reads delta path /no/such/path, which does not exist",
                                                            "fix path="],
         lambda repo, table: defs(f'table="{table}"', 'path="/no/such/path", file_format="delta"')(repo, table)),
    # entity frames (API only)
    Case("ent-missing-key", None, E.RetrievalError, ["lack the join key(s) driver_id of feature view 'driver_stats'",
                                                     "add the column"],
         api=historical(lambda s: entity_frame(s, [(datetime(2026, 1, 2),)], "event_timestamp timestamp"))),
    Case("ent-missing-timestamp", None, E.RetrievalError, ["need an 'event_timestamp' column or exactly one timestamp"],
         api=historical(lambda s: entity_frame(s, [(1,)], "driver_id bigint"))),
    Case("ent-two-timestamps", None, E.RetrievalError, ["it has a, b"],
         api=historical(lambda s: entity_frame(s, [(1, datetime(2026, 1, 2), datetime(2026, 1, 2))],
                                              "driver_id bigint, a timestamp, b timestamp"))),
    # The check is a raise_error() inside the query, so it surfaces when the rows are computed:
    # to_df() turns it into its one line.
    Case("ent-unparsable-string-time", None, E.RetrievalError, [
        "entity column 'event_timestamp' holds yesterday, which is not an ISO-8601 time such as 2026-01-31 12:00:00"],
         api=historical(lambda s: entity_frame(s, [(1, "yesterday")], "driver_id bigint, event_timestamp string")),
         exact=True),
    Case("ent-wrong-key-type", None, E.RetrievalError, ["entity column 'driver_id' has type string", "declares it "
                                                        "Int64", "cast the column"],
         api=historical(lambda s: entity_frame(s, [("1", datetime(2026, 1, 2))],
                                              "driver_id string, event_timestamp timestamp"))),
    Case("ent-reserved-column", None, E.RetrievalError, ["must not start with '__fs_'"],
         api=historical(lambda s: entity_frame(s, [(1, datetime(2026, 1, 2), 1)],
                                              "driver_id bigint, event_timestamp timestamp, __fs_x int"))),
    Case("ent-not-a-frame", None, E.RetrievalError, ["entity_df must be a Spark DataFrame", "got dict"],
         api=historical({"driver_id": [1]})),
    Case("ent-unknown-table", None, E.RetrievalError, ["entity table 'missing_entities' does not exist"],
         api=historical("missing_entities")),
    # feature references
    Case("ref-unknown-view", ["get-online-features", "-f", "driver_stat:conv_rate", "-e", "driver_id=1"],
         E.NotFoundError, ["no feature view 'driver_stat'", "Did you mean 'driver_stats'",
                           "featurestore feature-views list"]),
    Case("ref-unknown-feature", ["get-online-features", "-f", "driver_stats:conv", "-e", "driver_id=1"],
         E.NotFoundError, ["feature view 'driver_stats' has no feature 'conv'", "Did you mean 'conv_rate'"]),
    Case("ref-malformed", ["get-online-features", "-f", "driver_stats.conv_rate", "-e", "driver_id=1"],
         E.RetrievalError, ["'driver_stats.conv_rate' must look like 'view_name:feature_name'"]),
    Case("ref-removed-view", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver_id=1"],
         E.NotFoundError, ["no feature view 'driver_stats'"],
         breaks=lambda repo, table: FeatureStore(repo).registry_store.update(
             lambda s: s.feature_views.pop("driver_stats") and s.feature_services.pop("ranking"))),
    Case("ref-plain-string", None, E.RetrievalError, ["wrap it in a list"],
         api=lambda store, repo, table, spark: store.get_online_features("driver_stats:conv_rate", [{"driver_id": 1}])),
    Case("ref-missing-entity-key", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver=1"],
         E.RetrievalError, ["lacks join key 'driver_id' of feature view 'driver_stats'"]),
    Case("ref-bad-entity-arg", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver_id"],
         E.DefinitionError, ["--entity 'driver_id' must look like join_key=value"]),
    # registry.db
    Case("reg-truncated", ["feature-views", "list"], E.RegistryError, ["registry.db", "restore it from a backup"],
         lambda repo, table: _truncate(repo / "data" / "registry.db")),
    Case("reg-corrupt", ["feature-views", "list"], E.RegistryError, ["registry.db is corrupt", "restore it"],
         lambda repo, table: (repo / "data" / "registry.db").write_bytes(b"\x0a\xff\xff\xff garbage")),
    Case("reg-newer-version", ["feature-views", "list"], E.RegistryError, ["format version 7", "upgrade featurestore"],
         lambda repo, table: _newer(repo / "data" / "registry.db")),
    Case("reg-other-project", ["feature-views", "list"], E.RegistryError, ["belongs to project 'bad_input'",
                                                                           "says project 'renamed'"],
         yaml(feature_store_yaml("renamed"))),
    # online store
    Case("online-deleted", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver_id=1"],
         E.OnlineStoreError, ["online_store.db", "featurestore apply"],
         lambda repo, table: (repo / "data" / "online_store.db").unlink()),
    Case("online-locked", ["materialize", "2026-01-01", "2026-01-02"], E.OnlineStoreError,
         ["online_store.db", "lock"], lambda repo, table: _lock(repo / "data" / "online_store.db")),
    Case("redis-unreachable", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver_id=1"],
         E.OnlineStoreError, ["cannot connect to Redis at 127.0.0.1:1", "check that the server is running"],
         yaml(feature_store_yaml("bad_input", redis_online_store("127.0.0.1", 1)))),
    Case("redis-timeout", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver_id=1"],
         E.OnlineStoreError, ["did not answer within 0.3 s", "socket_timeout_seconds"],
         lambda repo, table: yaml(feature_store_yaml("bad_input", redis_online_store(
             "127.0.0.1", silent_server(), socket_timeout_seconds=0.3)))(repo, table)),
    Case("redis-password-env-unset", ["get-online-features", "-f", "driver_stats:conv_rate", "-e", "driver_id=1"],
         E.OnlineStoreError, ["FS_UNSET_PASSWORD_VARIABLE"],
         yaml(feature_store_yaml("bad_input", redis_online_store("127.0.0.1", 6379,
                                                                password_env="FS_UNSET_PASSWORD_VARIABLE")))),
    # times and intervals
    Case("time-unparsable", ["materialize", "last week", "now"], E.DefinitionError, ["START 'last week' is not a time",
                                                                                  "ISO-8601"]),
    Case("time-start-after-end", ["materialize", "2026-01-02", "2026-01-01"], E.DefinitionError,
         ["start 2026-01-02T00:00:00+00:00 must be before end"]),
    Case("materialize-unknown-view", ["materialize", "2026-01-01", "2026-01-02", "--views", "driver_stat"],
         E.NotFoundError, ["no feature view named 'driver_stat'", "Did you mean 'driver_stats'"]),
]


def _truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _newer(path: Path):
    from featurestore.protos import feast_registry_pb2

    proto = feast_registry_pb2.Registry.FromString(path.read_bytes())
    proto.featurestore.format_version = 7
    path.write_bytes(proto.SerializeToString())


_LOCKS = []


def _lock(path: Path):
    import sqlite3

    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    _LOCKS.append(holder)


def snapshot(repo: Path) -> dict:
    return {p.name: p.read_bytes() for p in (repo / "data").glob("*.db") if p.is_file()}


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, base_repo, tmp_path, capsys, spark, monkeypatch):
    source, table = base_repo
    repo = tmp_path / "repo"
    shutil.copytree(source, repo, ignore=shutil.ignore_patterns("*.lock"))
    case.breaks(repo, table)
    before = snapshot(repo)
    try:
        if case.api:
            with pytest.raises(case.error) as raised:
                case.api(FeatureStore(repo), repo, table, spark)
            assert type(raised.value) is case.error, f"{type(raised.value)!r} is a subclass of {case.error!r}"
            message = str(raised.value)
            if case.exact:
                assert message == case.says[0]
            for text in case.says:
                assert text in message, f"{text!r} not in {message!r}"
        if case.cli is not None:
            code = main(["--repo", str(repo), *case.cli])
            err = capsys.readouterr().err
            assert code == 1, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), err
            for text in case.says:
                assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    finally:
        while _LOCKS:
            holder = _LOCKS.pop()
            holder.rollback()
            holder.close()
    assert snapshot(repo) == before, "the registry or the online store changed"
