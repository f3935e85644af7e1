"""A throwaway Kafka broker (featurestore.runtime.kafka, KRaft, on a free loopback port) for
the KafkaSource tests, loaded as a plugin like tests/redis_server.py. Without Kafka's jars
(`make setup`) or a JDK its tests are skipped, except under CI=true, where they fail."""
from __future__ import annotations

import os

import pytest

from featurestore.errors import SparkSetupError
from featurestore.runtime.kafka import start_kafka


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    try:
        broker = start_kafka(tmp_path_factory.mktemp("kafka"))
    except SparkSetupError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{error}; CI must run the Kafka tests")
        pytest.skip(str(error))
    yield broker
    broker.stop()


def produce(broker, topic: str, values: list[bytes]) -> None:
    """Send the message values in order and wait until the broker has them all."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "enable.idempotence": True})
    for value in values:
        producer.produce(topic, value=value)
    left = producer.flush(30)
    assert left == 0, f"{left} messages not delivered to {broker.bootstrap}"
