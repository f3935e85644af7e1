"""Two processes applying different definitions to one registry at once: both changes kept."""
import subprocess
import sys
import textwrap

import pytest

from featurestore.registry import RegistryFile
from featurestore.testing.repos import write_repo

pytestmark = [pytest.mark.spark, pytest.mark.slow]

APPLY = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from featurestore import Entity, FeatureView, Field, FileSource, FeatureStore
    from featurestore.types import Float64, Int64
    repo, name, path = sys.argv[1:4]
    store = FeatureStore(repo)
    entity = Entity(name="driver", join_keys=["driver_id"])
    for i in range(3):
        view = FeatureView(name=f"{name}_{i}", entities=[entity], ttl=timedelta(hours=1),
                           source=FileSource(name=f"{name}_src_{i}", path=path, timestamp_field="event_ts"),
                           schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
        store.apply([entity, view])
    print("applied", name)
""")


def test_concurrent_applies_lose_nothing(spark, tmp_path):
    data = tmp_path / "stats.parquet"
    spark.createDataFrame([(1, "2026-01-01 00:00:00", 0.5)], "driver_id bigint, event_ts string, rate double") \
        .selectExpr("driver_id", "CAST(event_ts AS timestamp) AS event_ts", "rate").write.parquet(str(data))
    registry = tmp_path / "shared" / "registry.db"
    processes = []
    for name in ("team_a", "team_b"):
        repo = write_repo(tmp_path / name, project="shared", registry=registry)  # definitions come from APPLY
        processes.append(subprocess.Popen([sys.executable, "-c", APPLY, str(repo), name, str(data)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    state = RegistryFile(registry, "shared").load()
    assert sorted(state.feature_views) == [f"{team}_{i}" for team in ("team_a", "team_b") for i in range(3)]
    assert state.version == 6
