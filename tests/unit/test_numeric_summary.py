"""The profile's numeric pass (featurestore.quality.numeric_summary) against plain-Python
references: the hash and HyperLogLog registers bit for bit, the estimate within its error,
bins, quantiles, exact distinct values, and merging partitions as one."""
import math
import pickle
import random
import struct

import numpy as np
import pyarrow as pa
import pytest

from featurestore.quality.numeric_summary import (
    REGISTERS,
    NumericColumn,
    Summary,
    add_to_registers,
    bin_counts,
    estimate,
    hash64,
    quantiles_of,
    summarize_partition,
)

MASK = (1 << 64) - 1


def reference_bits(value) -> int:
    """A value's 64 bits: an integer as two's complement, a float with one NaN and no -0.0."""
    if isinstance(value, int):
        return value & MASK
    value = math.nan if math.isnan(value) else value + 0.0
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def reference_registers(values) -> list[int]:
    """Plain Python HyperLogLog: splitmix64's finalizer, register = low 9 bits, rank = trailing
    zeros of the other 55 bits + 1 (56 when they are all zero)."""
    registers = [0] * REGISTERS
    for value in values:
        x = reference_bits(value)
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
        x ^= x >> 31
        rest = x >> 9
        rank = 56 if rest == 0 else (rest & -rest).bit_length()
        registers[x & 511] = max(registers[x & 511], rank)
    return registers


def numpy_registers(raw) -> list[int]:
    registers = np.zeros(REGISTERS, dtype=np.uint8)
    add_to_registers(registers, hash64(raw))
    return registers.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_registers_equal_the_plain_python_reference(seed):
    rng = random.Random(seed)
    ints = [rng.choice([rng.randrange(-2**63, 2**63), rng.randrange(-50, 50), 2**62 + rng.randrange(1000)])
            for _ in range(3000)]
    floats = [rng.choice([rng.uniform(-1e6, 1e6), float(rng.randrange(100)), math.nan, -0.0, 0.0, math.inf,
                          -math.inf, 1e-300]) for _ in range(3000)]
    assert numpy_registers(np.array(ints, dtype=np.int64)) == reference_registers(ints)
    assert numpy_registers(np.array(floats, dtype=np.float64)) == reference_registers(floats)


def test_equal_numbers_hash_alike():
    assert numpy_registers(np.array([0.0, -0.0, math.nan, -math.nan])) == reference_registers([0.0, math.nan])
    assert len(set(hash64(np.array([0.0, -0.0, float("nan"), -float("nan")])).tolist())) == 2


@pytest.mark.parametrize("distinct", [0, 1, 2, 10, 100, 1_000, 3_000, 20_000, 300_000])
def test_the_estimate_is_within_its_error(distinct):
    """Standard error 4.6%: each estimate within 3.5 of them (16%), small counts nearly exact."""
    values = np.random.default_rng(distinct).permutation(np.arange(distinct, dtype=np.int64) * 7919 - 10**12)
    registers = np.zeros(REGISTERS, dtype=np.uint8)
    add_to_registers(registers, hash64(np.concatenate([values, values[: distinct // 2]])))  # repeats count once
    found = estimate(registers)
    assert abs(found - distinct) <= max(0.16 * distinct, 0.5), found


def reference_bins(values, edges) -> list[int]:
    bins = len(edges) - 1
    low, width = edges[0], (edges[-1] - edges[0]) / bins
    counts = [0] * bins
    for value in values:
        counts[min(max(math.floor((value - low) / width), 0), bins - 1)] += 1
    return counts


@pytest.mark.parametrize("seed", range(4))
def test_bins_and_quantiles_equal_the_plain_python_reference(seed):
    rng = random.Random(seed)
    values = [rng.choice([rng.uniform(-5, 5), float(rng.randrange(-3, 4))]) for _ in range(rng.randrange(1, 500))]
    low, high = sorted([rng.uniform(-6, 0), rng.uniform(0, 6)])
    edges = [low + i * (high - low) / 20 for i in range(20)] + [high]  # values outside count in the end bins
    assert bin_counts(np.array(values), edges).tolist() == reference_bins(values, edges)
    ordered = sorted(values)
    quantiles = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    expected = [ordered[max(math.ceil(q * len(ordered)), 1) - 1] for q in quantiles]
    assert quantiles_of(np.sort(np.array(values)), quantiles) == expected


def run_partitions(partitions, column, fraction=1.0, exact_up_to=1000) -> Summary:
    merged = Summary.of(column)
    for batches in partitions:
        for row in summarize_partition(iter(batches), [column], fraction, 7, exact_up_to):
            merged.merge(pickle.loads(row.column("summary")[0].as_py())[column.name], exact_up_to)
    return merged


def test_partitions_merge_to_the_summary_of_all_rows():
    rng = random.Random(3)
    values = [rng.choice([None, rng.randrange(40) * 10**15 + 1, 2**62]) for _ in range(5000)]
    edges = tuple(float(e) for e in np.linspace(0, 40 * 10**15, 21))
    column = NumericColumn("x", 1.0, edges)
    batch = lambda chunk: pa.RecordBatch.from_pydict({"x": pa.array(chunk, pa.int64())})  # noqa: E731
    one = run_partitions([[batch(values)]], column)
    split = run_partitions([[batch(values[:1000]), batch(values[1000:1700])], [], [batch(values[1700:])]], column)
    finite = [float(v) for v in values if v is not None]
    for summary in (one, split):
        assert summary.counts.tolist() == reference_bins(finite, edges)
        assert summary.registers.tolist() == reference_registers([v for v in values if v is not None])
        assert summary.distinct() == (len({v for v in values if v is not None}), True)  # ids above 2**53 stay apart
        assert summary.sorted_sample().tolist() == sorted(finite)
    assert run_partitions([[batch(values)]], column, exact_up_to=40).distinct()[1] is False


def test_a_sample_keeps_about_its_fraction_and_timestamps_scale_to_seconds():
    micros = list(range(0, 200_000 * 10**6, 10**6))
    column = NumericColumn("t", 1e6, None)
    batches = [pa.RecordBatch.from_pydict({"t": pa.array(micros[i:i + 10_000], pa.int64())})
               for i in range(0, len(micros), 10_000)]
    summary = run_partitions([batches], column, fraction=0.25)
    sample = summary.sorted_sample()
    assert abs(len(sample) - 50_000) < 1_000 and set(sample.tolist()) <= set(range(200_000))
    assert run_partitions([batches], column, fraction=0.25).sorted_sample().tolist() == sample.tolist()
    assert summary.distinct()[1] is False and abs(summary.distinct()[0] - 200_000) < 0.16 * 200_000
