"""A private, throw-away PostgreSQL cluster that a test may stop and restart.

The shared server (``HAPPYHORSE_TEST_POSTGRES_URL``) serves other sessions and
CI: a test must never stop it. :class:`PrivateCluster` runs its own
``postgres`` from the binaries on disk (``/usr/lib/postgresql/*/bin``, or
``$HAPPYHORSE_TEST_PG_BIN``) in a fresh directory under the temp dir: loopback
only, its own free port, unix socket in that directory, trust auth and no
fsync. ``initdb`` and ``postgres`` refuse to run as root, so under root they
run as the ``postgres`` OS user, who owns the directory.

    cluster = PrivateCluster.create()      # initdb + start; pytest.skip if impossible
    cluster.url                            # postgresql://postgres@127.0.0.1:PORT/postgres
    cluster.restart()                      # pg_ctl restart -m fast
    cluster.stop("fast"); cluster.start()  # an outage as long as you like
    cluster.destroy()                      # stop (immediate) and remove the directory
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from happyhorse.testing import free_port

USER = "postgres"
# fsync off is safe here: a stopped or crashed *server* leaves its writes in the OS page
# cache. synchronous_commit must stay on: off, a crash (``-m immediate``) loses commits
# the clients were told about, and the test would blame the product for it.
_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 200
shared_buffers = 32MB
fsync = off
full_page_writes = off
log_min_messages = warning
log_connections = off
"""


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or no user they will run as: the test should skip."""


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None: ``$HAPPYHORSE_TEST_PG_BIN`` if set,
    else the newest ``/usr/lib/postgresql/*/bin``, else wherever ``PATH`` finds ``pg_ctl``."""
    configured = os.environ.get("HAPPYHORSE_TEST_PG_BIN")
    if configured:
        candidates = [Path(configured)]
    else:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                          key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
        found = shutil.which("pg_ctl")
        candidates = [Path(p) for p in versions] + ([Path(found).resolve().parent] if found else [])
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file() and (path / "postgres").is_file():
            return path
    return None


class PrivateCluster:
    """One ``postgres`` server of our own; see the module docstring."""

    def __init__(self, root: Path, bin_dir: Path, port: int) -> None:
        self.root, self.bin_dir, self.port = root, bin_dir, port
        self.data_dir = root / "data"
        self.log_file = root / "postgres.log"
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(USER)
            except KeyError as exc:
                raise ClusterUnavailable(f"running as root and there is no {USER!r} OS user for initdb") from exc
            self._as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            os.chown(root, entry.pw_uid, entry.pw_gid)

    @classmethod
    def create(cls) -> PrivateCluster:
        """initdb a new cluster in a fresh temp directory and start it; raises ClusterUnavailable."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise ClusterUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) found; set HAPPYHORSE_TEST_PG_BIN")
        # Short and world-traversable (the socket path has a length limit; pytest's tmp
        # dirs are root-only): the directory itself belongs to the server's user.
        root = Path(tempfile.mkdtemp(prefix="hh-pg-", dir="/tmp"))
        try:
            cluster = cls(root, bin_dir, free_port())
            cluster._run("initdb", "-D", str(cluster.data_dir), "-U", "postgres", "--auth=trust", "--no-sync",
                         "-E", "UTF8", "--locale=C")
            with open(cluster.data_dir / "postgresql.auto.conf", "a") as conf:
                conf.write(_SETTINGS.format(port=cluster.port, socket_dir=root))
            cluster.start()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, *, timeout: float = 30) -> None:
        self._run("pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(self.data_dir), "-l", str(self.log_file))

    def stop(self, mode: str = "fast", *, timeout: float = 30) -> None:
        """``pg_ctl stop -m smart|fast|immediate``; returns once the server is down."""
        self._run("pg_ctl", "stop", "-w", "-t", str(int(timeout)), "-m", mode, "-D", str(self.data_dir))

    def restart(self, mode: str = "fast", *, timeout: float = 30) -> None:
        """``pg_ctl restart -m fast`` (what ``pg_ctlcluster … restart`` does); returns once it accepts connections."""
        self._run("pg_ctl", "restart", "-w", "-t", str(int(timeout)), "-m", mode, "-D", str(self.data_dir),
                  "-l", str(self.log_file))

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def log(self, tail: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop the server at once (if it runs) and delete everything."""
        try:
            if self.data_dir.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # pg_ctl start leaves the server running with our stdout unless it is redirected:
        # -l sends the server's output to the log file, and DEVNULL keeps pytest's pipes free.
        result = subprocess.run(
            [str(self.bin_dir / tool), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
            cwd=self.root, env={**os.environ, "LC_ALL": "C"}, **self._as_user,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}\n{self.log()}")
        return result


def wait_until_accepting(url: str, timeout: float = 30) -> None:
    """Block until a plain connection to ``url`` succeeds."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
