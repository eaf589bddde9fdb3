"""Shared bits for the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import statistics
import time


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (f"n={len(values)} p50={percentile(values, 50) * 1000:.1f} ms p90={percentile(values, 90) * 1000:.1f} ms "
            f"p99={percentile(values, 99) * 1000:.1f} ms mean={statistics.mean(values) * 1000:.1f} ms")


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
