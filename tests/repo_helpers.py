"""The online store sections of tests that run on both stores (a pytest request picks the
server); everything else that writes a repo is featurestore.testing.repos."""
from __future__ import annotations

from featurestore.testing.repos import redis_online_store


def online_store_section(request, kind: str) -> str:
    """feature_store.yaml's online_store section for 'sqlite' (the default) or 'redis' (the
    session's server, emptied first): one place for the tests that run on both stores."""
    if kind == "sqlite":
        return ""
    server = request.getfixturevalue("clean_redis")
    return redis_online_store(server.host, server.port)
