"""spark-submit job: materialize feature views into the online store.

    spark-submit jobs/materialize.py materialize-incremental END --repo PATH [-v VIEW[,VIEW...]]
    spark-submit jobs/materialize.py materialize START END --repo PATH [-v VIEW[,VIEW...]]

The `featurestore` command's materialize verbs, flags and output, run under spark-submit
(which chose the master and jars); times are ISO-8601 (UTC unless a zone is given) or
'now'. Prints per view the rows selected, the rows written and the time taken; exits
non-zero on failure, with no interval recorded for the view that failed.
"""
import sys

from featurestore.cli import main

VERBS = ("materialize", "materialize-incremental")

if __name__ == "__main__":
    if not sys.argv[1:] or sys.argv[1] not in VERBS:
        print(f"usage: spark-submit jobs/materialize.py {{{','.join(VERBS)}}} ... --repo PATH (see --help of "
              f"either)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
