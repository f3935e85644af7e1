"""Push: rows a caller sends (`FeatureStore.push`, Feast's name and modes) written into the
online store, into the push source's batch source, or both.

Every view that reads the push source checks the whole batch first (its join keys, event
time and features present, non-null keys and times, every value of its declared type):
one bad row refuses the batch with one line naming the row and the column, and nothing is
written anywhere. Online, the rows go through the store's own newest-wins write, so an
older pushed row never replaces a newer value, whether it came from materialization or an
earlier push. Offline, the batch is appended to the batch source in one write
(featurestore.offline.append), before the online write: if the online write then fails,
the rows are already where training sets and the next materialization read them (as late
rows, see featurestore.materialize.latest_rows).

Online pushes are pure Python: no JVM starts unless `to` includes offline.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum

from featurestore.context import Context
from featurestore.definitions import FeatureView
from featurestore.errors import DefinitionError, ValidationError
from featurestore.identity import write_under
from featurestore.registry import RegistryState
from featurestore.times import CLOCK_SKEW, EPOCH, MICROSECOND, micros_to_datetime
from featurestore.values import is_missing


class PushMode(Enum):
    """Where pushed rows go (Feast's PushMode); FeatureStore.push also takes the values as strings."""
    ONLINE = "online"
    OFFLINE = "offline"
    ONLINE_AND_OFFLINE = "online_and_offline"


def push_mode(to) -> PushMode:
    if isinstance(to, PushMode):
        return to
    try:
        return PushMode(str(to).lower())
    except ValueError:
        raise DefinitionError(f"push: to must be one of {', '.join(m.value for m in PushMode)} (or PushMode), "
                              f"got {to!r}") from None


def views_of(registry: RegistryState, push_source: str) -> list[FeatureView]:
    """The views that take rows pushed to push_source, in name order."""
    views = sorted((v for v in registry.feature_views.values() if v.push_source == push_source),
                   key=lambda v: v.name)
    if not views:
        known = sorted({v.push_source for v in registry.feature_views.values() if v.push_source})
        raise DefinitionError(f"no feature view reads push source {push_source!r}"
                              f"{'; push sources in use: ' + ', '.join(known) if known else ''}; define a "
                              f"FeatureView(source=PushSource(name={push_source!r}, batch_source=...)) and apply it")
    return views


def encoded_rows(view: FeatureView, frame, where: str) -> list[tuple]:
    """The pushed rows as online_write_flat takes them for view: (entity key, event_us,
    created_us, encoded value per feature). Raises ValidationError naming the first bad row.

    frame: a pandas DataFrame, or a dict of column -> list of values (the feature server's
    JSON), all of one length. where: how messages begin ("push to 'stats_push'")."""
    if isinstance(frame, dict):
        frame = _Columns(frame)
    from featurestore.online.codec import datetime_to_micros, entity_key_serializer, value_encoder

    source = view.source
    key_columns, feature_columns = _key_and_feature_columns(view)
    needed = [*key_columns, source.timestamp_field, *feature_columns]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(f"{where}: the rows lack the column(s) {', '.join(missing)} that feature view "
                              f"{view.name!r} reads (its batch source's names); send every key, "
                              f"{source.timestamp_field!r} and feature column")
    if view.is_aggregating or view.transformation_code is not None:
        what = "aggregates its source's events" if view.is_aggregating else "transforms its source rows"
        raise ValidationError(f"{where}: feature view {view.name!r} {what}, so pushed rows are not its values; "
                              f"push them to='offline' and materialize the view")
    dtypes = {f.name: f.dtype for f in view.schema}
    serialize_key = entity_key_serializer(view.join_keys, [dtypes[k] for k in view.join_keys])
    encoders = [value_encoder(f.dtype, f"feature {f.name!r} of view {view.name!r}") for f in view.features]
    created_column = source.created_timestamp_column
    columns = [frame[c].tolist() for c in needed]
    created = frame[created_column].tolist() if created_column and created_column in frame.columns else None
    keys, events, values = columns[:len(key_columns)], columns[len(key_columns)], columns[len(key_columns) + 1:]
    latest_us = (datetime.now(UTC) + CLOCK_SKEW - EPOCH) // MICROSECOND  # materialization's bound for its end
    rows = []
    for position in range(len(frame)):
        column = ""
        try:
            column = "join key"
            key = serialize_key([values_of[position] for values_of in keys])
            column = source.timestamp_field
            event = _micros(events[position], datetime_to_micros, latest_us)
            column = created_column
            created_us = 0 if created is None or is_missing(created[position]) else \
                datetime_to_micros(created[position])
            column = "feature"
            encoded = [encode(values[i][position]) for i, encode in enumerate(encoders)]
        except Exception as error:
            if not isinstance(error, (ValidationError, ValueError, TypeError)):
                raise
            raise ValidationError(f"{where}: row {position} ({_column_note(column)}): {error}; nothing was "
                                  f"written") from None
        rows.append((key, event, created_us, *encoded))
    return rows


class _Columns:
    """A dict of equally long column lists, read the way encoded_rows reads a DataFrame."""

    def __init__(self, columns: dict):
        lengths = {len(values) for values in columns.values() if isinstance(values, list)}
        if len(lengths) > 1 or not all(isinstance(values, list) for values in columns.values()):
            raise ValidationError("the rows must be columns: lists of one length, one per column")
        self._columns, self.columns = columns, list(columns)
        self._length = lengths.pop() if lengths else 0

    def __getitem__(self, name: str):
        return _List(self._columns[name])

    def __len__(self) -> int:
        return self._length


class _List(list):
    def tolist(self) -> list:
        return self


def _micros(value, to_micros: Callable, latest_us: int) -> int:
    if is_missing(value):
        raise ValidationError("the event time is null; every pushed row needs one")
    micros = to_micros(value)
    if micros > latest_us:
        raise ValidationError(f"the event time {micros_to_datetime(micros).isoformat()} is more than "
                              f"{CLOCK_SKEW.total_seconds() / 60:g} minutes past this machine's clock; a future time "
                              f"would pin the value online (no real later row could replace it): send the time the "
                              f"event happened")
    return micros


def _column_note(column: str) -> str:
    return f"column {column!r}" if column not in ("join key", "feature") else f"a {column}"


def push(ctx: Context, push_source: str, frame, to=PushMode.ONLINE) -> dict[str, int]:
    """Check the rows against every view reading push_source, then write them where `to` says.

    Returns the number of rows written per view online (newer than what was stored), and
    under "<offline>" the number appended to the batch source.
    """
    mode = push_mode(to)
    frame = _as_pandas(frame, push_source)
    registry = ctx.registry
    views, online_views, encoded = checked(registry, push_source, frame, mode)
    written: dict[str, int] = {}
    if mode != PushMode.ONLINE:
        from featurestore.offline.append import append_rows

        written["<offline>"] = append_rows(ctx.spark, views[0].source, frame, push_source, ctx.repo_path)
    if online_views:
        store = ctx.online_store
        for view in online_views:
            written[view.name] = write_under(ctx.registry_store, store, ctx.project, registry, view,
                                             encoded[view.name], "pushing")
    return written


def checked(registry: RegistryState, push_source: str, frame, mode: PushMode):
    """Every check a push makes before it writes anything, for the Python API and the feature
    server alike: (the views reading push_source, those written online, {view: encoded rows}).
    Rows are checked against every view, online or not; an online push to views that are all
    offline (online=False) is refused rather than writing nothing."""
    views = views_of(registry, push_source)
    online_views = [v for v in views if v.online] if mode != PushMode.OFFLINE else []
    encoded = {view.name: encoded_rows(view, frame, f"push to {push_source!r}") for view in views}
    if mode == PushMode.ONLINE and not online_views:
        raise ValidationError(f"push to {push_source!r}: its feature views {', '.join(v.name for v in views)} are "
                              f"offline (online=False); push to='offline'")
    if mode == PushMode.ONLINE:  # offline, the batch table's own columns are the check (offline.append)
        read = {column for view in views for column in _columns_read(view)}
        unread = [c for c in (frame.columns if hasattr(frame, "columns") else frame) if c not in read]
        if unread:
            raise ValidationError(f"push to {push_source!r}: no feature view reads the column(s) "
                                  f"{', '.join(map(str, unread))} (they read {', '.join(sorted(read))}); a misspelt "
                                  f"column would be dropped silently: rename or remove it")
    return views, online_views, encoded


def _key_and_feature_columns(view: FeatureView) -> tuple[list[str], list[str]]:
    """The batch-source columns holding the view's join keys and its features (field_mapping applied)."""
    source = view.source
    return [source.source_column(k) for k in view.join_keys], [source.source_column(f.name) for f in view.features]


def _columns_read(view: FeatureView) -> list[str]:
    """The batch-source columns a push to the view's push source may carry: keys, times, features."""
    keys, features = _key_and_feature_columns(view)
    created = [view.source.created_timestamp_column] if view.source.created_timestamp_column else []
    return [*keys, view.source.timestamp_field, *created, *features]


def _as_pandas(frame, push_source: str):
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, (list, dict)):
        return pd.DataFrame(frame)
    if hasattr(frame, "toPandas"):
        return frame.toPandas()
    raise ValidationError(f"push to {push_source!r}: rows must be a pandas DataFrame (or a Spark DataFrame, a "
                          f"dict of columns or a list of row dicts), got {type(frame).__name__}")
