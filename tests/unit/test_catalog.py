"""The feature catalog (featurestore.catalog), without a browser: pages, links, search ranking,
lineage, freshness, escaping of every user text, the export and the read-only server."""
from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurestore import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    KafkaSource,
    PushSource,
    RequestSource,
    SparkSource,
    StreamFeatureView,
)
from featurestore.catalog import model, pages
from featurestore.catalog.export import export
from featurestore.catalog.warehouse import SavedTrainingSet
from featurestore.data_format import JsonFormat
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.feature_view import MaterializationRun
from featurestore.definitions.on_demand import OnDemandFeatureView
from featurestore.errors import FeatureStoreError
from featurestore.registry import RegistryState
from featurestore.store import FeatureStore
from featurestore.testing.repos import write_repo
from featurestore.types import Float64, Int64

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"


def plus_one(inputs):  # the on-demand view's function: a module-level def, so its code is registered
    return {"rate_plus": [None if r is None else r + v for r, v in zip(inputs["conv_rate"], inputs["val"])]}


def registry(text: str = "", views: int = 0, now: datetime = NOW) -> RegistryState:
    """A small registry (text goes into every description, tag, owner) plus `views` generated views;
    driver_hourly_stats was materialized until 2 hours before `now` (fresh), driver_trips 10 days before (stale)."""
    driver = Entity(name="driver", join_keys=["driver_id"], description=f"a driver {text}", tags={"team": text or "x"})
    source = SparkSource(name="driver_source", table="default.driver_hourly", timestamp_field="event_timestamp",
                         description=f"hourly {text}", tags={text or "k": "v"})
    trips = SparkSource(name="trips_source", path="data/trips", file_format="delta",
                        timestamp_field="event_timestamp")
    stats = FeatureView(name="driver_hourly_stats", entities=[driver], source=source, ttl=timedelta(days=1),
                        owner=f"ana{text}", description=f"hourly stats {text}", tags={"tier": f"gold{text}"},
                        schema=[Field(name="driver_id", dtype=Int64),
                                Field(name="conv_rate", dtype=Float64, description=f"conversion {text}",
                                      tags={"unit": f"ratio{text}"}),
                                Field(name="acc_rate", dtype=Float64)])
    counts = FeatureView(name="driver_trips", entities=[driver], source=trips, ttl=timedelta(days=7),
                         schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)],
                         aggregations=[Aggregation(function="count", time_window=timedelta(days=1)),
                                       Aggregation(column="fare", function="mean", time_window=timedelta(days=7))])
    request = RequestSource(name="vals", schema=[Field(name="val", dtype=Float64)])
    odfv = OnDemandFeatureView(name="rate_plus_val", sources=[stats[["conv_rate"]], request], mode="python",
                               schema=[Field(name="rate_plus", dtype=Float64)], udf=plus_one,
                               description=f"plus {text}")
    ranking = FeatureService(name="driver_ranking", features=[stats[["conv_rate", "acc_rate"]], odfv, counts],
                             description=f"ranking {text}", tags={"model": f"v2{text}"})
    state = RegistryState(project="catalog_test")
    state.entities["driver"] = driver
    state.data_sources.update({"driver_source": source, "trips_source": trips})
    state.feature_views.update({"driver_hourly_stats": stats, "driver_trips": counts})
    state.on_demand_feature_views["rate_plus_val"] = odfv
    state.feature_services["driver_ranking"] = ranking
    for i in range(views):
        state.feature_views[f"generated_{i:03d}"] = FeatureView(
            name=f"generated_{i:03d}", entities=[driver], source=source, description=f"generated view {i}",
            schema=[Field(name="driver_id", dtype=Int64), *(Field(name=f"g{i}_f{j}", dtype=Float64)
                                                            for j in range(20))])
    stats.materialization_intervals = [(now - timedelta(days=3), now - timedelta(days=2)),
                                       (now - timedelta(days=2), now - timedelta(hours=2))]
    counts.materialization_intervals = [(now - timedelta(days=30), now - timedelta(days=10))]
    stats.last_run = MaterializationRun(now - timedelta(days=2), now - timedelta(hours=2),
                                        now - timedelta(hours=2) + timedelta(seconds=9), 1_234, 1_200, 8.5)
    return state


