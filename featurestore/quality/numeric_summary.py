"""Mergeable summaries of numeric columns, one per partition: the profile's second pass.

The profile's first pass (one Spark aggregation, featurestore.quality.profile) finds each
column's row count, min and max. This pass then reads the frame once through `mapInArrow`,
and every partition sends back, per numeric column (integers, floats, decimals, booleans
and timestamps, as the numbers the profile reports):

- **histogram**: the count of finite values per bin of the given edges, bin
  floor((v - low) / width) clamped to the first and last bin: the arithmetic of Spark's
  doubles, so a value falls in the same bin on either side;
- **HyperLogLog registers** of the non-null values: 512 registers (p = 9) over a 64-bit hash
  of the value's bits (splitmix64's finalizer; one NaN, and 0.0 for -0.0, so equal numbers
  hash alike). Partitions merge by taking each register's maximum; the estimate is Ertl's
  improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches",
  2017), standard error 1.04 / sqrt(512) = 4.6%, without empirical bias tables;
- **distinct values** while there are at most `exact_up_to` of them, so that a column of
  few values gets an exact distinct count;
- **a sample**: the finite values of the rows kept with probability `fraction` (a generator
  seeded with the seed and the partition's number, so the same frame gives the same sample).
  Quantiles are read from the merged sample as Spark's percentile_approx reads exact data:
  the smallest value with at least q * n values at or below it.

Why numpy over Arrow rather than Spark aggregates: Spark's approx_count_distinct is an
imperative aggregate that cost more than all the rest of the first pass and kept it out of
whole-stage code generation, and a grouped count of one (column, bin) pair per value cost as
much as this whole pass does with the sketch and the sample (docs/performance.md).
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass

REGISTER_BITS = 9
REGISTERS = 1 << REGISTER_BITS
RANK_BITS = 64 - REGISTER_BITS  # the hash bits after the register's index; a register holds 0 .. RANK_BITS + 1


@dataclass(frozen=True)
class NumericColumn:
    """One column as this pass reads it: its name in the Arrow batches; `scale`, which turns
    a raw value into the profile's number (1e6 for timestamps read as epoch microseconds, so
    that ids and timestamps hash exactly as 64-bit integers); and the histogram's edges
    (None: no histogram, the column has no finite value)."""
    name: str
    scale: float = 1.0
    edges: tuple[float, ...] | None = None


class Summary:
    """One column's summary (module docstring): what a partition sends, and what merging gives."""

    def __init__(self, bins: int):
        import numpy as np

        self.counts = np.zeros(bins, dtype=np.int64)
        self.registers = np.zeros(REGISTERS, dtype=np.uint8)
        self.values = np.empty(0, dtype=np.int64)  # distinct raw values (int64 stays int64); None past exact_up_to
        self.sample: list = []  # arrays of sampled finite numbers

    @classmethod
    def of(cls, column: NumericColumn) -> Summary:
        """An empty summary of `column`: as many bins as its edges make."""
        return cls(len(column.edges) - 1 if column.edges else 0)

    def add(self, raw, numbers, sampled, edges, exact_up_to: int) -> None:
        """Add a batch: `raw` the non-null raw values, `numbers` them as the profile's numbers,
        `sampled` the numbers of the sampled rows."""
        import numpy as np

        finite = numbers[np.isfinite(numbers)]
        if edges is not None and len(finite):
            self.counts += bin_counts(finite, edges)
        add_to_registers(self.registers, hash64(raw))
        if self.values is not None:
            self.values = np.union1d(self.values, raw)
            if len(self.values) > exact_up_to:
                self.values = None
        kept = sampled[np.isfinite(sampled)]
        if len(kept):
            self.sample.append(kept)

    def merge(self, other: Summary, exact_up_to: int) -> None:
        import numpy as np

        self.counts += other.counts
        np.maximum(self.registers, other.registers, out=self.registers)
        if self.values is not None and other.values is not None:
            self.values = np.union1d(self.values, other.values)
        if self.values is None or other.values is None or len(self.values) > exact_up_to:
            self.values = None
        self.sample += other.sample

    def distinct(self) -> tuple[int, bool]:
        """(distinct count, exact?): exact when the values were kept, else the HyperLogLog estimate."""
        if self.values is not None:
            return len(self.values), True
        return round(estimate(self.registers)), False

    def sorted_sample(self):
        import numpy as np

        return np.sort(np.concatenate(self.sample)) if self.sample else np.empty(0)


