"""spark-submit job: follow a StreamFeatureView's Delta source, writing micro-batches online.

    spark-submit jobs/stream.py --repo PATH --view VIEW [--available-now] [--checkpoint DIR]

The `featurestore stream` command run under spark-submit (which chose the master and
jars): runs until stopped (SIGTERM, Ctrl-C), or with --available-now writes what the
source holds now and exits. See featurestore/streaming.py.
"""
import sys

from featurestore.cli import main

if __name__ == "__main__":
    sys.exit(main(["stream", *sys.argv[1:]]))
