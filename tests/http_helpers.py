"""Reading the feature server's JSON answers in tests: an error comes as Feast's server sends it,
a JSON string of {"module", "class", "message", "status"} (featurestore.serving.api.error_json),
here unwrapped to {"error": that object} so a test reads body["error"]["message"]."""
from __future__ import annotations

import json


def parsed(data: bytes):
    value = json.loads(data)
    if isinstance(value, str) and value.startswith("{"):
        return {"error": json.loads(value)}
    return value
