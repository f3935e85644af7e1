"""A Kafka broker on loopback in KRaft mode (no ZooKeeper, no Docker): the real broker the
tests and the streaming benchmark start, and `make kafka-up` for trying a KafkaSource.

    python -m featurestore.runtime.kafka up --state-dir .kafka --port 9092
    python -m featurestore.runtime.kafka down --state-dir .kafka

It runs Kafka's own jars (kafka_2.13 and its dependencies, copied from Maven Central into
jars/kafka-broker by `make setup`, see scripts/kafka-broker-pom.xml) on the JDK Spark uses:
one process that is both controller and broker, listening on 127.0.0.1 only, with its
log folder in state_dir. A team's production cluster is its own Kafka, named by
`bootstrap_servers` in the KafkaSource.
"""
from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime.jars import checkout_root, jar_cache_dir
from featurestore.runtime.processes import free_port, launch, listening, stop_launched

HOST = "127.0.0.1"
DEFAULT_PORT = 9092


def broker_jars_dir() -> Path | None:
    """FEATURESTORE_KAFKA_JARS, else the checkout's jars/kafka-broker, else the per-user cache's."""
    candidates = [Path(os.environ["FEATURESTORE_KAFKA_JARS"])] if os.environ.get("FEATURESTORE_KAFKA_JARS") else []
    if checkout_root() is not None:
        candidates.append(checkout_root() / "jars" / "kafka-broker")
    candidates.append(jar_cache_dir() / "kafka-broker")
    return next((c for c in candidates if list(c.glob("kafka_2.13-*.jar"))), None)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


@dataclass
class KafkaBroker:
    """A running broker: `bootstrap` is what a KafkaSource's bootstrap_servers names."""
    host: str
    port: int
    state_dir: Path
    process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def answers(self) -> bool:
        return listening(self.host, self.port)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (the broker shuts down cleanly), SIGKILL if it has not within timeout."""
        stop_launched(self.state_dir / "pid", timeout)
        if self.process is not None:
            self.process.wait()


def _properties(port: int, controller_port: int, log_dir: Path) -> str:
    settings = {
        "process.roles": "broker,controller", "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir), "num.partitions": "1", "auto.create.topics.enable": "true",
        # one broker: internal topics cannot be replicated, and consumers need not wait for others
        "offsets.topic.replication.factor": "1", "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1", "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1", "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def start_kafka(state_dir: Path, port: int | None = None, timeout: float = 90) -> KafkaBroker:
    """Format (once) and start a broker with its logs in state_dir, on 127.0.0.1:port (free by default)."""
    jars = broker_jars_dir()
    if jars is None:
        raise SparkSetupError("Kafka's broker jars are not in jars/kafka-broker; run `make setup` (it copies "
                              "org.apache.kafka:kafka_2.13 and its dependencies from Maven Central), or set "
                              "FEATURESTORE_KAFKA_JARS to a folder holding them")
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    chosen, controller = port or free_port(), free_port()
    config = state_dir / "server.properties"
    config.write_text(_properties(chosen, controller, state_dir / "logs"))
    classpath = ["-cp", f"{jars}/*"]
    java = [_java(), "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true", *classpath]
    if not (state_dir / "logs" / "meta.properties").is_file():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run([*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise SparkSetupError(f"Kafka's storage format failed in {state_dir}: "
                                  f"{(result.stderr or result.stdout).strip()[-400:]}")
    process = launch([*java, "kafka.Kafka", str(config)], state_dir / "kafka.log", state_dir / "pid")
    broker = KafkaBroker(HOST, chosen, state_dir, process)
    deadline = time.monotonic() + timeout
    while not broker.answers():
        if process.poll() is not None or time.monotonic() > deadline:
            broker.stop(timeout=5)
            tail = (state_dir / "kafka.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise SparkSetupError(f"Kafka did not start on {broker.bootstrap}: {' | '.join(tail)}; see "
                                  f"{state_dir / 'kafka.log'}")
        time.sleep(0.2)
    (state_dir / "port").write_text(f"{chosen}\n")
    return broker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A Kafka broker (KRaft) on loopback for trying a KafkaSource.")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--state-dir", default=".kafka")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir).resolve()
    if args.action == "down":
        KafkaBroker(HOST, args.port, state_dir).stop()
        print(f"kafka: stopped ({state_dir})")
        return 0
    try:
        broker = start_kafka(state_dir, args.port)
    except SparkSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"kafka: listening on {broker.bootstrap} (KRaft, logs in {state_dir}); stop with "
          f"`python -m featurestore.runtime.kafka down --state-dir {args.state_dir}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
