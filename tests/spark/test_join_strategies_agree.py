"""Every join strategy gives the reference answer on many generated datasets.

Data sits on a coarse time grid so ties, ttl edges, duplicates and null keys and values
are frequent; (event_ts, created_ts) pairs are unique per key so the winner is defined.
"""
import random
from collections import Counter
from datetime import timedelta

import pytest

from featurestore import Entity
from featurestore.offline.pit_join import JOINERS
from featurestore.types import Float64, Int64, String
from tests.offline_helpers import historical, t, table_view
from tests.reference_join import reference_join

pytestmark = pytest.mark.spark
SEEDS = range(6)


def generate(seed: int):
    rng = random.Random(seed)
    drivers = [1, 2, 3, None] if seed % 2 else [1, 2]
    customers = ["a", "b"]
    grid = [t(h, m) for h in range(6, 12) for m in (0, 30)]

    def view_rows(keys_of):
        rows, used = [], set()
        for _ in range(rng.randint(5, 30)):
            keys = keys_of()
            event = rng.choice(grid)
            created = rng.choice([None, event + timedelta(minutes=rng.randint(0, 3))])
            if (keys, event, created) in used:
                continue
            used.add((keys, event, created))
            value = rng.choice([None, round(rng.uniform(0, 10), 2)])
            rows.append((*keys, event, created, value))
        return rows

    single = view_rows(lambda: (rng.choice(drivers),))
    composite = view_rows(lambda: (rng.choice(drivers), rng.choice(customers)))
    entity_rows = [(rng.choice(drivers), rng.choice(customers), rng.choice(grid) + timedelta(minutes=rng.choice([0, 15])))
                   for _ in range(rng.randint(1, 25))]
    entity_rows += entity_rows[:3]  # duplicates stay duplicates
    ttls = [timedelta(0), timedelta(hours=1), timedelta(minutes=30)]
    return single, composite, entity_rows, rng.choice(ttls), rng.choice(ttls)


@pytest.mark.parametrize("seed", SEEDS)
def test_strategies_match_the_reference(spark, seed):
    single, composite, entity_rows, ttl1, ttl2 = generate(seed)
    driver = Entity(name="driver", join_keys=["driver_id"])
    customer = Entity(name="customer", join_keys=["customer_id"])
    v1 = table_view(spark, f"single{seed}", {"driver_id": Int64}, {"x": Float64}, single, ttl=ttl1,
                    entities=[driver])
    v2 = table_view(spark, f"pair{seed}", {"driver_id": Int64, "customer_id": String}, {"y": Float64},
                    composite, ttl=ttl2, entities=[driver, customer])
    entities = spark.createDataFrame(entity_rows, "driver_id bigint, customer_id string, event_timestamp timestamp")
    refs = [f"single{seed}:x", f"pair{seed}:y"]

    expected = reference_join(
        [{"driver_id": d, "customer_id": c, "event_timestamp": ts} for d, c, ts in entity_rows], "event_timestamp",
        [{"name": f"single{seed}", "keys": ["driver_id"], "ttl": ttl1, "features": ["x"],
          "rows": [{"driver_id": d, "event_ts": e, "created_ts": c, "x": v} for d, e, c, v in single]},
         {"name": f"pair{seed}", "keys": ["driver_id", "customer_id"], "ttl": ttl2, "features": ["y"],
          "rows": [{"driver_id": d, "customer_id": cu, "event_ts": e, "created_ts": c, "y": v}
                   for d, cu, e, c, v in composite]}])
    expected_rows = Counter((r["driver_id"], r["customer_id"], r["event_timestamp"].replace(tzinfo=None), r["x"], r["y"])
                            for r in expected)
    for strategy in JOINERS:
        actual = historical(spark, entities, [v1, v2], refs, strategy=strategy).collect()
        assert Counter(tuple(r) for r in actual) == expected_rows, strategy
