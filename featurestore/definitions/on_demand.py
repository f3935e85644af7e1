"""Request-time features: RequestSource and OnDemandFeatureView (Feast's names).

An on-demand view computes features with a Python function from other views' features
and from request data (fields that arrive with each entity row), at request time:

    driver_hourly_stats: conv_rate            request: val_to_add
                  \\                          /
          transformed_conv_rate (udf):  conv_rate_plus_val = conv_rate + val_to_add

Online, the function runs after the store read, in the serving process; offline, the same
function runs in Spark on the point-in-time joined rows, with the request fields taken
from the entity frame's columns. In mode="python" it takes and returns a dict of lists
(column name -> one value per row); in mode="pandas" a pandas DataFrame. Its inputs are
the source features (named as in their view) and the request fields. The registry keeps
a CodeRef to the function, never the function (see featurestore.definitions.transformation).
"""
from __future__ import annotations

from featurestore.definitions._checks import check_name, check_str, check_tags, check_unique
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.transformation import CodeRef
from featurestore.errors import DefinitionError, NotFoundError, did_you_mean
from featurestore.protos import registry_pb2

MODES = ("python", "pandas")


class RequestSource:
    """Fields that come with each request (in the entity rows online, as entity columns offline).

    >>> from featurestore.types import Int64
    >>> RequestSource(name="vals_to_add", schema=[Field(name="val_to_add", dtype=Int64)])
    RequestSource(name='vals_to_add', schema=[Field(name='val_to_add', dtype=Int64)])
    """

    def __init__(self, *, name: str, schema: list[Field], description: str = "",
                 tags: dict[str, str] | None = None):
        kind = f"RequestSource {name!r}"
        self.name = check_name("RequestSource", name)
        if not isinstance(schema, (list, tuple)) or not schema or not all(isinstance(f, Field) for f in schema):
            raise DefinitionError(f"{kind}: schema must be a non-empty list of Field objects, got {schema!r}")
        self.schema = list(schema)
        check_unique(kind, "schema field", [f.name for f in self.schema])
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)

    def to_proto(self) -> registry_pb2.RequestSource:
        return registry_pb2.RequestSource(name=self.name, schema=[f.to_proto() for f in self.schema],
                                          description=self.description, tags=self.tags)

    @classmethod
    def from_proto(cls, proto: registry_pb2.RequestSource) -> RequestSource:
        return cls(name=proto.name, schema=[Field.from_proto(f) for f in proto.schema],
                   description=proto.description, tags=dict(proto.tags))

    def __eq__(self, other) -> bool:
        return isinstance(other, RequestSource) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash(("RequestSource", self.name))

    def __repr__(self) -> str:
        return f"RequestSource(name={self.name!r}, schema={self.schema!r})"


