"""CLI commands that run work: materialize, online reads, training sets.

Kept apart from the registry commands; `get-online-features` never imports pyspark.
Arguments are checked before the store is opened, so a mistyped command line fails at
once with one line and touches nothing.
"""
from __future__ import annotations

import os
import sys

from featurestore.cli.common import CommandLineError, dumps, open_store, whole_number
from featurestore.cli.timeparse import parse_time


def view_names(groups: list[str] | None) -> list[str] | None:
    """-v a -v b,c -> ['a', 'b', 'c']; None when no -v was given (all views)."""
    if not groups:
        return None
    names = []
    for group in groups:
        for name in group.split(","):
            name = name.strip()
            if not name:
                raise CommandLineError(f"--views {group!r} has an empty view name; give names separated by "
                                       f"commas, e.g. -v driver_stats,trip_stats")
            if name not in names:
                names.append(name)
    return names


def cmd_materialize(args) -> int:
    start, end = parse_time(args.start, "START"), parse_time(args.end, "END")
    views = view_names(args.views)
    store = open_store(args)
    store.views_to_materialize(views)  # unknown views fail before Spark starts
    _materialized(store.materialize(start, end, views))
    return 0


def cmd_materialize_incremental(args) -> int:
    end = parse_time(args.end, "END")
    views = view_names(args.views)
    store = open_store(args)
    store.views_to_materialize(views)
    _materialized(store.materialize_incremental(end, views))
    return 0


def cmd_stream(args) -> int:
    from featurestore.runtime import session
    from featurestore.streaming import stop_on_signals

    session.from_cli = False  # a long-running query keeps a JVM of its own, not the shared warm Spark
    store = open_store(args)
    restore = stop_on_signals()
    try:
        totals = store.stream(args.view, args.checkpoint, args.available_now)
    finally:
        restore()
    counted = "".join(f", {totals[kind]:,} {kind} message(s)" for kind in ("malformed", "late") if totals[kind])
    stopped = f" Stopped by {totals['stopped_by']}." if totals.get("stopped_by") else ""
    print(f"Streamed {args.view}: {totals['batches']} micro-batch(es), {totals['rows_selected']:,} rows selected, "
          f"{totals['rows_written']:,} written{counted}.{stopped}", flush=True)
    return 0


def _materialized(results) -> None:
    print(f"Materialized {len(results)} view(s), {sum(r.rows_written for r in results):,} rows written.")


def parse_entity(text: str) -> tuple[str, tuple[str, bool]]:
    """'driver_id=1001' -> ('driver_id', ('1001', False)): the value's text, quotes removed, and whether
    it was quoted; its type comes from the definitions (typed_entity_rows)."""
    if "=" not in text:
        raise CommandLineError(f"--entity {text!r} must look like join_key=value, e.g. driver_id=1001")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise CommandLineError(f"--entity {text!r} has no join key before '='; write join_key=value, "
                               f"e.g. driver_id=1001")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return key, (value[1:-1], True)
    return key, (value, False)


def parse_entity_row(text: str) -> dict[str, tuple[str, bool]]:
    """'driver_id=1001,city="7"' -> {'driver_id': ('1001', False), 'city': ('7', True)}; a key given
    twice is refused."""
    row: dict[str, tuple[str, bool]] = {}
    for item in text.split(","):
        key, value = parse_entity(item)
        if key in row:
            raise CommandLineError(f"--entity {text!r} gives join key {key!r} twice; one entity row takes one "
                                   f"value per key: repeat -e for more rows, e.g. -e {key}={row[key][0]} "
                                   f"-e {key}={value[0]}")
        row[key] = value
    return row


