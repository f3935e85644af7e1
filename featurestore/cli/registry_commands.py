"""CLI commands over the repo and the registry: init, plan, apply, teardown, registry dump,
<object> list|describe, version. The read-only ones never import pyspark."""
from __future__ import annotations

import json
from pathlib import Path

from featurestore.cli.common import CommandLineError, open_store
from featurestore.definitions.kinds import KINDS

# `<command> list|describe`, one per definition kind, in the order `featurestore --help` lists them
OBJECT_COMMANDS = {kind.command: kind for kind in sorted(KINDS, key=lambda kind: kind.help_order)}


def version() -> str:
    """featurestore's version: the package attribute, else the installed distribution's."""
    import featurestore

    found = getattr(featurestore, "__version__", None)
    if found:
        return str(found)
    from importlib import metadata

    try:
        return metadata.version("featurestore")
    except metadata.PackageNotFoundError:
        return "unknown"


def cmd_version(args) -> int:
    print(f"featurestore {version()}")
    return 0


def cmd_init(args) -> int:
    from featurestore.scaffold import init_repo

    path = init_repo(Path(args.name), with_data=not args.no_data)
    print(f"Created feature repo {path}")
    print(f"  cd {args.name} && featurestore apply")
    return 0


def cmd_plan(args) -> int:
    store = open_store(args)
    print(store.plan(store.load_repo(), delete_missing=True).render())
    return 0


def cmd_apply(args) -> int:
    store = open_store(args)
    diff = store.apply(store.load_repo(), partial=False)
    print(diff.render() if not diff.is_empty() else "No changes: the registry already matches the definitions.")
    print(f"Registry {store.config.registry_path} is at version {store.registry.version}.")
    return 0


def cmd_teardown(args) -> int:
    store = open_store(args)
    store.teardown()
    print(f"Removed the online tables and the registry of project {store.project!r}.")
    return 0


def cmd_registry_dump(args) -> int:
    print(open_store(args).registry.to_json())
    return 0


def cmd_objects(args) -> int:
    if args.action == "describe" and not args.name:
        raise CommandLineError(f"`featurestore {args.command} describe` needs a NAME, e.g. "
                               f"`featurestore {args.command} list` shows them")
    if args.action == "list" and args.name:
        raise CommandLineError(f"`featurestore {args.command} list` takes no NAME (got {args.name!r}); "
                               f"use `featurestore {args.command} describe {args.name}`")
    state = open_store(args).registry
    kind = OBJECT_COMMANDS[args.command]
    if args.action == "list":
        for name, obj in sorted(state.collection(kind.field).items()):
            print(f"{name}\t{kind.summary(obj)}")
        return 0
    from google.protobuf import json_format

    obj = state.get(kind.field, args.name)
    print(json.dumps(json_format.MessageToDict(obj.to_proto(), preserving_proto_field_name=True), indent=2))
    return 0


def add_commands(commands, common) -> None:
    """Register the commands on `commands` (an argparse subparsers action); `common` is the
    parent parser holding the options every command takes (--repo)."""
    commands.add_parser("version", parents=[common], help="print featurestore's version").set_defaults(
        run=cmd_version)

    init = commands.add_parser("init", parents=[common], help="create a feature repo with sample data")
    init.add_argument("name", help="folder to create; its name becomes the project name")
    init.add_argument("--no-data", action="store_true", help="skip generating the sample Delta tables")
    init.set_defaults(run=cmd_init)

    commands.add_parser("plan", parents=[common], help="show what apply would change; writes nothing").set_defaults(
        run=cmd_plan)
    commands.add_parser("apply", parents=[common],
                        help="validate the repo's definitions and register them").set_defaults(run=cmd_apply)
    commands.add_parser("teardown", parents=[common], help="remove the online tables and the registry").set_defaults(
        run=cmd_teardown)

    registry = commands.add_parser("registry", parents=[common], help="registry commands")
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)
    registry_commands.add_parser("dump", parents=[common], help="print the registry as JSON").set_defaults(
        run=cmd_registry_dump)

    for command in OBJECT_COMMANDS:
        sub = commands.add_parser(command, parents=[common], help=f"list or describe {command.replace('-', ' ')}")
        sub.add_argument("action", choices=("list", "describe"))
        sub.add_argument("name", nargs="?", help="the object to describe")
        sub.set_defaults(run=cmd_objects)
