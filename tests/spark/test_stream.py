"""StreamFeatureView (featurestore.streaming): a Delta source followed by Structured Streaming
writes each micro-batch's newest rows online with materialization's rule, resumes from its
checkpoint, and serves what get_historical_features reads at the same time; a job killed
with SIGKILL mid-batch and restarted ends as an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from featurestore.store import FeatureStore

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, Field, SparkSource, StreamFeatureView
from featurestore.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
source = SparkSource(name="events", {where}, timestamp_field="event_timestamp")
stream_stats = StreamFeatureView(name="stream_stats", entities=[driver], source=source, ttl=timedelta(days=1),
                                 schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
                                         Field(name="trips", dtype=Int64)],
                                 trigger_interval=timedelta(milliseconds=500))
"""
NOW = datetime.now(UTC).replace(microsecond=0)
SCHEMA = "driver_id bigint, conv_rate double, trips bigint, event_timestamp timestamp"


def append(spark, rows, table=None, path=None):
    writer = spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("append")
    writer.saveAsTable(table) if table else writer.save(str(path))


def served_and_trained(spark, store, drivers):
    """(online values, offline values at now) of every driver, by driver."""
    online = store.get_online_features(["stream_stats:conv_rate", "stream_stats:trips"],
                                       [{"driver_id": d} for d in drivers]).to_dict()
    entity = spark.createDataFrame([(d, datetime.now(UTC)) for d in drivers],
                                   "driver_id bigint, event_timestamp timestamp")
    offline = {r.driver_id: (r.conv_rate, r.trips) for r in
               store.get_historical_features(entity, ["stream_stats:conv_rate", "stream_stats:trips"])
               .to_spark_df().collect()}
    return ({d: (online["conv_rate"][i], online["trips"][i]) for i, d in enumerate(drivers)},
            {d: offline[d] for d in drivers})


def test_micro_batches_are_written_newest_wins_resumed_from_the_checkpoint(spark, repo_factory, online_config):
    table = f"stream_events_{uuid.uuid4().hex[:8]}"
    append(spark, [(1, 0.5, 5, NOW - timedelta(hours=2)), (2, 0.25, 2, NOW - timedelta(hours=2))], table=table)
    repo = repo_factory(DEFINITIONS.format(where=f'table="{table}"'), online_store=online_config,
                        project=f"s_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    lines = []
    first = store.stream("stream_stats", available_now=True, log=lines.append)
    assert (first["rows_selected"], first["rows_written"]) == (2, 2)
    assert (repo / "data" / "checkpoints" / store.project / "stream_stats" / "commits").is_dir()
    append(spark, [(1, 0.75, 6, NOW - timedelta(hours=1)),  # newer: replaces
                   (2, 0.99, 9, NOW - timedelta(hours=3)),  # older than stored: changes nothing
                   (3, 0.1, 1, NOW - timedelta(minutes=5))], table=table)
    second = store.stream("stream_stats", available_now=True, log=lines.append)
    assert (second["rows_selected"], second["rows_written"]) == (3, 2)  # only the new rows were read
    online, offline = served_and_trained(spark, store, [1, 2, 3, 4])
    assert online == {1: (0.75, 6), 2: (0.25, 2), 3: (0.1, 1), 4: (None, None)}
    assert online == offline


def test_a_job_killed_mid_batch_and_restarted_ends_as_an_uninterrupted_run(spark, repo_factory, tmp_path):
    repo = repo_factory(DEFINITIONS.format(where='path="data/events", file_format="delta"'),
                        project=f"k_{uuid.uuid4().hex[:6]}")
    events = repo / "data" / "events"
    append(spark, [(d, d / 100, d, NOW - timedelta(hours=3)) for d in range(1, 201)], path=events)
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    job = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "stream", "--view", "stream_stats", "--repo",
                            str(repo)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                           start_new_session=True)
    try:
        seen = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # the first batch written, then more rows, then a kill mid-batch
            line = job.stdout.readline()
            seen.append(line)
            if "micro-batch 0:" in line:
                append(spark, [(d, d / 10, 10 * d, NOW - timedelta(hours=1)) for d in range(1, 201, 2)], path=events)
            if "writing micro-batch 1" in line:
                os.killpg(job.pid, signal.SIGKILL)
                break
        else:
            raise AssertionError("the stream job did not reach its second micro-batch:\n" + "".join(seen[-30:]))
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    append(spark, [(d, -1.0, -1, NOW - timedelta(hours=5)) for d in range(1, 201, 3)], path=events)  # older rows
    assert store.stream("stream_stats", available_now=True, log=lambda _: None)["batches"] >= 1
    online, offline = served_and_trained(spark, store, list(range(1, 202)))
    expected = {d: ((d / 10, 10 * d) if d % 2 else (d / 100, d)) for d in range(1, 201)} | {201: (None, None)}
    assert online == expected  # the newest row of every driver, as if nothing had been killed
    assert online == offline


def test_sigterm_stops_the_stream_with_its_summary(spark, repo_factory):
    """It died with -15 and printed nothing; now it stops the query and says what it wrote."""
    repo = repo_factory(DEFINITIONS.format(where='path="data/events", file_format="delta"'),
                        project=f"t_{uuid.uuid4().hex[:6]}")
    append(spark, [(d, d / 100, d, NOW - timedelta(hours=3)) for d in range(1, 4)], path=repo / "data" / "events")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    job = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "stream", "--view", "stream_stats", "--repo",
                            str(repo)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        seen = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any("micro-batch 0:" in line for line in seen):
            seen.append(job.stdout.readline())
        job.send_signal(signal.SIGTERM)
        out, _ = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode == 0, "".join(seen) + out
    assert "Streamed stream_stats: 1 micro-batch(es), 3 rows selected, 3 written. Stopped by SIGTERM." in out


def test_a_stream_stops_at_its_next_micro_batch_once_an_apply_changed_its_view(spark, repo_factory, online_config):
    """The apply re-points the view at another table while the stream runs: the stream writes nothing
    more and stops in one line; the old table's values are never served."""
    import pytest

    from featurestore.errors import DefinitionChangedError

    old, new = (f"stream_events_{uuid.uuid4().hex[:8]}" for _ in range(2))
    append(spark, [(1, 0.5, 5, NOW - timedelta(hours=2))], table=old)
    append(spark, [(1, 0.75, 7, NOW - timedelta(hours=2))], table=new)
    repo = repo_factory(DEFINITIONS.format(where=f'table="{old}"'), online_store=online_config,
                        project=f"c_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)

    def apply_meanwhile(line: str) -> None:  # another process would do this; the stream has started
        if line.endswith("writing micro-batch 0"):
            (repo / "features.py").write_text(DEFINITIONS.format(where=f'table="{new}"'))
            changed = FeatureStore(repo)
            changed.apply(changed.load_repo(), partial=False, validate=False)

    with pytest.raises(DefinitionChangedError) as stopped:
        store.stream("stream_stats", available_now=True, log=apply_meanwhile)
    assert str(stopped.value) == ("stream_stats changed while streaming (an apply changed what its values are); this "
                                  "stream stopped and wrote nothing more; start it again to follow the new definition")
    online, offline = served_and_trained(spark, store, [1])
    assert (online, offline) == ({1: (None, None)}, {1: (0.75, 7)})
