"""Fixtures shared by every test package.

``database_url`` runs a test on SQLite (a temp file in WAL mode) and on
PostgreSQL (a fresh database on the server named by
``HAPPYHORSE_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Set ``HAPPYHORSE_TEST_POSTGRES=0`` to skip the PostgreSQL half locally.

``receiver`` makes webhook receivers: real HTTP servers on 127.0.0.1 that
answer scripted statuses and record what they got.

``s3_endpoint`` is a real S3 HTTP endpoint on loopback (moto's server, one per
session, started only by tests that ask for it); ``s3_bucket`` is a fresh,
empty bucket on it for one test; ``s3_client`` a boto3 client of it.
"""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "HAPPYHORSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_wanted() -> bool:
    return os.environ.get("HAPPYHORSE_TEST_POSTGRES", "1") != "0"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not _postgres_wanted():
        pytest.skip("HAPPYHORSE_TEST_POSTGRES=0")
    import psycopg

    name = f"hh_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'happyhorse.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of moto's S3 server on 127.0.0.1 (a free port); dummy credentials, and nothing off the machine.

    boto3 finds the credentials in the environment (so ``happyhorse`` subprocesses
    do too); the EC2 metadata service and any ~/.aws files are switched off, and
    every client is built with this endpoint_url.
    """
    from moto.server import ThreadedMotoServer

    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str):  # type: ignore[no-untyped-def]
    """A boto3 client of the loopback S3 server, shared (building one costs a few hundred ms)."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_client) -> str:  # type: ignore[no-untyped-def]
    """A new, empty bucket on the loopback S3 server."""
    name = f"hh-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@dataclass
class Receiver:
    """A loopback HTTP server: answers ``script`` statuses in turn (then the last one), records requests.

    ``gate``: while cleared, each request waits (up to 60 s) before it is answered — a receiver
    that hangs; ``peak`` is the most requests it held at once."""

    url: str
    script: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """The status answered to each of ``received``, in order."""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    peak: int = 0

    def next_status(self) -> int:
        with self.lock:
            n = len(self.received)
        return self.script[min(n, len(self.script) - 1)]

    def answer_from_now(self, status: int) -> None:
        """Answer ``status`` to every request from now on (a receiver that comes back up)."""
        with self.lock:
            self.script = [status]

    def delivered_ids(self) -> list[str]:
        """The ``webhook-id`` of every request answered 2xx (one per successful delivery)."""
        with self.lock:
            return [h["webhook-id"] for (h, _), status in zip(self.received, self.statuses) if 200 <= status < 300]

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        status = self.next_status()
        with self.lock:
            self.received.append((headers, body))
            self.statuses.append(status)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            self.gate.wait(60)
            if self.delay:
                threading.Event().wait(self.delay)
        finally:
            with self.lock:
                self.in_flight -= 1
        return status


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """``receiver(*statuses, delay=0, headers=None, hold=False)`` → a started :class:`Receiver`
    (``hold=True``: its gate starts closed)."""
    servers: list[http.server.ThreadingHTTPServer] = []
    states: list[Receiver] = []

    def make(*script: int, delay: float = 0.0, headers: dict[str, str] | None = None,
             hold: bool = False) -> Receiver:
        state = Receiver(url="", script=list(script) or [200], delay=delay, headers=headers or {})
        if not hold:
            state.gate.set()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = state.answer({k.lower(): v for k, v in self.headers.items()}, body)
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
        states.append(state)
        state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        return state

    yield make
    for state in states:
        state.gate.set()
    for server in servers:
        server.shutdown()
        server.server_close()
