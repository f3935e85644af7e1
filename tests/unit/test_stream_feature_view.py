"""StreamFeatureView's definition: Feast's name and arguments, what it refuses and why, and
its trigger kept by the registry (the stream job itself: tests/spark/test_stream.py)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from featurestore import Entity, FeatureView, Field, SparkSource, StreamFeatureView
from featurestore.definitions.aggregation import Aggregation
from featurestore.errors import DefinitionError
from featurestore.types import Float64, Int64

DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="events", table="default.events", timestamp_field="event_timestamp")
SCHEMA = [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)]


def stream_view(**arguments) -> StreamFeatureView:
    return StreamFeatureView(**{"name": "live", "entities": [DRIVER], "source": SOURCE, "schema": SCHEMA,
                                **arguments})


def test_a_stream_view_is_a_feature_view_and_the_registry_keeps_its_trigger():
    view = stream_view(trigger_interval=timedelta(milliseconds=500), timestamp_field="event_timestamp")
    assert isinstance(view, FeatureView) and view.stream_trigger == timedelta(milliseconds=500)
    again = FeatureView.from_proto(view.to_proto())
    assert type(again) is StreamFeatureView and again == view and again.stream_trigger == view.stream_trigger
    batch = FeatureView(name="live", entities=[DRIVER], source=SOURCE, schema=SCHEMA)
    assert batch.stream_trigger is None and batch != view  # turning a view into a stream view is a change
    assert stream_view().stream_trigger == timedelta(seconds=1)


@pytest.mark.parametrize("arguments, message", [
    ({"udf": lambda inputs: inputs}, "udf= and mode= (Feast's stream transformation) are not taken; give the "
                                     "function as transformation="),
    ({"mode": "spark"}, "udf= and mode="),
    ({"aggregations": [Aggregation(function="count", time_window=timedelta(days=1))]},
     "windowed aggregations on a stream are not built yet; define a FeatureView with these aggregations"),
    ({"trigger_interval": timedelta(0)}, "trigger_interval must be a positive timedelta"),
    ({"trigger_interval": 5}, "trigger_interval must be a positive timedelta"),
    ({"timestamp_field": "ts"}, "timestamp_field 'ts' differs from its source's 'event_timestamp'"),
])
def test_what_a_stream_view_refuses_is_named_with_the_way_around(arguments, message):
    with pytest.raises(DefinitionError, match=f"^StreamFeatureView .live.: {re.escape(message)}"):
        stream_view(**arguments)