def declared_types(registry, features) -> dict:
    """The declared type of each entity-row column the features read: join keys (by the column
    the row holds them in) and on-demand views' request fields."""
    from featurestore.feature_refs import OnDemandRequest, ViewRequest, resolve_features, with_inputs

    requested = resolve_features(registry, features)
    types = {}
    for request in with_inputs(registry, requested):
        if isinstance(request, ViewRequest):
            dtypes = {f.name: f.dtype for f in request.view.schema}
            for key, column in zip(request.view.join_keys, request.key_columns):
                types.setdefault(column, dtypes[key])
    for request in requested:
        if isinstance(request, OnDemandRequest):
            for field in request.view.request_fields:
                types.setdefault(field.name, field.dtype)
    return types


def typed_entity_rows(rows: list[dict[str, tuple[str, bool]]], types: dict) -> list[dict[str, object]]:
    """Each value read as its column's declared type: `007` for a String key is the string '007',
    for an Int64 key the number 7. A column no definition declares reads an unquoted integer as
    an int, anything else as a string."""
    from featurestore import types as t

    def typed(key: str, value: tuple[str, bool]):
        text, quoted = value
        dtype = types.get(key)
        untyped_int = dtype is None and not quoted and text.strip().lstrip("+-").isdigit()
        try:
            if dtype in (t.Int32, t.Int64) or untyped_int:
                return int(text)
            if dtype in (t.Float32, t.Float64):
                return float(text)
            if dtype == t.Bool:
                return {"true": True, "false": False}[text.strip().lower()]
        except (ValueError, KeyError):
            expected = "true or false" if dtype == t.Bool else f"a{'n' if dtype.name[0] == 'I' else ''} {dtype.name}"
            raise CommandLineError(f"--entity {key}={text}: {key} is declared {dtype.name}, so its value must be "
                                   f"{expected}") from None
        return text

    return [{key: typed(key, value) for key, value in row.items()} for row in rows]


def cmd_get_online_features(args) -> int:
    if args.features and args.feature_service:
        raise CommandLineError("give either --features or --feature-service, not both: --feature-service "
                               f"{args.feature_service!r} already chooses the features")
    if not args.features and not args.feature_service:
        raise CommandLineError("give --features view:feature,... or --feature-service NAME")
    features = None
    if args.features:
        features = [ref.strip() for ref in args.features.split(",")]
        if not all(features):
            raise CommandLineError(f"--features {args.features!r} has an empty reference; write "
                                   f"view:feature[,view:feature...]")
    rows = [parse_entity_row(group) for group in args.entity]
    store = open_store(args)
    if args.feature_service:
        features = store.get_feature_service(args.feature_service)
    rows = typed_entity_rows(rows, declared_types(store.registry, features))
    response = store.get_online_features(features, rows)
    print(dumps({"values": response.to_dict(), "statuses": response.statuses()}))
    return 0


def cmd_training_set_build(args) -> int:
    """A point-in-time correct training set saved as a Delta table (jobs/build_training_set.py)."""
    import time

    if bool(args.features) == bool(args.feature_service):
        raise CommandLineError("give either --features view:feature,... or --feature-service NAME")
    started = time.perf_counter()
    store = open_store(args)  # config and registry checked before Spark starts
    features = store.get_feature_service(args.feature_service) if args.feature_service \
        else [ref.strip() for ref in args.features.split(",")]
    job = store.get_historical_features(args.entities, features, full_feature_names=args.full_feature_names)
    _refuse_existing(store, args.output, args.overwrite)
    job.save_as_table(args.output, mode="overwrite" if args.overwrite else "error")
    table = store.spark.table(args.output)
    print(f"Training set {args.output}: {table.count():,} rows in {time.perf_counter() - started:.1f} s")
    print("Schema:")
    for field in table.schema.fields:
        print(f"  {field.name}: {field.dataType.simpleString()}")
    return 0


def cmd_training_set_rebuild(args) -> int:
    store = open_store(args)
    job = store.rebuild_training_set(args.table, allow_changed_transformations=args.allow_changed_transformations)
    output = args.output or f"{args.table}_rebuilt"
    _refuse_existing(store, output, args.overwrite)
    job.save_as_table(output, mode="overwrite" if args.overwrite else "error")
    print(f"Rebuilt {args.table} into {output}: {store.spark.table(output).count():,} rows, with {job.rebuilt_with}")
    return 0


