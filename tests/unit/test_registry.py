"""registry.db: protobuf round trip, refusal of torn or foreign files, locked atomic writes."""
import json
import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from featurestore import Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.errors import RegistryError
from featurestore.protos import feast_registry_pb2, registry_pb2
from featurestore.registry import RegistryFile
from featurestore.types import Float32, Int64

DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="src", table="t", timestamp_field="ts")
VIEW = FeatureView(name="stats", entities=[DRIVER], source=SOURCE, ttl=timedelta(hours=1),
                   schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32)])


def fill(state):
    state.entities["driver"] = DRIVER
    state.data_sources["src"] = SOURCE
    view = FeatureView.from_proto(VIEW.to_proto())
    view.materialization_intervals = [(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))]
    state.feature_views["stats"] = view
    state.feature_services["svc"] = FeatureService(name="svc", features=[VIEW])


def test_round_trip_keeps_every_definition_and_state(tmp_path):
    registry = RegistryFile(tmp_path / "registry.db", "demo")
    assert registry.load().version == 0 and not registry.exists()
    written = registry.update(fill)
    loaded = registry.load()
    assert loaded.version == 1 and loaded.last_updated == written.last_updated
    assert loaded.entities == {"driver": DRIVER} and loaded.data_sources == {"src": SOURCE}
    assert loaded.feature_views == {"stats": VIEW}
    assert loaded.feature_views["stats"].materialization_intervals == written.feature_views["stats"].materialization_intervals
    assert loaded.feature_services["svc"].feature_refs() == ["stats:rate"]
    assert '"project": "demo"' in loaded.to_json()


def test_file_is_feasts_registry_message(tmp_path):
    registry = RegistryFile(tmp_path / "registry.db", "demo")
    registry.update(fill)
    proto = feast_registry_pb2.Registry.FromString((tmp_path / "registry.db").read_bytes())
    assert [(e.spec.name, e.spec.join_key, e.spec.project) for e in proto.entities] == [("driver", "driver_id", "demo")]
    spec = proto.feature_views[0].spec
    assert [(f.name, f.value_type) for f in spec.entity_columns] == [("driver_id", 4)]  # Feast's INT64
    assert [(f.name, f.value_type) for f in spec.features] == [("rate", 6)]  # Feast's FLOAT
    assert spec.batch_source.spark_options.table == "t" and spec.batch_source.type == 11  # BATCH_SPARK
    assert [p.spec.name for p in proto.projects] == ["demo"]
    assert proto.feature_services[0].spec.features[0].feature_columns[0].name == "rate"
    # Feast's fields say all of it: nothing of the entity, source or service is kept beside them
    assert not proto.entities[0].spec.HasField("featurestore") and not proto.data_sources[0].HasField("featurestore")
    assert not proto.feature_services[0].spec.HasField("featurestore")


def test_a_registry_in_the_earlier_layout_is_read_and_converted_by_the_next_write(tmp_path):
    path = tmp_path / "registry.db"
    state = RegistryFile(tmp_path / "scratch.db", "demo").update(fill)
    path.write_bytes(state.to_proto().SerializeToString())  # featurestore's layout before Feast's
    registry = RegistryFile(path, "demo")
    assert registry.load().feature_views == {"stats": VIEW} and registry.load().version == 1
    registry.update(lambda state: None)
    assert feast_registry_pb2.Registry.FromString(path.read_bytes()).feature_views[0].spec.name == "stats"
    assert registry.load().version == 2 and registry.load().feature_views == {"stats": VIEW}


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], "is corrupt|is truncated"),
    (lambda data: data[:-1], "is corrupt|is truncated"),
    (lambda data: b"\xff\xff\xff garbage", "is corrupt"),
    (lambda data: b"", "is truncated or not a featurestore registry"),
])
def test_damaged_files_are_refused_with_a_fix(tmp_path, damage, message):
    path = tmp_path / "registry.db"
    RegistryFile(path, "demo").update(fill)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(RegistryError, match=message) as error:
        RegistryFile(path, "demo").load()
    assert "restore it from a backup" in str(error.value) or "newer" in str(error.value)


def test_newer_format_and_foreign_project_are_refused(tmp_path):
    path = tmp_path / "registry.db"
    path.write_bytes(registry_pb2.Registry(format_version=99, project="demo", complete=True).SerializeToString())
    with pytest.raises(RegistryError, match="has format version 99, newer than this featurestore understands"):
        RegistryFile(path, "demo").load()
    path.write_bytes(registry_pb2.Registry(format_version=1, project="other", complete=True).SerializeToString())
    with pytest.raises(RegistryError, match="belongs to project 'other', but feature_store.yaml says project 'demo'"):
        RegistryFile(path, "demo").load()


