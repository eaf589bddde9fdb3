"""A pipelining worker (an engine that says ``pipelined``): the next job generates while the last
is encoded and stored, with every guarantee of the one-job-at-a-time worker kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from happyhorse.jobs.status import Status
from happyhorse.worker import Worker, WorkerThread
from happyhorse.worker import run as worker_run
from happyhorse.worker.pipeline import CLAIM_AHEAD_AT

from .conftest import GpuStubEngine, output_files, wait_until, worker_running


class SlowEncoder:
    """Wraps the worker's encoder: each encode takes ``seconds`` more and is recorded with its job id,
    its thread and its interval."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
        self.seconds = seconds
        self.intervals: dict[str, tuple[float, float]] = {}
        self.threads: set[str] = set()
        self.encoding = 0
        self.most_encoding = 0
        self._lock = threading.Lock()
        self._real = worker_run.encode_clip
        monkeypatch.setattr(worker_run, "encode_clip", self)

    def __call__(self, clip: Any, video_path: Path, *args: Any, **kwargs: Any) -> Any:
        job_id = Path(video_path).parent.name.rsplit("-", 1)[0]
        with self._lock:
            self.encoding += 1
            self.most_encoding = max(self.most_encoding, self.encoding)
            self.threads.add(threading.current_thread().name)
        started = time.monotonic()
        try:
            time.sleep(self.seconds)
            return self._real(clip, video_path, *args, **kwargs)
        finally:
            with self._lock:
                self.encoding -= 1
            self.intervals[job_id] = (started, time.monotonic())


def completed(runtime, jobs) -> bool:
    return all(runtime.queue.get(job.id).status is Status.COMPLETED for job in jobs)


def test_the_next_job_generates_while_the_last_is_encoded(runtime, submit, monkeypatch):
    engine = GpuStubEngine(steps=8, step_seconds=0.05)  # 0.4 s "on the GPU" per job
    encoder = SlowEncoder(monkeypatch, seconds=0.3)
    jobs = [submit(f"horse {n}") for n in range(4)]
    generate_spans: dict[str, list[float]] = {}
    real_generate = worker_run.generate

    def timed_generate(engine_: Any, claimed: Any, spec: Any, ctx: Any) -> Any:
        start = time.monotonic()
        try:
            return real_generate(engine_, claimed, spec, ctx)
        finally:
            generate_spans[claimed.job.id] = [start, time.monotonic()]

    monkeypatch.setattr("happyhorse.worker.loop.generate", timed_generate)
    worker = Worker(runtime, engine, worker_id="w1")
    assert worker.pipelined
    with worker_running(worker):
        wait_until(lambda: completed(runtime, jobs), timeout=20)

    # Each job after the first started generating while the one before it was being encoded.
    in_turn = sorted(generate_spans, key=lambda job_id: generate_spans[job_id][0])
    for before, after in zip(in_turn, in_turn[1:]):
        encoded_from, encoded_to = encoder.intervals[before]
        generated_from, generated_to = generate_spans[after]
        assert generated_from < encoded_to and encoded_from < generated_to, (before, after)
    # Never more than one job generating, nor more than one finishing; encoding off the GPU's thread.
    assert engine.most_generating == 1 and encoder.most_encoding == 1
    assert encoder.threads == {"finisher_0"}
    for job in jobs:
        done = runtime.queue.get(job.id)
        assert (done.progress, done.attempt) == (100, 1)
        assert {row["kind"] for row in runtime.queue.outputs_for(job.id)} == {"video", "poster"}
    assert len(output_files(runtime)) == 2 * len(jobs) * 2  # video + poster, each with its sidecar
    assert list((runtime.settings.data_dir / "tmp").iterdir()) == []


