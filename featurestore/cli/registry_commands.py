"""CLI commands over the repo and the registry: init, plan, apply, teardown, registry dump|history|
show|migrate, <object> list|describe, version. The read-only ones never import pyspark."""
from __future__ import annotations

import json
from pathlib import Path

from featurestore.cli.common import CommandLineError, open_store, whole_number
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
    print(store.plan(store.load_repo(), delete_missing=True, against=args.against).render())
    return 0


def cmd_apply(args) -> int:
    store = open_store(args)
    diff = store.apply(store.load_repo(), partial=False)
    print(diff.render() if not diff.is_empty() else "No changes: the registry already matches the definitions.")
    print(f"Registry {store.registry_store.location} is at version {store.registry.version}.")
    return 0


def cmd_teardown(args) -> int:
    store = open_store(args)
    store.teardown()
    print(f"Removed the online tables and the registry of project {store.project!r}.")
    return 0


def cmd_registry_dump(args) -> int:
    print(open_store(args).registry.to_json())
    return 0


def cmd_registry_history(args) -> int:
    store = open_store(args)
    entries = store.registry_store.history(limit=args.limit)
    if args.json:
        print(json.dumps([{"version": e.version, "committed_at": e.committed_at.isoformat(), "user": e.user,
                           "host": e.host, "command": e.command, "summary": e.summary} for e in entries], indent=2))
        return 0
    if not entries:
        print(f"Registry {store.registry_store.location} has no version of project {store.project!r} yet.")
    for entry in entries:
        first = entry.summary.splitlines()[-1] if entry.summary else ""
        print(f"{entry.version:>6}  {entry.committed_at.strftime('%Y-%m-%d %H:%M:%S')}Z  {entry.user}@{entry.host}  "
              f"{entry.command:<11}  {first}")
    return 0


def cmd_registry_show(args) -> int:
    store = open_store(args)
    state = store.registry if args.version is None else store.registry_store.load_version(args.version)
    print(state.to_json())
    return 0


def cmd_registry_migrate(args) -> int:
    from featurestore.registry.migrate import migrate

    store = open_store(args)
    target = migrate(store.registry_store, args.to, store.repo_path)
    print(f"Copied registry {store.registry_store.location} (version {store.registry.version}) to {target.location}. "
          f"Use it by setting in {store.repo_path / 'feature_store.yaml'}:\n"
          f"registry:\n  registry_type: sql\n  path: {args.to if '@' not in args.to else target.location}")
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

    plan = commands.add_parser("plan", parents=[common], help="show what apply would change; writes nothing")
    plan.add_argument("--against", type=whole_number(1), metavar="VERSION",
                      help="compare with this version of a SQL registry instead of the newest")
    plan.set_defaults(run=cmd_plan)
    commands.add_parser("apply", parents=[common],
                        help="validate the repo's definitions and register them").set_defaults(run=cmd_apply)
    commands.add_parser("teardown", parents=[common], help="remove the online tables and the registry").set_defaults(
        run=cmd_teardown)

    registry = commands.add_parser("registry", parents=[common], help="registry commands")
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)
    registry_commands.add_parser("dump", parents=[common], help="print the registry as JSON").set_defaults(
        run=cmd_registry_dump)
    history = registry_commands.add_parser("history", parents=[common],
                                           help="list a SQL registry's versions, newest first")
    history.add_argument("--limit", type=whole_number(1), default=None, help="at most this many versions")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(run=cmd_registry_history)
    show = registry_commands.add_parser("show", parents=[common], help="print one version of the registry as JSON")
    show.add_argument("--version", type=whole_number(1), default=None, help="the version (default: the newest)")
    show.set_defaults(run=cmd_registry_show)
    migrate = registry_commands.add_parser("migrate", parents=[common],
                                           help="copy this repo's registry into a SQL registry, content unchanged")
    migrate.add_argument("--to", required=True, metavar="URL",
                         help="sqlite:///PATH (relative to the repo) or postgresql://USER@HOST:PORT/DATABASE")
    migrate.set_defaults(run=cmd_registry_migrate)

    for command in OBJECT_COMMANDS:
        sub = commands.add_parser(command, parents=[common], help=f"list or describe {command.replace('-', ' ')}")
        sub.add_argument("action", choices=("list", "describe"))
        sub.add_argument("name", nargs="?", help="the object to describe")
        sub.set_defaults(run=cmd_objects)
