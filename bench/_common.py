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


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window for this process (Linux: ``/proc/self/clear_refs``); False where unsupported.

    ``getrusage``'s peak covers the whole process life, so without a reset each
    measured run would report the largest run before it.
    """
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """This process's peak resident memory (``getrusage``) since start, or since the last :func:`reset_peak_rss`."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
