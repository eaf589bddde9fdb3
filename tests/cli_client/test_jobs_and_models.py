"""``happyhorse jobs list|show|cancel|delete|download`` and ``happyhorse models``; the bar's labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich.console import Console

import happyhorse
from happyhorse.cli.client_support import JobProgressBar, describe
from happyhorse.media.probe import probe


def test_jobs_list_show_and_download(cli, service, tmp_path):
    with happyhorse.Client(api_key=service.api_key, base_url=service.base_url) as client:
        job = client.videos.generate_and_wait(prompt="jobs commands", duration=3, poll_interval=0.05)
    listed = cli("jobs", "list", "--limit", "3")
    assert listed.returncode == 0 and job.job_id in listed.stdout and "completed" in listed.stdout
    as_json = json.loads(cli("jobs", "list", "--json").stdout)
    assert job.job_id in [item["job_id"] for item in as_json]
    shown = cli("jobs", "show", job.job_id)
    assert shown.returncode == 0 and "jobs commands" in shown.stdout and "$0.42" in shown.stdout
    assert json.loads(cli("jobs", "show", job.job_id, "--json").stdout)["status"] == "completed"
    saved = cli("jobs", "download", job.job_id, "-o", "out.mp4")
    assert saved.returncode == 0 and saved.stdout.strip() == "out.mp4" and probe(tmp_path / "out.mp4").num_frames == 72
    poster = cli("jobs", "download", job.job_id, "--poster")
    assert (tmp_path / poster.stdout.strip()).read_bytes()[:3] == b"\xff\xd8\xff"
    assert cli("jobs", "show", "job_01nosuchjob").returncode == 3


def test_jobs_cancel_and_show_of_a_cancelled_job(cli, idle_service):
    job_id = cli("generate", "to be cancelled", "--no-wait", live=idle_service).stdout.strip()
    cancelled = cli("jobs", "cancel", job_id, live=idle_service)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    assert cli("jobs", "show", job_id, live=idle_service).returncode == 1
    again = cli("jobs", "cancel", job_id, live=idle_service)
    assert again.returncode == 3 and "409" in again.stderr


def test_jobs_delete_an_ended_job_then_404_and_409_for_a_queued_one(cli, service, idle_service):
    with happyhorse.Client(api_key=service.api_key, base_url=service.base_url) as client:
        job = client.videos.generate_and_wait(prompt="to be deleted", duration=3, poll_interval=0.05)
    deleted = cli("jobs", "delete", job.job_id)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith(f"deleted {job.job_id}  completed")
    assert not list(service.runtime.storage.list_objects(f"outputs/{job.job_id}"))
    again = cli("jobs", "delete", job.job_id)
    assert again.returncode == 3 and "404" in again.stderr
    assert cli("jobs", "show", job.job_id).returncode == 3
    other = cli("generate", "second", "--no-wait", live=idle_service).stdout.strip()
    busy = cli("jobs", "delete", other, live=idle_service)
    assert busy.returncode == 3 and "job_not_ended" in busy.stderr and "cancel" in busy.stderr
    cli("jobs", "cancel", other, live=idle_service)
    as_json = json.loads(cli("jobs", "delete", other, "--json", live=idle_service).stdout)
    assert as_json == {"id": other, "object": "video.generation.job.deleted", "deleted": True}


def test_models_names_the_engine_and_says_it_is_not_neural(cli):
    done = cli("models")
    assert done.returncode == 0, done.stderr
    assert "happyhorse-1-1" in done.stdout and "engine: preview" in done.stdout
    assert "NOT a neural network" in done.stdout and "procedural" in done.stdout
    assert "served now: t2v, i2v, r2v" in done.stdout  # by the registered preview worker, or none yet
    [card] = json.loads(cli("models", "--json").stdout)
    assert card["engine"]["name"] == "preview" and card["engine"]["neural"] is False
    assert card["served_modes"] == ["t2v", "i2v", "r2v"]


def _job(status: str, progress: int, position: int | None, eta: int | None = None) -> happyhorse.Job:
    return happyhorse.Job(
        job_id="job_01x", model="happyhorse-1-1", status=status, progress=progress,  # type: ignore[arg-type]
        queue_position=position, eta_seconds=eta, created_at=datetime.now(UTC),
        request={"mode": "t2v", "prompt": "p", "aspect_ratio": "16:9", "resolution": "720p", "duration": 3,
                 "seed": 1, "watermark": False, "images": 0},  # type: ignore[arg-type]
    )


def test_the_bar_shows_the_queue_position_then_percent_and_elapsed_time():
    console = Console(record=True, width=100, force_terminal=True, color_system=None)
    with JobProgressBar(console) as bar:
        bar.update(_job("queued", 0, 3))
        console.print()  # keep a frame of the queued state in the recording
        bar._progress.refresh()
        queued = console.export_text(clear=False)
        bar.update(_job("running", 40, None))
        bar._progress.refresh()
    text = console.export_text()
    assert "queued (position 3)" in queued
    assert "generating" in text and "40%" in text and "0:00:00" in text


def test_the_bar_and_show_carry_the_eta_when_the_server_has_one():
    assert JobProgressBar.label(_job("queued", 0, 2, eta=75)) == "queued (position 2, eta ~1m 15s)"
    assert JobProgressBar.label(_job("running", 40, None, eta=9)) == "generating (eta ~9s)"
    assert JobProgressBar.label(_job("running", 40, None)) == "generating"
    assert describe(_job("running", 40, None, eta=9)).endswith("40%  eta ~9s")
