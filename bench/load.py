"""Sustained load on loopback: 50 clients submitting and polling for 60 s.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 50] [--database-url postgresql://...]

Starts the service as an operator would — `happyhorse serve` on a fresh data dir
(SQLite, the embedded default), or `happyhorse api` + `happyhorse worker` on the
given PostgreSQL database — then runs N clients, each with its own account
and key as separate integrators would have (the per-key rate limit and the
per-account caps stay at their defaults), each looping: one submit (3 s, 720p),
then polls of its own jobs (GET /v1/jobs/{id}) with a list
(GET /v1/jobs) now and then, with no think time. Prints requests/s, latency
percentiles per kind of request, every non-2xx status by code, and the
server's resident memory before and after. The worker keeps generating
throughout, as it would in production; the queue simply grows.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import percentile  # noqa: E402

from happyhorse.testing import free_port, wait_for_health  # noqa: E402

EXE = Path(sys.executable).parent / "happyhorse"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_service(data_dir: Path, database_url: str | None) -> tuple[list[subprocess.Popen], str, str]:
    """The service's processes, its base URL and its database URL."""
    port = free_port()
    env = {**os.environ, "HAPPYHORSE_DATA_DIR": str(data_dir), "HAPPYHORSE_SIGNING_SECRET": "load",
           "HAPPYHORSE_LOG_LEVEL": "WARNING"}
    if database_url:
        env["HAPPYHORSE_DATABASE_URL"] = database_url
    log = open(data_dir / "service.log", "w")
    if database_url:
        subprocess.run([EXE, "db", "upgrade"], env=env, check=True, capture_output=True)
        commands = [[EXE, "api", "--port", str(port)], [EXE, "worker"]]
    else:
        commands = [[EXE, "serve", "--port", str(port)]]
    processes = [subprocess.Popen(c, env=env, stdout=log, stderr=subprocess.STDOUT) for c in commands]
    base_url = f"http://127.0.0.1:{port}"
    if not wait_for_health(base_url, alive=lambda: all(p.poll() is None for p in processes)):
        raise RuntimeError((data_dir / "service.log").read_text())
    return processes, base_url, database_url or f"sqlite:///{data_dir / 'happyhorse.db'}"


def client_keys(database_url: str, count: int) -> list[str]:
    """One account with plenty of credit and one key per client, as separate integrators would have."""
    from happyhorse.accounts import create_account, create_key
    from happyhorse.billing.ledger import grant_credits
    from happyhorse.db.engine import make_engine

    engine = make_engine(database_url)
    keys = []
    for n in range(count):
        account = create_account(engine, f"load-{n}")
        grant_credits(engine, account.id, Decimal(1_000_000), memo="load test credit")
        keys.append(create_key(engine, account.id).key)
    engine.dispose()
    return keys


async def client(base_url: str, key: str, end: float, stats: dict, statuses: collections.Counter) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random()
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        jobs: list[str] = []
        while time.monotonic() < end:
            if not jobs or rng.random() < 0.1:
                kind, request = "submit", http.post("/v1/videos/generations",
                                                    json={"prompt": f"load {rng.random()}", "duration": 3})
            elif rng.random() < 0.1:
                kind, request = "list", http.get("/v1/jobs", params={"limit": 20})
            else:
                kind, request = "poll", http.get(f"/v1/jobs/{rng.choice(jobs)}")
            started = time.perf_counter()
            try:
                response = await request
            except httpx.HTTPError as exc:
                statuses[f"{kind} {type(exc).__name__}"] += 1
                continue
            stats[kind].append(time.perf_counter() - started)
            if response.status_code >= 300:
                code = response.json().get("error", {}).get("code", "?")
                statuses[f"{kind} {response.status_code} {code}"] += 1
            elif kind == "submit":
                jobs.append(response.json()["job_id"])


async def run_load(base_url: str, keys: list[str], seconds: float) -> tuple[dict, collections.Counter]:
    stats: dict[str, list[float]] = collections.defaultdict(list)
    statuses: collections.Counter = collections.Counter()
    end = time.monotonic() + seconds
    await asyncio.gather(*(client(base_url, key, end, stats, statuses) for key in keys))
    return stats, statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: the embedded SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        processes, base_url, database_url = start_service(Path(tmp), args.database_url)
        try:
            keys = client_keys(database_url, args.clients)
            before = sum(rss_mib(p.pid) for p in processes)
            stats, statuses = asyncio.run(run_load(base_url, keys, args.seconds))
            after = sum(rss_mib(p.pid) for p in processes)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(60)
    where = "PostgreSQL (api + worker)" if args.database_url else "embedded default (serve: SQLite)"
    total = sum(len(v) for v in stats.values())
    print(f"{args.clients} clients for {args.seconds:.0f} s on {where}, {os.cpu_count()} CPUs")
    print(f"  {total} answers, {total / args.seconds:.0f} req/s")
    for kind in ("submit", "poll", "list"):
        values = stats.get(kind, [])
        if values:
            print(f"  {kind:6} n={len(values):6d} p50={percentile(values, 50) * 1000:7.1f} ms "
                  f"p95={percentile(values, 95) * 1000:7.1f} ms p99={percentile(values, 99) * 1000:7.1f} ms")
    print(f"  non-2xx and errors: {dict(statuses) or 'none'}")
    print(f"  server memory (RSS): {before:.0f} MiB before, {after:.0f} MiB after")


if __name__ == "__main__":
    main()
