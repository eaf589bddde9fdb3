"""``--log-format json``: real ``happyhorse api`` and ``worker`` processes write one JSON object a
line, with the request, account, job and worker ids where known, and never a key, a signature or a
prompt. Plus the formatter and the redaction on their own."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from happyhorse.logs import JsonFormatter, log_context, redact
from happyhorse.testing import free_port

PROMPT = "a horse named Confidential Marigold"


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("happyhorse.test", logging.INFO, __file__, 1, message, args, None)


def test_a_line_carries_the_bound_ids_and_nothing_secret() -> None:
    with log_context(request_id="req_1", account_id="acc_1"), log_context(job_id="job_1"):
        line = json.loads(JsonFormatter().format(_record("fetched %s", "/files/x?expires=9&sig=abcdef")))
    assert line["request_id"] == "req_1" and line["account_id"] == "acc_1" and line["job_id"] == "job_1"
    assert line["level"] == "INFO" and line["logger"] == "happyhorse.test"
    assert line["message"] == "fetched /files/x?expires=9&sig=REDACTED"
    assert "job_id" not in json.loads(JsonFormatter().format(_record("outside")))


@pytest.mark.parametrize("secret", [
    "hh_live_4f9aZ0qLx2Yb7cD1eF3gH5jK8mN0pQ2rS4tU6vW8xY",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "Bearer not-a-real-token-but-a-credential",
    "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
])
def test_redaction_masks_each_kind_of_secret(secret: str) -> None:
    masked = redact(f"before {secret} after")
    assert "REDACTED" in masked and secret.split()[-1] not in masked
    assert masked.startswith("before ") and masked.endswith(" after")


@pytest.mark.slow
def test_api_and_worker_processes_log_json_with_ids_and_no_secrets(hh, processes, tmp_path) -> None:
    common = ["--data-dir", str(tmp_path / "data"), "--log-format", "json"]
    store = ["--data-dir", str(tmp_path / "data")]
    hh.run("accounts", "create", "logs", *store)
    hh.run("credits", "add", "logs", "5", *store)
    key = hh.run("keys", "create", "--account", "logs", *store).stdout.strip()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = processes.start("api", "api", "--host", "127.0.0.1", "--port", str(port), *common)
    worker = processes.start("worker", "worker", *common)
    hh.wait_healthy(base_url, api)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        submitted = client.post("/v1/videos/generations", json={"prompt": PROMPT, "duration": 3})
        assert submitted.status_code == 202, submitted.text
        request_id, job_id = submitted.headers["x-request-id"], submitted.json()["job_id"]
        deadline = time.monotonic() + 90
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline and job["status"] in ("queued", "running"), job
            time.sleep(0.2)
        url = job["result"]["outputs"][0]["url"]
        assert httpx.get(url, timeout=30).status_code == 200
        account_id = client.get("/v1/account").json()["account_id"]
    assert api.stop(20) == 0 and worker.stop(30) == 0
    signature = url.split("sig=")[1].split("&")[0]

    lines = {name: [json.loads(text) for text in proc.output().splitlines() if text.strip()]
             for name, proc in (("api", api), ("worker", worker))}
    for name, parsed in lines.items():
        for line in parsed:
            assert {"time", "level", "logger", "message"} <= line.keys(), (name, line)
            text = json.dumps(line)
            assert key not in text and key[8:] not in text, (name, line)
            assert signature not in text and PROMPT not in text, (name, line)
    submit_lines = [line for line in lines["api"] if line.get("request_id") == request_id]
    assert submit_lines and all(line.get("account_id") == account_id for line in submit_lines)
    assert any("POST /v1/videos/generations" in line["message"] for line in submit_lines)
    job_lines = [line for line in lines["worker"] if line.get("job_id") == job_id]
    assert any(f"job {job_id} completed" in line["message"] for line in job_lines)
    assert all(line.get("account_id") == account_id and line.get("worker_id") for line in job_lines)
    assert all(line.get("worker_id") for line in lines["worker"] if line["logger"].startswith("happyhorse.worker"))
