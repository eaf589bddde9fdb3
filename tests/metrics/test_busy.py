"""The busy ratio's sliding window, on a clock the test moves."""

from __future__ import annotations

import pytest

from happyhorse.metrics import Metrics, render
from happyhorse.metrics.busy import BusyWindow
from happyhorse.metrics.jobs import JobTimer
from happyhorse.testing import read_metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_ratio_is_the_generating_share_of_the_last_minute() -> None:
    clock = Clock()
    window = BusyWindow(clock=clock)
    clock.now += 60  # up for a minute, idle
    assert window.ratio() == 0
    window.begin()
    clock.now += 15
    assert window.ratio() == pytest.approx(0.25)  # a generate under way counts up to now
    window.end()
    clock.now += 15
    assert window.ratio() == pytest.approx(0.25)
    window.begin()
    clock.now += 30
    window.end()
    assert window.ratio() == pytest.approx(0.75)  # 15 + 30 of the last 60
    clock.now += 45  # the first interval slides out, the second half out
    assert window.ratio() == pytest.approx(15 / 60)
    clock.now += 60
    assert window.ratio() == 0


def test_a_young_worker_is_measured_over_its_uptime() -> None:
    clock = Clock()
    window = BusyWindow(clock=clock)
    window.begin()
    clock.now += 10
    assert window.ratio() == pytest.approx(1.0)
    window.end()
    clock.now += 10
    assert window.ratio() == pytest.approx(0.5)


def test_a_job_timer_marks_its_generate_busy_and_counts_its_end_once() -> None:
    metrics = Metrics()
    timer = JobTimer(metrics, engine="preview", resolution="1080p", busy=metrics.busy.window("w1"))
    with timer.phase("generate"):
        pass
    with pytest.raises(RuntimeError), timer.phase("encode"):
        raise RuntimeError("the encoder failed")  # the time was spent all the same
    timer.ended("failed")
    timer.ended("lost")  # a drop after the end was written: not counted again
    scraped = read_metrics(render(metrics).decode())
    assert scraped.value("happyhorse_job_phase_seconds_count", phase="generate", resolution="1080p") == 1
    assert scraped.value("happyhorse_job_phase_seconds_count", phase="encode") == 1
    assert scraped.value("happyhorse_jobs_finished_total", engine="preview", outcome="failed") == 1
    assert scraped.value("happyhorse_jobs_finished_total") == 1
    assert not scraped.has("happyhorse_engine_seconds_per_output_second_count")  # completed jobs only
    assert scraped.label_values("happyhorse_worker_busy_ratio", "worker_id") == {"w1"}


def test_metrics_of_two_processes_in_one_are_apart() -> None:
    first, second = Metrics(), Metrics()
    first.http_requests.labels("/healthz", "GET", "200").inc()
    assert read_metrics(render(second).decode()).value("happyhorse_http_requests_total") == 0
    assert read_metrics(render(first).decode()).value("happyhorse_http_requests_total") == 1
