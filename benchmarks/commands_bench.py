"""The repo author's loop, command by command: featurestore's CLI beside Feast's on each one's
`init` repo, in one run (issue #39).

    python -m benchmarks.commands_bench [--runs 3] [--no-feast] [--no-demo]

Every command runs in a fresh process, as from a cold shell (nothing imported, no JVM in
it), timed from outside: the median wall time of --runs runs. Ours runs with the default
settings, so the commands that need Spark use the repo's warm Spark
(featurestore.runtime.warm_spark): its start is timed once, as "first use", and the warm
figures are the runs after it; the training set is the Python API in a fresh process with
FEATURESTORE_WARM_SPARK=always. Feast 0.67 (FEAST_VERSION, installed from PyPI into its own
virtualenv) runs the same steps on `feast init`'s repo (its file offline store, SQLite
online): its CLI, and its Python API in a fresh process for the training set and the
online read. `make demo`'s walkthrough is timed once, after set-up.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from featurestore.testing.feast import FEAST_VERSION, feast_env

ROOT = Path(__file__).resolve().parent.parent
FEATURES = "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips"

OUR_TRAINING_SET = """
from featurestore import FeatureStore
store = FeatureStore(repo_path=".")
frame = store.get_historical_features(store.spark.table("driver_entities"), {features!r}.split(",")).to_df()
assert len(frame) == 200, len(frame)
"""

FEAST_TRAINING_SET = """
from datetime import datetime, timedelta, timezone
import pandas as pd
from feast import FeatureStore
now = datetime.now(timezone.utc).replace(microsecond=0)
rows = pd.DataFrame({{"driver_id": [1001 + i % 5 for i in range(200)],
                     "event_timestamp": [now - timedelta(hours=i) for i in range(200)]}})
frame = FeatureStore(repo_path=".").get_historical_features(entity_df=rows, features={features!r}.split(",")).to_df()
assert len(frame) == 200, len(frame)
"""

FEAST_ONLINE = """
from feast import FeatureStore
print(FeatureStore(repo_path=".").get_online_features(features={features!r}.split(","),
                                                      entity_rows=[{{"driver_id": 1001}}]).to_dict())
"""

# (command, target in seconds, what the target applies to)
TARGETS = {"init": 5.0, "plan": 1.5, "apply": 1.5, "materialize-incremental": 3.0, "training set, 200 rows": 3.0,
           "make demo's walkthrough": 60.0}


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}: {result.stderr[-2000:]}")
    return seconds


def ours(folder: Path, runs: int) -> dict[str, list[float]]:
    """Our commands' times: {command: [seconds per run]}."""
    from featurestore.config import load_config
    from featurestore.runtime.warm_spark import stop

    cli = [sys.executable, "-m", "featurestore.cli"]
    env = dict(os.environ, FEATURESTORE_WARM_SPARK="cli")
    env.pop("SPARK_REMOTE", None)
    times: dict[str, list[float]] = {}
    repos = []
    for run in range(runs):
        times.setdefault("init", []).append(timed([*cli, "init", f"repo{run}"], folder, env))
        repos.append(folder / f"repo{run}")
        times.setdefault("apply", []).append(timed([*cli, "apply"], repos[-1], env))
    repo = repos[-1]
    times["plan"] = [timed([*cli, "plan"], repo, env) for _ in range(runs)]
    times["materialize-incremental, first run (ours: starts the warm Spark)"] = [
        timed([*cli, "materialize-incremental", "now"], repo, env)]
    times["materialize-incremental"] = [timed([*cli, "materialize-incremental", "now"], repo, env) for _ in range(runs)]
    script = OUR_TRAINING_SET.format(features=FEATURES)
    times["training set, 200 rows"] = [timed([sys.executable, "-c", script], repo, dict(env, FEATURESTORE_WARM_SPARK="always"))
                                       for _ in range(runs)]
    times["get-online-features"] = [timed([*cli, "get-online-features", "-f", FEATURES, "-e", "driver_id=1001"], repo, env)
                                    for _ in range(runs)]
    times["registry dump"] = [timed([*cli, "registry", "dump"], repo, env) for _ in range(runs)]
    stop(load_config(repo))
    return times


def feast(folder: Path, runs: int) -> dict[str, list[float]]:
    """Feast's times for the same steps on its own init repo."""
    from featurestore.testing.feast import feast_python

    python = feast_python()
    command = [str(python), "-m", "feast.cli.cli"]
    times: dict[str, list[float]] = {}
    repos = []
    for run in range(runs):
        times.setdefault("init", []).append(timed([*command, "init", f"feast{run}"], folder, feast_env()))
        repos.append(folder / f"feast{run}" / "feature_repo")
        times.setdefault("apply", []).append(timed([*command, "apply"], repos[-1], feast_env()))
    repo = repos[-1]
    times["plan"] = [timed([*command, "plan"], repo, feast_env()) for _ in range(runs)]
    now = lambda: datetime.now(UTC).isoformat(timespec="seconds")  # noqa: E731 - the end of each run
    times["materialize-incremental, first run (ours: starts the warm Spark)"] = [
        timed([*command, "materialize-incremental", now()], repo, feast_env())]
    times["materialize-incremental"] = [timed([*command, "materialize-incremental", now()], repo, feast_env())
                                        for _ in range(runs)]
    script = FEAST_TRAINING_SET.format(features=FEATURES)
    times["training set, 200 rows"] = [timed([str(python), "-c", script], repo, feast_env()) for _ in range(runs)]
    online = FEAST_ONLINE.format(features=FEATURES)
    times["get-online-features"] = [timed([str(python), "-c", online], repo, feast_env()) for _ in range(runs)]
    times["registry dump"] = [timed([*command, "registry-dump"], repo, feast_env()) for _ in range(runs)]
    return times


def demo_seconds(folder: Path) -> float:
    """`make demo`'s walkthrough (scripts/demo.py) after set-up, in a work folder of its own."""
    from featurestore.config import load_config
    from featurestore.runtime.warm_spark import stop

    seconds = timed([sys.executable, str(ROOT / "scripts" / "demo.py"), "--work-dir", str(folder / "demo_work")], ROOT)
    stop(load_config(folder / "demo_work" / "driver_repo"))
    return seconds


def run(runs: int = 3, with_feast: bool = True, with_demo: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="fs-commands-") as folder:
        folder = Path(folder)
        (folder / "ours").mkdir()
        (folder / "feast").mkdir()
        results = {"ours": ours(folder / "ours", runs), "feast": feast(folder / "feast", runs) if with_feast else {}}
        if with_demo:
            results["ours"]["make demo's walkthrough"] = [demo_seconds(folder)]
    return results


def format_table(results: dict) -> str:
    lines = [f"| command | featurestore | Feast {FEAST_VERSION} | target (ours) |", "| --- | ---: | ---: | ---: |"]
    for command, times in results["ours"].items():
        theirs = results["feast"].get(command)
        target = TARGETS.get(command)
        verdict = "" if target is None else f"< {target:g} s {'met' if statistics.median(times) < target else 'MISSED'}"
        lines.append(f"| {command} | {statistics.median(times):.2f} s | "
                     f"{f'{statistics.median(theirs):.2f} s' if theirs else '-'} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--no-demo", action="store_true")
    args = parser.parse_args()
    print(format_table(run(args.runs, not args.no_feast, not args.no_demo)))


if __name__ == "__main__":
    main()