def _refuse_existing(store, table: str, overwrite: bool) -> None:
    """The command's own words for a table that exists (the library's name mode='overwrite')."""
    if not overwrite and store.spark.catalog.tableExists(table):
        raise CommandLineError(f"table {table} already exists; pass --overwrite to replace it, or --output "
                               f"another name")


def cmd_serve(args) -> int:
    from featurestore.serving.server import serve

    store = open_store(args)
    settings = store.config.serve  # feature_store.yaml's serve: section; each option given overrides one
    chosen = {name: getattr(settings, name) if getattr(args, name) is None else getattr(args, name)
              for name in ("host", "port", "workers", "max_rows", "max_body_bytes", "api_key_env")}
    if chosen["workers"] < 1 or chosen["max_rows"] < 1 or chosen["max_body_bytes"] < 1:
        raise CommandLineError("--workers, --max-rows and --max-body-bytes must be at least 1")
    api_key = None
    if chosen["api_key_env"]:
        api_key = os.environ.get(chosen["api_key_env"])
        if not api_key:
            raise CommandLineError(f"serve.api_key_env names {chosen['api_key_env']!r}, which is not set or empty; "
                                   f"export {chosen['api_key_env']}=<the key clients send as "
                                   f"'Authorization: Bearer <key>'>")
    store.registry  # noqa: B018 - a missing or broken registry fails now, not at the first request
    return serve(store, chosen["host"], chosen["port"], chosen["workers"], chosen["max_rows"],
                 chosen["max_body_bytes"], access_log=sys.stderr if args.access_log else None,
                 ready=lambda line: print(line, flush=True), api_key=api_key,
                 warn=lambda line: print(line, file=sys.stderr, flush=True))


def cmd_ui(args) -> int:
    store = open_store(args)
    registry = store.registry  # a missing or broken registry fails now
    if args.export is not None:  # "" is a mistake to name, not a request to serve
        from featurestore.catalog.export import export
        from featurestore.catalog.warehouse import Warehouse

        count = export(registry, args.export, Warehouse(store.config.warehouse_dir))
        print(f"Wrote the catalog of project {store.project} to {args.export}: {count} pages; open "
              f"{os.path.join(args.export, 'index.html')}")
        return 0
    from featurestore.catalog.app import CatalogApp
    from featurestore.serving.server import serve_app

    return serve_app(CatalogApp(store), args.host, args.port, f"feature catalog of project {store.project}",
                     ready=lambda line: print(line, flush=True),
                     warn=lambda line: print(line, file=sys.stderr, flush=True))


VIEWS_HELP = "only this feature view; repeat the option or give a comma-separated list (default: all)"


def cmd_spark(args) -> int:
    from featurestore.config import load_config
    from featurestore.runtime.warm_spark_server import status_or_stop

    print(status_or_stop(load_config(args.repo), args.spark_command))
    return 0


