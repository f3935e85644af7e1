"""FeatureService: a named set of features a model consumes, for training and serving alike."""
from __future__ import annotations

from featurestore.definitions._checks import check_name, check_str, check_tags
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.logging_config import DeltaLoggingDestination, FileLoggingDestination, LoggingConfig
from featurestore.errors import DefinitionError
from featurestore.protos import registry_pb2


class FeatureService:
    """Views (all their features) or projections (`view[["f"]]`, `view.with_name(...)`,
    `view.with_join_key_map(...)`) grouped under one name.

    >>> from datetime import timedelta
    >>> from featurestore import Entity, FeatureView, Field, FileSource
    >>> from featurestore.types import Float32, Int64
    >>> driver = Entity(name="driver", join_keys=["driver_id"])
    >>> stats = FeatureView(name="driver_hourly_stats", entities=[driver], ttl=timedelta(days=1),
    ...     source=FileSource(name="stats", path="data/driver_stats.parquet", timestamp_field="event_timestamp"),
    ...     schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
    ...             Field(name="acc_rate", dtype=Float32)])
    >>> FeatureService(name="driver_ranking", features=[stats[["conv_rate"]]]).projections
    [driver_hourly_stats[['conv_rate']]]
    >>> FeatureService(name="everything", features=[stats]).projections  # a view: all its features
    [driver_hourly_stats[['conv_rate', 'acc_rate']]]
    """

    def __init__(self, *, name: str, features: list, description: str = "",
                 tags: dict[str, str] | None = None, logging_config: LoggingConfig | None = None):
        kind = f"FeatureService {name!r}"
        self.name = check_name("FeatureService", name)
        if not isinstance(features, (list, tuple)) or not features:
            raise DefinitionError(f"{kind}: features must be a non-empty list of feature views or "
                                  f"view[[...]] selections")
        self.projections: list[FeatureViewProjection] = []
        from featurestore.definitions.on_demand import OnDemandFeatureView

        for item in features:
            if isinstance(item, (FeatureView, OnDemandFeatureView)):
                pending = getattr(item, "pending_inference", "") == "schema"
                item = FeatureViewProjection(item, [f.name for f in item.features])
                item.all_features = pending  # its features are known once apply inferred the view's schema
            if not isinstance(item, FeatureViewProjection):
                raise DefinitionError(f"{kind}: {item!r} is not a FeatureView, an OnDemandFeatureView or a view[[...]] "
                                      f"selection")
            if any(p.name == item.name for p in self.projections):
                raise DefinitionError(f"{kind}: feature view {item.name!r} is listed twice; select all its "
                                      f"features in one view[[...]], or give each use its own "
                                      f"name with view.with_name(...)")
            self.projections.append(item)
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)
        if logging_config is not None and not isinstance(logging_config, LoggingConfig):
            raise DefinitionError(f"{kind}: logging_config must be a LoggingConfig, got {logging_config!r}")
        self.logging_config = logging_config

    def feature_refs(self) -> list[str]:
        """The features as "name:feature" references, in order (a with_name projection's name)."""
        return [f"{p.name}:{f}" for p in self.projections for f in p.features]

    def to_proto(self) -> registry_pb2.FeatureService:
        proto = registry_pb2.FeatureService(name=self.name, description=self.description, tags=self.tags,
                                            projections=[p.to_proto() for p in self.projections])
        config = self.logging_config
        if config is not None:
            if isinstance(config.destination, DeltaLoggingDestination):
                proto.logging_table = config.destination.table_name
            else:
                proto.logging_path = config.destination.path
            proto.logging_sample_rate = config.sample_rate
            if config.max_mismatch_rate is not None:
                proto.max_mismatch_rate = config.max_mismatch_rate
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.FeatureService) -> FeatureService:
        projections = [FeatureViewProjection.from_proto(p) for p in proto.projections]
        logging_config = None
        if proto.logging_path or proto.logging_table:
            destination = (DeltaLoggingDestination(table_name=proto.logging_table) if proto.logging_table else
                           FileLoggingDestination(path=proto.logging_path))
            logging_config = LoggingConfig(
                destination=destination, sample_rate=proto.logging_sample_rate,
                max_mismatch_rate=proto.max_mismatch_rate if proto.HasField("max_mismatch_rate") else None)
        return cls(name=proto.name, features=projections, description=proto.description, tags=dict(proto.tags),
                   logging_config=logging_config)

    def __eq__(self, other) -> bool:
        return isinstance(other, FeatureService) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash(("FeatureService", self.name))

    def __repr__(self) -> str:
        return f"FeatureService(name={self.name!r}, features={self.feature_refs()!r})"
