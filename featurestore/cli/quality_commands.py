"""The `profile`, `validate` and `skew` commands, as plain functions plus their argparse wiring.

    featurestore profile TABLE [--version N] [--columns a,b] [--no-store] [--format text|json]
    featurestore profile --view VIEW --start T --end T [--format text|json]
    featurestore validate TABLE --reference OTHER_TABLE|VERSION|TABLE@VERSION [--version N]
                         [--threshold psi_fail=0.3 ...] [--format text|json] [--html report.html]
    featurestore skew SERVICE [--since T] [--until T] [--max-mismatch-rate 0.01] [--html report.html]
                      [--format text|json]

`profile TABLE` computes the table's profile and stores it beside the table (see
featurestore.quality.profile.store_profile), then prints it. `validate` loads the
reference's stored profile, profiles TABLE now on the reference's histogram edges (so PSI
is exact), prints one verdict per feature and exits 1 when a feature fails, 0 otherwise
(warnings included). `skew` compares a logged service's served values with its training
values (featurestore.quality.skew), stores the report for the catalog, and exits 1 when a
feature's mismatch rate is above the threshold (or nothing was logged). `profile_command`,
`validate_command` and `skew_command` take parsed values and a SparkSession and return the
exit code; `add_commands(subparsers, common)` registers them.
"""
from __future__ import annotations

import re
from datetime import datetime

from featurestore.cli.common import whole_number
from featurestore.errors import ValidationError
from featurestore.quality.drift import Thresholds, compare, overall_status
from featurestore.quality.report import dumps, profile_text, verdicts_json, verdicts_text, write_html

FORMATS = ("text", "json")
REFERENCE = re.compile(r"^(?P<table>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?)?(@(?P<version>\d+))?\Z")


def parse_reference(table: str, text: str) -> tuple[str, int | None]:
    """'3' -> (table, 3); 'other' -> ('other', None: its newest stored profile); 'other@2' -> ('other', 2)."""
    text = str(text).strip()
    if text.isdigit():
        return table, int(text)
    match = REFERENCE.match(text)
    if not text or not match or not (match["table"] or match["version"]):
        raise ValidationError(f"--reference {text!r} must be a version of {table} (e.g. 3), another table "
                              f"(db.table) or a table at a version (db.table@3)")
    return match["table"] or table, int(match["version"]) if match["version"] is not None else None


def parse_thresholds(items: list[str] | None, base: dict | None = None) -> Thresholds:
    """['psi_fail=0.3', ...] over `base` (e.g. feature_store.yaml's quality.thresholds) -> Thresholds."""
    values = dict(base or {})
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValidationError(f"--threshold {item!r} must look like name=number, e.g. psi_fail=0.3")
    return Thresholds.from_dict(values, where="--threshold")


def _check_format(output_format: str) -> None:
    if output_format not in FORMATS:
        raise ValidationError(f"--format {output_format!r} is not one of {', '.join(FORMATS)}")


def profile_command(spark, table: str | None = None, *, view=None, start: datetime | None = None,
                    end: datetime | None = None, version: int | None = None, columns: list[str] | None = None,
                    store: bool = True, output_format: str = "text", repo_path=None, out=print) -> int:
    """Profile a table (stored beside it unless store=False) or a FeatureView's source over [start, end)."""
    from featurestore.quality import profile as profiles

    _check_format(output_format)
    if (table is None) == (view is None):
        raise ValidationError("give either TABLE or --view VIEW --start T --end T to profile")
    if view is not None:
        if start is None or end is None:
            raise ValidationError(f"--view {view.name} needs --start and --end: the interval [start, end) of "
                                  f"event times to profile")
        result = profiles.profile_view(spark, view, start, end, repo_path)
    elif store:
        result = profiles.store_profile(spark, table, version, columns=columns)
    else:
        result = profiles.profile_table(spark, table, version, columns)
    out(dumps(result.to_dict()) if output_format == "json" else profile_text(result))
    return 0


def validate_command(spark, table: str, reference: str, *, version: int | None = None,
                     thresholds: Thresholds | None = None, output_format: str = "text", html: str | None = None,
                     out=print) -> int:
    """Compare TABLE (profiled now, at `version`) with the reference's stored profile; 1 if a feature fails."""
    from featurestore.quality import profile as profiles

    _check_format(output_format)
    ref_table, ref_version = parse_reference(table, reference)
    current_table = profiles._qualified(spark, table)  # a missing table is said before the reference is read
    reference_profile = profiles.load_profile(spark, ref_table, ref_version)
    frame_columns = profiles.read_table(spark, current_table).columns
    columns = [name for name in reference_profile.columns if name in frame_columns]
    current = profiles.profile_table(spark, table, version, columns, edges_from=reference_profile)
    thresholds = thresholds or Thresholds()
    verdicts = compare(reference_profile, current, thresholds)
    if output_format == "json":
        out(dumps(verdicts_json(verdicts, reference_profile, current, thresholds)))
    else:
        out(verdicts_text(verdicts, reference_profile.label(), current.label()))
    if html:
        write_html(html, reference_profile, current, verdicts, thresholds)
        if output_format == "text":
            out(f"HTML report: {html}")
    return 1 if overall_status(verdicts) == "fail" else 0


