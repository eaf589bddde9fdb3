"""Webhook fixtures: a migrated database with two accounts, a queue wired like Runtime.open's,
loopback receivers (a real http.server thread on 127.0.0.1), and a live service (API + in-process
worker) that allows loopback webhook URLs."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.engine import make_engine
from happyhorse.db.migrate import upgrade
from happyhorse.db.schema import accounts
from happyhorse.jobs.queue import JobQueue
from happyhorse.settings import Settings
from happyhorse.testing import running_service, sample_request
from happyhorse.ids import new_id
from happyhorse.webhooks.outbox import ending_hooks, record_started_event, record_webhook_event

ACCOUNT, OTHER = "acc_a", "acc_b"
ENDINGS = ["video.completed", "video.failed", "video.cancelled"]


@pytest.fixture(scope="package")
def service(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-webhooks"), signing_secret="test-secret",
                        allow_private_fetch=True)
    with running_service(settings) as live:
        yield live


@pytest.fixture
def api(service):
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        yield client


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for account_id in (ACCOUNT, OTHER):
            conn.execute(insert(accounts).values(id=account_id, name=account_id, created_at=db_now(conn.dialect.name)))
    yield engine
    engine.dispose()


@pytest.fixture
def queue(engine: Engine) -> JobQueue:
    return JobQueue(engine, on_end=ending_hooks(record_webhook_event), on_start=record_started_event)


@pytest.fixture
def submit(queue: JobQueue) -> Callable[..., str]:
    def submit(account_id: str = ACCOUNT) -> str:
        job_id = new_id("job")
        with queue.engine.begin() as conn:
            queue.insert_job(conn, job_id=job_id, account_id=account_id, model="happyhorse-1-1",
                             request=sample_request())
        return job_id

    return submit


@dataclass
class Receiver:
    """A loopback HTTP server: answers ``script`` statuses in turn (then the last one), records requests."""

    url: str
    script: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            n = len(self.received)
        return self.script[min(n, len(self.script) - 1)]


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def make(*script: int, delay: float = 0.0, headers: dict[str, str] | None = None) -> Receiver:
        state = Receiver(url="", script=list(script) or [200], delay=delay, headers=headers or {})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = state.next_status()
                with state.lock:
                    state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if state.delay:
                    threading.Event().wait(state.delay)
                self.send_response(status)
                for name, value in state.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        return state

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
