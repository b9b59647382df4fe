"""The startup benchmark: time a command from spawn to ready, with the phases it reports."""

from __future__ import annotations

import re
import shlex
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from qi_load.bench.proctree import ProcessTree
from qi_load.errors import QiLoadError, RunFailed

__all__ = [
    "PHASE_LINE",
    "ReadyCondition",
    "StartupRun",
    "measure_startup",
    "parse_phase",
    "run_startup",
]

PHASE_LINE = re.compile(r"^\s*QI_PHASE\s+(\S+)\s+(\d+(?:\.\d*)?)\s*$")
"""``QI_PHASE <phase> <duration_ms>`` on stdout or stderr: a phase the program timed itself."""

ReadyKind = Literal["exit", "log", "url", "port"]

# Opening the port and answering the URL are checked at most this often: each check walks
# /proc and would otherwise steal CPU from the program being timed on a small machine.
_PORT_CHECK_S = 0.01
_URL_PROBE_S = 0.01
_SAMPLE_S = 0.01
# Output a program still writes after its exit (through a grandchild holding the pipe) is
# read for at most this long; the exit time itself is already known.
_DRAIN_S = 0.5
# After ready, phase lines may still be on their way (stderr and stdout are separate pipes,
# a `ready` phase is often printed after the ready line, and on a busy machine the program
# may be descheduled in between): output is still read for this long.
_LATE_S = 0.3


def parse_phase(text: str) -> tuple[str, float] | None:
    """``(phase, ms)`` from a ``QI_PHASE`` line, ``None`` for any other line."""
    match = PHASE_LINE.match(text)
    if match is None:
        return None
    return match.group(1), float(match.group(2))


@dataclass(frozen=True)
class ReadyCondition:
    """When a started command counts as ready: exit, a log line, a URL answering 2xx, or a port."""

    kind: ReadyKind
    log: re.Pattern[str] | None = None
    url: str | None = None
    port: int | None = None

    @classmethod
    def from_options(cls, *, log: str | None, url: str | None, port: int | None) -> ReadyCondition:
        """The condition for the CLI options (at most one given); bad values raise exit 2."""
        if log is not None:
            try:
                return cls("log", log=re.compile(log))
            except re.error as exc:
                raise QiLoadError(
                    f"--ready-log: invalid regular expression {log!r}: {exc}"
                ) from exc
        if url is not None:
            if not url.startswith(("http://", "https://")):
                raise QiLoadError(f"--ready-url: expected an http(s) URL, got {url!r}")
            return cls("url", url=url)
        if port is not None:
            if not 0 < port < 65536:
                raise QiLoadError(f"--ready-port: expected a port in 1..65535, got {port}")
            return cls("port", port=port)
        return cls("exit")

    def describe(self) -> str:
        if self.kind == "log":
            assert self.log is not None
            return f"a line matching /{self.log.pattern}/"
        if self.kind == "url":
            return f"{self.url} to answer 2xx"
        if self.kind == "port":
            return f"127.0.0.1:{self.port} to accept connections"
        return "the command to exit"

    def as_dict(self) -> dict[str, Any]:
        value: str | int | None = None
        if self.log is not None:
            value = self.log.pattern
        elif self.url is not None:
            value = self.url
        elif self.port is not None:
            value = self.port
        return {"kind": self.kind, "value": value, "description": self.describe()}


