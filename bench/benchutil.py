"""Small helpers shared by the benchmark scripts."""
from __future__ import annotations


def percentile_us(values_ns: list[int], p: float) -> float:
    """The p-quantile (0..1) of nanosecond samples, in microseconds."""
    s = sorted(values_ns)
    return s[min(len(s) - 1, int(len(s) * p))] / 1e3