def test_search_ranks_by_where_the_words_match():
    items = model.items(registry())
    assert [(i.kind, i.name) for i in model.search(items, "conv")] == [
        ("Feature", "driver_hourly_stats:conv_rate")]
    assert [i.name for i in model.search(items, "driver_ranking")] == ["driver_ranking"]
    assert [i.name for i in model.search(items, "rate")][:3] == [
        "rate_plus_val", "rate_plus_val:rate_plus", "driver_hourly_stats:acc_rate"]
    assert [i.name for i in model.search(items, "gold")] == ["driver_hourly_stats"]  # a tag value
    assert [i.name for i in model.search(items, "ana")] == ["driver_hourly_stats"]  # the owner
    assert [i.name for i in model.search(items, "float64 fare")] == ["driver_trips:fare_mean_7d"]  # every word
    assert model.search(items, "  ") == [] and model.search(items, "nothing-like-it") == []


SAVED = [SavedTrainingSet("default.ranking_set", 3, {"features": ["driver_hourly_stats:conv_rate"],
                                                     "feature_service": "driver_ranking", "registry_version": 7,
                                                     "project": "catalog_test", "entity_source": "default.rows",
                                                     "source_versions": {"default.driver_hourly": 2}}),
         SavedTrainingSet("ml.trips_set", 0, {"features": ["driver_trips:fare_mean_7d", "rate_plus_val:rate_plus"],
                                              "feature_service": None, "entity_source": {"query": "SELECT 1"}})]


def test_lineage_runs_from_tables_through_views_to_services_and_training_sets():
    columns, edges = model.lineage(registry(), SAVED)
    assert [[node.name for node in column] for column in columns] == [
        ["driver_source", "trips_source"], ["driver_source", "trips_source"],
        ["driver_hourly_stats", "driver_trips"], ["rate_plus_val"], ["driver_ranking"],
        ["default.ranking_set", "ml.trips_set"]]
    assert sorted((a.kind, a.name, b.kind, b.name) for a, b in edges) == sorted([
        ("tables", "driver_source", "data_sources", "driver_source"),
        ("tables", "trips_source", "data_sources", "trips_source"),
        ("data_sources", "driver_source", "feature_views", "driver_hourly_stats"),
        ("data_sources", "trips_source", "feature_views", "driver_trips"),
        ("feature_views", "driver_hourly_stats", "on_demand_feature_views", "rate_plus_val"),
        ("feature_views", "driver_hourly_stats", "feature_services", "driver_ranking"),
        ("feature_views", "driver_trips", "feature_services", "driver_ranking"),
        ("on_demand_feature_views", "rate_plus_val", "feature_services", "driver_ranking"),
        ("feature_services", "driver_ranking", "training_sets", "default.ranking_set"),
        ("feature_views", "driver_trips", "training_sets", "ml.trips_set"),
        ("on_demand_feature_views", "rate_plus_val", "training_sets", "ml.trips_set")])
    assert columns[0][1].label == "delta path data/trips"


def test_freshness_flags_views_whose_lag_exceeds_their_ttl():
    rows = {f.view: f for f in model.freshness(registry(), now=NOW)}
    stats, trips = rows["driver_hourly_stats"], rows["driver_trips"]
    assert (stats.last_end, stats.lag, stats.stale) == (NOW - timedelta(hours=2), timedelta(hours=2), False)
    assert (trips.last_end, trips.lag, trips.stale) == (NOW - timedelta(days=10), timedelta(days=10), True)
    state = registry()
    state.feature_views["driver_hourly_stats"].materialization_intervals = []
    assert {f.view: f.stale for f in model.freshness(state, NOW)}["driver_hourly_stats"] is True  # never
    page = pages.freshness(registry(), now=NOW)
    assert "1 stale" in page and "2 h 0 min" in page and "10 d 0 h 0 min" in page
    assert "finished 2026-12-04 10:00:09 UTC: 1,234 rows selected, 1,200 written, 8.5 s" in page


