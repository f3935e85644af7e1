"""spark-submit job: materialize feature views into the online store.

    spark-submit jobs/materialize.py --repo PATH (--start T --end T | --incremental --end T) [--views V ...]

Times are ISO-8601 (UTC unless a zone is given) or 'now'. Prints per view the rows
selected, the rows written and the time taken; exits non-zero on failure, with no
interval recorded for the view that failed.
"""
import argparse
import sys

from featurestore.cli.timeparse import parse_time
from featurestore.errors import FeatureStoreError
from featurestore.store import FeatureStore


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repo folder")
    parser.add_argument("--start", help="interval start (not with --incremental)")
    parser.add_argument("--end", required=True, help="interval end, or 'now'")
    parser.add_argument("--incremental", action="store_true", help="start where the last run ended")
    parser.add_argument("--views", nargs="+", help="only these feature views")
    args = parser.parse_args(argv)
    if args.incremental == bool(args.start):
        parser.error("give either --start with --end, or --incremental with --end")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        end = parse_time(args.end, "--end")
        start = parse_time(args.start, "--start") if args.start else None
        store = FeatureStore(repo_path=args.repo)
        store.views_to_materialize(args.views)  # unknown views fail before Spark starts
        if args.incremental:
            results = store.materialize_incremental(end, args.views)
        else:
            results = store.materialize(start, end, args.views)
    except FeatureStoreError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    total = sum(r.rows_written for r in results)
    print(f"Materialized {len(results)} view(s), {total:,} rows written.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
