"""`make demo`: the driver-ranking walkthrough on the embedded default, step by step.

Runs the same commands a user types (the featurestore CLI, on the repo's warm Spark) in a
work folder, printing each step's outcome. Re-runnable: the work folder is recreated.

The team set-up is tried with `--metastore-url jdbc:postgresql://... --registry
postgresql://...` (the catalog and the registry in PostgreSQL; `make postgres-up` starts
one) and `--together`, which runs the training-set job and the materialization job at
the same time as spark-submit jobs, two processes on one repo.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from featurestore.runtime.session import spark_submit_command

ROOT = Path(__file__).resolve().parent.parent
TRAINING_TABLE = "driver_training_set"


def banner(number: int, text: str) -> None:
    print(f"\n=== Step {number}: {text} ===", flush=True)


def run(command: list[str], cwd: Path) -> str:
    """Run a command, echo it and its output; stop the demo if it fails."""
    print(f"$ {' '.join(_short(c) for c in command)}", flush=True)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=_env())
    if result.stdout.strip():
        print(result.stdout.rstrip(), flush=True)
    if result.returncode != 0:
        print(result.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"demo stopped: {' '.join(command[:2])} exited with {result.returncode}")
    return result.stdout


def _short(part: str) -> str:
    return part.replace(str(ROOT) + "/", "") if part.startswith(str(ROOT)) else part


def run_together(commands: list[list[str]], cwd: Path) -> None:
    """Run commands at the same time; echo each one's output; stop the demo if one fails."""
    for command in commands:
        print(f"$ {' '.join(_short(c) for c in command)} &", flush=True)
    processes = [subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=_env()) for command in commands]
    results = [(process, *process.communicate()) for process in processes]
    for process, out, err in results:
        if out.strip():
            print(out.rstrip(), flush=True)
        if process.returncode != 0:
            print(err[-4000:], file=sys.stderr)
            raise SystemExit(f"demo stopped: {' '.join(process.args[:2])} exited with {process.returncode}")