class OnDemandFeatureView:
    """Features computed by `udf` from source features and request fields, online and offline alike.

    sources: feature views (all their features), `view[["f"]]` selections and RequestSources.
    schema: the features the function returns (a missing one or a value of the wrong type
    is an error naming the view). mode: "python" (dict of lists in and out, no pandas
    needed online) or "pandas" (a DataFrame in and out); Feast's default is "pandas".
    """

    def __init__(self, *, name: str, sources: list, schema: list[Field], udf, mode: str = "pandas",
                 description: str = "", tags: dict[str, str] | None = None):
        kind = f"OnDemandFeatureView {name!r}"
        self.name = check_name("OnDemandFeatureView", name)
        projections, requests = _split_sources(kind, sources)
        self._init_rest(kind, projections, requests, schema, mode, description, tags)
        self.udf = udf  # the live function; None when loaded from the registry
        self.udf_code = CodeRef.of(udf, kind, "udf")

    def _init_rest(self, kind, projections, request_sources, schema, mode, description, tags):
        self.source_projections: list[FeatureViewProjection] = projections
        self.request_sources: list[RequestSource] = request_sources
        if not projections and not request_sources:
            raise DefinitionError(f"{kind}: sources must list at least one feature view or RequestSource")
        check_unique(kind, "source feature view", [p.view_name for p in projections])
        check_unique(kind, "request source", [r.name for r in request_sources])
        inputs = self.input_names
        check_unique(kind, "function input (source feature or request field)", inputs)
        if not isinstance(schema, (list, tuple)) or not schema or not all(isinstance(f, Field) for f in schema):
            raise DefinitionError(f"{kind}: schema must be a non-empty list of Field objects (the features the "
                                  f"function returns), got {schema!r}")
        self.schema = list(schema)
        check_unique(kind, "schema field", [f.name for f in self.schema])
        for field in self.schema:
            if field.dtype.holds_dicts:
                raise DefinitionError(f"{kind}: feature {field.name!r} is declared {field.dtype!r}; an on-demand "
                                      f"view returns scalars, lists or Json (a map or struct can be returned as Json)")
            if field.name.startswith("__fs_"):
                raise DefinitionError(f"{kind}: feature name {field.name!r} starts with '__fs_', which featurestore "
                                      f"reserves for its own columns; rename it")
        if mode not in MODES:
            raise DefinitionError(f"{kind}: mode must be 'python' (dict of lists) or 'pandas' (DataFrame), "
                                  f"got {mode!r}")
        self.mode = mode
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)

    @property
    def features(self) -> list[Field]:
        return list(self.schema)

    @property
    def request_fields(self) -> list[Field]:
        return [f for r in self.request_sources for f in r.schema]

    @property
    def input_names(self) -> list[str]:
        """The function's input columns: source features (as named in their view), then request fields."""
        return [f for p in self.source_projections for f in p.features] + [f.name for f in self.request_fields]

    def feature(self, name: str) -> Field:
        for field in self.schema:
            if field.name == name:
                return field
        raise NotFoundError(f"on-demand feature view {self.name!r} has no feature {name!r}."
                            f"{did_you_mean(name, [f.name for f in self.schema])}")

    def __getitem__(self, feature_names: list[str]) -> FeatureViewProjection:
        if isinstance(feature_names, str):
            feature_names = [feature_names]
        return FeatureViewProjection(self, [self.feature(n).name for n in feature_names])

    def bind_code(self, repo_path) -> None:
        self.udf_code.bind(repo_path, f"OnDemandFeatureView {self.name!r}", "udf")

    def udf_function(self, repo_path):
        """The function to run: the live one, or the repo's, checked against the registered hash."""
        if self.udf is not None:
            return self.udf
        from featurestore.definitions.transformation import resolve

        return resolve(self.udf_code, repo_path, f"OnDemandFeatureView {self.name!r}", "udf",
                       unwrap=lambda obj: obj.udf if isinstance(obj, OnDemandFeatureView) else obj)

    def to_proto(self) -> registry_pb2.OnDemandFeatureView:
        return registry_pb2.OnDemandFeatureView(
            name=self.name, mode=self.mode, description=self.description, tags=self.tags,
            sources=[registry_pb2.FeatureProjection(feature_view=p.view_name, features=p.features)
                     for p in self.source_projections],
            request_sources=[r.to_proto() for r in self.request_sources],
            schema=[f.to_proto() for f in self.schema], udf=self.udf_code.to_proto())

    @classmethod
    def from_proto(cls, proto: registry_pb2.OnDemandFeatureView) -> OnDemandFeatureView:
        view = cls.__new__(cls)
        view.name = proto.name
        view._init_rest(f"OnDemandFeatureView {proto.name!r}",
                        [FeatureViewProjection(p.feature_view, list(p.features)) for p in proto.sources],
                        [RequestSource.from_proto(r) for r in proto.request_sources],
                        [Field.from_proto(f) for f in proto.schema], proto.mode, proto.description,
                        dict(proto.tags))
        view.udf = None
        view.udf_code = CodeRef.from_proto(proto.udf)
        return view

    def __eq__(self, other) -> bool:
        return isinstance(other, OnDemandFeatureView) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash(("OnDemandFeatureView", self.name))

    def __repr__(self) -> str:
        return (f"OnDemandFeatureView(name={self.name!r}, sources={[p.view_name for p in self.source_projections]!r}, "
                f"request_fields={[f.name for f in self.request_fields]!r}, "
                f"features={[f.name for f in self.schema]!r}, mode={self.mode!r}, udf={self.udf_code.qualified_name})")


def _split_sources(kind: str, sources) -> tuple[list[FeatureViewProjection], list[RequestSource]]:
    if not isinstance(sources, (list, tuple)) or not sources:
        raise DefinitionError(f"{kind}: sources must be a non-empty list of feature views, view[[...]] selections "
                              f"and RequestSources, got {sources!r}")
    projections, requests = [], []
    for item in sources:
        if isinstance(item, FeatureView):
            projections.append(FeatureViewProjection(item, [f.name for f in item.features]))
        elif isinstance(item, FeatureViewProjection):
            if item.name_alias or item.join_key_map:
                raise DefinitionError(f"{kind}: source {item!r} is renamed or re-keyed; an on-demand view reads "
                                      f"its sources by their own names and join keys, so pass view[[...]] "
                                      f"(Feast's with_name / with_join_key_map belong in the FeatureService)")
            projections.append(item)
        elif isinstance(item, RequestSource):
            requests.append(item)
        elif isinstance(item, OnDemandFeatureView):
            raise DefinitionError(f"{kind}: source {item.name!r} is an on-demand feature view; sources are feature "
                                  f"views and RequestSources (compute both in one function instead)")
        else:
            raise DefinitionError(f"{kind}: source {item!r} is not a FeatureView, a view[[...]] selection or a "
                                  f"RequestSource")
    return projections, requests


def on_demand_feature_view(*, sources: list, schema: list[Field], mode: str = "pandas", name: str | None = None,
                           description: str = "", tags: dict[str, str] | None = None):
    """Feast's decorator: `@on_demand_feature_view(sources=[...], schema=[...], mode="python")` over a
    module-level function makes an OnDemandFeatureView named after the function."""
    def decorate(udf):
        return OnDemandFeatureView(name=name or getattr(udf, "__name__", ""), sources=sources, schema=schema,
                                   udf=udf, mode=mode, description=description, tags=tags)
    return decorate
