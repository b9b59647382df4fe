"""``qi-load run``: the reference agent (optional), Locust master/workers, then the report."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from qi_load.agent.launch import TargetProcess, spawn_target
from qi_load.cli import EXIT_INTERRUPTED, EXIT_USAGE, exit_code_for_status
from qi_load.errors import QiLoadError, RunFailed
from qi_load.generate import options as load_options
from qi_load.generate.options import LoadOptions
from qi_load.generate.shared_options import PREFLIGHT_FAILURE_PREFIX, chat_config, mcp_url
from qi_load.generate.validation import check_run_options
from qi_load.monitor.hostmon import find_pids_by_name
from qi_load.process.child import Child, spawn, stop_all
from qi_load.record.manifest import Manifest
from qi_load.record.rundir import REPORT_HTML, RunDir, new_run_id
from qi_load.record.wall_clock import wall_now
from qi_load.scenario import Scenario, resolve_scenario

if TYPE_CHECKING:  # pandas loads only once a report is written
    from qi_load.analyze.summary import Summary

__all__ = ["RunOptions", "RunResult", "check_monitor_targets", "locustfile_path", "run"]

PROGRESS_PREFIX = "[qi-load]"
# A worker's master must know it is gone before our own deadline runs out.
STOP_GRACE_S = 10.0


@dataclass
class RunOptions:
    """Everything ``qi-load run`` needs; the CLI fills it from its arguments."""

    scenario: str = "quick-ladder"
    host: str = ""
    workers: int = 0
    out: Path = Path("reports")
    load: LoadOptions = field(default_factory=LoadOptions)
    """The Locust options ``qi-load run`` takes itself (``options.run_options()``)."""
    report: bool = True
    target_args: list[str] = field(default_factory=list)
    locustfile: str = ""
    progress_interval: float = 5.0
    locust_args: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    run_dir: Path
    status: str
    exit_code: int
    report_path: Path | None = None
    manifest: Manifest = field(default_factory=Manifest)
    summary: Summary | None = None
    """What the report was written from (a complete run with its report only)."""


def locustfile_path(name: str = "agent") -> Path:
    """The packaged locustfile, usable with or without the repository checkout."""
    from qi_load import locustfiles

    return Path(locustfiles.__file__).with_name(f"{name}.py")


def _agent_trace_args(options: RunOptions) -> list[str]:
    """The embedded agent exports its spans to the master's receiver when there is one."""
    if not options.load.otlp_port or "--otlp-endpoint" in options.target_args:
        return []
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        print(
            "qi-load: the reference agent sends no spans without the OpenTelemetry SDK: "
            "pip install 'qi-load[otel]'",
            flush=True,
        )
        return []
    return ["--otlp-endpoint", f"http://127.0.0.1:{options.load.otlp_port}"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _echo_progress(line: bytes) -> None:
    """Echo qi-load's progress lines from the master's output to our stdout."""
    if line.startswith(PROGRESS_PREFIX.encode()):
        sys.stdout.write(line.decode("utf-8", errors="replace"))
        sys.stdout.flush()


class _Children:
    """The Locust processes of one run, started in their own sessions so that only we
    decide which signal reaches them (a terminal Ctrl-C would otherwise hit them twice),
    and to die with us."""

    def __init__(self) -> None:
        self.master: Child | None = None
        self.workers: list[Child] = []

    def start(self, command: Sequence[str], log_path: Path, *, echo: bool) -> Child:
        return spawn(
            command,
            name=log_path.stem,
            output="pump",
            log=log_path,
            on_line=_echo_progress if echo else None,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            new_session=True,
        )

    def all(self) -> list[Child]:
        return ([self.master] if self.master else []) + self.workers

    def signal_master(self, signum: int) -> None:
        if self.master is not None:
            self.master.signal(signum)

    def stop_all(self, grace: float) -> None:
        stop_all(self.all(), exit_within=grace, term_grace=5.0)


def _locust_base(options: RunOptions, url: str) -> list[str]:
    locustfile = options.locustfile or str(locustfile_path("agent"))
    return [sys.executable, "-m", "locust", "-f", locustfile, "-H", url]


def _master_command(
    options: RunOptions,
    scenario_path: str,
    url: str,
    run_dir: RunDir,
    run_id: str,
    target: TargetProcess | None,
    master_port: int,
    preflight_in_master: bool,
) -> list[str]:
    command = [
        *_locust_base(options, url),
        "--scenario",
        scenario_path,
        "--headless",
        "--only-summary",
        "--run-dir",
        str(run_dir.path),
        "--run-id",
        run_id,
        "--csv",
        str(run_dir.locust_csv_prefix),
        "--csv-full-history",
        # Written at shutdown, after the last request: Locust's exact final counts.
        "--json-file",
        str(run_dir.locust_csv_prefix) + "_final",
        "--qi-progress",
        str(options.progress_interval),
    ]
    # run_id and no_preflight are the wrapper's to decide (above and below).
    command += options.load.to_args(
        [n for n in load_options.run_options() if n not in ("run_id", "no_preflight")]
    )
    if target is not None:
        # Only the embedded agent is known to serve the sandbox files and tools its checks
        # read; its process is the run's 'target' role.
        command += ["--reference-agent", "--monitor-target-pid", str(target.pid)]
    if not preflight_in_master:
        command.append("--no-preflight")
    if options.workers > 0:
        command += [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(options.workers),
            "--expect-workers-max-wait",
            "60",
        ]
    return command + options.locust_args


def _worker_command(options: RunOptions, url: str, master_port: int) -> list[str]:
    """A worker takes the scenario and qi-load's options from the master (``worker_link``)."""
    return [
        *_locust_base(options, url),
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(master_port),
    ]


def _scenario_source(name_or_path: str) -> str:
    """A path Locust can load: the file itself, or the packaged scenario for a name."""
    path = Path(name_or_path)
    if path.is_file():
        return str(path.resolve())
    from qi_load.scenario import packaged_scenario_path

    return str(packaged_scenario_path(name_or_path))


def run(options: RunOptions) -> RunResult:
    """Run one scenario end to end and return where its run directory is."""
    check_run_options(options)
    load = options.load
    scenario: Scenario = resolve_scenario(
        options.scenario, {"time_scale": load.time_scale} if load.time_scale else None
    )
    scenario_path = _scenario_source(options.scenario)
    check_monitor_targets(load.monitor_pid, load.monitor_name)
    # The embedded reference agent is not checked: qi-load waits until it is ready, and its
    # fault knobs (--target-arg=--error-rate …) would fail the check on purpose.
    checked = bool(options.host) and not load.no_preflight and _preflight(options, scenario)
    run_id = load.run_id or new_run_id(scenario.name)
    opened = not (options.out / run_id).exists()
    run_dir = RunDir(options.out / run_id).create()
    scaled = scenario.scaled()
    warmup = f" after a {scaled.warmup_s:g} s warm-up" if scaled.warmup_s > 0 else ""
    count = len(scaled.stages)
    print(
        f"qi-load: scenario {scenario.name!r}: {count} stage{'s' * (count != 1)}{warmup}, "
        f"{scaled.total_duration_s:.0f} s; run directory {run_dir.path}",
        flush=True,
    )

    target: TargetProcess | None = None
    url = options.host
    children = _Children()
    interrupted: list[float] = []
    """Monotonic times at which SIGINT/SIGTERM reached us."""

    def forward(signum: int, _frame: Any) -> None:
        interrupted.append(time.monotonic())
        children.signal_master(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    stopped_at_init = False
    startup_ms: float | None = None  # the embedded agent's start: spawn to ready
    try:
        if not url:
            spawned = time.monotonic()
            target = spawn_target(
                [*options.target_args, *_agent_trace_args(options)],
                stderr_path=run_dir.path / "target.log",
            )
            startup_ms = (time.monotonic() - spawned) * 1000.0
            url = target.url
            print(f"qi-load: reference agent at {url} (pid {target.pid})", flush=True)
        if interrupted:
            raise KeyboardInterrupt  # before any Locust process: the agent stops below
        master_port = _free_port() if options.workers > 0 else 0
        children.master = children.start(
            _master_command(
                options,
                scenario_path,
                url,
                run_dir,
                run_id,
                target,
                master_port,
                preflight_in_master=bool(options.host) and not load.no_preflight and not checked,
            ),
            run_dir.path / "locust-master.log",
            echo=True,
        )
        for index in range(options.workers):
            children.workers.append(
                children.start(
                    _worker_command(options, url, master_port),
                    run_dir.path / f"locust-worker-{index}.log",
                    echo=False,
                )
            )
        # Generous bound: the scenario, its warm-up, and workers joining.
        limit = scaled.total_duration_s + 120.0
        started = time.monotonic()
        while children.master.poll() is None:
            now = time.monotonic()
            if interrupted and now - interrupted[0] > STOP_GRACE_S:
                children.master.signal(signal.SIGKILL)
                break
            if not interrupted and now - started > limit:
                children.signal_master(signal.SIGTERM)
                interrupted.append(now)
            time.sleep(0.2)
        stopped_at_init = children.master.returncode == EXIT_USAGE and not run_dir.run_json.exists()
        # Workers still waiting for a master that is gone would only run out their grace.
        children.stop_all(0.0 if stopped_at_init else STOP_GRACE_S)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Whatever went wrong above: none of them outlives this call (no-op when stopped).
        stop_all(children.all(), term_grace=0.0)
        if target is not None:
            target.stop()

    if stopped_at_init:
        _fail_before_start(run_dir, remove=opened)
    return _finish(run_dir, options, bool(interrupted), startup_ms)


def _preflight(options: RunOptions, scenario: Scenario) -> bool:
    """Check the --host agent here, before any process or directory exists (no Locust
    start-up to wait for); False when only the Locust master can send the run's requests."""
    # The options after `--` that shape the users' requests, read as the master will read them.
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    load_options.add_arguments(parser, [load_options.CHAT, load_options.MCP], grouped=False)
    load_options.add_arguments(
        parser, [load_options.QI_LOAD], only="no_preflight".__eq__, grouped=False
    )
    # Those qi-load run took itself come first: the master reads them so, and `--` wins.
    taken = options.load.to_args(load_options.run_options())
    parsed = LoadOptions.from_namespace(parser.parse_known_args([*taken, *options.locust_args])[0])
    if parsed.no_preflight:
        return False
    locustfile = Path(options.locustfile).resolve() if options.locustfile else None
    protocol = {
        None: "chat",
        locustfile_path("agent").resolve(): "chat",
        locustfile_path("mcp").resolve(): "mcp",
    }
    if locustfile not in protocol or _locust_settings_elsewhere(options.locust_args):
        return False
    # Imported here: the chat and MCP clients (gevent) serve this check alone in this process.
    from qi_load.generate.preflight import run_checks

    speaks = protocol[locustfile]
    run_checks(
        chat_config(parsed, scenario, options.host) if speaks == "chat" else None,
        mcp_url(parsed, options.host) if speaks == "mcp" else None,
    )
    return True


def _locust_settings_elsewhere(locust_args: Sequence[str]) -> bool:
    """Locust may read options from places the wrapper does not parse (its config files and
    LOCUST_* variables): then the master, which sees them, runs the preflight."""
    if "--config" in locust_args or any(name.startswith("LOCUST_") for name in os.environ):
        return True
    if Path("locust.conf").exists() or (Path.home() / ".locust.conf").exists():
        return True
    pyproject = Path("pyproject.toml")
    return pyproject.is_file() and "[tool.locust]" in pyproject.read_text(errors="replace")


def check_monitor_targets(pids: Sequence[int], names: Sequence[str]) -> None:
    """``--monitor-pid`` / ``--monitor-name`` must name running processes (else exit 2)."""
    for pid in pids:
        if pid <= 0 or not psutil.pid_exists(pid):
            raise QiLoadError(f"--monitor-pid {pid}: no such process")
    for name in names:
        if not find_pids_by_name(name):
            raise QiLoadError(
                f"--monitor-name {name!r}: no running process has this name or command-line part"
            )


def _fail_before_start(run_dir: RunDir, *, remove: bool) -> None:
    """The master stopped at its init (the preflight, or an option Locust refused): raise
    its one-line cause; a run directory opened for nothing but logs goes away with it."""
    log = run_dir.path / "locust-master.log"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    cause = next(
        (
            line[len(PREFLIGHT_FAILURE_PREFIX) :].strip()
            for line in reversed(lines)
            if line.startswith(PREFLIGHT_FAILURE_PREFIX)
        ),
        None,
    )
    if cause is None:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        raise QiLoadError(f"Locust stopped before the run started: {last} (see {log})")
    if remove:
        shutil.rmtree(run_dir.path, ignore_errors=True)
    raise QiLoadError(cause)


def _finish(
    run_dir: RunDir, options: RunOptions, interrupted: bool, startup_ms: float | None
) -> RunResult:
    try:
        manifest = run_dir.read_manifest()
    except FileNotFoundError:
        if not interrupted:
            raise RunFailed(
                f"Locust did not write {run_dir.run_json}; see {run_dir.path}/locust-master.log"
            ) from None
        # Stopped before the test started (Locust opens run.json at its test_start).
        return RunResult(run_dir=run_dir.path, status="interrupted", exit_code=EXIT_INTERRUPTED)
    except ValueError as exc:
        raise RunFailed(
            f"{run_dir.run_json}: {exc}; see {run_dir.path}/locust-master.log"
        ) from None
    status = manifest.status or "failed"
    if status == "failed" and manifest.error:
        raise RunFailed(manifest.error)  # the run directory could not be written
    if status == "running":
        # The master died without closing its manifest (killed): the data stays readable.
        status = "interrupted" if interrupted else "failed"
        manifest = run_dir.update_manifest(status=status, end=wall_now())
    if startup_ms is not None:
        manifest = run_dir.update_manifest(startup_ms=round(startup_ms, 1))
    result = RunResult(
        run_dir=run_dir.path,
        status=status,
        exit_code=exit_code_for_status(status),
        manifest=manifest,
    )
    # An interrupted run is left for `qi-load report` so that Ctrl-C returns promptly.
    if options.report and status == "complete":
        result.summary = _report(run_dir)
        result.report_path = run_dir.path / REPORT_HTML
    return result


def _report(run_dir: RunDir) -> Summary:
    # pandas and matplotlib load here, in the wrapper, never in a Locust process.
    from qi_load.analyze.load import load_run
    from qi_load.analyze.summary import analyze_run
    from qi_load.render.outputs import write_report

    data = load_run(run_dir.path)
    summary = analyze_run(data)
    write_report(summary, data)
    return summary