def _env() -> dict:
    env = dict(os.environ, TZ="UTC", PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def use_team_setup(repo: Path, metastore_url: str | None, registry: str | None) -> None:
    """Point the new repo's feature_store.yaml at a shared catalog and a SQL registry."""
    config = repo / "feature_store.yaml"
    text = config.read_text()
    if registry:
        text = "\n".join(f"registry:\n  registry_type: sql\n  path: {registry}" if line.startswith("registry:")
                         else line for line in text.splitlines()) + "\n"
    if metastore_url:
        text = text.replace("  metastore: shared", f"  metastore_url: {metastore_url}")
    config.write_text(text)


def in_process_step(step: str, repo: Path) -> None:
    """Steps that need Spark in a fresh process: `python scripts/demo.py --step NAME`."""
    from featurestore.config import load_config
    from featurestore.runtime import session
    from featurestore.scaffold import STATS_TABLE, walkthrough

    session.from_cli = True  # as the CLI's commands: the repo's warm Spark (offline_store.warm_spark)
    spark = session.get_spark(load_config(repo), app_name=f"demo-{step}")
    if step == "show-source":
        count, newest = walkthrough.source_overview(spark, STATS_TABLE)
        print(f"{STATS_TABLE}: {count:,} rows; newest row of drivers 1001-1003:")
        print(newest.to_string(index=False))
    elif step == "train":
        training = spark.table(TRAINING_TABLE).toPandas()
        print(training.head(5).to_string(index=False))
        model, rows = walkthrough.train_model(training)
        path = walkthrough.save_model(model, repo / "data" / "driver_model.joblib")
        coefficients = ", ".join(f"{f}={c:.3f}" for f, c in zip(walkthrough.FEATURES, model.coef_))
        print(f"LinearRegression trained on {rows} rows: {coefficients}, intercept={model.intercept_:.3f}")
        print(f"model saved to {path.relative_to(repo)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work-dir", default="demo_work", help="folder for the demo repo (recreated)")
    parser.add_argument("--repo-name", default="driver_repo")
    parser.add_argument("--metastore-url", help="a shared Hive metastore, e.g. jdbc:postgresql://HOST:PORT/DB?user=U")
    parser.add_argument("--registry", help="a SQL registry URL, e.g. postgresql://USER@HOST:PORT/DB")
    parser.add_argument("--together", action="store_true",
                        help="run the training-set and materialization jobs at the same time")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return in_process_step(args.step, Path(args.repo))

    started = time.perf_counter()
    work = Path(args.work_dir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    repo = work / args.repo_name
    cli = [sys.executable, "-m", "featurestore.cli"]
    me = [sys.executable, str(Path(__file__).resolve())]

    if args.metastore_url:  # init's sample tables go into that catalog too
        os.environ["FEATURESTORE_METASTORE_URL"] = args.metastore_url
    banner(1, "create a feature repo with sample data (a Delta table in the local warehouse)")
    run([*cli, "init", args.repo_name], cwd=work)
    if args.metastore_url or args.registry:
        use_team_setup(repo, args.metastore_url, args.registry)

    banner(2, "the source table")
    run([*me, "--step", "show-source", "--repo", str(repo)], cwd=repo)

    banner(3, "register the definitions; the online store gets a table per view")
    run([*cli, "apply"], cwd=repo)
    from featurestore.scaffold.walkthrough import online_store_schema
    print(online_store_schema(repo / "data" / "online_store.db"))

    # The jobs are the CLI's commands under spark-submit (jobs/): the demo runs them as commands,
    # on the repo's warm Spark, and as spark-submit jobs (a JVM each) with --together.
    training_args = ["--entities", "driver_entities", "--feature-service", "driver_ranking", "--output", TRAINING_TABLE,
                     "--overwrite"]
    if args.together:
        training_job = spark_submit_command(ROOT / "jobs" / "build_training_set.py", ["--repo", str(repo), *training_args])
        materialize_job = spark_submit_command(ROOT / "jobs" / "materialize.py",
                                               ["materialize-incremental", "now", "--repo", str(repo)])
    else:
        training_job = [*cli, "training-set", "build", *training_args]
        materialize_job = [*cli, "materialize-incremental", "now"]
    banner(4, "build a point-in-time correct training set (profiled as it is saved), then train a model" +
           (", while materialization runs in a second process (spark-submit jobs)" if args.together else ""))
    if args.together:
        run_together([training_job, materialize_job], cwd=repo)
    else:
        run(training_job, cwd=repo)
    run([*me, "--step", "train", "--repo", str(repo)], cwd=repo)

    banner(5, "rebuild the training set by Delta time travel, then check it against the original's profile")
    run([*cli, "training-set", "rebuild", TRAINING_TABLE, "--overwrite"], cwd=repo)
    run([*cli, "validate", f"{TRAINING_TABLE}_rebuilt", "--reference", TRAINING_TABLE,
         "--html", str(repo / "data" / "training_set_drift.html")], cwd=repo)

    banner(6, "materialize the newest feature values into SQLite (jobs/materialize.py's command)")
    if not args.together:
        run(materialize_job, cwd=repo)
    else:
        print("(done in step 4, beside the training set)")

    banner(7, "online inference: features from SQLite (pure Python, no JVM), predictions, best driver")
    run([sys.executable, str(ROOT / "examples" / "driver_ranking_inference.py"), "--repo", str(repo)], cwd=repo)
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s. The repo is in {repo}.")
    print(f"Browse its feature catalog: {ROOT / '.venv' / 'bin' / 'featurestore'} ui --repo {repo}   "
          f"(then open http://127.0.0.1:8888/)")
    print(f"Serve its features over HTTP: {ROOT / '.venv' / 'bin' / 'featurestore'} serve --repo {repo}")


if __name__ == "__main__":
    main()
