"""The one table of definition kinds: one row per kind of object a feature repo defines.

Entities, data sources, feature views, feature services and on-demand feature views are
handled alike almost everywhere: loaded from a repo, diffed by `plan`, written by `apply`,
stored in the registry, listed and described by the CLI. Each of those places used to
spell the five kinds out on its own (a tuple here, a dict of labels there), so adding a
kind meant finding them all, and missing one failed only at run time. Now each place
derives what it needs from KINDS:

- `registry.RegistryState` and `repo.RepoContents`: one dict per row, named `field`
  (`one_dict_per_kind`); the registry's protobuf has a repeated field of that name, filled
  with `cls.to_proto()` and read back with `cls.from_proto()`;
- `repo`: a loaded object belongs to the first row whose `cls` it is an instance of;
  `code` says which kinds carry a transformation or udf to bind to the repo;
- `plan`: changes come in the table's order (dependencies first), labelled with `label`;
  `code` says whose changed function `plan` reports;
- `apply`: writes the changes in that order; `written_as` lists what apply() accepts;
- error messages name a kind by `singular` ("no feature view named ...");
- the CLI: one `<command> list|describe` per row, listed in `featurestore --help` by
  `help_order`, `list` printing `summary(obj)` after each name.

A sixth kind is one more row here, plus its class (with to_proto/from_proto) and its
repeated field in registry.proto. Keep the table free of pyspark and of modules outside
`featurestore.definitions`, so everything may import it without cycles.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView
from featurestore.definitions.on_demand import OnDemandFeatureView
from featurestore.definitions.sources import DataSource


@dataclass(frozen=True)
class DefinitionKind:
    """One kind of definition and every name the code and its output give it."""
    cls: type  # the class users instantiate (or the base of those classes)
    field: str  # attribute of RegistryState and RepoContents, repeated field of the Registry message
    singular: str  # in messages: "no entity named ..."
    label: str  # in `plan` output: "+ add    FeatureView driver_stats"
    written_as: str  # the classes users write, as apply() names them when refusing an object
    command: str  # the CLI command: `featurestore <command> list|describe`
    help_order: int  # where `command` comes among the object commands of `featurestore --help`
    summary: Callable[[object], str]  # the line `<command> list` prints after an object's name
    not_found: str  # the exception of feast.errors Feast raises for a missing one (the server answers it)
    code: str = ""  # the attribute holding a transformation's or udf's CodeRef ('' if none)


def _entity_summary(entity: Entity) -> str:
    return f"join_keys={','.join(entity.join_keys)}"


def _source_summary(source: DataSource) -> str:
    return source.describe_location()


def _view_summary(view: FeatureView) -> str:
    return f"entities={','.join(view.entities)} features={len(view.features)} ttl={view.ttl}"


def _service_summary(service: FeatureService) -> str:
    return f"features={len(service.feature_refs())}"


def _on_demand_summary(view: OnDemandFeatureView) -> str:
    return (f"sources={','.join(p.view_name for p in view.source_projections)} "
            f"request_fields={','.join(f.name for f in view.request_fields)} features={len(view.schema)} "
            f"mode={view.mode} udf={view.udf_code.qualified_name}")


# In the order apply writes them: what a row refers to comes before it.
KINDS: tuple[DefinitionKind, ...] = (
    DefinitionKind(Entity, "entities", singular="entity", label="Entity", written_as="Entity",
                   command="entities", help_order=0, summary=_entity_summary, not_found="EntityNotFoundException"),
    DefinitionKind(DataSource, "data_sources", singular="data source", label="DataSource",
                   written_as="SparkSource/FileSource", command="data-sources", help_order=3,
                   summary=_source_summary, not_found="DataSourceObjectNotFoundException"),
    DefinitionKind(FeatureView, "feature_views", singular="feature view", label="FeatureView",
                   written_as="FeatureView", command="feature-views", help_order=1, summary=_view_summary,
                   not_found="FeatureViewNotFoundException", code="transformation_code"),
    DefinitionKind(FeatureService, "feature_services", singular="feature service", label="FeatureService",
                   written_as="FeatureService", command="feature-services", help_order=2,
                   summary=_service_summary, not_found="FeatureServiceNotFoundException"),
    DefinitionKind(OnDemandFeatureView, "on_demand_feature_views", singular="on-demand feature view",
                   label="OnDemandFeatureView", written_as="OnDemandFeatureView",
                   command="on-demand-feature-views", help_order=4, summary=_on_demand_summary,
                   not_found="OnDemandFeatureViewNotFoundException", code="udf_code"),
)
BY_FIELD: dict[str, DefinitionKind] = {kind.field: kind for kind in KINDS}
DEFINITION_TYPES: tuple[type, ...] = tuple(kind.cls for kind in KINDS)


def kind_of(obj) -> DefinitionKind | None:
    """The row `obj` belongs to (the first whose class it is an instance of), or None."""
    for kind in KINDS:
        if isinstance(obj, kind.cls):
            return kind
    return None


def accepted_classes() -> str:
    """'Entity, SparkSource/FileSource, ... and OnDemandFeatureView': what apply() takes."""
    names = [kind.written_as for kind in KINDS]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def one_dict_per_kind(cls: type) -> type:
    """Give a class about to become a dataclass one `dict` field per kind, named `field`,
    defaulting to {} (so `RegistryState(project="p", feature_views={...})` works)."""
    annotations = dict(inspect.get_annotations(cls))
    for kind in KINDS:
        annotations[kind.field] = f"dict[str, {kind.cls.__name__}]"
        setattr(cls, kind.field, field(default_factory=dict))
    cls.__annotations__ = annotations
    return cls
