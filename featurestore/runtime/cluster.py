"""A local Spark standalone cluster (one master, N workers on 127.0.0.1), for tests and trials.

Started with the `spark-class` launcher shipped in the pyspark package, as
org.apache.spark.deploy.master.Master and org.apache.spark.deploy.worker.Worker processes;
their pids and logs go to a state folder (.cluster/ by default), so `stop` finds them.
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from featurestore.runtime.processes import free_port, launch, stop_launched

HOST = "127.0.0.1"


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


@dataclass
class LocalCluster:
    """A running standalone cluster; `master_url` is what spark-submit --master takes."""
    state_dir: Path
    port: int
    web_port: int

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def status(self) -> dict:
        """The master's JSON status: workers, cores, running and completed applications."""
        with urllib.request.urlopen(f"http://{HOST}:{self.web_port}/json/", timeout=5) as response:
            return json.load(response)

    def stop(self) -> None:
        stop(self.state_dir)


def _launch(state_dir: Path, name: str, arguments: list[str], env: dict) -> int:
    return launch([str(spark_class()), *arguments], state_dir / f"{name}.log", state_dir / f"{name}.pid",
                  env=env).pid


def start(state_dir: Path, workers: int = 2, worker_cores: int = 1, worker_memory: str = "2g",
          port: int | None = None, web_port: int | None = None, timeout: float = 90.0) -> LocalCluster:
    """Start a master and `workers` workers; return once all workers registered."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    if list(state_dir.glob("*.pid")):
        raise RuntimeError(f"a cluster seems to run already (pid files in {state_dir}); stop it first")
    port, web_port = port or free_port(), web_port or free_port()
    env = dict(os.environ, SPARK_LOCAL_IP=HOST, SPARK_LOG_DIR=str(state_dir), PYSPARK_PYTHON=sys.executable,
               SPARK_WORKER_DIR=str(state_dir / "work"), TZ="UTC")
    _launch(state_dir, "master", ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                                  "--webui-port", str(web_port)], env)
    cluster = LocalCluster(state_dir, port, web_port)
    for i in range(workers):
        _launch(state_dir, f"worker{i}", ["org.apache.spark.deploy.worker.Worker", "--host", HOST,
                                          "--cores", str(worker_cores), "--memory", worker_memory,
                                          "--webui-port", str(free_port()), cluster.master_url], env)
    (state_dir / "cluster.json").write_text(json.dumps({"port": port, "web_port": web_port}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len([w for w in cluster.status().get("workers", []) if w.get("state") == "ALIVE"]) >= workers:
                return cluster
        except OSError:
            pass
        time.sleep(0.5)
    logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in state_dir.glob("*.log"))
    stop(state_dir)
    raise RuntimeError(f"the cluster did not come up within {timeout:g} s; logs:\n{logs}")


def stop(state_dir: Path) -> int:
    """Stop every process whose pid file is in state_dir; returns how many were running."""
    return sum(stop_launched(pid_file, timeout=15.0) for pid_file in Path(state_dir).glob("*.pid"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", default=".cluster")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=7077)
    parser.add_argument("--web-port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.action == "up":
        cluster = start(Path(args.state_dir), args.workers, port=args.port, web_port=args.web_port)
        print(f"Spark master {cluster.master_url} (web UI http://{HOST}:{cluster.web_port}) with "
              f"{args.workers} workers; logs in {cluster.state_dir}")
    elif args.action == "down":
        print(f"stopped {stop(Path(args.state_dir))} process(es)")
    else:
        info = json.loads((Path(args.state_dir) / "cluster.json").read_text())
        print(json.dumps(LocalCluster(Path(args.state_dir), info["port"], info["web_port"]).status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
