"""What the CLI's command modules share: the command-line error, opening the store, JSON output."""
from __future__ import annotations

import json
import math
import numbers

from featurestore.errors import FeatureStoreError


class CommandLineError(FeatureStoreError, ValueError):
    """A command line that parses but says something impossible: a malformed or repeated
    --entity, both --features and --feature-service, an unreadable time. Printed as one
    line; exit code 1 like every other featurestore error."""


def open_store(args):
    from featurestore.store import FeatureStore

    return FeatureStore(repo_path=args.repo)


def json_safe(value):
    """`value` with every non-finite float replaced as protobuf's JSON mapping does.

    NaN -> "NaN", +inf -> "Infinity", -inf -> "-Infinity" (strings), so the output is
    strict JSON that any parser reads, and a stored NaN stays distinguishable from a
    missing value (null). Dicts, lists and tuples are walked; other values are unchanged.

    >>> json_safe({"a": [1.5, float("nan"), float("-inf"), None]})
    {'a': [1.5, 'NaN', '-Infinity', None]}
    """
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    return value


def dumps(value) -> str:
    """Strict JSON (never NaN/Infinity literals), indented; datetimes and other objects as str."""
    return json.dumps(json_safe(value), indent=2, default=str, allow_nan=False)
