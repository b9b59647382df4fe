"""Child processes of an integration test: Locust on the agent's Locust file (one process or a
master with its workers), waiting on what they write to a run directory, and a kill by PID."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from qi_cli import AGENT_LOCUSTFILE

__all__ = [
    "Locust",
    "free_port",
    "most_in_flight",
    "request_rows",
    "run_manifest",
    "start_cluster",
    "start_logged",
    "wait_for",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a child that cannot take 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_logged(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output to ``log`` (unbuffered), no stdin, ``env`` over this
    process's environment, in a session of its own: a test can signal it, and its children,
    alone."""
    with log.open("wb") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )


class Locust:
    """One ``python -m locust`` process on the agent's Locust file (``start_logged``)."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log = log
        command = [sys.executable, "-m", "locust", "-f", str(AGENT_LOCUSTFILE), *args]
        self.process = start_logged(command, log, cwd=cwd, env=env)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to its session (by its PID, which leads it), if it still runs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_cluster(
    common: Sequence[str],
    master_args: Sequence[str],
    directory: Path,
    *,
    worker_envs: Sequence[Mapping[str, str]] = ({}, {}),
    prefix: str = "",
    cwd: Path | None = None,
    master_env: Mapping[str, str] | None = None,
) -> tuple[Locust, list[Locust]]:
    """A headless master on a free port of 127.0.0.1 expecting one worker per entry of
    ``worker_envs`` (each worker's environment), and those workers; ``common`` goes to all,
    ``master_args`` to the master. Logs: ``directory/{prefix}master.log``,
    ``{prefix}worker-{i}.log``."""
    port = free_port()
    master = Locust(
        [
            *common,
            *("--headless", "--master", "--master-bind-host", "127.0.0.1"),
            *("--master-bind-port", str(port), "--expect-workers", str(len(worker_envs))),
            *("--only-summary", *master_args),
        ],
        directory / f"{prefix}master.log",
        cwd=cwd,
        env=master_env,
    )
    workers = [
        Locust(
            [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            directory / f"{prefix}worker-{i}.log",
            cwd=cwd,
            env=env,
        )
        for i, env in enumerate(worker_envs)
    ]
    return master, workers


def wait_for(
    what: str,
    ready: Callable[[], bool],
    timeout: float,
    logs: Sequence[Path] = (),
    *,
    every: float = 0.2,
) -> None:
    """Poll ``ready`` every ``every`` s until it holds; after ``timeout`` s fail the test, with
    the logs' tails."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in logs)
            pytest.fail(f"{what}: not within {timeout:g} s\n{tails}")
        time.sleep(every)


def request_rows(run_dir: Path) -> list[dict[str, str]]:
    """The rows of ``requests.csv`` so far (none before the file exists)."""
    try:
        with (run_dir / "requests.csv").open(newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def most_in_flight(rows: list[dict[str, str]]) -> int:
    """Most of the ``requests.csv`` rows' requests open at the same instant (from their start
    and E2E times; a row without E2E is open for no time)."""
    events: list[tuple[float, int]] = []
    for row in rows:
        start = float(row["ts_start"])
        events += [(start, 1), (start + float(row["e2e_ms"] or 0) / 1000, -1)]
    most = current = 0
    for _at, step in sorted(events):  # an end sorts before a start at the same instant
        current += step
        most = max(most, current)
    return most


def run_manifest(run_dir: Path) -> dict[str, Any]:
    """``run.json`` as it stands ({} before it exists or while half-written)."""
    try:
        data: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data