def skew_command(spark, store, service: str, *, since: datetime | None = None, until: datetime | None = None,
                 max_mismatch_rate: float | None = None, output_format: str = "text", html: str | None = None,
                 out=print) -> int:
    """Compare the service's logged rows with its training values; 1 when a feature fails."""
    from featurestore.quality.skew import compute_skew, store_report
    from featurestore.quality.skew_report import skew_text, write_skew_html

    _check_format(output_format)
    report = compute_skew(spark, store.registry, store.config, service, since, until, max_mismatch_rate)
    out(dumps(report.to_dict()) if output_format == "json" else skew_text(report))
    if html:
        write_skew_html(html, report)
        if output_format == "text":
            out(f"HTML report: {html}")
    store_report(store.config.warehouse_dir, report, html)
    return 1 if report.status == "fail" else 0


# --- argparse wiring --------------------------------------------------------------------------

def _store(args):
    from featurestore.store import FeatureStore

    return FeatureStore(repo_path=getattr(args, "repo", "."))


def _columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValidationError(f"--columns {text!r} has an empty name; give names separated by commas")
    return names


def cmd_profile(args) -> int:
    from featurestore.cli.timeparse import parse_time

    _check_format(args.format)
    start = parse_time(args.start, "--start") if args.start else None
    end = parse_time(args.end, "--end") if args.end else None
    store = _store(args)
    view = store.get_feature_view(args.view) if args.view else None
    return profile_command(store.spark, args.table, view=view, start=start, end=end, version=args.version,
                           columns=_columns(args.columns), store=not args.no_store, output_format=args.format,
                           repo_path=store.repo_path)


def cmd_validate(args) -> int:
    _check_format(args.format)
    store = _store(args)
    # feature_store.yaml's quality.thresholds, each overridden by a --threshold of the same name
    thresholds = parse_thresholds(args.threshold, store.config.quality_thresholds)
    return validate_command(store.spark, args.table, args.reference, version=args.version, thresholds=thresholds,
                            output_format=args.format, html=args.html)


def cmd_skew(args) -> int:
    from featurestore.cli.timeparse import parse_time

    _check_format(args.format)
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    store = _store(args)
    return skew_command(store.spark, store, args.service, since=since, until=until,
                        max_mismatch_rate=args.max_mismatch_rate, output_format=args.format, html=args.html)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        import argparse

        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] (0.01: 1% of a feature's rows), got {text!r}")
    return value


def add_commands(commands, common=None) -> None:
    """Register `profile` and `validate` on `commands` (argparse subparsers); `common` holds --repo."""
    parents = [common] if common is not None else []
    profile = commands.add_parser("profile", parents=parents,
                                  help="profile a table (stored beside it) or a feature view's source")
    profile.add_argument("table", nargs="?", help="table or database.table")
    profile.add_argument("--version", type=whole_number(0), help="Delta version to profile (default: the current one)")
    profile.add_argument("--columns", help="comma-separated columns (default: all)")
    profile.add_argument("--no-store", action="store_true", help="print the profile without storing it")
    profile.add_argument("--view", help="profile this feature view's source instead of a table")
    profile.add_argument("--start", help="with --view: ISO-8601 start of the interval (inclusive)")
    profile.add_argument("--end", help="with --view: ISO-8601 end of the interval (exclusive)")
    profile.add_argument("--format", default="text", help="text (default) or json")
    profile.set_defaults(run=cmd_profile)

    validate = commands.add_parser("validate", parents=parents,
                                   help="compare a table with a reference profile; exit 1 when a feature fails")
    validate.add_argument("table", help="table to check, profiled now")
    validate.add_argument("--reference", required=True,
                          help="a version of TABLE (3), another table (db.other) or db.other@3, with a stored profile")
    validate.add_argument("--version", type=whole_number(0), help="Delta version of TABLE to check (default: the current one)")
    validate.add_argument("--threshold", action="append", metavar="NAME=VALUE",
                          help="override a threshold, e.g. psi_fail=0.3; repeatable")
    validate.add_argument("--format", default="text", help="text (default) or json")
    validate.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    validate.set_defaults(run=cmd_validate)

    skew = commands.add_parser("skew", parents=parents,
                               help="compare a logged service's served values with its training values; exit 1 "
                                    "when a feature's mismatch rate is above the threshold")
    skew.add_argument("service", help="a feature service with a LoggingConfig")
    skew.add_argument("--since", help="ISO-8601 time: compare rows logged at or after it (default: all)")
    skew.add_argument("--until", help="ISO-8601 time: compare rows logged before it (default: all)")
    skew.add_argument("--max-mismatch-rate", type=_rate, metavar="RATE",
                      help="a feature fails above this share of mismatched rows (default: the service's "
                           "LoggingConfig.max_mismatch_rate, else 0.01)")
    skew.add_argument("--format", default="text", help="text (default) or json")
    skew.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    skew.set_defaults(run=cmd_skew)
