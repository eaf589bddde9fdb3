"""``happyhorse generate``: the MP4, --json, --no-wait, exit codes, the progress bar, Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import httpx

from happyhorse.media.probe import probe

from .conftest import EXE, client_env

EXE_ARGS = ("generate", "a horse gallops along the beach", "--duration", "3")


def test_generate_writes_a_playable_mp4_and_prints_its_path(cli, tmp_path):
    done = cli(*EXE_ARGS, "--seed", "5", "-o", "horse.mp4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "horse.mp4"
    info = probe(tmp_path / "horse.mp4")
    assert (info.width, info.height, info.num_frames, info.has_audio) == (1280, 720, 72, True)
    assert "submitted job_" in done.stderr and "engine preview" in done.stderr


def test_json_prints_the_final_job_and_i2v_from_a_local_file(cli, tmp_path, picture):
    done = cli(*EXE_ARGS, "--image", str(picture(400, 700)), "--json", "--watermark")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "completed" and job["request"]["mode"] == "i2v" and job["request"]["watermark"]
    assert job["result"]["outputs"][0]["width"] == 720
    assert probe(tmp_path / f"{job['job_id']}.mp4").height == 1280


def test_no_wait_prints_the_job_id(cli, idle_service):
    done = cli(*EXE_ARGS, "--no-wait", live=idle_service)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert job_id.startswith("job_")
    as_json = cli(*EXE_ARGS, "--no-wait", "--json", "--aspect-ratio", "1:1", live=idle_service)
    assert json.loads(as_json.stdout)["status"] == "queued"
    assert json.loads(as_json.stdout)["request"]["aspect_ratio"] == "1:1"


def upload_whose_file_is_lost(service, picture) -> str:  # type: ignore[no-untyped-def]
    """An upload id the API accepts but whose stored bytes are gone: the worker fails its job."""
    with open(picture(), "rb") as image:
        uploaded = httpx.post(f"{service.base_url}/v1/uploads", headers=service.headers(),
                              files={"file": ("p.png", image, "image/png")})
    upload_id = uploaded.json()["upload_id"]
    for listed in list(service.runtime.storage.list_objects(f"uploads/{upload_id}.")):
        service.runtime.storage.delete(listed.key)
    return upload_id


def test_exit_1_when_the_job_fails(cli, service, picture):
    done = cli(*EXE_ARGS, "--image", upload_whose_file_is_lost(service, picture))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "generation_failed" in done.stderr


def test_exit_3_when_an_image_url_is_refused_at_submit(cli):
    # Image URLs are fetched at submit: a loopback one is a 400, no job is made.
    done = cli(*EXE_ARGS, "--image", "http://127.0.0.1:9/x.png")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "invalid_image" in done.stderr


def test_exit_2_for_usage_errors(cli, service):
    assert cli(*EXE_ARGS, "--mode", "sideways").returncode == 2
    assert cli("generate").returncode == 2
    missing = cli(*EXE_ARGS, "--image", "no-such-file.png")
    assert missing.returncode == 2 and "not found" in missing.stderr
    no_key = cli(*EXE_ARGS, live=None, env={"HAPPYHORSE_BASE_URL": service.base_url})
    assert no_key.returncode == 2 and "API key" in no_key.stderr


def test_exit_3_for_api_errors(cli, service):
    bad_input = cli("generate", "too long", "--duration", "20")
    assert bad_input.returncode == 3 and "duration_out_of_range" in bad_input.stderr
    bad_key = cli(*EXE_ARGS, "--api-key", "hh_live_wrong")
    assert bad_key.returncode == 3 and "401" in bad_key.stderr
    from happyhorse.testing import free_port

    nobody = cli(*EXE_ARGS, "--base-url", f"http://127.0.0.1:{free_port()}", timeout=60)
    assert nobody.returncode == 3 and "connect" in nobody.stderr


def test_the_progress_bar_renders_in_a_terminal(service, tmp_path):
    controller, terminal = pty.openpty()
    process = subprocess.Popen([EXE, *EXE_ARGS, "-o", "bar.mp4"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=terminal, cwd=tmp_path, env=client_env(service, tmp_path, TERM="xterm-256color"))
    os.close(terminal)
    screen = _read_all(controller)
    assert process.wait(60) == 0
    text = screen.decode(errors="replace")
    assert "generating" in text and "100%" in text and "0:00:0" in text and "━" in text
    assert process.stdout is not None and process.stdout.read().strip() == b"bar.mp4"


def test_ctrl_c_without_a_terminal_leaves_the_job_and_exits_130(idle_service, tmp_path):
    process = subprocess.Popen([EXE, *EXE_ARGS], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=tmp_path, env=client_env(idle_service, tmp_path), text=True)
    assert process.stderr is not None
    first_line = process.stderr.readline()  # "submitted job_… queued …": the wait has begun
    assert first_line.startswith("submitted job_"), first_line
    job_id = first_line.split()[1]
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(30) == 130
    assert f"happyhorse jobs download {job_id}" in rest
    job = httpx.get(f"{idle_service.base_url}/v1/jobs/{job_id}", headers=idle_service.headers()).json()
    assert job["status"] == "queued"


def test_ctrl_c_in_a_terminal_asks_and_cancels_the_job(idle_service, tmp_path):
    controller, terminal = pty.openpty()
    process = subprocess.Popen([EXE, *EXE_ARGS], stdin=terminal, stdout=subprocess.PIPE, stderr=terminal,
                               cwd=tmp_path, env=client_env(idle_service, tmp_path, TERM="xterm-256color"))
    os.close(terminal)
    try:
        submitted = _read_until(controller, b"queued (position")
        job_id = submitted.split(b"submitted ", 1)[1].split()[0].decode()
        process.send_signal(signal.SIGINT)
        _read_until(controller, f"Cancel job {job_id}?".encode())
        os.write(controller, b"y\n")
        assert b"cancelled job" in _read_until(controller, b"cancelled job")
        assert process.wait(30) == 130
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    job = httpx.get(f"{idle_service.base_url}/v1/jobs/{job_id}", headers=idle_service.headers()).json()
    assert job["status"] == "cancelled"


def _read_until(fd: int, needle: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} not seen in {seen[-2000:]!r}"
        if select.select([fd], [], [], remaining)[0]:
            seen += os.read(fd, 65536)
    return seen


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_quote_prints_the_price_and_submits_nothing(cli, idle_service, picture):
    before = len(list(idle_service.runtime.storage.list_objects("")))
    quoted = cli("generate", "a quote", "--quote", "--duration", "4", "--resolution", "1080p", live=idle_service)
    assert quoted.returncode == 0, quoted.stderr
    assert "price: $" in quoted.stdout and "4s at $" in quoted.stdout and "affordable" in quoted.stdout
    assert "eta: unknown" in quoted.stdout  # no job ever completed on the idle service
    assert "t2v 16:9 1080p (1920x1080), 4s, seed random" in quoted.stdout and "nothing was submitted" in quoted.stdout
    as_json = json.loads(cli("generate", "a quote", "--quote", "--json", "--seed", "9", "--image",
                             str(picture(400, 700)), live=idle_service).stdout)
    assert as_json["object"] == "video.generation.quote" and as_json["affordable"] is True
    assert as_json["billed_seconds"] == 5 and as_json["eta_seconds"] is None
    assert as_json["request"]["mode"] == "i2v" and as_json["request"]["seed"] == 9
    assert (as_json["request"]["width"], as_json["request"]["height"]) == (720, 1280)
    listed = cli("jobs", "list", "--json", live=idle_service)
    assert all(job["request"]["prompt"] != "a quote" for job in json.loads(listed.stdout))
    assert len(list(idle_service.runtime.storage.list_objects(""))) == before


def test_quote_refused_by_a_rule_exits_3_with_the_error(cli):
    refused = cli("generate", "too long", "--quote", "--duration", "20")
    assert refused.returncode == 3 and "duration_out_of_range" in refused.stderr and refused.stdout == ""