def test_the_last_run_is_kept_by_the_registry_and_by_an_apply_that_keeps_the_history():
    from featurestore.definitions.feature_view import FeatureView as View

    stats = registry().feature_views["driver_hourly_stats"]
    assert View.from_proto(stats.to_proto()).last_run == stats.last_run
    assert stats.to_proto(with_intervals=False) == View.from_proto(stats.to_proto()).to_proto(with_intervals=False)


def test_every_link_of_every_page_leads_to_a_page():
    rendered = dict(pages.all_pages(registry()))
    assert set(rendered) == {"index.html", "lineage.html", "freshness.html", "entities/driver.html",
                             "data-sources/driver_source.html", "data-sources/trips_source.html",
                             "feature-views/driver_hourly_stats.html", "feature-views/driver_trips.html",
                             "on-demand-feature-views/rate_plus_val.html", "feature-services/driver_ranking.html"}
    for path, html in rendered.items():
        for link in re.findall(r'href="([^"]+)"', html):
            target = (Path(path).parent / link).as_posix()
            target = re.sub(r"[^/]+/\.\./", "", target)
            assert target in rendered, (path, link)


def test_a_saved_training_set_has_a_page_found_by_search():
    class Saved:  # a warehouse holding the two training sets above, no profile, no history
        def training_sets(self):
            return SAVED

        def profiles(self, table):
            return []

        def history(self, table):
            return None

    page = pages.render(registry(), "training-sets/default.ranking_set.html", Saved())
    for text in ("Delta version 3", "registry version 7 of project catalog_test", "driver_ranking",
                 "featurestore training-set rebuild default.ranking_set", "default.driver_hourly", "default.rows"):
        assert text in page, text
    other = pages.render(registry(), "training-sets/ml.trips_set.html", Saved())
    assert "none (features named one by one)" in other and "&quot;query&quot;: &quot;SELECT 1&quot;" in other
    assert pages.render(registry(), "training-sets/nope.html", Saved()) is None
    items = model.items(registry(), SAVED)
    assert [(i.kind, i.name) for i in model.search(items, "trips_set")] == [("Training set", "ml.trips_set")]
    assert dict(pages.all_pages(registry(), Saved())).keys() >= {"training-sets/default.ranking_set.html",
                                                                 "training-sets/ml.trips_set.html"}


def test_pages_show_what_a_colleague_needs():
    state = registry()
    view = pages.render(state, "feature-views/driver_hourly_stats.html")
    for text in ("conv_rate", "Float64", "conversion", "unit=ratio", "driver_id", "table default.driver_hourly",
                 "1 day, 0:00:00", "rate_plus_val", "driver_ranking", "owner ana"):
        assert text in view, text
    trips = pages.render(state, "feature-views/driver_trips.html")
    assert "fare_mean_7d" in trips and "events_count_1d" in trips
    odfv = pages.render(state, "on-demand-feature-views/rate_plus_val.html")
    assert "def plus_one(inputs):" in odfv and "python" in odfv and "val" in odfv
    service = pages.render(state, "feature-services/driver_ranking.html")
    assert "store.get_feature_service(&#x27;driver_ranking&#x27;)" in service
    assert "curl -s -X POST http://127.0.0.1:6566/get-online-features" in service
    assert "&quot;entities&quot;: {&quot;driver_id&quot;: [1001], &quot;val&quot;: [1.0]}" in service  # the request field too
    assert pages.render(state, "feature-views/nope.html") is None
    assert pages.render(state, "../etc/passwd") is None