def test_the_next_job_is_claimed_and_its_inputs_loaded_near_the_end_of_the_last(runtime, submit, monkeypatch):
    events: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def note(event: str, job_id: str) -> None:
        with lock:
            thread = threading.current_thread().name
            events.append((event, job_id, "loop" if thread == "worker-under-test" else thread))

    real_prepare = worker_run.prepare

    def noting_prepare(runtime_: Any, engine_name: str, claimed: Any) -> Any:
        note("claimed", claimed.job.id)
        time.sleep(0.1)  # slow inputs (an object store): they must not hold the GPU up
        spec = real_prepare(runtime_, engine_name, claimed)
        note("inputs loaded", claimed.job.id)
        return spec

    monkeypatch.setattr("happyhorse.worker.loop.prepare", noting_prepare)
    engine = GpuStubEngine(steps=8, step_seconds=0.2)  # claimed ahead after 6 steps: 0.4 s before the end
    first, second = submit("horse 1"), submit("horse 2")

    real_generate = worker_run.generate

    def noting_generate(engine_: Any, claimed: Any, spec: Any, ctx: Any) -> Any:
        real_report = ctx.report_progress

        def report(fraction: float) -> None:
            if fraction >= CLAIM_AHEAD_AT and ("nearly done", claimed.job.id, "loop") not in events:
                note("nearly done", claimed.job.id)
            real_report(fraction)

        note("generate", claimed.job.id)
        ctx.report_progress = report
        result = real_generate(engine_, claimed, spec, ctx)
        note("generated", claimed.job.id)
        return result

    monkeypatch.setattr("happyhorse.worker.loop.generate", noting_generate)
    worker = Worker(runtime, engine, worker_id="w1")
    thread = threading.Thread(target=worker.run, name="worker-under-test", daemon=True)
    thread.start()
    wait_until(lambda: completed(runtime, [first, second]), timeout=20)
    worker.stop.set()
    thread.join(10)

    order = [(event, job_id) for event, job_id, _ in events]
    first, second = sorted((first, second), key=lambda job: order.index(("claimed", job.id)))
    # The second job was claimed only once the first was nearly done, and its (slow) inputs
    # were loaded on the intake's thread before the GPU was free of the first.
    assert order.index(("nearly done", first.id)) < order.index(("claimed", second.id))
    assert order.index(("inputs loaded", second.id)) < order.index(("generated", first.id))
    intake_threads = {thread for event, job_id, thread in events if event == "claimed" and job_id == second.id}
    assert intake_threads == {"intake_0"}


def test_the_running_cap_holds_the_next_job_of_the_same_account_back(runtime, submit, monkeypatch):
    runtime.settings.max_running_jobs_per_account = 1
    engine = GpuStubEngine(steps=4, step_seconds=0.05)
    encoder = SlowEncoder(monkeypatch, seconds=0.3)
    first, second = submit("horse 1"), submit("horse 2")
    running_together: list[int] = []

    def count_running() -> bool:
        running_together.append(sum(runtime.queue.get(j.id).status is Status.RUNNING for j in (first, second)))
        return completed(runtime, [first, second])

    with worker_running(Worker(runtime, engine, worker_id="w1")):
        wait_until(count_running, timeout=20)

    assert max(running_together) == 1
    # So the second job's generation began only after the first was stored.
    assert [e for e, *_ in engine.log] == ["generate", "generated", "generate", "generated"]
    assert encoder.intervals[first.id][1] < encoder.intervals[second.id][0]


def test_cancel_reaches_the_finishing_job_and_the_generating_one(runtime, submit, account_id, monkeypatch):
    engine = GpuStubEngine(steps=20, step_seconds=0.05)
    SlowEncoder(monkeypatch, seconds=1.5)
    finishing, generating, after = submit("horse 1"), submit("horse 2"), submit("horse 3")

    with worker_running(Worker(runtime, engine, worker_id="w1")):
        # The first is being encoded while the second generates: cancel both.
        wait_until(lambda: len([e for e, *_ in engine.log if e == "generate"]) == 2)
        started = [p for e, p, _ in engine.log if e == "generate"]
        by_prompt = {job.request.prompt: job for job in (finishing, generating, after)}
        finishing, generating = by_prompt.pop(started[0]), by_prompt.pop(started[1])
        (after,) = by_prompt.values()
        runtime.queue.request_cancel(account_id, finishing.id)
        runtime.queue.request_cancel(account_id, generating.id)
        wait_until(lambda: completed(runtime, [after]), timeout=20)

    for job in (finishing, generating):
        ended = runtime.queue.get(job.id)
        assert ended.status is Status.CANCELLED and runtime.queue.outputs_for(job.id) == []
    # The generating job stopped at a step, before its end.
    assert ("generated", generating.request.prompt) not in [(e, p) for e, p, _ in engine.log]


