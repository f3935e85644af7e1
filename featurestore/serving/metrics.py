"""The feature server's metrics, in Prometheus' text format (GET /metrics), summed over workers.

    featurestore_requests_total{endpoint, status}            counter
    featurestore_request_seconds{endpoint}                   histogram
    featurestore_online_store_seconds{operation}             histogram (read, write)
    featurestore_feature_log_rows_total{outcome}             counter (logged, written, dropped)

Several worker processes answer on one port, and a scrape reaches any one of them, so
every worker counts into its own slot of one shared memory block, made before the workers
are forked; GET /metrics sums the slots. A slot has one writer (its worker's event loop),
so no lock is needed; a counter that is read while it is written is one aligned 8-byte
float, read whole. A worker restarted after a crash takes over its predecessor's slot, so
the counters never go backwards. The label values are fixed below, so a slot's layout is
fixed too. No client library needed.
"""
from __future__ import annotations

import mmap

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ENDPOINTS = ("/get-online-features", "/push", "/write-to-online-store", "/materialize", "/materialize-incremental",
             "/health", "/ready", "/metrics", "/openapi.json", "/docs", "other")
STATUSES = (200, 400, 401, 404, 405, 409, 413, 422, 500, 503, "other")
OPERATIONS = ("read", "write")
LOG_OUTCOMES = ("logged", "written", "dropped")  # feature log rows (featurestore.feature_logging)
_HISTOGRAM = len(BUCKETS) + 3  # one count per bucket, one above every bucket, the sum, the count
_LOG_AT = len(ENDPOINTS) * len(STATUSES) + (len(ENDPOINTS) + len(OPERATIONS)) * _HISTOGRAM
_SLOT = _LOG_AT + len(LOG_OUTCOMES)


class Metrics:
    """Counters and histograms for `workers` processes; each process calls use_slot(i) once."""

    def __init__(self, workers: int = 1):
        self.workers = workers
        self._block = mmap.mmap(-1, workers * _SLOT * 8)  # anonymous and shared: forked workers see one block
        self._values = memoryview(self._block).cast("d")
        self._base = 0
        self._log_base: list[float] | None = None

    def use_slot(self, worker: int) -> None:
        """Count into worker `worker`'s slot from now on (0 <= worker < workers)."""
        if not 0 <= worker < self.workers:
            raise ValueError(f"worker {worker} has no slot; there are {self.workers}")
        self._base = worker * _SLOT
        self._log_base = None

    def log_rows(self, logged: int, written: int, dropped: int) -> None:
        """This worker's feature log counts so far (its logger's totals, added to what a
        predecessor in the slot counted, so that the counters never go backwards)."""
        at = self._base + _LOG_AT
        if self._log_base is None:
            self._log_base = [self._values[at + i] for i in range(len(LOG_OUTCOMES))]
        for i, count in enumerate((logged, written, dropped)):
            self._values[at + i] = self._log_base[i] + count

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        e = ENDPOINTS.index(endpoint) if endpoint in ENDPOINTS else len(ENDPOINTS) - 1
        s = STATUSES.index(status) if status in STATUSES else len(STATUSES) - 1
        self._values[self._base + e * len(STATUSES) + s] += 1
        self._observe(self._base + len(ENDPOINTS) * len(STATUSES) + e * _HISTOGRAM, seconds)

    def store(self, operation: str, seconds: float) -> None:
        o = len(ENDPOINTS) + OPERATIONS.index(operation)
        self._observe(self._base + len(ENDPOINTS) * len(STATUSES) + o * _HISTOGRAM, seconds)

    def _observe(self, at: int, seconds: float) -> None:
        values = self._values
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                values[at + index] += 1
                break
        else:
            values[at + len(BUCKETS)] += 1
        values[at + len(BUCKETS) + 1] += seconds
        values[at + len(BUCKETS) + 2] += 1

    def _summed(self) -> list[float]:
        values = self._values
        return [sum(values[w * _SLOT + i] for w in range(self.workers)) for i in range(_SLOT)]

    def text(self) -> str:
        total = self._summed()
        lines = ["# HELP featurestore_requests_total Requests answered, by endpoint and HTTP status.",
                 "# TYPE featurestore_requests_total counter"]
        for e, endpoint in enumerate(ENDPOINTS):
            for s, status in enumerate(STATUSES):
                count = int(total[e * len(STATUSES) + s])
                if count:
                    lines.append(f'featurestore_requests_total{{endpoint="{endpoint}",status="{status}"}} {count}')
        histograms = len(ENDPOINTS) * len(STATUSES)
        lines += ["# HELP featurestore_request_seconds Time to answer a request, by endpoint.",
                  "# TYPE featurestore_request_seconds histogram"]
        for e, endpoint in enumerate(ENDPOINTS):
            lines += _histogram(total, histograms + e * _HISTOGRAM, "featurestore_request_seconds",
                                f'endpoint="{endpoint}"')
        lines += ["# HELP featurestore_online_store_seconds Time spent in the online store, by operation.",
                  "# TYPE featurestore_online_store_seconds histogram"]
        for o, operation in enumerate(OPERATIONS):
            lines += _histogram(total, histograms + (len(ENDPOINTS) + o) * _HISTOGRAM,
                                "featurestore_online_store_seconds", f'operation="{operation}"')
        logged = [int(total[_LOG_AT + i]) for i in range(len(LOG_OUTCOMES))]
        if any(logged):
            lines += ["# HELP featurestore_feature_log_rows_total Feature log rows: logged by requests, written "
                      "to the destination, dropped (a full buffer or a failing destination).",
                      "# TYPE featurestore_feature_log_rows_total counter"]
            lines += [f'featurestore_feature_log_rows_total{{outcome="{outcome}"}} {count}'
                      for outcome, count in zip(LOG_OUTCOMES, logged)]
        return "\n".join(lines) + "\n"


def _histogram(total: list[float], at: int, name: str, labels: str) -> list[str]:
    """A histogram's lines, none while nothing was observed."""
    count = int(total[at + len(BUCKETS) + 2])
    if not count:
        return []
    out, cumulative = [], 0
    for index, bound in enumerate((*BUCKETS, "+Inf")):
        cumulative += int(total[at + index])
        out.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
    return out + [f"{name}_sum{{{labels}}} {total[at + len(BUCKETS) + 1]:.6f}", f"{name}_count{{{labels}}} {count}"]
