"""StreamFeatureView (Feast's name): a feature view whose source is also read as a stream.

Everything a FeatureView is, it is: training sets read its source, batch materialization
works on it. In addition `featurestore stream --view NAME` (featurestore.streaming) runs
a Spark Structured Streaming query over the source, a Delta table or Delta path read as a
stream, and writes each micro-batch's newest row per entity online with materialization's
rule (only where newer), every `trigger_interval`.

Feast's `udf=` and `mode=` are not taken: a batch transformation (`transformation=`) is
applied to each micro-batch, the same function that training reads through. Windowed
aggregations on streams are not built yet: such a view is refused with the way around.
"""
from __future__ import annotations

from datetime import timedelta

from featurestore.definitions.feature_view import FeatureView
from featurestore.errors import DefinitionError


class StreamFeatureView(FeatureView):
    """A FeatureView whose Delta source `featurestore stream` follows as it grows."""

    def __init__(self, *, trigger_interval: timedelta = timedelta(seconds=1), udf=None, mode: str | None = None,
                 timestamp_field: str | None = None, **arguments):
        kind = f"StreamFeatureView {arguments.get('name')!r}"
        if udf is not None or mode is not None:
            raise DefinitionError(f"{kind}: udf= and mode= (Feast's stream transformation) are not taken; give the "
                                  f"function as transformation=, which training and the stream both apply")
        if arguments.get("aggregations"):
            raise DefinitionError(f"{kind}: windowed aggregations on a stream are not built yet; define a "
                                  f"FeatureView with these aggregations and materialize it in batch")
        super().__init__(**arguments)
        if timestamp_field is not None and timestamp_field != self.source.timestamp_field:
            raise DefinitionError(f"{kind}: timestamp_field {timestamp_field!r} differs from its source's "
                                  f"{self.source.timestamp_field!r}; set it on the source")
        if not isinstance(trigger_interval, timedelta) or trigger_interval <= timedelta(0):
            raise DefinitionError(f"{kind}: trigger_interval must be a positive timedelta such as "
                                  f"timedelta(milliseconds=500), got {trigger_interval!r}")
        self.stream_trigger = trigger_interval