def test_a_failing_update_writes_nothing(tmp_path):
    path = tmp_path / "registry.db"
    registry = RegistryFile(path, "demo")
    registry.update(fill)
    before = path.read_bytes()

    def broken(state):
        state.entities.clear()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        registry.update(broken)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.db", "registry.db.lock"]


def _add_entities(path, prefix, count):
    registry = RegistryFile(path, "demo")
    for i in range(count):
        registry.update(lambda state, i=i: state.entities.__setitem__(
            f"{prefix}_{i}", Entity(name=f"{prefix}_{i}", join_keys=["k"])))


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "registry.db"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_entities, args=(path, f"w{w}", 25)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    state = RegistryFile(path, "demo").load()
    assert len(state.entities) == 100 and state.version == 100


def test_a_registry_path_that_is_a_folder_says_so(tmp_path):
    (tmp_path / "registry.db").mkdir()
    with pytest.raises(RegistryError, match=r"registry .*registry.db is a folder, not a file; point "
                                            r"feature_store.yaml's registry: at a file such as data/registry.db"):
        RegistryFile(tmp_path / "registry.db", "demo").load()


def test_a_registry_feast_shares_between_projects_keeps_the_others_objects(tmp_path):
    """Feast keeps several projects in one registry.db: featurestore reads its own project's
    objects and its writes keep the other projects' (and what its schema does not list)."""
    path = tmp_path / "registry.db"
    RegistryFile(path, "other").update(fill)
    shared = feast_registry_pb2.Registry.FromString(path.read_bytes())
    shared.ClearField("featurestore")  # as Feast leaves it: no featurestore fields, Feast's own version id
    shared.version_id = "0b5c0a1e-feast-wrote-this"
    path.write_bytes(shared.SerializeToString() + b"\x92\x01\x00")  # + a field Feast has and this schema lacks (18)

    registry = RegistryFile(path, "demo")
    assert registry.load().feature_views == {}  # demo has nothing yet
    registry.update(fill)
    written = feast_registry_pb2.Registry.FromString(path.read_bytes())
    assert sorted((v.spec.project, v.spec.name) for v in written.feature_views) == [("demo", "stats"), ("other", "stats")]
    assert sorted(p.spec.name for p in written.projects) == ["demo", "other"]
    assert b"\x92\x01\x00" in path.read_bytes()  # kept as it was
    assert registry.load().feature_views == {"stats": VIEW}


def test_teardown_of_one_project_in_a_shared_registry_leaves_the_others(tmp_path):
    path = tmp_path / "registry.db"
    RegistryFile(path, "other").update(fill)
    shared = feast_registry_pb2.Registry.FromString(path.read_bytes())
    shared.ClearField("featurestore")
    shared.version_id = "written-by-feast"
    path.write_bytes(shared.SerializeToString())
    RegistryFile(path, "demo").update(fill)
    RegistryFile(path, "demo").delete()
    left = feast_registry_pb2.Registry.FromString(path.read_bytes())
    assert [(v.spec.project, v.spec.name) for v in left.feature_views] == [("other", "stats")]
    assert RegistryFile(path, "demo").load().feature_views == {}
    RegistryFile(path, "other").delete()  # the last project: the file goes
    assert not path.exists()


def test_a_struct_fields_schema_is_written_as_feast_writes_it_and_read_from_feasts_tag(tmp_path):
    from featurestore.types import Array, Float64, String, Struct

    person = Struct({"name": String, "scores": Array(Float64), "home": Struct({"city": String})})
    view = FeatureView(name="people", entities=[DRIVER], source=SOURCE, ttl=timedelta(hours=1),
                       schema=[Field(name="driver_id", dtype=Int64), Field(name="person", dtype=person)])
    path = tmp_path / "registry.db"
    RegistryFile(path, "demo").update(lambda state: state.feature_views.__setitem__("people", view))
    spec = feast_registry_pb2.Registry.FromString(path.read_bytes()).feature_views[0].spec
    nested = json.dumps({"__struct__": {"city": "STRING"}})  # Feast's field.py writes a nested struct so
    assert dict(spec.features[0].tags) == {"feast:struct_schema": json.dumps(
        {"name": "STRING", "scores": "Array(FLOAT64)", "home": nested})}
    assert not spec.HasField("featurestore")  # Feast's tag says all of it
    assert RegistryFile(path, "demo").load().feature_views["people"] == view
