"""Online inference for the driver-ranking example: pick the best driver right now.

Reads the newest features of drivers 1001-1003 from the online store (pure Python, no
JVM), or over HTTP from `featurestore serve` with --server, predicts with the model the
training step saved, prints the table and the winner.

    python examples/driver_ranking_inference.py --repo driver_repo
    python examples/driver_ranking_inference.py --repo driver_repo --server http://127.0.0.1:6566
"""
import argparse
import time
from pathlib import Path

from featurestore import FeatureStore
from featurestore.scaffold.walkthrough import load_model, rank_drivers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=".", help="the feature repo")
    parser.add_argument("--model", help="model file (default: REPO/data/driver_model.joblib)")
    parser.add_argument("--drivers", default="1001,1002,1003", help="comma-separated driver ids")
    parser.add_argument("--server", help="read the features from this feature server (featurestore serve)")
    args = parser.parse_args()
    if args.server:
        from feature_server_client import ServerStore  # beside this file

        store = ServerStore(args.server)
    else:
        store = FeatureStore(repo_path=args.repo)
    model = load_model(Path(args.model) if args.model else Path(args.repo) / "data" / "driver_model.joblib")
    drivers = [int(d) for d in args.drivers.split(",")]
    started = time.perf_counter()
    frame, best = rank_drivers(store, model, drivers)
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(frame.to_string(index=False))
    print(f"Best driver: {best} (features read and scored in {elapsed_ms:.1f} ms)")


if __name__ == "__main__":
    main()
