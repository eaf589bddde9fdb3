"""PostgreSQL restarted under load: the API and the workers ride it out on their own.

A private cluster (``pg_cluster.py``; never the shared server) serves a real
``happyhorse api`` process and three stub workers while a client submits jobs
(each with its own ``Idempotency-Key``, retried with the same key until it is
accepted) and polls them. Then the database goes away: ``pg_ctl restart -m
fast`` (what ``pg_ctlcluster … restart`` does), a fast stop, a few seconds
down, and a start, or a crash (``-m immediate``: no shutdown checkpoint, crash
recovery at the start).

Promise shown: while the database is away every answer is the expected 2xx,
a 409 "key in flight" on a retried submit, or a 503 with the error envelope
and ``Retry-After`` (never a 500, never a dropped connection); nobody
restarts the API or a worker, and the API answers again within a bounded
time after the database is back; every accepted job ends completed with one
output and one capture, and each key made exactly one job. Figures go to
stderr (run with ``-s``) for docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from happyhorse.accounts import create_key
from happyhorse.db.schema import idempotency_keys, jobs
from happyhorse.testing import free_port, wait_for_health

from .conftest import Chaos
from .pg_cluster import PrivateCluster

pytestmark = pytest.mark.postgres

WORKERS = 3
JOB_SECONDS = 0.2
# Leases run out during the outage and the reaper requeues those jobs: this
# test is about delivery, not the poison cap (which has its own test).
MAX_ATTEMPTS = 20
SUBMIT_EVERY = 0.3
POLL_EVERY = 0.05
RETRY_EVERY = 0.25
LOAD_BEFORE = 3.0
LOAD_AFTER = 3.0
DOWN_SECONDS = 3.0
RECOVERY_BOUND = 10.0
"""Seconds after the database is back within which the API must accept a submit and answer a poll."""


@dataclass
class Answer:
    at: float
    kind: str
    status: int | None
    code: str | None = None
    retry_after: str | None = None
    enveloped: bool = False
    error: str | None = None


@dataclass
class LoadClient:
    """A submitter and a poller thread against the API, recording every answer."""

    base_url: str
    key: str
    answers: list[Answer] = field(default_factory=list)
    jobs_by_key: dict[str, list[str]] = field(default_factory=dict)
    """Each Idempotency-Key the client used → the job ids its 2xx answers named."""
    unresolved: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, *, submitters: int = 2, pollers: int = 2) -> None:
        targets = [self._submitter] * submitters + [self._poller] * pollers
        for number, target in enumerate(targets):
            thread = threading.Thread(target=target, args=(number,), daemon=True, name=f"{target.__name__}-{number}")
            thread.start()
            self._threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def accepted(self) -> list[str]:
        with self._lock:
            return sorted({job for ids in self.jobs_by_key.values() for job in ids})

    def first_success_after(self, kind: str, since: float) -> float | None:
        with self._lock:
            return next((a.at for a in self.answers if a.kind == kind and a.at >= since and a.status is not None
                         and 200 <= a.status < 300), None)

    def _send(self, http: httpx.Client, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self._record(Answer(time.monotonic(), kind, None, error=f"{type(exc).__name__}: {exc}"))
            return None
        code, enveloped = None, False
        if response.status_code >= 300:
            try:
                error = response.json()["error"]
                code, enveloped = error["code"], {"type", "code", "message", "request_id"} <= set(error)
            except (ValueError, KeyError, TypeError):
                pass
        self._record(Answer(time.monotonic(), kind, response.status_code, code, response.headers.get("retry-after"),
                            enveloped))
        return response

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _submitter(self, number: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=15,
                          headers={"Authorization": f"Bearer {self.key}"}) as http:
            index = 0
            while not self.stop.is_set():
                index += 1
                idem = f"restart-{number}-{index}-{uuid.uuid4().hex[:8]}"
                with self._lock:
                    self.jobs_by_key[idem] = []
                body = {"prompt": f"horse {number}-{index}", "duration": 3, "seed": index}
                give_up = None
                while True:
                    response = self._send(http, "submit", "POST", "/v1/videos/generations", json=body,
                                          headers={"Idempotency-Key": idem})
                    if response is not None and response.status_code in (200, 202):
                        with self._lock:
                            self.jobs_by_key[idem].append(response.json()["job_id"])
                        break
                    # 503 (database away), 409 (our own earlier try still in flight), a
                    # dropped connection: the same request again, with the same key.
                    if self.stop.is_set():
                        give_up = give_up or time.monotonic() + 20
                        if time.monotonic() > give_up:
                            self.unresolved.append(idem)
                            break
                    time.sleep(RETRY_EVERY)
                self.stop.wait(SUBMIT_EVERY)

    def _poller(self, number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=self.base_url, timeout=15,
                          headers={"Authorization": f"Bearer {self.key}"}) as http:
            while not self.stop.is_set():
                known = self.accepted()
                if known and rng.random() < 0.9:
                    self._send(http, "poll", "GET", f"/v1/jobs/{rng.choice(known[-20:])}")
                else:
                    self._send(http, "list", "GET", "/v1/jobs", params={"limit": 5})
                self.stop.wait(POLL_EVERY)


def _start_api(chaos: Chaos, database_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    """``happyhorse api`` as its own process, as an operator runs it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    env.update(HAPPYHORSE_DATA_DIR=str(chaos.runtime.settings.data_dir), HAPPYHORSE_DATABASE_URL=database_url,
               HAPPYHORSE_SIGNING_SECRET="chaos", HAPPYHORSE_ENGINE="stub", HAPPYHORSE_RATE_LIMIT="0",
               HAPPYHORSE_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    exe = Path(sys.executable).with_name("happyhorse")
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen([str(exe), "api", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                 env=env, stdin=subprocess.DEVNULL)
    chaos.pool.extra.append(popen)
    base = f"http://127.0.0.1:{port}"
    if not wait_for_health(base, timeout=30, alive=lambda: popen.poll() is None):
        pytest.fail(f"API did not start (rc {popen.poll()})\n{log.read_text()[-3000:]}")
    return popen, base


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("outage", ["restart", "down", "crash"])
def test_postgres_restart_under_load_loses_nothing_and_answers_503(
    pg_chaos: Chaos, private_cluster: PrivateCluster, tmp_path: Path, outage: str
) -> None:
    chaos, cluster = pg_chaos, private_cluster
    started = time.monotonic()
    key = create_key(chaos.runtime.db, chaos.account_id).key
    api_log = tmp_path / "api.log"
    api, base = _start_api(chaos, cluster.url, api_log)
    workers = [chaos.pool.start(f"w{i}", job_seconds=JOB_SECONDS, max_attempts=MAX_ATTEMPTS) for i in range(WORKERS)]
    client = LoadClient(base, key)
    client.start()

    def diagnostics() -> str:
        return (f"--- api.log (rc {api.poll()})\n{api_log.read_text(errors='replace')[-4000:]}\n{chaos.pool.logs()}\n"
                f"--- postgres.log\n{cluster.log()}")

    try:
        _wait_for(lambda: len(client.accepted()) >= 3, 20, "the first accepted jobs")
        time.sleep(LOAD_BEFORE)

        # The outage.
        down_at = time.monotonic()
        if outage == "restart":
            cluster.restart("fast")
        elif outage == "crash":
            cluster.restart("immediate")
        else:
            cluster.stop("fast")
            time.sleep(DOWN_SECONDS)
            cluster.start()
        up_at = time.monotonic()

        # Recovery without anybody's help: a submit accepted and a poll answered.
        _wait_for(lambda: client.first_success_after("submit", up_at) is not None
                  and client.first_success_after("poll", up_at) is not None, RECOVERY_BOUND,
                  "the API to accept a submit and answer a poll after the database came back")
        recovered_at = max(client.first_success_after("submit", up_at) or up_at,
                           client.first_success_after("poll", up_at) or up_at)
        time.sleep(LOAD_AFTER)
    finally:
        client.finish()

    accepted = client.accepted()
    assert not client.unresolved, f"submits never accepted after the outage: {client.unresolved}\n{diagnostics()}"
    with chaos.runtime.db.connect() as conn:
        stored = set(conn.execute(select(jobs.c.id)).scalars().all())
    assert not set(accepted) - stored, f"accepted (202) but not in the database: {sorted(set(accepted) - stored)}"
    chaos.wait_all_ended(len(accepted), timeout=45)

    # Every answer was one we expect: no 500s, no other 5xx, no dropped connections.
    dropped = [a for a in client.answers if a.status is None]
    assert not dropped, f"connections dropped or timed out: {dropped[:5]}\n{diagnostics()}"
    unexpected = [
        a for a in client.answers
        if not (200 <= a.status < 300 or a.status == 503 or (a.kind == "submit" and a.status == 409
                                                              and a.code == "idempotency_key_in_flight"))
    ]
    assert not unexpected, f"unexpected answers: {unexpected[:10]}\n{diagnostics()}"
    unavailable = [a for a in client.answers if a.status == 503]
    bad_503 = [a for a in unavailable if not (a.enveloped and a.code == "database_unavailable" and a.retry_after)]
    assert not bad_503, f"503s without the envelope or Retry-After: {bad_503[:5]}"
    if outage == "down":
        assert unavailable, "the database was down for seconds under load, yet no request got a 503"

    # Nobody restarted anything: the same API and worker processes served throughout.
    assert api.poll() is None, f"the API process exited\n{diagnostics()}"
    assert all(w.alive() for w in workers) and len(chaos.pool.procs) == WORKERS, diagnostics()

    # Nothing lost, nothing doubled: each key made one job, each job ended completed
    # with one output and one capture, and no job exists that the client was not told of.
    doubled = {k: ids for k, ids in client.jobs_by_key.items() if len(set(ids)) != 1}
    assert not doubled, f"keys with other than one job: {doubled}"
    facts = chaos.ledger()
    assert sorted(job_id for job_id, *_ in facts["jobs"]) == accepted, "jobs in the database ≠ jobs accepted"
    not_completed = [row for row in facts["jobs"] if row[1] != "completed"]
    assert not not_completed, f"not completed: {not_completed}\n{diagnostics()}"
    assert facts["running"] == 0
    for job_id in accepted:
        assert facts["video_outputs"].get(job_id) == 1, f"{job_id}: {facts['video_outputs'].get(job_id)} outputs"
        assert facts["captures"].get(job_id) == 1, f"{job_id}: {facts['captures'].get(job_id)} captures"
        assert facts["holds"][job_id] == "captured"
    assert chaos.stored_outputs_exist()
    with chaos.runtime.db.connect() as conn:
        key_states = Counter(conn.execute(select(idempotency_keys.c.state)).scalars().all())
    assert key_states == {"done": len(client.jobs_by_key)}, key_states

    by_kind = Counter(f"{a.kind} {a.status}" for a in client.answers)
    extra_starts = sum(attempt for _, _, attempt, _ in facts["jobs"]) - len(accepted)
    print(f"\nCHAOS pg-{outage}: {len(accepted)} jobs accepted, {len(client.answers)} requests "
          f"({dict(sorted(by_kind.items()))}), {len(unavailable)} answered 503, database away "
          f"{up_at - down_at:.1f}s, API serving again {recovered_at - up_at:.2f}s after it came back, "
          f"{extra_starts} extra starts, {time.monotonic() - started:.1f}s in all", file=sys.stderr)
