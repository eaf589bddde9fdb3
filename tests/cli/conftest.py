"""Running the ``happyhorse`` console script as real subprocesses (loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from happyhorse.testing import wait_for_health

EXE = str(Path(sys.executable).parent / "happyhorse")
SIGNING_SECRET = "cli-test-signing-secret"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    env.update(HAPPYHORSE_SIGNING_SECRET=SIGNING_SECRET, PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="200")
    env.update(extra)
    return env


def run_cli(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``happyhorse ARGS``; with ``check``, a non-zero exit fails the test with its stderr."""
    done = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, env=cli_env())
    if check and done.returncode != 0:
        pytest.fail(f"happyhorse {' '.join(args)} exited {done.returncode}\nstdout:{done.stdout}\nstderr:{done.stderr}")
    return done


def run_cli_many(
    *commands: list[str], timeout: float = 60, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Several independent ``happyhorse`` commands at once (the suite's time budget is tight)."""
    popens = [
        subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=cli_env(**(env or {})), stdin=subprocess.DEVNULL)
        for args in commands
    ]
    results = []
    try:
        for args, popen in zip(commands, popens):
            stdout, stderr = popen.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess([EXE, *args], popen.returncode, stdout, stderr))
    finally:
        for popen in popens:
            if popen.poll() is None:
                popen.kill()
                popen.wait()
    return results


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float, *, send: bool = True) -> int:
        """SIGTERM (unless ``send`` is false: already sent), then the exit code;
        fails if it does not exit within ``timeout`` seconds."""
        if send and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout}s of SIGTERM\n{self.output()[-3000:]}")


class Processes:
    """Starts ``happyhorse`` subprocesses (stdout+stderr to a log file); kills leftovers at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        self._files: list = []

    def start(self, name: str, *args: str) -> Proc:
        log = self.log_dir / f"{name}.log"
        f = open(log, "w")
        self._files.append(f)
        popen = subprocess.Popen([EXE, *args], stdout=f, stderr=subprocess.STDOUT, env=cli_env(),
                                 stdin=subprocess.DEVNULL)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()
        for proc in self.procs:
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        for f in self._files:
            f.close()


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs)
    try:
        yield procs
    finally:
        procs.close()


def wait_healthy(base_url: str, proc: Proc, timeout: float = 60) -> None:
    if wait_for_health(base_url, timeout=timeout, alive=lambda: proc.popen.poll() is None):
        return
    if proc.popen.poll() is not None:
        pytest.fail(f"{proc.name} exited {proc.popen.returncode} before /healthz answered\n{proc.output()[-3000:]}")
    pytest.fail(f"{proc.name}: /healthz not ready after {timeout}s\n{proc.output()[-3000:]}")


def wait_for_log(proc: Proc, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in proc.output():
        if proc.popen.poll() is not None:
            pytest.fail(f"{proc.name} exited {proc.popen.returncode} before logging {needle!r}\n{proc.output()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{proc.name} did not log {needle!r} within {timeout}s\n{proc.output()[-3000:]}")
        time.sleep(0.1)


class Helpers:
    """The helpers above, as a fixture (test modules cannot import conftest under importlib mode)."""

    exe = EXE
    signing_secret = SIGNING_SECRET
    run = staticmethod(run_cli)
    run_many = staticmethod(run_cli_many)
    env = staticmethod(cli_env)
    wait_healthy = staticmethod(wait_healthy)
    wait_for_log = staticmethod(wait_for_log)


@pytest.fixture
def hh() -> type[Helpers]:
    return Helpers
