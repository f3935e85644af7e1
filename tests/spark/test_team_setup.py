"""The production set-up for a team, tried for real: the Hive catalog and the registry in one
PostgreSQL server (started on loopback by the tests), and the walkthrough run against them
with the training-set job and the materialization job running at the same time."""
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore import FeatureStore
from featurestore.registry import SqlRegistry

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent


def test_walkthrough_on_a_postgresql_catalog_and_registry_with_two_jobs_at_once(postgres_server, tmp_path):
    postgres_server.create_database("team_metastore")
    registry_url = postgres_server.create_database("team_registry")
    metastore_url = f"{postgres_server.jdbc_url('team_metastore')}?user=postgres"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--work-dir", str(tmp_path / "work"),
                             "--metastore-url", metastore_url, "--registry", registry_url, "--together"],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Training set driver_training_set: 200 rows" in out
    assert "Materialized 2 view(s), 10 rows written." in out
    assert "Rebuilt driver_training_set into driver_training_set_rebuilt: 200 rows" in out
    assert "PASS: default.driver_training_set_rebuilt@0 vs default.driver_training_set@0" in out
    assert "Best driver: 100" in out

    repo = tmp_path / "work" / "driver_repo"
    assert f"path: {registry_url}" in (repo / "feature_store.yaml").read_text()
    history = SqlRegistry(registry_url, "driver_repo").history()
    assert [entry.command for entry in reversed(history)] == ["apply", "materialize", "materialize"]
    assert FeatureStore(repo).registry.version == 3
    assert not (repo / "data" / "registry.db").exists() and not (repo / "data" / "metastore_db").exists()

    import psycopg

    with psycopg.connect(postgres_server.url("team_metastore")) as connection:
        tables = sorted(row[0] for row in connection.execute('SELECT "TBL_NAME" FROM "TBLS"'))
    assert tables == ["driver_entities", "driver_hourly_stats", "driver_training_set", "driver_training_set_rebuilt",
                      "featurestore_profiles", "trip_events"]
