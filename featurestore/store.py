"""FeatureStore: the thin front users call. The work happens in the modules it delegates to:
registry (definitions), plan (diffs), offline (Spark), materialize, online (stores, reads).
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from featurestore.config import RepoConfig, load_config
from featurestore.context import Context
from featurestore.definitions import DataSource, Entity, FeatureService, FeatureView
from featurestore.errors import DefinitionError
from featurestore.plan import RegistryDiff
from featurestore.registry import RegistryState, open_registry
from featurestore.repo import RepoContents, load_repo


class FeatureStore:
    """A feature repo's registry, offline store (Spark) and online store.

    Open one with `FeatureStore(repo_path="driver_repo")` (the folder holding
    feature_store.yaml); the README's Quickstart shows the calls end to end.
    """

    def __init__(self, repo_path: str | Path = ".", config: RepoConfig | None = None):
        self.config = config or load_config(repo_path)
        self.repo_path = self.config.repo_path
        self.project = self.config.project
        self.registry_store = open_registry(self.config)  # a file or a SQL database (featurestore.registry)
        self._online_store = None
        # what the orchestrating modules run against; the stores and Spark open on first use
        self.context = Context(self.config, self.registry_store, lambda: self.online_store, lambda: self.spark)

    # --- registry -------------------------------------------------------------------------
    @property
    def registry(self) -> RegistryState:
        """The registry as it is stored now (its newest version)."""
        return self.registry_store.load()

    def list_entities(self) -> list[Entity]:
        return list(self.registry.entities.values())

    def list_data_sources(self) -> list[DataSource]:
        return list(self.registry.data_sources.values())

    def list_feature_views(self) -> list[FeatureView]:
        return list(self.registry.feature_views.values())

    def list_feature_services(self) -> list[FeatureService]:
        return list(self.registry.feature_services.values())

    def list_on_demand_feature_views(self) -> list:
        return list(self.registry.on_demand_feature_views.values())

    def get_entity(self, name: str) -> Entity:
        return self.registry.get("entities", name)

    def get_data_source(self, name: str) -> DataSource:
        return self.registry.get("data_sources", name)

    def get_feature_view(self, name: str) -> FeatureView:
        return self.registry.get("feature_views", name)

    def get_feature_service(self, name: str) -> FeatureService:
        return self.registry.get("feature_services", name)

    def get_on_demand_feature_view(self, name: str):
        return self.registry.get("on_demand_feature_views", name)

    # --- apply / plan / teardown ----------------------------------------------------------
    def load_repo(self) -> RepoContents:
        """The definitions in this repo's .py files."""
        return load_repo(self.repo_path)

    def plan(self, desired: RepoContents | list | None = None, delete_missing: bool = True,
             validate: bool = True, against: int | None = None) -> RegistryDiff:
        """What apply would change, checked against the real sources; writes nothing.

        against: compare with that version of the registry (a SQL registry keeps them all)
        instead of the newest one.
        """
        from featurestore import apply

        desired = self.load_repo() if desired is None else apply.as_contents(desired, self.repo_path)
        return apply.plan(self.context, desired, delete_missing, validate, against)

    def apply(self, objects, objects_to_delete: list | None = None, partial: bool = True,
              validate: bool = True) -> RegistryDiff:
        """Register definitions after checking them against their real sources.

        With partial=True (the Python API default, as in Feast) objects not passed are kept;
        `featurestore apply` uses partial=False, deleting what the repo no longer defines.
        Nothing is written unless every check passes. A view whose source, keys or features
        change loses its online values and materialized intervals (see featurestore.apply).
        """
        from featurestore import apply

        desired = self.load_repo() if objects is None else apply.as_contents(objects, self.repo_path)
        return apply.apply(self.context, desired, not partial, objects_to_delete, validate)

    def teardown(self) -> None:
        """Remove the online store's tables for this project and the registry."""
        views = self.list_feature_views() if self.registry_store.exists() else []
        self.online_store.teardown(self.project, views)
        self.registry_store.delete()

    # --- training sets --------------------------------------------------------------------
    def get_historical_features(self, entity_df=None, features=None, full_feature_names: bool = False,
                                strategy: str = "window", validate: bool = False, start_date=None,
                                end_date=None, feature_refs=None):
        """A point-in-time correct training set (a lazy RetrievalJob): docs/semantics.md's rules.

        Parameters
        ----------
        entity_df : pyspark or pandas DataFrame, str, optional
            The entity rows: a DataFrame, a table name or a SQL query holding the join keys
            of every requested view and an `event_timestamp` column (a timestamp, a date, an
            ISO-8601 string or a zoned pandas time; naive is UTC). Its other columns (labels,
            request fields of on-demand views) come back unchanged. Left out (as in Feast),
            every source row with start_date <= event time <= end_date is an entity row.
        features : list of str or FeatureService
            "view:feature" references (projections and on-demand views too), or a service.
        full_feature_names : bool, default False
            Name feature columns `view__feature` instead of `feature`.
        strategy : {"window", "range_join"}, default "window"
            The join strategy; both give the same rows (tests/spark/test_join_strategies_agree.py).
        validate : bool, default False
            Check the views' expectations on the result (computes it once more).
        start_date, end_date : datetime, optional
            Only without entity_df: the range of source rows (end_date: now; start_date:
            end_date minus the longest ttl, required when a ttl is 0).
        feature_refs : list of str, optional
            Feast's older spelling of features (deprecated).

        Returns
        -------
        RetrievalJob
            `.to_df()` (pandas, timestamps tz-aware UTC), `.to_spark_df()` (lazy) or
            `.save_as_table(name)` (a Delta table that `rebuild_training_set` can recompute).
        """
        from featurestore.offline.retrieval import get_historical_features

        features = _older_feature_refs("get_historical_features", features, feature_refs)
        if features is None:
            raise DefinitionError("get_historical_features needs features=: 'view:feature' references or a "
                                  "FeatureService")
        with _over_connect("get_historical_features"):
            return get_historical_features(self.spark, self.registry, entity_df, features, full_feature_names,
                                           strategy, repo_path=self.repo_path, validate=validate,
                                           start_date=start_date, end_date=end_date)

    def rebuild_training_set(self, table: str, allow_changed_transformations: bool = False):
        """Recompute a training set saved with save_as_table, reading the same Delta versions
        with the definitions saved with it (registry_as_built).

        Refused when a batch transformation or on-demand function it used has changed in the
        repo since (its sha256 differs from the registry's now): featurestore never stores code
        to run, so the old function is gone. With allow_changed_transformations=True it is
        rebuilt with the registry's current definitions instead. The returned job's
        `rebuilt_with` says, in words, which definitions were used.
        """
        from featurestore.offline.retrieval import changed_transformations, check_rebuild_transformations, rebuild_training_set
        from featurestore.offline.training_set import read_definition

        with _over_connect("rebuild_training_set"):
            definition = read_definition(self.spark, table)
            current = self.registry
            check_rebuild_transformations(current, definition, table, allow_changed_transformations)
            if changed_transformations(current, definition):
                registry, used = current, f"the registry's current definitions (version {current.version})"
            else:
                registry, used = self.registry_as_built(definition)
            job = rebuild_training_set(self.spark, registry, table, self.repo_path)
            job.rebuilt_with = used
            return job

    def registry_as_built(self, definition: dict) -> tuple[RegistryState, str]:
        """The definitions a saved training set was built from, and which they are in words: those
        saved with it (every set saved since they are); for an older set, its registry version
        when the registry keeps its history (SQL), else the newest."""
        saved, version = definition.get("definitions"), definition.get("registry_version")
        if saved:
            import base64

            from featurestore.registry import parse_registry

            return (parse_registry(base64.b64decode(saved), "saved with the training set", self.project),
                    f"the definitions saved with it (registry version {version} of project {definition.get('project')!r})")
        if self.registry_store.keeps_history and version:
            return (self.registry_store.load_version(int(version)),
                    f"registry version {version} (the set is older than saved definitions)")
        return (self.registry, "the registry's newest definitions (the set is older than saved definitions, and a "
                               "file registry keeps no older version)")

    # --- materialization and online reads ---------------------------------------------------
    def materialize(self, start_date, end_date, feature_views: list[str] | None = None, log=None):
        """Write each view's newest values with start_date <= event time < end_date to the online store.

        Parameters
        ----------
        start_date, end_date : datetime
            The interval (naive is UTC); end_date at most 5 minutes past the clock.
        feature_views : list of str, optional
            Only these views (default: every online view).
        log : callable, optional
            Takes each progress line; default: the logger `featurestore` (INFO), which
            `logging.basicConfig(level="INFO")` shows.

        Returns
        -------
        list of ViewResult
            Per view: its interval, rows selected, rows written (newer than stored), seconds.
        """
        from featurestore.materialize import check_end, materialize
        from featurestore.times import as_utc

        start, end = as_utc(start_date), check_end(as_utc(end_date))
        if start >= end:
            raise DefinitionError(f"materialize: start {start.isoformat()} must be before end {end.isoformat()}")
        return materialize(self.context.with_log(log), self.views_to_materialize(feature_views),
                           lambda view: [(start, end)])

    def materialize_incremental(self, end_date, feature_views: list[str] | None = None, log=None):
        """Materialize from where each view's last recorded interval ended up to end_date, and the
        rows written into its source since the last run began (late rows).

        Parameters are those of materialize, without start_date (the first run starts at
        end_date - ttl, or the epoch when the ttl is 0).
        """
        from featurestore.materialize import check_end, forget_intervals, incremental_intervals, lost_data, materialize
        from featurestore.times import as_utc

        end = check_end(as_utc(end_date))
        context = self.context.with_log(log)
        if lost_data(context, self.list_feature_views()):  # the registry must not claim what the store lost
            forgotten = forget_intervals(self.registry_store, "the online store lost its data")
            context.log(f"the online store lost what was materialized into it (a Redis restarted without "
                        f"persistence?): {', '.join(forgotten)} start again from their beginning")
        return materialize(context, self.views_to_materialize(feature_views),
                           lambda view: incremental_intervals(view, end))

    def stream(self, feature_view: str, checkpoint=None, available_now: bool = False,
               timeout_seconds: float | None = None, log=None) -> dict:
        """Follow a StreamFeatureView's Delta source with Spark Structured Streaming, writing each
        micro-batch's newest rows online (featurestore.streaming).

        Parameters
        ----------
        feature_view : str
            A StreamFeatureView's name.
        checkpoint : str or Path, optional
            The query's checkpoint folder (default: data/checkpoints/<project>/<view> in the repo).
        available_now : bool
            Write what the source holds now, then return; else run until stopped.
        timeout_seconds : float, optional
            Stop after this long (a running stream only).
        """
        from featurestore.streaming import run_stream

        return run_stream(self.context.with_log(log), self.registry.feature_view(feature_view), checkpoint,
                          available_now, timeout_seconds)

    def views_to_materialize(self, names: list[str] | None) -> list[FeatureView]:
        state = self.registry
        if names:
            return [state.feature_view(name) for name in names]
        views = [v for v in state.feature_views.values() if v.online]
        if not views:
            raise DefinitionError(f"project {self.project!r} has no online feature views to materialize; "
                                  f"run `featurestore apply` first")
        return views

    def get_online_features(self, features=None, entity_rows: list[dict] | None = None,
                            full_feature_names: bool = False, feature_refs=None):
        """The latest values for each entity row, read from the online store in pure Python.

        Parameters
        ----------
        features : list of str or FeatureService
            "view:feature" references (projections and on-demand views too), or a service.
        entity_rows : list of dict
            One dict per row: the join keys and the request fields of on-demand views, e.g.
            `[{"driver_id": 1001, "val_to_add": 2}]`.
        full_feature_names : bool, default False
            Name features `view__feature` instead of `feature`.
        feature_refs : list of str, optional
            Feast's older spelling of features (deprecated).

        Returns
        -------
        OnlineResponse
            `.to_dict()` ({column: [value per row]}, keys first) and `.statuses()`
            (PRESENT, NULL_VALUE for a stored null, NOT_FOUND or OUTSIDE_MAX_AGE per value).
        """
        from featurestore.feature_logging.logger import log_served
        from featurestore.online.read import get_online_features

        features = _older_feature_refs("get_online_features", features, feature_refs)
        if features is None or entity_rows is None:
            raise DefinitionError("get_online_features needs features= ('view:feature' references or a "
                                  "FeatureService) and entity_rows= (a list of dicts of join-key values)")
        registry = self.registry
        response = get_online_features(registry, self.online_store, self.project, features, entity_rows,
                                       full_feature_names, repo_path=self.repo_path)
        if isinstance(features, FeatureService):
            log_served(self.config, registry, features, entity_rows, response, full_feature_names)
        return response

    def push(self, push_source_name: str, df, allow_registry_cache: bool = True, to="online") -> dict[str, int]:
        """Write rows into the views reading a PushSource (Feast's push).

        The whole batch is checked against every such view first; a bad row writes nothing.
        Online, an older row never replaces a newer value.

        Parameters
        ----------
        push_source_name : str
            The PushSource's name.
        df : pandas DataFrame (or a Spark DataFrame, a dict of columns, a list of row dicts)
            Rows with the batch source's columns: join keys, event time, features.
        allow_registry_cache : bool
            Accepted for Feast's signature; the registry is always read as stored now.
        to : {"online", "offline", "online_and_offline"} or PushMode, default "online"
            Online is pure Python; offline appends to the batch source in one write.

        Returns
        -------
        dict
            Rows written per view online, and "<offline>": rows appended.
        """
        from featurestore.push import push

        return push(self.context, push_source_name, df, to)

    # --- Spark and the online store -------------------------------------------------------
    @property
    def spark(self):
        """The SparkSession (started on first use; reused when one is active)."""
        from featurestore.runtime.session import get_spark

        return get_spark(self.config)

    @property
    def online_store(self):
        if self._online_store is None:
            from featurestore.online import get_online_store

            self._online_store = get_online_store(self.config)
        return self._online_store


def _older_feature_refs(call: str, features, feature_refs):
    """Feast's older `feature_refs=` spelling of features=, with a deprecation warning."""
    if feature_refs is None:
        return features
    if features is not None:
        raise DefinitionError(f"{call}: give features= or Feast's older feature_refs=, not both")
    warnings.warn(f"{call}: 'feature_refs' is deprecated, use 'features'", DeprecationWarning, stacklevel=3)
    return feature_refs


@contextlib.contextmanager
def _over_connect(what: str):
    """Turn a known Spark Connect gap (featurestore.runtime.session.connect_limitation) into one SparkSetupError line."""
    try:
        yield
    except Exception as error:
        from featurestore.errors import FeatureStoreError
        from featurestore.runtime.session import RUN_LOCALLY, connect_limitation

        why = None if isinstance(error, FeatureStoreError) else connect_limitation(error)
        if why is None:
            raise
        from featurestore.errors import SparkSetupError

        raise SparkSetupError(f"{what} is not supported over Spark Connect: {why}; {RUN_LOCALLY}") from error