def add_commands(commands, common) -> None:
    """Register the commands on `commands`; `common` is the parent parser with --repo."""
    spark = commands.add_parser("spark", parents=[common], help="the repo's warm Spark: status, or stop it now")
    spark.add_argument("spark_command", choices=("status", "stop"), metavar="{status,stop}",
                       help="status: does it run, where, for which processes; stop: stop it now")
    spark.set_defaults(run=cmd_spark)

    materialize = commands.add_parser("materialize", parents=[common],
                                      help="write the newest values in [START, END) online")
    materialize.add_argument("start", help="ISO-8601 time (UTC unless a zone is given) or 'now'")
    materialize.add_argument("end", help="ISO-8601 time or 'now'")
    materialize.add_argument("--views", "-v", action="append", metavar="VIEW[,VIEW...]", help=VIEWS_HELP)
    materialize.set_defaults(run=cmd_materialize)

    incremental = commands.add_parser("materialize-incremental", parents=[common],
                                      help="materialize from where the last run ended up to END")
    incremental.add_argument("end", help="ISO-8601 time or 'now'")
    incremental.add_argument("--views", "-v", action="append", metavar="VIEW[,VIEW...]", help=VIEWS_HELP)
    incremental.set_defaults(run=cmd_materialize_incremental)

    stream = commands.add_parser("stream", parents=[common],
                                 help="follow a StreamFeatureView's Delta source, writing micro-batches online")
    stream.add_argument("--view", "-v", required=True, help="the StreamFeatureView")
    stream.add_argument("--checkpoint", help="the checkpoint folder (default: data/checkpoints/<project>/<view>)")
    stream.add_argument("--available-now", action="store_true",
                        help="write what the source holds now, then stop (else run until SIGTERM or Ctrl-C)")
    stream.set_defaults(run=cmd_stream)

    online = commands.add_parser("get-online-features", parents=[common],
                                 help="read feature values from the online store")
    online.add_argument("--features", "-f", help="comma-separated view:feature references")
    online.add_argument("--feature-service", help="a feature service instead of --features")
    online.add_argument("--entity", "-e", action="append", required=True,
                        help="one entity row as key=value[,key=value] (join keys and on-demand views' request "
                             "fields, e.g. driver_id=1001,val_to_add=2); repeat for more rows")
    online.set_defaults(run=cmd_get_online_features)

    serve = commands.add_parser("serve", parents=[common],
                                help="serve online features over HTTP (Feast's endpoints), no JVM; options "
                                     "default to feature_store.yaml's serve: section")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", "-p", type=whole_number(0, 65535), help="port (default 6566, Feast's; 0: any free)")
    serve.add_argument("--workers", "-w", type=whole_number(1, 1024),
                       help="worker processes (default 1; one per core for production)")
    serve.add_argument("--max-rows", type=whole_number(1, 10**9), help="entity rows per request at most (default 10,000)")
    serve.add_argument("--max-body-bytes", type=whole_number(1, 2**40), help="request body size at most (default 10 MiB)")
    serve.add_argument("--access-log", action="store_true", help="one line per request on stderr (no bodies)")
    serve.add_argument("--api-key-env", metavar="VARIABLE",
                       help="require 'Authorization: Bearer <key>', the key read from this environment variable")
    serve.set_defaults(run=cmd_serve)

    ui = commands.add_parser("ui", parents=[common],
                             help="the feature catalog in a browser: search, lineage, freshness (read-only, no JVM)")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", "-p", type=whole_number(0, 65535), default=8888, help="port (default 8888; 0: any free)")
    ui.add_argument("--export", metavar="DIR", help="write the catalog as static HTML into DIR instead of serving it")
    ui.set_defaults(run=cmd_ui)

    training = commands.add_parser("training-set", parents=[common], help="training-set commands")
    training_commands = training.add_subparsers(dest="training_command", metavar="SUBCOMMAND", required=True)
    build = training_commands.add_parser("build", parents=[common],
                                         help="build a point-in-time correct training set into a Delta table")
    build.add_argument("--entities", required=True, help="entity table name or SQL query")
    build.add_argument("--features", help="comma-separated view:feature references")
    build.add_argument("--feature-service", help="a registered feature service instead of --features")
    build.add_argument("--output", required=True, help="the Delta table to write")
    build.add_argument("--overwrite", action="store_true", help="replace the output table if it exists")
    build.add_argument("--full-feature-names", action="store_true", help="name columns view__feature")
    build.set_defaults(run=cmd_training_set_build)

    rebuild = training_commands.add_parser("rebuild", parents=[common],
                                           help="recompute a saved training set from the same Delta versions")
    rebuild.add_argument("table", help="a table written by save_as_table / jobs/build_training_set.py")
    rebuild.add_argument("--output", help="table to write (default: TABLE_rebuilt)")
    rebuild.add_argument("--overwrite", action="store_true", help="replace the output table if it exists")
    rebuild.add_argument("--allow-changed-transformations", action="store_true",
                         help="rebuild even if a batch transformation or on-demand function changed since")
    rebuild.set_defaults(run=cmd_training_set_rebuild)
