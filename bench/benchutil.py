"""Small helpers shared by the benchmark scripts."""
from __future__ import annotations

#: the seed's Transaction as an inline scheme (26-byte body), and one value of it
TRANSACTION_SCHEME = """yamls://
- name: Transaction
  id: 10
  fields:
    - {name: time, type: int64, options.type: time_point, options.resolution: ns}
    - {name: id, type: int64}
    - {name: price, type: int64, options.type: fixed2}
    - {name: count, type: uint16}
"""
TRANSACTION_VALUE = {"time": 1725890781038702405, "id": 11, "price": "97.21", "count": 45}


def percentile_us(values_ns: list[int], p: float) -> float:
    """The p-quantile (0..1) of nanosecond samples, in microseconds."""
    s = sorted(values_ns)
    return s[min(len(s) - 1, int(len(s) * p))] / 1e3