def bin_counts(finite, edges):
    """Counts of finite values per bin of `edges`: floor((v - low) / width), clamped."""
    import numpy as np

    bins = len(edges) - 1
    low, width = edges[0], (edges[-1] - edges[0]) / bins
    index = np.clip(np.floor((finite - low) / width), 0, bins - 1).astype(np.intp)
    return np.bincount(index, minlength=bins)


def hash64(raw):
    """A 64-bit hash of each value's bits (splitmix64's finalizer); floats first get one NaN
    and 0.0 for -0.0, so that equal numbers hash alike."""
    import numpy as np

    if raw.dtype.kind == "f":
        raw = np.where(np.isnan(raw), np.nan, raw.astype(np.float64) + 0.0)
    x = np.ascontiguousarray(raw, dtype=raw.dtype).view(np.uint64)  # integer arithmetic wraps, as splitmix64 means it to
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def add_to_registers(registers, hashes) -> None:
    """HyperLogLog's update: the low REGISTER_BITS choose the register, which keeps the largest
    rank (trailing zeros of the other bits, plus one; RANK_BITS + 1 when they are all zero)."""
    import numpy as np

    index = (hashes & np.uint64(REGISTERS - 1)).astype(np.intp)
    rest = hashes >> np.uint64(REGISTER_BITS)
    lowest_bit = rest & (~rest + np.uint64(1))
    rank = np.frexp(lowest_bit.astype(np.float64))[1].astype(np.uint8)  # 2**k -> exponent k + 1
    rank[rest == 0] = RANK_BITS + 1
    np.maximum.at(registers, index, rank)


def estimate(registers) -> float:
    """Ertl's improved raw estimate of the distinct values behind HyperLogLog registers."""
    import numpy as np

    m = len(registers)
    histogram = np.bincount(registers, minlength=RANK_BITS + 2)
    z = m * _tau(1 - histogram[RANK_BITS + 1] / m)
    for rank in range(RANK_BITS, 0, -1):
        z = 0.5 * (z + histogram[rank])
    z += m * _sigma(histogram[0] / m)
    return m * m / (2 * math.log(2) * z)


def _sigma(x: float) -> float:
    if x == 1:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        before, z = z, z + x * y
        y += y
        if z == before:
            return z


def _tau(x: float) -> float:
    if x in (0, 1):
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        before, y = z, y * 0.5
        z -= (1 - x) ** 2 * y
        if z == before:
            return z / 3


def quantiles_of(sorted_values, quantiles) -> list[float]:
    """Each quantile q of at least one value as the smallest value with at least q * n values
    at or below it (the rank percentile_approx gives exact data)."""
    n = len(sorted_values)
    return [float(sorted_values[max(math.ceil(q * n), 1) - 1]) for q in quantiles]


def summarize_partition(batches, columns: list[NumericColumn], fraction: float, seed: int, exact_up_to: int):
    """Runs on an executor through mapInArrow: one row holding the pickled summaries of the
    partition's `columns` ({name: Summary})."""
    import numpy as np
    import pyarrow as pa
    from pyspark import TaskContext

    context = TaskContext.get()
    random = np.random.default_rng([seed, context.partitionId() if context else 0])
    summaries = {c.name: Summary.of(c) for c in columns}
    for batch in batches:
        keep = pa.array(random.random(batch.num_rows) < fraction) if fraction < 1 else None
        for column in columns:
            values = batch.column(column.name)
            raw = values.drop_null().to_numpy(zero_copy_only=False)
            sampled = values if keep is None else values.filter(keep)
            summaries[column.name].add(raw, _numbers(raw, column.scale),
                                       _numbers(sampled.drop_null().to_numpy(zero_copy_only=False), column.scale),
                                       column.edges, exact_up_to)
    yield pa.RecordBatch.from_pydict({"summary": [pickle.dumps(summaries, protocol=5)]})


def _numbers(raw, scale: float):
    import numpy as np

    numbers = raw.astype(np.float64)
    return numbers / scale if scale != 1 else numbers


def summarize(frame, columns: list[NumericColumn], fraction: float, seed: int,
              exact_up_to: int) -> dict[str, Summary]:
    """The merged summaries of `columns` of `frame` (one Spark job)."""
    from functools import partial

    run = partial(summarize_partition, columns=columns, fraction=fraction, seed=seed, exact_up_to=exact_up_to)
    merged = {c.name: Summary.of(c) for c in columns}
    for row in frame.mapInArrow(run, "summary binary").collect():
        for name, summary in pickle.loads(row["summary"]).items():
            merged[name].merge(summary, exact_up_to)
    return merged
