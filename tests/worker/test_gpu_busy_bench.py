"""bench/gpu_busy.py runs (tiny shapes) and prints busy fractions that add up, so the script cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_busy.py"


def test_the_busy_bench_runs_the_real_worker_both_ways_and_reports_fractions() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--jobs", "2", "--gpu-seconds", "0.2", "--resolution", "720p", "--duration", "3"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    runs = re.findall(r"  (baseline|pipelined).*: wall ([\d.]+) s for ([\d.]+) s of GPU work, busy fraction ([\d.]+)",
                      result.stdout)
    assert [name for name, *_ in runs] == ["baseline", "pipelined"], result.stdout
    for _, wall, held, fraction in runs:
        wall, held, fraction = float(wall), float(held), float(fraction)
        assert held >= 0.4 and wall > held  # two jobs held the GPU 0.2 s each; encoding took the rest
        assert abs(fraction - held / wall) < 0.002
    assert re.search(r"busy fraction: pipelined [\d.]+, baseline [\d.]+ \(x[\d.]+\)", result.stdout), result.stdout
