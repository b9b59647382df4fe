"""Shared parts of the load-generator benchmarks: child processes, the trivial server, sampling.

Every process a benchmark starts goes through ``Children`` (own session, log file, stopped
by PID in ``finally``); a ``Sampler`` thread records, twice a second, the trivial server's
request count and the CPU seconds of each started process tree, so rates and CPU shares are
computed afterwards over exactly the same window.
"""

from __future__ import annotations

import json
import os
import platform
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.request import urlopen

import psutil

from qi_load.metrics.percentile import percentile as qi_percentile

__all__ = [
    "HERE",
    "PYTHON",
    "ROOT",
    "Children",
    "Sample",
    "Sampler",
    "Window",
    "error_stats",
    "machine_facts",
    "percentile",
    "print_table",
    "scenario_yaml",
    "start_trivial_server",
    "write_json",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable


class Children:
    """Processes started by a benchmark; ``stop_all`` ends each of them by PID (TERM, then KILL)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(
        self,
        command: Sequence[str],
        log_path: Path,
        *,
        stdout_pipe: bool = False,
        cwd: Path = ROOT,
    ) -> subprocess.Popen[bytes]:
        log = log_path.open("ab")
        self._logs.append(log)
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """Let ``process`` finish within ``grace`` s, else SIGTERM, then SIGKILL."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        for log in self._logs:
            log.close()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()


def start_trivial_server(
    children: Children, log_dir: Path, extra_args: Sequence[str] = (), timeout: float = 20.0
) -> tuple[str, int]:
    """Start ``benchmarks/trivial_server.py``; returns (URL, PID) once it printed QI_READY."""
    process = children.start(
        [PYTHON, str(HERE / "trivial_server.py"), *extra_args],
        log_dir / "trivial_server.log",
        stdout_pipe=True,
    )
    assert process.stdout is not None
    fd, buffer, deadline = process.stdout.fileno(), b"", time.monotonic() + timeout
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            raise RuntimeError(f"trivial server did not start; see {log_dir}/trivial_server.log")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            buffer += os.read(fd, 4096)
    line = buffer.split(b"\n", 1)[0].decode()
    if not line.startswith("QI_READY "):
        raise RuntimeError(f"unexpected first line from the trivial server: {line!r}")
    return line.split(" ", 1)[1].strip(), process.pid


def get_json(url: str) -> dict[str, Any]:
    with urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


@dataclass
class Sample:
    wall: float
    requests: int
    """Chat requests the trivial server has answered so far."""
    cpu_s: dict[str, float]
    """Role -> CPU seconds (user + system) of its processes so far."""
    host_busy_s: float
    """All CPUs of the machine, busy seconds so far (everyone's load, ours included)."""


@dataclass
class Window:
    """Rates and CPU shares between two samples."""

    seconds: float
    requests: int
    cpu_pct: dict[str, float]
    """Role -> CPU % of one core over the window."""
    host_cpu_pct: float
    """Machine busy %, of all cores, over the window."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _role_of(process: psutil.Process, roles: dict[int, str]) -> str:
    if process.pid in roles:
        return roles[process.pid]
    try:
        command = process.cmdline()
    except psutil.Error:
        return "other"
    if "--worker" in command:
        return "worker"
    if "--master" in command:
        return "master"
    return "generator"


@dataclass
class Sampler:
    """A thread sampling the server's count and the CPU of process trees every ``interval`` s."""

    server_url: str
    roots: dict[int, str]
    """PID -> role of each process whose whole tree is sampled (descendants get their role
    from their command line: master, worker, or generator)."""
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    _done_cpu: dict[str, float] = field(default_factory=dict)
    _last_cpu: dict[int, tuple[str, float]] = field(default_factory=dict)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _cpu_by_role(self) -> dict[str, float]:
        seen: dict[int, tuple[str, float]] = {}
        for root_pid, role in self.roots.items():
            try:
                root = self._procs.setdefault(root_pid, psutil.Process(root_pid))
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for process in tree:
                process = self._procs.setdefault(process.pid, process)
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                seen[process.pid] = (
                    _role_of(process, {root_pid: role}),
                    times.user + times.system,
                )
        for pid, (role, cpu) in self._last_cpu.items():
            # A process that ended keeps the CPU it used while we watched it.
            if pid not in seen:
                self._done_cpu[role] = self._done_cpu.get(role, 0.0) + cpu
        self._last_cpu = seen
        totals = dict(self._done_cpu)
        for role, cpu in seen.values():
            totals[role] = totals.get(role, 0.0) + cpu
        return totals

    def sample(self) -> Sample:
        try:
            requests = int(get_json(self.server_url + "/stats")["requests"])
        except OSError:
            requests = self.samples[-1].requests if self.samples else 0
        host = psutil.cpu_times()
        busy = host.user + host.nice + host.system + host.irq + host.softirq + host.steal
        return Sample(time.time(), requests, self._cpu_by_role(), busy)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def first_traffic(self) -> float | None:
        """Wall time of the first sample in which the server had answered a request."""
        base = self.samples[0].requests if self.samples else 0
        return next((s.wall for s in self.samples if s.requests > base), None)

    def window(self, start: float, end: float) -> Window:
        """Rates and CPU between the samples nearest to ``start`` and ``end`` (wall times)."""
        a = min(self.samples, key=lambda s: abs(s.wall - start))
        b = min(self.samples, key=lambda s: abs(s.wall - end))
        seconds = b.wall - a.wall
        if seconds <= 0:
            raise RuntimeError("empty measurement window: the run ended too early")
        cpu = {role: 100.0 * (b.cpu_s[role] - a.cpu_s.get(role, 0.0)) / seconds for role in b.cpu_s}
        host = 100.0 * (b.host_busy_s - a.host_busy_s) / seconds / (psutil.cpu_count() or 1)
        return Window(seconds, b.requests - a.requests, cpu, host)


def machine_facts() -> dict[str, Any]:
    """Date, cores, load and versions, to print next to every number."""
    import locust

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cores": psutil.cpu_count(),
        "cpu_model": model,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "locust": locust.__version__,
    }


def scenario_yaml(path: Path, *, users: int, hold_s: float) -> Path:
    """A one-stage scenario: ``users`` simple-query users at once, no think time, no warm-up."""
    path.write_text(
        "name: bench-trivial\n"
        "description: load-generator benchmark against benchmarks/trivial_server.py\n"
        "settle_s: 0\n"
        "think_time: {kind: none}\n"
        "mix: {simple: 1}\n"
        "stages:\n"
        f"  - {{name: load, users: {users}, ramp_s: 0, hold_s: {hold_s}}}\n",
        encoding="utf-8",
    )
    return path


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (``q`` in [0, 1]) as every qi-load figure computes it
    (``qi_load.metrics.percentile``); NaN without values."""
    value = qi_percentile(values, q * 100.0)
    return float("nan") if value is None else value


def error_stats(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of timing errors in ms, rounded to 0.01 ms ({} when there are none)."""
    if not values:
        return {}
    return {
        "p50": round(percentile(values, 0.5), 2),
        "p99": round(percentile(values, 0.99), 2),
        "max": round(max(values), 2),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True)))


def write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"results: {path}")
