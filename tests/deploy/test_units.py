"""The deployment files (``deploy/``) hold to the code: units systemd accepts, real options, real metric names.

- ``systemd-analyze verify`` accepts every unit (where it is installed), on copies
  in a temp dir whose ``ExecStart`` runs this environment's ``happyhorse``: nothing
  is installed, no daemon is asked to reload, nothing outside the temp dir is written;
- every ``--flag`` of an ``ExecStart`` is an option of the command it runs, and every
  ``HAPPYHORSE_*`` name in the units and the env examples is the environment variable
  of an option of the commands that read it (or one the code reads itself);
- the units keep the wiring and the hardening docs/operations.md describes, and the
  worker keeps none of the settings that hide a GPU;
- the Grafana dashboard and the Prometheus rules use exactly the metric names of the
  issue, and every one of them is exported (``happyhorse.metrics.METRIC_NAMES``);
- every ``happyhorse ... --flag`` command line in docs/operations.md is a real option.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
DASHBOARD = DEPLOY / "grafana" / "happyhorse.json"
ALERTS = DEPLOY / "prometheus" / "happyhorse-alerts.yml"
GUIDE = ROOT / "docs" / "operations.md"

INSTALLED = "/opt/happyhorse/venv/bin/happyhorse"
"""Where the units expect the command (docs/operations.md, "From one box to many")."""
UNITS = ("happyhorse-api.service", "happyhorse-worker@.service", "happyhorse-db-upgrade.service")
DATA_DIR = "/var/lib/happyhorse"

READ_FROM_ENVIRONMENT = ("HAPPYHORSE_SIGNING_SECRET", "HAPPYHORSE_LOG_LEVEL")
"""Variables the code reads itself rather than through an option (checked against the source below)."""

# The metrics of issue 15, with their types: the names the dashboard and the alerts are written against.
COUNTERS = ("happyhorse_http_requests_total", "happyhorse_database_errors_total", "happyhorse_jobs_finished_total",
            "happyhorse_webhook_deliveries_total")
HISTOGRAMS = ("happyhorse_http_request_duration_seconds", "happyhorse_job_phase_seconds",
              "happyhorse_engine_seconds_per_output_second")
GAUGES = ("happyhorse_jobs", "happyhorse_queue_depth", "happyhorse_queue_oldest_age_seconds", "happyhorse_workers",
          "happyhorse_worker_busy_ratio")
SERIES = {*COUNTERS, *GAUGES, *(f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count"))}
"""Every series name a query may use."""

_METRIC = re.compile(r"\bhappyhorse_[a-z0-9_]+")


# -- reading the files ------------------------------------------------------------------------------------


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections: name -> [(key, value)], in order (repeated keys kept)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{name}: keep settings on one line: {line}"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"{name}: a setting before any section: {line}"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(name: str, section: str, key: str) -> list[str]:
    return [value for k, value in unit(name).get(section, []) if k == key]


def one(name: str, section: str, key: str) -> str:
    found = values(name, section, key)
    assert len(found) == 1, f"{name}: expected one {key}= in [{section}], found {found}"
    return found[0]


def environment(name: str) -> dict[str, str]:
    """The unit's ``Environment=`` assignments."""
    pairs: dict[str, str] = {}
    for value in values(name, "Service", "Environment"):
        for word in shlex.split(value):
            key, _, val = word.partition("=")
            pairs[key] = val
    return pairs


def exec_start(name: str) -> tuple[tuple[str, ...], list[str]]:
    """The subcommand an ``ExecStart`` runs (``("db", "upgrade")``) and every word after it."""
    argv = shlex.split(one(name, "Service", "ExecStart"))
    assert argv[0] == INSTALLED, f"{name} runs {argv[0]}, not {INSTALLED}"
    words = argv[1:]
    command = tuple(word for word in words if not word.startswith("-"))[:2]
    command = command if command[:1] == ("db",) else command[:1]
    return command, words[len(command):]


def env_names(path: Path) -> set[str]:
    """Every ``HAPPYHORSE_*`` variable an env file sets or shows (commented-out examples too)."""
    return set(re.findall(r"^\s*#?\s*(HAPPYHORSE_[A-Z0-9_]+)=", path.read_text(), flags=re.MULTILINE))