def test_stop_within_grace_finishes_both_jobs_under_way_and_gives_back_the_rest(runtime, submit, monkeypatch):
    engine = GpuStubEngine(steps=10, step_seconds=0.05)
    SlowEncoder(monkeypatch, seconds=0.8)
    jobs = [submit(f"horse {n}") for n in range(4)]
    worker_thread = WorkerThread(Worker(runtime, engine, worker_id="w1"), grace_seconds=20)
    worker_thread.start()
    wait_until(lambda: len([e for e, *_ in engine.log if e == "generate"]) == 2)

    worker_thread.stop_and_join()

    started = {p for e, p, _ in engine.log if e == "generate"}
    assert len(started) == 2
    assert completed(runtime, [job for job in jobs if job.request.prompt in started])
    for job in jobs:  # never started (one may have been claimed ahead: given back, attempt not counted)
        if job.request.prompt not in started:
            untouched = runtime.queue.get(job.id)
            assert (untouched.status, untouched.attempt, untouched.worker_id) == (Status.QUEUED, 0, None)


def test_stop_past_grace_gives_both_jobs_under_way_back(runtime, submit, monkeypatch):
    engine = GpuStubEngine(steps=4, step_seconds=0.05)
    first, second = submit("horse 0"), submit("horse 1")
    real_finish_run = worker_run.finish_run
    finishing = threading.Event()

    def stuck_finish_run(*args: Any, **kwargs: Any) -> Any:
        finishing.set()
        ctx = args[3]
        while not ctx.cancelled():  # a finish that outlasts the grace (a slow store)
            time.sleep(0.01)
        return real_finish_run(*args, **kwargs)

    monkeypatch.setattr("happyhorse.worker.loop.finish_run", stuck_finish_run)
    worker = Worker(runtime, engine, worker_id="w1")
    worker_thread = WorkerThread(worker, grace_seconds=0.5)
    worker_thread.start()
    wait_until(finishing.is_set)
    wait_until(lambda: len([e for e, *_ in engine.log if e == "generate"]) == 2)

    asked = time.monotonic()
    worker_thread.stop_and_join()
    assert time.monotonic() - asked < 3

    for job in (first, second):
        released = runtime.queue.get(job.id)
        assert (released.status, released.attempt, released.worker_id) == (Status.QUEUED, 0, None)
        assert runtime.queue.outputs_for(job.id) == []
    assert output_files(runtime) == []


def test_a_storage_fault_while_finishing_leaves_that_job_to_its_lease_and_the_worker_goes_on(
    runtime, submit, monkeypatch
):
    runtime.settings.lease_seconds, runtime.settings.heartbeat_seconds = 1.0, 0.2
    engine = GpuStubEngine(steps=4, step_seconds=0.05)
    broken, fine = submit("horse 1"), submit("horse 2")
    real_put = runtime.storage.put_file

    def put_file(key: str, *args: Any, **kwargs: Any) -> Any:
        if broken.id in key:
            raise RuntimeError("the object store refused the request")
        return real_put(key, *args, **kwargs)

    monkeypatch.setattr(runtime.storage, "put_file", put_file)
    with worker_running(Worker(runtime, engine, worker_id="w1")):
        wait_until(lambda: completed(runtime, [fine]), timeout=20)
        # No more heartbeats for the broken one: its lease lapses and the reaper requeues it.
        wait_until(lambda: runtime.queue.reap_expired().requeued == [broken.id], timeout=5)
    assert runtime.queue.outputs_for(broken.id) == []
