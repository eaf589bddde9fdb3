"""GET /v1/jobs/{id} requests per second, as a ratio of a bare Starlette JSON endpoint (target >= 0.5).

    .venv/bin/python bench/api_rps.py [--seconds 5] [--connections 8]

Both apps run the same way (one uvicorn process each, same flags) on loopback
and answer the same JSON document: the real one authenticates the key, reads
the job from SQLite (WAL) and presents it; the bare one returns it from memory.
The load comes from a separate process with keep-alive connections. A
completed job is used, so the real path also signs two output URLs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from happyhorse.testing import free_port  # noqa: E402


def prepare(data_dir: Path) -> tuple[str, str]:
    """A completed 3 s job in a fresh data dir; returns (api key, job id)."""
    from happyhorse.settings import Settings
    from happyhorse.testing import running_service

    with running_service(Settings(data_dir=data_dir, signing_secret="bench")) as live:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=60) as client:
            job = client.post("/v1/videos/generations", json={"prompt": "bench", "duration": 3}).json()
            while (job := client.get(f"/v1/jobs/{job['job_id']}").json())["status"] != "completed":
                time.sleep(0.2)
        (data_dir / "job.json").write_text(json.dumps(job))
        return live.api_key, job["job_id"]


def start(factory: str, data_dir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"_apps:{factory}", "--factory", "--app-dir", str(HERE),
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env={**os.environ, "BENCH_DATA_DIR": str(data_dir)},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{factory} did not start")


def _client(port: int, path: str, headers: dict, seconds: float, connections: int, out) -> None:  # type: ignore[no-untyped-def]
    counts = [0] * connections
    errors = [0] * connections

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                counts[i] += 1
            else:
                errors[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((sum(counts), sum(errors)))


def measure(port: int, path: str, headers: dict, seconds: float, connections: int) -> float:
    _client(port, path, headers, 0.5, connections, multiprocessing.Queue())  # warm up
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_client, args=(port, path, headers, seconds, connections, queue))
    process.start()
    ok, errors = queue.get()
    process.join()
    if errors:
        raise RuntimeError(f"{errors} non-200 answers")
    return ok / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each app counts")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    factories = ("bare_app", "fastapi_app", "happyhorse_app")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        key, job_id = prepare(data_dir)
        path, headers = f"/v1/jobs/{job_id}", {"Authorization": f"Bearer {key}"}
        servers = {factory: start(factory, data_dir) for factory in factories}
        results: dict[str, list[float]] = {factory: [] for factory in factories}
        try:
            # Alternate the apps round by round so that a noisy moment hits all of them.
            for _ in range(args.rounds):
                for factory in factories:
                    results[factory].append(measure(servers[factory][1], path, headers, args.seconds, args.connections))
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(10)
    best = {factory: max(values) for factory, values in results.items()}
    print(f"GET /v1/jobs/{{id}} of a completed job: {args.connections} keep-alive connections, "
          f"best of {args.rounds} x {args.seconds:.0f} s, {os.cpu_count()} CPUs")
    print(f"  bare Starlette JSON endpoint: {best['bare_app']:8.0f} req/s")
    print(f"  bare FastAPI route:           {best['fastapi_app']:8.0f} req/s   (for calibration)")
    print(f"  happyhorse API:               {best['happyhorse_app']:8.0f} req/s")
    print(f"  ratio happyhorse / Starlette: {best['happyhorse_app'] / best['bare_app']:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