def test_every_user_text_is_escaped_never_run():
    rendered = dict(pages.all_pages(registry(EVIL)))
    for path, html in rendered.items():
        without_our_scripts = re.sub(r'<script type="application/json" id="items">.*?</script><script>.*?</script>',
                                     "", html, flags=re.S)
        assert "<script>alert" not in without_our_scripts, path
        assert "<script" not in without_our_scripts, path
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in rendered["feature-views/driver_hourly_stats.html"]
    embedded = re.search(r'<script type="application/json" id="items">(.*?)</script>', rendered["index.html"],
                         flags=re.S).group(1)
    assert "<" not in embedded and "\\u003cscript>" in embedded  # JSON with '<' escaped: no early </script>


def test_a_registry_of_2000_features_renders_and_searches_quickly():
    import time

    state = registry(views=100)  # 100 views x 20 features
    items = model.items(state)
    assert sum(1 for i in items if i.kind == "Feature") == 2_000 + 5
    started = time.perf_counter()
    page = pages.index(state)
    found = model.search(items, "g42 f1")
    assert time.perf_counter() - started < 2.0  # a page and a search; the browser test times the typing
    assert len(page) < 2_000_000
    assert [i.name for i in found][:2] == ["generated_042:g42_f1", "generated_042:g42_f10"]


def test_export_writes_every_page_and_replaces_only_a_previous_export(tmp_path):
    count = export(registry(), tmp_path / "site")
    assert count == 10 and (tmp_path / "site" / "feature-views" / "driver_trips.html").is_file()
    assert export(registry(), tmp_path / "site") == 10  # again, over the previous export
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FeatureStoreError, match="holds files no export wrote .*; give a new or empty folder"):
        export(registry(), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "site"]  # no staging folder left


def test_export_never_deletes_a_file_it_did_not_write(tmp_path):
    """A folder with any index.html used to be emptied; through a symlink too."""
    site = tmp_path / "site"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("my own page")
    with pytest.raises(FeatureStoreError, match="holds files no export wrote"):
        export(registry(), tmp_path / "mine")
    assert (tmp_path / "mine" / "index.html").read_text() == "my own page"
    (tmp_path / "link").symlink_to(tmp_path / "mine", target_is_directory=True)
    with pytest.raises(FeatureStoreError, match="is a symbolic link"):
        export(registry(), tmp_path / "link")
    export(registry(), site)
    (site / "notes.txt").write_text("added after the export")
    with pytest.raises(FeatureStoreError, match="holds notes.txt, which the previous export did not write"):
        export(registry(), site)
    assert (site / "notes.txt").read_text() == "added after the export"
    (site / "notes.txt").unlink()
    assert export(registry(), site) == 10
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FeatureStoreError, match="afile is a file, not a folder"):
        export(registry(), tmp_path / "afile")
    with pytest.raises(FeatureStoreError, match="--export needs a folder name"):
        export(registry(), "")


def test_ui_serves_the_pages_read_only_and_sees_an_apply(tmp_path):
    repo = write_repo(tmp_path / "repo", project="catalog_test")
    store = FeatureStore(repo)
    state = registry()
    store.registry_store.update(lambda s: [s.collection(k).update(state.collection(k))
                                           for k, _, _ in model.KIND_PAGES])
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "ui", "--port", "0", "--repo", str(repo)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Serving the feature catalog of project catalog_test at http://127.0.0.1:"), \
            process.stderr.read()
        port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])

        def get(path, method="GET"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path)
            response = connection.getresponse()
            body = response.read().decode()
            connection.close()
            return response.status, body

        status, body = get("/")
        assert status == 200 and "driver_hourly_stats" in body
        assert get("/feature-views/driver_trips.html")[0] == 200
        assert get("/feature-views/nope.html")[0] == 404
        assert get("/index.html", "POST")[0] == 405
        store.registry_store.update(lambda s: s.feature_services.pop("driver_ranking"))
        assert get("/feature-services/driver_ranking.html")[0] == 404  # the next load sees the change
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0 and output.endswith("Stopped.\n")


