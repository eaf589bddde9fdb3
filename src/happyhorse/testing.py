"""Helpers for tests (ours and yours): a real server on a loopback port, sample jobs.

``running_service(settings)`` starts the API and an in-process worker — what
``happyhorse serve`` runs — on ``127.0.0.1`` with a free port, and yields a
:class:`LiveService` with its base URL and a ready API key (of the account
``tester``, granted :data:`TESTER_CREDIT`).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from happyhorse.jobs.request import JobRequest
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings

TESTER_CREDIT = Decimal("1000")
"""What ``running_service`` grants its ``tester`` account: plenty for any test suite."""


def sample_request(**changes: object) -> JobRequest:
    """A stored request to queue jobs with directly (``JobQueue.insert_job``): a 3 s 720p
    16:9 t2v job with seed 7, with ``changes`` applied (``inputs`` as
    :class:`~happyhorse.jobs.request.JobInput`)."""
    values: dict[str, object] = {
        "mode": "t2v", "prompt": "a horse", "aspect_ratio": "16:9", "resolution": "720p", "duration": 3,
        "seed": 7, "watermark": False, "inputs": (), "width": 1280, "height": 720,
    }
    values.update(changes)
    values["inputs"] = tuple(values["inputs"])  # type: ignore[arg-type]
    return JobRequest(**values)  # type: ignore[arg-type]


@dataclass
class LiveService:
    base_url: str
    api_key: str
    runtime: Runtime

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def new_account_key(self, name: str, *, credits: Decimal | str = "100") -> str:
        """A key of a new account ``name``, granted ``credits`` USD (default $100; ``"0"`` for none)."""
        from happyhorse.accounts import create_account, create_key
        from happyhorse.billing.ledger import grant_credits

        account = create_account(self.runtime.db, name)
        if Decimal(credits) > 0:
            grant_credits(self.runtime.db, account.id, Decimal(credits), memo="test credit")
        return create_key(self.runtime.db, account.id).key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(base_url: str, *, timeout: float = 60, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``<base_url>/healthz`` until it answers 200 (True); False once ``alive()`` turns false
    (the server process exited) or ``timeout`` seconds have passed."""
    import httpx

    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


@contextmanager
def serve_app_in_thread(app, *, port: int | None = None) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Run an ASGI app under uvicorn in a thread, configured as ``happyhorse serve`` runs it (the connection
    guard, proxy trust, log redaction of :mod:`happyhorse.api.server_config`, from ``app.state.runtime``'s
    settings when it has them); yields its base URL."""
    import uvicorn

    from happyhorse.api.server_config import uvicorn_config

    port = port or free_port()
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    settings = runtime.settings if runtime is not None else Settings()
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, settings=settings, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def running_service(
    settings: Settings, *, worker: bool = True, engine_name: str | None = None
) -> Iterator[LiveService]:
    """The API plus (unless ``worker=False``) one in-process worker, on a loopback port.

    The worker's engine is ``engine_name`` (default ``settings.engine``) built
    with ``settings.engine_options``; ``GET /v1/models`` names that engine.
    """
    from happyhorse.accounts import create_account, create_key
    from happyhorse.app import create_app
    from happyhorse.billing.ledger import grant_credits
    from happyhorse.engines import load_engine
    from happyhorse.worker import Worker, WorkerThread

    if engine_name is not None:
        settings.engine = engine_name
    # Built before the runtime opens, as the CLI does: a bad engine fails at once.
    engine = load_engine(settings.engine, settings.engine_options) if worker else None
    runtime = Runtime.open(settings)
    worker_thread = None
    if engine is not None:
        worker_thread = WorkerThread(Worker(runtime, engine), grace_seconds=settings.shutdown_grace_seconds)
    tester = create_account(runtime.db, "tester")
    grant_credits(runtime.db, tester.id, TESTER_CREDIT, memo="test credit")
    key = create_key(runtime.db, tester.id).key
    try:
        with serve_app_in_thread(create_app(runtime, worker=worker_thread)) as base_url:
            yield LiveService(base_url, key, runtime)
    finally:
        runtime.close()


@dataclass(frozen=True)
class MetricSamples:
    """A Prometheus exposition, parsed (``prometheus_client``'s parser: text that does not parse raises)."""

    text: str
    samples: tuple  # of prometheus_client.samples.Sample

    @property
    def families(self) -> set[str]:
        """Every family named by a ``# TYPE`` line, as the text names it (``..._total`` for a counter)."""
        return {line.split()[2] for line in self.text.splitlines() if line.startswith("# TYPE ")}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels`` (0 with none)."""
        return sum(sample.value for sample in self.samples
                   if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))

    def has(self, name: str, **labels: str) -> bool:
        """Whether any sample called ``name`` has ``labels``."""
        return any(sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
                   for sample in self.samples)

    def label_values(self, name: str, label: str) -> set[str]:
        return {sample.labels[label] for sample in self.samples if sample.name == name and label in sample.labels}


def read_metrics(text: str) -> MetricSamples:
    """Parse an exposition in the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = tuple(sample for family in text_string_to_metric_families(text) for sample in family.samples)
    return MetricSamples(text, samples)


def scrape_metrics(url: str, *, token: str | None = None) -> MetricSamples:
    """``GET url`` (``/metrics`` of an API with its token, or a ``--metrics-port`` listener), parsed;
    raises ``httpx.HTTPStatusError`` for an answer other than 200."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=30)
    response.raise_for_status()
    return read_metrics(response.text)
