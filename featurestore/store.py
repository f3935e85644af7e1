"""FeatureStore: the thin front users call. The work happens in the modules it delegates to:
registry (definitions), plan (diffs), offline (Spark), materialize, online (stores, reads).
"""
from __future__ import annotations

from pathlib import Path

from featurestore.config import RepoConfig, load_config
from featurestore.definitions import DataSource, Entity, FeatureService, FeatureView
from featurestore.errors import DefinitionError
from featurestore.plan import RegistryDiff, check_references, compute_diff
from featurestore.registry import RegistryFile, RegistryState
from featurestore.repo import RepoContents, load_repo


class FeatureStore:
    """A feature repo's registry, offline store (Spark) and online store.

    >>> store = FeatureStore(repo_path="driver_repo")
    >>> store.list_feature_views()
    """

    def __init__(self, repo_path: str | Path = ".", config: RepoConfig | None = None):
        self.config = config or load_config(repo_path)
        self.repo_path = self.config.repo_path
        self.project = self.config.project
        self.registry_file = RegistryFile(self.config.registry_path, self.project)
        self._online_store = None

    # --- registry -------------------------------------------------------------------------
    @property
    def registry(self) -> RegistryState:
        """The registry as it is on disk now."""
        return self.registry_file.load()

    def list_entities(self) -> list[Entity]:
        return list(self.registry.entities.values())

    def list_data_sources(self) -> list[DataSource]:
        return list(self.registry.data_sources.values())

    def list_feature_views(self) -> list[FeatureView]:
        return list(self.registry.feature_views.values())

    def list_feature_services(self) -> list[FeatureService]:
        return list(self.registry.feature_services.values())

    def get_entity(self, name: str) -> Entity:
        return self.registry.get("entities", name)

    def get_data_source(self, name: str) -> DataSource:
        return self.registry.get("data_sources", name)

    def get_feature_view(self, name: str) -> FeatureView:
        return self.registry.get("feature_views", name)

    def get_feature_service(self, name: str) -> FeatureService:
        return self.registry.get("feature_services", name)

    # --- apply / plan / teardown ----------------------------------------------------------
    def load_repo(self) -> RepoContents:
        """The definitions in this repo's .py files."""
        return load_repo(self.repo_path)

    def plan(self, desired: RepoContents | list | None = None, delete_missing: bool = True,
             validate: bool = True) -> RegistryDiff:
        """What apply would change, checked against the real sources; writes nothing."""
        desired = self._as_contents(desired)
        current = self.registry
        diff = compute_diff(current, desired, delete_missing)
        self._check(current, diff, desired, validate)
        return diff

    def apply(self, objects, objects_to_delete: list | None = None, partial: bool = True,
              validate: bool = True) -> RegistryDiff:
        """Register definitions after checking them against their real sources.

        With partial=True (the Python API default, as in Feast) objects not passed are kept;
        `featurestore apply` uses partial=False, deleting what the repo no longer defines.
        Nothing is written unless every check passes.
        """
        desired = self._as_contents(objects)
        current = self.registry
        diff = compute_diff(current, desired, delete_missing=not partial, to_delete=objects_to_delete)
        self._check(current, diff, desired, validate)
        final = self._preview(current, diff)
        online_views = [v for v in final.feature_views.values() if v.online]
        deleted_views = [current.feature_views[c.name] for c in diff.of("feature_views", "delete")]
        deleted_views += [current.feature_views[v.name] for v in final.feature_views.values()
                          if not v.online and v.name in current.feature_views]
        self.online_store.update(self.project, online_views, [])
        if not diff.is_empty():
            self.registry_file.update(diff.apply_to)
        if deleted_views:
            self.online_store.update(self.project, [], deleted_views)
        return diff

    def teardown(self) -> None:
        """Remove the online store's tables for this project and the registry."""
        views = self.list_feature_views() if self.registry_file.exists() else []
        self.online_store.teardown(self.project, views)
        self.registry_file.delete()

    def _as_contents(self, objects) -> RepoContents:
        if objects is None:
            return self.load_repo()
        if isinstance(objects, RepoContents):
            return objects
        if not isinstance(objects, (list, tuple)):
            objects = [objects]
        contents = RepoContents()
        origin = Path("<apply>")
        for obj in objects:
            if not isinstance(obj, (Entity, DataSource, FeatureView, FeatureService)):
                raise DefinitionError(f"apply() takes Entity, SparkSource/FileSource, FeatureView and "
                                      f"FeatureService objects, got {obj!r}")
            contents.add(obj, origin)
        contents.add_implicit_sources()
        return contents

    @staticmethod
    def _preview(current: RegistryState, diff: RegistryDiff) -> RegistryState:
        final = RegistryState(project=current.project, entities=dict(current.entities),
                              data_sources=dict(current.data_sources),
                              feature_views=dict(current.feature_views),
                              feature_services=dict(current.feature_services))
        for change in diff.changes:
            items = final.collection(change.kind)
            if change.action == "delete":
                items.pop(change.name, None)
            else:
                items[change.name] = change.new
        return final

    def _check(self, current: RegistryState, diff: RegistryDiff, desired: RepoContents, validate: bool) -> None:
        final = self._preview(current, diff)
        check_references(final)
        if validate:
            from featurestore.offline.sources import validate_feature_view

            for name, view in sorted(desired.feature_views.items()):
                origin = desired.origin.get(("feature_views", name))
                where = str(origin) if origin and origin.name != "<apply>" else ""
                validate_feature_view(self.spark, view, where)

    # --- training sets --------------------------------------------------------------------
    def get_historical_features(self, entity_df, features, full_feature_names: bool = False,
                                strategy: str = "window"):
        """A point-in-time correct training set (a lazy RetrievalJob); see offline.pit_join.

        entity_df: a Spark or pandas DataFrame, a table name or a SQL query, holding the
        join keys of every requested view and an `event_timestamp` column.
        features: "view:feature" references or a FeatureService.
        """
        from featurestore.offline.retrieval import get_historical_features

        return get_historical_features(self.spark, self.registry, entity_df, features, full_feature_names,
                                       strategy)

    def rebuild_training_set(self, table: str):
        """Recompute a training set saved with save_as_table, reading the same Delta versions."""
        from featurestore.offline.retrieval import rebuild_training_set

        return rebuild_training_set(self.spark, self.registry, table)

    # --- materialization and online reads ---------------------------------------------------
    def materialize(self, start_date, end_date, feature_views: list[str] | None = None, log=print):
        """Write each view's newest values with start_date <= event time < end_date to the online store."""
        from featurestore.materialize import as_utc, materialize

        start, end = as_utc(start_date), as_utc(end_date)
        if start >= end:
            raise DefinitionError(f"materialize: start {start.isoformat()} must be before end {end.isoformat()}")
        return materialize(self.spark, self.registry_file, self.online_store, self.project,
                           self.views_to_materialize(feature_views), lambda view: (start, end), log)

    def materialize_incremental(self, end_date, feature_views: list[str] | None = None, log=print):
        """Materialize from where each view's last recorded interval ended up to end_date."""
        from featurestore.materialize import as_utc, incremental_start, materialize

        end = as_utc(end_date)
        return materialize(self.spark, self.registry_file, self.online_store, self.project,
                           self.views_to_materialize(feature_views),
                           lambda view: (incremental_start(view, end), end), log)

    def views_to_materialize(self, names: list[str] | None) -> list[FeatureView]:
        state = self.registry
        if names:
            return [state.feature_view(name) for name in names]
        views = [v for v in state.feature_views.values() if v.online]
        if not views:
            raise DefinitionError(f"project {self.project!r} has no online feature views to materialize; "
                                  f"run `featurestore apply` first")
        return views

    def get_online_features(self, features, entity_rows: list[dict], full_feature_names: bool = False):
        """The latest values for each entity row, read from the online store in pure Python."""
        from featurestore.online.read import get_online_features

        return get_online_features(self.registry, self.online_store, self.project, features, entity_rows,
                                   full_feature_names)

    # --- Spark and the online store -------------------------------------------------------
    @property
    def spark(self):
        """The SparkSession (started on first use; reused when one is active)."""
        from featurestore.spark import get_spark

        return get_spark(self.config)

    @property
    def online_store(self):
        if self._online_store is None:
            from featurestore.online.base import get_online_store

            self._online_store = get_online_store(self.config)
        return self._online_store