def test_ui_export_from_the_command_line(tmp_path):
    repo = write_repo(tmp_path / "repo", project="catalog_test")
    state = registry()
    FeatureStore(repo).registry_store.update(lambda s: [s.collection(k).update(state.collection(k))
                                                        for k, _, _ in model.KIND_PAGES])
    result = subprocess.run([sys.executable, "-m", "featurestore.cli", "ui", "--export", str(tmp_path / "out"),
                             "--repo", str(repo)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Wrote the catalog of project catalog_test to {tmp_path / 'out'}: 10 pages")
    assert "pyspark" not in result.stderr


def test_a_view_page_says_where_fresh_values_come_from():
    state = registry()
    driver, trips = state.entities["driver"], state.data_sources["trips_source"]
    kafka = KafkaSource(name="trips_stream", bootstrap_servers="kafka:9092", topic="trips", batch_source=trips,
                        timestamp_field="event_timestamp",
                        message_format=JsonFormat("driver_id long, fare double, event_timestamp timestamp"))
    state.feature_views["driver_live"] = StreamFeatureView(
        name="driver_live", entities=[driver], source=kafka, trigger_interval=timedelta(milliseconds=500),
        schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)])
    state.feature_views["driver_pushed"] = FeatureView(
        name="driver_pushed", entities=[driver], source=PushSource(name="fares_push", batch_source=trips),
        schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)])
    live = pages.render(state, "feature-views/driver_live.html")
    assert ("A stream follows Kafka topic <code>trips</code> at <code>kafka:9092</code> (JSON messages, source "
            "<code>trips_stream</code>), appended to the source above every 0.5 s: <code>featurestore stream "
            "--view driver_live</code>.") in live
    assert "Rows pushed to <code>fares_push</code>" in pages.render(state, "feature-views/driver_pushed.html")
    assert "Fresh values" not in pages.render(state, "feature-views/driver_hourly_stats.html")


def test_tables_the_catalog_cannot_read_are_named_not_a_failed_page(tmp_path):
    """A Delta table with deletion vectors anywhere in the warehouse, or a training-set property
    that is not JSON, made the home and lineage pages answer 500."""
    import json as jsonlib

    from featurestore.catalog.warehouse import Warehouse

    def delta(name, *actions):
        log = tmp_path / "warehouse" / name / "_delta_log"
        log.mkdir(parents=True)
        (log / "00000000000000000000.json").write_text("\n".join(jsonlib.dumps(a) for a in actions) + "\n")

    delta("with_dv", {"metaData": {"configuration": {}}},
          {"add": {"path": "part-0.parquet", "deletionVector": {"storageType": "u", "pathOrInlineDv": "x"}}})
    delta("bad_set", {"metaData": {"configuration": {"featurestore.training_set": "{not json"}}})
    warehouse = Warehouse(tmp_path / "warehouse")
    sets = warehouse.training_sets()
    assert list(sets) == [] and sorted(sets.unreadable) == ["default.bad_set", "default.with_dv"]
    for path in ("index.html", "lineage.html"):
        assert pages.render(registry(), path, warehouse) is not None
    home = pages.render(registry(), "index.html", warehouse)
    assert "Tables the catalog could not read" in home and "has a deletion vector" in home
    assert "default.bad_set" in home


def test_the_catalog_answers_a_broken_registry_with_a_page_not_a_plain_500(tmp_path):
    import asyncio

    from featurestore.catalog.app import CatalogApp
    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo

    repo = write_repo(tmp_path / "repo")
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "registry.db").write_bytes(b"not a registry")
    sent = []

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        sent.append(message)

    asyncio.run(CatalogApp(FeatureStore(repo))({"type": "http", "method": "GET", "path": "/index.html"}, receive, send))
    assert sent[0]["status"] == 503 and b"the registry cannot be read" in sent[1]["body"]
