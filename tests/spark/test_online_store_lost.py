"""An online store that lost its data (a Redis restarted without persistence) is refilled by
the next materialize-incremental: the registry forgets the intervals it claimed, every view
starts again from its beginning, and online reads equal the training set again."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.store import FeatureStore
from featurestore.testing.repos import redis_online_store

pytestmark = pytest.mark.spark
NOW = datetime.now(UTC).replace(microsecond=0)

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=2),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)],
    source=SparkSource(name="src", table="{table}", timestamp_field="ts"))
"""


def test_a_redis_restarted_empty_is_refilled_by_the_next_incremental_run(spark, repo_factory, clean_redis):
    table = f"lost_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(1, 0.5, NOW - timedelta(hours=3)), (2, 0.25, NOW - timedelta(hours=1))],
                          "driver_id bigint, rate double, ts timestamp").write.format("delta").saveAsTable(table)
    repo = repo_factory(DEFINITIONS.format(table=table), project=f"l_{uuid.uuid4().hex[:6]}",
                        online_store=redis_online_store(clean_redis.host, clean_redis.port))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)

    def online():
        answer = store.get_online_features(["stats:rate"], [{"driver_id": 1}, {"driver_id": 2}])
        return answer.to_dict()["rate"], answer.statuses()["rate"]

    store.materialize_incremental(NOW, log=lambda _: None)
    assert online() == ([0.5, 0.25], ["PRESENT", "PRESENT"])
    clean_redis.flushall()  # a restart without persistence
    assert online() == ([None, None], ["NOT_FOUND", "NOT_FOUND"])
    lines = []
    results = store.materialize_incremental(NOW, log=lines.append)
    assert [r.rows_written for r in results] == [2]
    assert any("the online store lost what was materialized into it" in line for line in lines)
    assert online() == ([0.5, 0.25], ["PRESENT", "PRESENT"])
