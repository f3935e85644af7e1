"""A feature-server client in plain urllib: what any model server needs to read features
from `featurestore serve` (docs/serving.md). No featurestore import; any language does the same.

    python examples/feature_server_client.py --server http://127.0.0.1:6566 \
        --feature-service driver_ranking --entity driver_id=1001 --entity driver_id=1002
"""
from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request


def get_online_features(server: str, entities: dict[str, list], features: list[str] | None = None,
                        feature_service: str | None = None, api_key: str | None = None,
                        timeout: float = 5.0) -> dict[str, list]:
    """{feature name: [value per entity row]} from POST /get-online-features (Feast's JSON)."""
    body = {"entities": entities}
    if feature_service:
        body["feature_service"] = feature_service
    else:
        body["features"] = features
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(f"{server.rstrip('/')}/get-online-features", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:  # says what and where, as Feast's server does: a JSON
        raise RuntimeError(json.loads(json.load(error))["message"]) from None  # string holding the object
    names = answer["metadata"]["feature_names"]
    return {name: result["values"] for name, result in zip(names, answer["results"])}


class ServerStore:
    """The two FeatureStore calls the inference example makes, answered by the feature server."""

    def __init__(self, server: str, api_key: str | None = None):
        self.server, self.api_key = server, api_key

    def get_feature_service(self, name: str) -> str:
        return name

    def get_online_features(self, features, entity_rows: list[dict]):
        entities = {key: [row[key] for row in entity_rows] for key in entity_rows[0]}
        service = features if isinstance(features, str) else None
        return _Response(get_online_features(self.server, entities, None if service else list(features), service,
                                             self.api_key))


class _Response:
    def __init__(self, columns: dict[str, list]):
        self._columns = columns

    def to_dict(self) -> dict[str, list]:
        return dict(self._columns)

    def to_df(self):
        import pandas as pd

        return pd.DataFrame(self._columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:6566")
    parser.add_argument("--features", help="comma-separated view:feature references")
    parser.add_argument("--feature-service")
    parser.add_argument("--entity", "-e", action="append", required=True, help="key=value, one per entity row")
    args = parser.parse_args()
    rows = [dict(item.split("=", 1) for item in entity.split(",")) for entity in args.entity]
    entities = {key: [int(row[key]) if row[key].lstrip("-").isdigit() else row[key] for row in rows]
                for key in rows[0]}
    features = args.features.split(",") if args.features else None
    print(json.dumps(get_online_features(args.server, entities, features, args.feature_service), indent=2))


if __name__ == "__main__":
    main()
