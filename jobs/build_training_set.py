"""spark-submit job: build a point-in-time correct training set and save it as a Delta table.

    spark-submit jobs/build_training_set.py --repo PATH --entities TABLE_OR_SQL \
        (--features view:f,... | --feature-service NAME) --output TABLE [--overwrite]

Configuration is checked before Spark does any work; the session spark-submit made is
reused; all logic lives in featurestore.
"""
import argparse
import sys
import time

from featurestore.errors import FeatureStoreError
from featurestore.store import FeatureStore


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the feature repo folder")
    parser.add_argument("--entities", required=True, help="entity table name or SQL query")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--features", help="comma-separated view:feature references")
    group.add_argument("--feature-service", help="a registered feature service")
    parser.add_argument("--output", required=True, help="the Delta table to write")
    parser.add_argument("--overwrite", action="store_true", help="replace the output table if it exists")
    parser.add_argument("--full-feature-names", action="store_true", help="name columns view__feature")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        store = FeatureStore(repo_path=args.repo)  # config and registry checked before Spark starts
        features = store.get_feature_service(args.feature_service) if args.feature_service \
            else args.features.split(",")
        job = store.get_historical_features(args.entities, features, full_feature_names=args.full_feature_names)
        job.save_as_table(args.output, mode="overwrite" if args.overwrite else "error")
        table = store.spark.table(args.output)
        rows = table.count()
    except FeatureStoreError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"Training set {args.output}: {rows:,} rows in {time.perf_counter() - started:.1f} s")
    print("Schema:")
    for field in table.schema.fields:
        print(f"  {field.name}: {field.dataType.simpleString()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
