"""The feature server's metrics, in Prometheus' text format (GET /metrics).

    featurestore_requests_total{endpoint, status}            counter
    featurestore_request_seconds{endpoint}                   histogram
    featurestore_online_store_seconds{operation}             histogram (read, write)

Kept in the process, under one lock; no client library needed.
"""
from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    def __init__(self):
        self.counts = [0] * (len(BUCKETS) + 1)  # the last: above every bucket
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += seconds
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, cumulative = [], 0
        for bound, count in zip((*BUCKETS, "+Inf"), self.counts):
            cumulative += count
            out.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
        return out + [f"{name}_sum{{{labels}}} {self.total:.6f}", f"{name}_count{{{labels}}} {self.count}"]


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, Histogram] = defaultdict(Histogram)
        self._store: dict[str, Histogram] = defaultdict(Histogram)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(endpoint, status)] += 1
            self._latency[endpoint].observe(seconds)

    def store(self, operation: str, seconds: float) -> None:
        with self._lock:
            self._store[operation].observe(seconds)

    def text(self) -> str:
        with self._lock:
            lines = ["# HELP featurestore_requests_total Requests answered, by endpoint and HTTP status.",
                     "# TYPE featurestore_requests_total counter"]
            lines += [f'featurestore_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self._requests.items())]
            lines += ["# HELP featurestore_request_seconds Time to answer a request, by endpoint.",
                      "# TYPE featurestore_request_seconds histogram"]
            for endpoint, histogram in sorted(self._latency.items()):
                lines += histogram.lines("featurestore_request_seconds", f'endpoint="{endpoint}"')
            lines += ["# HELP featurestore_online_store_seconds Time spent in the online store, by operation.",
                      "# TYPE featurestore_online_store_seconds histogram"]
            for operation, histogram in sorted(self._store.items()):
                lines += histogram.lines("featurestore_online_store_seconds", f'operation="{operation}"')
        return "\n".join(lines) + "\n"
