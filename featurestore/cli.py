"""The `featurestore` command: Feast-style verbs over a feature repo.

Errors print one line (what, where, how to fix) on stderr and exit 1; set
FEATURESTORE_DEBUG=1 for the traceback. Commands that only read the registry
(registry dump, list, describe) never start a JVM.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from featurestore.errors import FeatureStoreError

OBJECT_COMMANDS = {"entities": "entities", "feature-views": "feature_views",
                   "feature-services": "feature_services", "data-sources": "data_sources"}


def _store(args):
    from featurestore.store import FeatureStore

    return FeatureStore(repo_path=args.repo)


def cmd_init(args) -> int:
    from featurestore.scaffold import init_repo

    path = init_repo(Path(args.name), with_data=not args.no_data)
    print(f"Created feature repo {path}")
    print(f"  cd {args.name} && featurestore apply")
    return 0


def cmd_plan(args) -> int:
    store = _store(args)
    print(store.plan(store.load_repo(), delete_missing=True).render())
    return 0


def cmd_apply(args) -> int:
    store = _store(args)
    diff = store.apply(store.load_repo(), partial=False)
    print(diff.render() if not diff.is_empty() else "No changes: the registry already matches the definitions.")
    print(f"Registry {store.config.registry_path} is at version {store.registry.version}.")
    return 0


def cmd_teardown(args) -> int:
    store = _store(args)
    store.teardown()
    print(f"Removed the online tables and the registry of project {store.project!r}.")
    return 0


def cmd_registry_dump(args) -> int:
    print(_store(args).registry.to_json())
    return 0


def cmd_objects(args) -> int:
    state = _store(args).registry
    kind = OBJECT_COMMANDS[args.command]
    if args.action == "list":
        for name, obj in sorted(state.collection(kind).items()):
            print(f"{name}\t{_summary(obj)}")
        return 0
    if not args.name:
        raise FeatureStoreError(f"`featurestore {args.command} describe` needs a NAME")
    from google.protobuf import json_format

    obj = state.get(kind, args.name)
    print(json.dumps(json_format.MessageToDict(obj.to_proto(), preserving_proto_field_name=True), indent=2))
    return 0


def _summary(obj) -> str:
    from featurestore.definitions import DataSource, Entity, FeatureService, FeatureView

    if isinstance(obj, Entity):
        return f"join_keys={','.join(obj.join_keys)}"
    if isinstance(obj, FeatureView):
        return f"entities={','.join(obj.entities)} features={len(obj.features)} ttl={obj.ttl}"
    if isinstance(obj, FeatureService):
        return f"features={len(obj.feature_refs())}"
    if isinstance(obj, DataSource):
        return obj.describe_location()
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="featurestore", description="A Spark-native feature store.")
    parser.add_argument("--repo", "-r", "--chdir", default=".", help="the feature repo folder (default: .)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = commands.add_parser("init", help="create a feature repo with sample data")
    init.add_argument("name", help="folder to create; its name becomes the project name")
    init.add_argument("--no-data", action="store_true", help="skip generating the sample Delta tables")
    init.set_defaults(run=cmd_init)

    commands.add_parser("plan", help="show what apply would change; writes nothing").set_defaults(run=cmd_plan)
    commands.add_parser("apply", help="validate the repo's definitions and register them").set_defaults(
        run=cmd_apply)
    commands.add_parser("teardown", help="remove the online tables and the registry").set_defaults(
        run=cmd_teardown)

    registry = commands.add_parser("registry", help="registry commands")
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)
    registry_commands.add_parser("dump", help="print the registry as JSON").set_defaults(run=cmd_registry_dump)

    for command in OBJECT_COMMANDS:
        sub = commands.add_parser(command, help=f"list or describe {command.replace('-', ' ')}")
        sub.add_argument("action", choices=("list", "describe"))
        sub.add_argument("name", nargs="?", help="the object to describe")
        sub.set_defaults(run=cmd_objects)

    _add_later_commands(commands)
    return parser


def _add_later_commands(commands) -> None:
    """Commands of the materialization and training-set modules, when present."""
    try:
        from featurestore import cli_jobs
    except ImportError:
        return
    cli_jobs.add_commands(commands)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FeatureStoreError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # unexpected: still one line, the traceback on request
        if os.environ.get("FEATURESTORE_DEBUG"):
            raise
        print(f"Error: unexpected {type(error).__name__}: {error} (set FEATURESTORE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