# -- the commands' real options --------------------------------------------------------------------------


@cache
def options(command: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The flags and the environment variables of ``happyhorse <command>``, from the CLI itself."""
    import typer.main

    from happyhorse.cli import app

    cli = typer.main.get_command(app)
    for word in command:
        cli = cli.commands[word]  # type: ignore[attr-defined]
    flags: set[str] = set()
    envvars: set[str] = set()
    for param in cli.params:
        flags.update(getattr(param, "opts", ()), getattr(param, "secondary_opts", ()))
        envvar = getattr(param, "envvar", None)
        envvars.update([envvar] if isinstance(envvar, str) else envvar or ())
    return frozenset(flags), frozenset(envvars)


def read_by_the_code() -> set[str]:
    """:data:`READ_FROM_ENVIRONMENT`, each checked to be read by name somewhere in ``src/happyhorse``."""
    source = "\n".join(path.read_text() for path in (ROOT / "src" / "happyhorse").rglob("*.py"))
    for name in READ_FROM_ENVIRONMENT:
        assert re.search(rf"environ(\.get)?[\[(]\s*[\"']{name}[\"']", source), f"nothing reads {name} any more"
    return set(READ_FROM_ENVIRONMENT)


COMMANDS_OF = {
    "happyhorse-api.service": (("api",),),
    "happyhorse-worker@.service": (("worker",),),
    "happyhorse-db-upgrade.service": (("db", "upgrade"),),
}
ENV_FILES = {
    "happyhorse.env.example": (("api",), ("worker",), ("db", "upgrade")),
    "worker.env.example": (("worker",),),
}


# -- systemd-analyze verify ------------------------------------------------------------------------------


def _happyhorse_script() -> Path | None:
    script = Path(sys.executable).with_name("happyhorse")
    if script.is_file():
        return script
    found = shutil.which("happyhorse")
    return Path(found) if found else None


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    script = _happyhorse_script()
    if script is None:
        pytest.skip("no happyhorse script in this environment for the units' ExecStart")
    # Copies whose ExecStart exists here; the template as two instances, so that %i is resolved
    # as systemd resolves it (it verifies a template only through an instance).
    names = {"happyhorse-api.service": "happyhorse-api.service",
             "happyhorse-db-upgrade.service": "happyhorse-db-upgrade.service",
             "happyhorse.target": "happyhorse.target"}
    copies = [tmp_path / target for target in names.values()]
    for source, target in names.items():
        (tmp_path / target).write_text((SYSTEMD / source).read_text().replace(INSTALLED, str(script)))
    for index in ("0", "7"):
        copy = tmp_path / f"happyhorse-worker@{index}.service"
        copy.write_text((SYSTEMD / "happyhorse-worker@.service").read_text().replace(INSTALLED, str(script)))
        copies.append(copy)

    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, copies)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)

    # It warns about an unknown key or a bad value on stderr and still exits 0: any line about our
    # units is a failure. Lines about the host's own units are not ours to fix.
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "happyhorse" in line]
    assert done.returncode == 0 and not ours, done.stdout + done.stderr


def test_the_units_run_the_installed_command() -> None:
    assert exec_start("happyhorse-api.service")[0] == ("api",)
    assert exec_start("happyhorse-worker@.service")[0] == ("worker",)
    assert exec_start("happyhorse-db-upgrade.service") == (("db", "upgrade"), [])


# -- real options -----------------------------------------------------------------------------------------


def test_every_flag_and_variable_in_the_units_is_a_real_option() -> None:
    unknown = []
    direct = read_by_the_code()
    for name, commands in COMMANDS_OF.items():
        (command,) = commands
        flags, envvars = options(command)
        _, words = exec_start(name)
        unknown += [f"{name}: {word}" for word in words if word.startswith("-") and word.split("=")[0] not in flags]
        unknown += [f"{name}: {key}" for key in environment(name)
                    if key.startswith("HAPPYHORSE_") and key not in envvars | direct]
    assert not unknown, unknown


@pytest.mark.parametrize("env_file", sorted(ENV_FILES))
def test_every_variable_in_the_env_examples_is_a_real_option(env_file: str) -> None:
    known = read_by_the_code()
    for command in ENV_FILES[env_file]:
        known |= options(command)[1]
    names = env_names(SYSTEMD / env_file)
    assert names, f"{env_file} names no HAPPYHORSE_ variable"
    assert not names - known, f"{env_file}: {sorted(names - known)} are options of none of " \
                              f"{[' '.join(c) for c in ENV_FILES[env_file]]}"


def test_the_env_example_holds_what_a_fleet_needs() -> None:
    names = env_names(SYSTEMD / "happyhorse.env.example")
    assert {"HAPPYHORSE_DATABASE_URL", "HAPPYHORSE_STORAGE", "HAPPYHORSE_S3_BUCKET", "HAPPYHORSE_SIGNING_SECRET",
            "HAPPYHORSE_METRICS_TOKEN", "HAPPYHORSE_PUBLIC_URL"} <= names
    # The worker's metrics port is per GPU: in the per-instance file, never the shared one.
    assert "HAPPYHORSE_METRICS_PORT" not in names
    assert "HAPPYHORSE_METRICS_PORT" in env_names(SYSTEMD / "worker.env.example")


GROUPS = ("accounts", "credits", "db", "jobs", "keys", "storage", "users", "weights")
"""Commands whose first word only names a group: ``happyhorse db upgrade``."""
SINGLE = ("api", "generate", "models", "serve", "worker")


def guide_command_lines() -> list[list[str]]:
    """Every ``happyhorse ...`` (or the guide's ``hh ...`` wrapper) in the guide's shell blocks, as words,
    up to the end of its shell command."""
    found = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = line.split(" #")[0].split()
            for at, word in enumerate(words):
                if not (word == "hh" or word.endswith("/happyhorse") or word == "happyhorse"):
                    continue
                rest = []
                for following in words[at + 1:]:
                    if following in (";", "&&", "||", "|", "&") or following.startswith(("#", ")")):
                        break
                    rest.append(following)
                if rest and (rest[0] in SINGLE or rest[0] in GROUPS):
                    found.append(rest)
    for span in re.findall(r"`(?:hh|happyhorse) ([^`]+)`", GUIDE.read_text()):
        words = span.split()
        if words[0] in SINGLE or words[0] in GROUPS:
            found.append(words)
    return found


def test_every_happyhorse_command_line_in_the_guide_is_a_real_option() -> None:
    lines = guide_command_lines()
    unknown = []
    for words in lines:
        command = tuple(words[:2]) if words[0] in GROUPS else tuple(words[:1])
        flags = options(command)[0]
        unknown += [f"happyhorse {' '.join(words)}: {word}" for word in words[len(command):]
                    if word.startswith("--") and word.split("=")[0] not in flags]
    assert any(words[0] == "accounts" for words in lines), "the guide's commands were not found"
    assert not unknown, unknown


# -- the units' wiring and hardening ---------------------------------------------------------------------


@pytest.mark.parametrize("name", UNITS)
def test_every_service_is_hardened_and_writes_only_its_data_dir(name: str) -> None:
    assert one(name, "Service", "User") == "happyhorse"
    assert one(name, "Service", "NoNewPrivileges") == "yes"
    assert one(name, "Service", "PrivateTmp") == "yes"
    assert one(name, "Service", "ProtectSystem") == "strict"
    assert one(name, "Service", "CapabilityBoundingSet") == ""
    assert environment(name)["HAPPYHORSE_DATA_DIR"] == DATA_DIR
    assert DATA_DIR in one(name, "Service", "ReadWritePaths").split()
    assert "/etc/happyhorse/happyhorse.env" in values(name, "Service", "EnvironmentFile")


@pytest.mark.parametrize("name", ["happyhorse-api.service", "happyhorse-worker@.service"])
def test_api_and_workers_start_after_the_schema_upgrade_and_stop_on_sigterm(name: str) -> None:
    requires = " ".join(values(name, "Unit", "Requires")).split()
    after = " ".join(values(name, "Unit", "After")).split()
    assert "happyhorse-db-upgrade.service" in requires and "happyhorse-db-upgrade.service" in after
    assert one(name, "Service", "KillSignal") == "SIGTERM"
    assert one(name, "Service", "Restart") == "on-failure"
    assert one(name, "Install", "WantedBy") == "happyhorse.target"
    assert one(name, "Unit", "PartOf") == "happyhorse.target"


def test_the_upgrade_is_a_oneshot_that_runs_again_at_each_start() -> None:
    name = "happyhorse-db-upgrade.service"
    assert one(name, "Service", "Type") == "oneshot"
    # RemainAfterExit would make it "active" once per boot: a later restart of the API would not migrate.
    assert values(name, "Service", "RemainAfterExit") in ([], ["no"])


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)\s*(s|sec|min|m)?", text)
    assert match, f"write TimeoutStopSec as seconds or minutes, not {text!r}"
    return float(match.group(1)) * (60 if match.group(2) in ("min", "m") else 1)


def test_the_worker_sees_its_gpu_and_outlasts_its_grace() -> None:
    name = "happyhorse-worker@.service"
    env = environment(name)
    assert env["CUDA_VISIBLE_DEVICES"] == "%i"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert "/etc/happyhorse/worker-%i.env" in values(name, "Service", "EnvironmentFile")
    # Each of these hides /dev/nvidia* (PrivateDevices) or closes the device allow-list (the others).
    settings = {key for key, _ in unit(name)["Service"]}
    assert not settings & {"PrivateDevices", "ProtectClock", "DevicePolicy", "DeviceAllow"}
    assert not settings & {"MemoryDenyWriteExecute", "SystemCallFilter"}

    _, words = exec_start(name)
    grace = float(words[words.index("--grace") + 1])
    # The engine's last step and the release after the grace need time before systemd's SIGKILL.
    assert _seconds(one(name, "Service", "TimeoutStopSec")) >= grace + 60
    assert one(name, "Service", "KillMode") == "mixed"


# -- metric names -----------------------------------------------------------------------------------------


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        queries.append(query["query"] if isinstance(query, dict) else str(query or ""))
    return queries


def alert_queries() -> list[str]:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the Prometheus rules")
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def series_in(queries: list[str]) -> set[str]:
    return {name for query in queries for name in _METRIC.findall(query)}


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert [entry["name"] for entry in board["__inputs"]] == ["DS_PROMETHEUS"]
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


@pytest.mark.parametrize("source", ["dashboard", "alerts", "guide"])
def test_queries_use_only_the_metrics_of_the_issue(source: str) -> None:
    if source == "dashboard":
        used = series_in(dashboard_queries())
    elif source == "alerts":
        used = series_in(alert_queries())
    else:  # prose may name a histogram by its family
        used = series_in([GUIDE.read_text()]) - set(HISTOGRAMS)
    assert used, f"the {source} uses no metric"
    assert not used - SERIES, f"the {source} uses series no metric exports: {sorted(used - SERIES)}"


def test_the_dashboard_shows_every_metric() -> None:
    used = series_in(dashboard_queries())
    families = {name for name in (*COUNTERS, *GAUGES) if name in used}
    families |= {name for name in HISTOGRAMS if f"{name}_bucket" in used}
    assert families == {*COUNTERS, *GAUGES, *HISTOGRAMS}


def _family(series: str) -> set[str]:
    """The family names ``series`` may belong to (a histogram's ``_bucket`` is its family's)."""
    names = {series}
    for suffix in ("_bucket", "_sum", "_count"):
        if series.endswith(suffix):
            names.add(series[: -len(suffix)])
    return names


def test_every_metric_the_deployment_uses_is_exported() -> None:
    metrics = pytest.importorskip("happyhorse.metrics", reason="happyhorse.metrics (METRIC_NAMES) is not there yet")
    exported = metrics.METRIC_NAMES
    queries = dashboard_queries() + [GUIDE.read_text()]
    try:
        queries += alert_queries()
    except pytest.skip.Exception:
        pass
    missing = sorted(series for series in series_in(queries) if not _family(series) & exported)
    assert not missing, f"used in deploy/ or the guide, not in happyhorse.metrics.METRIC_NAMES: {missing}"
