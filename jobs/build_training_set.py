"""spark-submit job: build a point-in-time correct training set and save it as a Delta table.

    spark-submit jobs/build_training_set.py --repo PATH --entities TABLE_OR_SQL \
        (--features view:f,... | --feature-service NAME) --output TABLE [--overwrite] [--full-feature-names]

`featurestore training-set build` under spark-submit: the same flags and output.
Configuration is checked before Spark does any work; the session spark-submit made is
reused; all logic lives in featurestore.
"""
import sys

from featurestore.cli import main

if __name__ == "__main__":
    sys.exit(main(["training-set", "build", *sys.argv[1:]]))
