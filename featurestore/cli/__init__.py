"""The `featurestore` command: Feast-style verbs over a feature repo.

    featurestore [--repo PATH] COMMAND [--repo PATH] ...

`--repo` (default `.`) may come before or after the command. The commands live in
registry_commands.py (init, plan, apply, teardown, registry dump, <object> list|describe,
version), job_commands.py (materialize, materialize-incremental, get-online-features,
training-set build|rebuild) and quality_commands.py (profile, validate). Commands that
only read the registry never start a JVM. The spark-submit jobs in jobs/ are this command
under spark-submit: the same verbs and flags.

Library code never prints: its progress goes to the `featurestore` logger, which main()
sends to stdout, one plain line per message.

Exit codes:
  0  success;
  1  any error: a featurestore error (config, definitions, registry, stores, or a
     CommandLineError such as a repeated --entity key) or an unexpected exception. One
     line on stderr says what is wrong, where and how to fix it; FEATURESTORE_DEBUG=1
     re-raises unexpected exceptions with their traceback;
  2  a usage error found by argparse (unknown option, missing argument), printed with the
     usage, following argparse's convention;
  130 interrupted;
  141 stdout was closed early (`featurestore registry dump | head -1`), silently, as
      a tool killed by SIGPIPE.

JSON output (get-online-features) is strict JSON: a value that is NaN, +inf or -inf is
printed as the string "NaN", "Infinity" or "-Infinity", as protobuf's JSON mapping does,
so any JSON parser reads it and a stored NaN is not confused with a missing value (null).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys

from featurestore.cli import job_commands, quality_commands, registry_commands
from featurestore.cli.common import CommandLineError, json_safe
from featurestore.errors import FeatureStoreError

__all__ = ["CommandLineError", "build_parser", "json_safe", "main"]

REPO_HELP = "the feature repo folder (default: .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="featurestore", description="A Spark-native feature store.")
    parser.add_argument("--repo", "-r", "--chdir", default=".", help=REPO_HELP)
    parser.add_argument("--version", action="version", version=f"featurestore {registry_commands.version()}")
    # Every subcommand takes --repo too; SUPPRESS keeps the top-level value when it is not repeated.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repo", "-r", "--chdir", default=argparse.SUPPRESS, help=REPO_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    registry_commands.add_commands(commands, common)
    job_commands.add_commands(commands, common)
    quality_commands.add_commands(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]) and return its exit code."""
    from featurestore.runtime import session

    parser = build_parser()
    show_progress()
    session.from_cli = True  # Spark work runs on the repo's warm Spark (featurestore.runtime.warm_spark)
    if sys.stderr.isatty():  # a person waits: say what a cold Spark start is doing
        session.on_start = lambda line: print(f"featurestore: {line}", file=sys.stderr, flush=True)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed them
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.run(args)
    except FeatureStoreError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `featurestore registry dump | head -1`: the reader has what it wanted
        return quiet_on_closed_pipe()
    except Exception as error:  # unexpected: still one line and exit 1, the traceback on request
        if os.environ.get("FEATURESTORE_DEBUG"):
            raise
        from featurestore.runtime.session import RUN_LOCALLY, connect_limitation

        why = connect_limitation(error)
        if why is not None:  # a Spark Connect session met one of Connect's known gaps
            print(f"Error: `featurestore {args.command}` is not supported over Spark Connect: {why}; {RUN_LOCALLY}",
                  file=sys.stderr)
            return 1
        print(f"Error: unexpected {type(error).__name__}: {first_line(error)} (set FEATURESTORE_DEBUG=1 for the "
              f"whole error and its traceback)", file=sys.stderr)
        return 1


def first_line(error: Exception, limit: int = 400) -> str:
    """The first line of an error's message, at most `limit` characters: Spark's errors go on
    with the logical plan (kilobytes, whole profiles in it) and the JVM's stack."""
    lines = str(error).strip().splitlines() or [""]
    line = lines[0].rstrip(";")
    return line if len(line) <= limit else line[:limit] + " ..."


def quiet_on_closed_pipe() -> int:
    """Exit as a Unix tool killed by SIGPIPE does (128 + 13), silently: stdout is pointed at
    /dev/null so that the interpreter's final flush does not complain either."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 141


def show_progress() -> None:
    """Send the library's progress (logger `featurestore`, INFO) to stdout as plain lines, once."""
    logger = logging.getLogger("featurestore")
    if not any(isinstance(h, _CurrentStdout) for h in logger.handlers):
        handler = _CurrentStdout()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class _CurrentStdout(logging.StreamHandler):
    """A handler writing to whatever sys.stdout is when a line is logged (redirected or captured)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def run() -> None:
    """The `featurestore` command: main(), then this process's JVM stopped before exiting."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = quiet_on_closed_pipe()
    stop_local_spark()
    sys.exit(code)


def stop_local_spark(timeout_seconds: float = 30.0) -> None:
    """Stop the JVM this command started, and wait until it has exited.

    A JVM outlives its Python process by a second or two while it shuts down, still holding
    the embedded Derby metastore; without the wait, `featurestore plan && featurestore apply`
    had the second command refused by the first one's exiting JVM.
    """
    if "pyspark" not in sys.modules or "PYSPARK_GATEWAY_PORT" in os.environ:  # no JVM, or spark-submit's own
        return
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = SparkContext._jvm = None
    if process is not None:
        process.stdin.close()  # the JVM exits when its stdin closes
        with contextlib.suppress(subprocess.TimeoutExpired):  # a slow exit must not fail a command that succeeded
            process.wait(timeout=timeout_seconds)


if __name__ == "__main__":
    run()
