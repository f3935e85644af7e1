"""Message formats of a KafkaSource, at Feast's import path (`feast.data_format`)."""
from featurestore.definitions.kafka import AvroFormat, JsonFormat

__all__ = ["AvroFormat", "JsonFormat"]
