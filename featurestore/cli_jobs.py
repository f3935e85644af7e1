"""CLI commands that run work: materialize, online reads, training sets.

Kept apart from cli.py so the registry-only commands stay small; `get-online-features`
never imports pyspark.
"""
from __future__ import annotations

import json

from featurestore.errors import DefinitionError
from featurestore.timeparse import parse_time


def _store(args):
    from featurestore.store import FeatureStore

    return FeatureStore(repo_path=args.repo)


def cmd_materialize(args) -> int:
    store = _store(args)
    start, end = parse_time(args.start, "START"), parse_time(args.end, "END")
    store.materialize(start, end, args.views or None)
    return 0


def cmd_materialize_incremental(args) -> int:
    store = _store(args)
    store.materialize_incremental(parse_time(args.end, "END"), args.views or None)
    return 0


def parse_entity(text: str) -> tuple[str, object]:
    """'driver_id=1001' -> ('driver_id', 1001); quoted or non-numeric values stay strings."""
    if "=" not in text:
        raise DefinitionError(f"--entity {text!r} must look like join_key=value, e.g. driver_id=1001")
    key, value = text.split("=", 1)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return key, value[1:-1]
    try:
        return key, int(value)
    except ValueError:
        return key, value


def cmd_get_online_features(args) -> int:
    store = _store(args)
    features = args.features.split(",") if args.features else None
    if args.feature_service:
        features = store.get_feature_service(args.feature_service)
    if not features:
        raise DefinitionError("give --features view:feature,... or --feature-service NAME")
    rows = []
    for group in args.entity:
        rows.append(dict(parse_entity(item) for item in group.split(",")))
    response = store.get_online_features(features, rows)
    print(json.dumps({"values": response.to_dict(), "statuses": response.statuses()}, indent=2, default=str))
    return 0


def cmd_training_set_rebuild(args) -> int:
    store = _store(args)
    job = store.rebuild_training_set(args.table)
    output = args.output or f"{args.table}_rebuilt"
    job.save_as_table(output, mode="overwrite" if args.overwrite else "error")
    print(f"Rebuilt {args.table} into {output}: {store.spark.table(output).count():,} rows")
    return 0


def add_commands(commands) -> None:
    materialize = commands.add_parser("materialize", help="write the newest values in [START, END) online")
    materialize.add_argument("start", help="ISO-8601 time (UTC unless a zone is given) or 'now'")
    materialize.add_argument("end", help="ISO-8601 time or 'now'")
    materialize.add_argument("--views", "-v", nargs="+", help="only these feature views")
    materialize.set_defaults(run=cmd_materialize)

    incremental = commands.add_parser("materialize-incremental",
                                      help="materialize from where the last run ended up to END")
    incremental.add_argument("end", help="ISO-8601 time or 'now'")
    incremental.add_argument("--views", "-v", nargs="+", help="only these feature views")
    incremental.set_defaults(run=cmd_materialize_incremental)

    online = commands.add_parser("get-online-features", help="read feature values from the online store")
    online.add_argument("--features", "-f", help="comma-separated view:feature references")
    online.add_argument("--feature-service", help="a feature service instead of --features")
    online.add_argument("--entity", "-e", action="append", required=True,
                        help="one entity row as key=value[,key=value]; repeat for more rows")
    online.set_defaults(run=cmd_get_online_features)

    training = commands.add_parser("training-set", help="training-set commands")
    training_commands = training.add_subparsers(dest="training_command", metavar="SUBCOMMAND", required=True)
    rebuild = training_commands.add_parser("rebuild", help="recompute a saved training set from the same "
                                                           "Delta versions")
    rebuild.add_argument("table", help="a table written by save_as_table / jobs/build_training_set.py")
    rebuild.add_argument("--output", help="table to write (default: TABLE_rebuilt)")
    rebuild.add_argument("--overwrite", action="store_true", help="replace the output table if it exists")
    rebuild.set_defaults(run=cmd_training_set_rebuild)