@dataclass
class StartupRun:
    """One start of the command; every time is in ms from just before the spawn."""

    index: int
    spawn_ms: float
    ready_ms: float
    """Time to ready (to exit when the ready condition is ``exit``)."""
    rss_bytes: int
    """RSS of the process tree at ready; its sampled peak when timing to exit."""
    cpu_ms: float | None
    """CPU time (user + system) of the tree up to ready (to exit, from rusage)."""
    first_output_ms: float | None = None
    port_open_ms: float | None = None
    port: int | None = None
    exit_code: int | None = None
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _answers_2xx(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> bool:
    try:
        with opener.open(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class _Watch:
    """The state of one start while waiting for ready: output, phases, port, peak RSS."""

    def __init__(self, tree: ProcessTree, ready: ReadyCondition) -> None:
        self.tree = tree
        self.ready = ready
        self.phases: dict[str, float] = {}
        self.ready_at: float | None = None
        self.port: int | None = None
        self.port_open_at: float | None = None
        self.peak_rss = 0
        # Ready probes go to loopback: never through an HTTP proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._next_port_check = 0.0
        self._next_probe = 0.0
        self._next_sample = 0.0

    def is_ready(self) -> bool:
        return self.ready_at is not None

    def read(self, timeout: float) -> None:
        """Handle the lines that arrive within ``timeout``."""
        for line in self.tree.read_output(timeout):
            phase = parse_phase(line.text)
            if phase is not None:
                self.phases[phase[0]] = phase[1]
            if (
                self.ready_at is None
                and self.ready.log is not None
                and self.ready.log.search(line.text)
            ):
                self.ready_at = line.t

    def check(self, now: float, deadline: float) -> None:
        if self.port is None and now >= self._next_port_check:
            ports = self.tree.listening_ports()
            if ports:
                self.port, self.port_open_at = ports[0], time.perf_counter()
            self._next_port_check = time.perf_counter() + _PORT_CHECK_S
        if self.ready.kind == "exit" and now >= self._next_sample:
            self.peak_rss = max(self.peak_rss, self.tree.sample().rss_bytes)
            self._next_sample = time.perf_counter() + _SAMPLE_S
        if self.ready_at is not None or now < self._next_probe:
            return
        if self.ready.kind == "port":
            assert self.ready.port is not None
            if _accepts(self.ready.port):
                self.ready_at = time.perf_counter()
        elif self.ready.kind == "url":
            url = self._url()
            timeout = max(0.05, min(1.0, deadline - now))
            if url is not None and _answers_2xx(self._opener, url, timeout):
                self.ready_at = time.perf_counter()
        self._next_probe = time.perf_counter() + _URL_PROBE_S

    def _url(self) -> str | None:
        assert self.ready.url is not None
        if "{port}" not in self.ready.url:
            return self.ready.url
        if self.port is None:
            return None
        return self.ready.url.replace("{port}", str(self.port))

    def drain(self, until: float) -> None:
        while self.tree.output_open and time.perf_counter() < until:
            self.read(0.05)

    def read_late_phases(self) -> None:
        until = time.perf_counter() + _LATE_S
        while self.tree.output_open and (left := until - time.perf_counter()) > 0:
            self.read(left)


def _command_text(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def _last_output(tree: ProcessTree) -> str:
    lines = [line for line in tree.tail if line.strip()][-3:]
    return " | ".join(lines) if lines else "(no output)"


def measure_startup(
    argv: Sequence[str],
    ready: ReadyCondition,
    *,
    index: int = 1,
    timeout_s: float = 30.0,
    poll_s: float = 0.005,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> StartupRun:
    """Start ``argv`` once, wait for ``ready``, measure, and kill the whole process tree.

    Raises ``QiLoadError`` (exit 1) when the command cannot start, exits before ready, exits
    non-zero when timed to exit, or is not ready within ``timeout_s`` — always after the
    process tree is gone.
    """
    command = _command_text(argv)
    try:
        tree = ProcessTree(argv, cwd=cwd, env=env)
        tree.start()
    except OSError as exc:
        raise QiLoadError(f"cannot start `{command}`: {exc}") from exc
    with tree:
        watch = _Watch(tree, ready)
        deadline = tree.t_start + timeout_s
        while not watch.is_ready():
            watch.read(poll_s)
            if tree.returncode is not None:
                assert tree.t_exit is not None
                watch.drain(min(deadline, tree.t_exit + _DRAIN_S))
                if watch.is_ready():
                    break
                if ready.kind != "exit":
                    raise RunFailed(
                        f"run {index}: `{command}` exited with code {tree.returncode} after "
                        f"{(tree.t_exit - tree.t_start) * 1000:.0f} ms before it was ready "
                        f"(waiting for {ready.describe()}); last output: {_last_output(tree)}"
                    )
                if tree.returncode != 0:
                    raise RunFailed(
                        f"run {index}: `{command}` exited with code {tree.returncode}; "
                        f"last output: {_last_output(tree)}"
                    )
                watch.ready_at = tree.t_exit
                break
            now = time.perf_counter()
            if now > deadline:
                raise RunFailed(
                    f"run {index}: `{command}` was not ready after {timeout_s:g} s (waiting for "
                    f"{ready.describe()}); its process tree was killed; "
                    f"last output: {_last_output(tree)}"
                )
            watch.check(now, deadline)
        if ready.kind == "exit":
            rss, cpu_s = watch.peak_rss, tree.exit_cpu_s
        else:
            at_ready = tree.sample()
            rss, cpu_s = at_ready.rss_bytes, at_ready.cpu_s
            if watch.port is None:
                ports = tree.listening_ports()
                if ports:
                    watch.port, watch.port_open_at = ports[0], time.perf_counter()
            watch.read_late_phases()

    def ms(t: float | None) -> float | None:
        return None if t is None else (t - tree.t_start) * 1000.0

    ready_ms = ms(watch.ready_at)
    assert ready_ms is not None
    return StartupRun(
        index=index,
        spawn_ms=(tree.t_spawned - tree.t_start) * 1000.0,
        ready_ms=ready_ms,
        rss_bytes=rss,
        cpu_ms=None if cpu_s is None else cpu_s * 1000.0,
        first_output_ms=ms(tree.t_first_output),
        port_open_ms=ms(watch.port_open_at),
        port=watch.port,
        exit_code=tree.returncode if ready.kind == "exit" else None,
        phases=watch.phases,
    )


def run_startup(
    argv: Sequence[str],
    ready: ReadyCondition,
    *,
    runs: int = 10,
    cooldown_s: float = 1.0,
    timeout_s: float = 30.0,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    on_run: Callable[[StartupRun], None] | None = None,
) -> list[StartupRun]:
    """Start the command ``runs`` times, one at a time, with ``cooldown_s`` between starts."""
    if ready.kind == "port":
        assert ready.port is not None
        if _accepts(ready.port):
            raise QiLoadError(
                f"--ready-port: 127.0.0.1:{ready.port} already accepts connections before the "
                "command starts; readiness could not be told apart"
            )
    results: list[StartupRun] = []
    for index in range(1, runs + 1):
        if index > 1 and cooldown_s > 0:
            time.sleep(cooldown_s)
        run = measure_startup(argv, ready, index=index, timeout_s=timeout_s, cwd=cwd, env=env)
        results.append(run)
        if on_run is not None:
            on_run(run)
    return results
