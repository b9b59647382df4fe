"""Start a child process that dies with us, wait until it is ready, stop it and reap it.

Every qi-load process that starts another (the embedded agent, the Locust master and
workers, the master's report, a sidecar's command, a benchmarked command) goes through
`spawn`, so that none outlives a `kill -9` of its parent: the kernel's parent-death signal
on Linux, plus the parent pid in the environment for the child's own watch (`parent_watch`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from qi_load.process.deathsig import death_signal_preexec
from qi_load.process.parent_watch import PARENT_PID_ENV

__all__ = ["Child", "Output", "spawn", "stop_all"]

Output = Literal["inherit", "log", "pump", "ready", "pipes"]
"""Where the child's output goes:
- inherit: our own stdin/stdout/stderr;
- log: stdout and stderr appended to `log`;
- pump: both through one pipe; a thread appends each line to `log` and hands it to `on_line`;
- ready: stdout a pipe for `Child.wait_ready` (read until the ready line), stderr to `log`;
- pipes: stdout and stderr pipes the caller reads.
"""


@dataclass
class Child:
    """One child process started by `spawn`."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if it is still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum: int) -> None:
        """Send `signum` unless the child has already exited (and been reaped)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signum)

    def wait_ready(self, prefix: str, timeout: float) -> str:
        """The rest of the first stdout line starting with `prefix` (output "ready").

        TimeoutError after `timeout` s, EOFError if the child closed stdout (exited) first.
        select() on the raw pipe keeps the timeout exact and stays cooperative under gevent.
        """
        assert self.popen.stdout is not None, "wait_ready needs output='ready'"
        fd = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = b""
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode("utf-8", errors="replace").strip()
                if text.startswith(prefix):
                    return text[len(prefix) :].strip()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise EOFError
                buffer += chunk

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM, SIGKILL if still running after `grace` s; reaped; returns the exit code."""
        stop_all([self], term_grace=grace)
        code = self.popen.returncode
        assert code is not None
        return code

    def close(self) -> None:
        """Release our ends of its pipes (after the child exited).

        A pump closes its own pipe and log at end of file: a grandchild that inherited the
        pipe may keep it open, and closing a pipe under a blocked reader would hang.
        """
        if self._pump is not None:
            self._pump.join(2.0)
            self._pump = None
            return
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def stop_all(
    children: Sequence[Child], *, exit_within: float = 0.0, term_grace: float = 5.0
) -> None:
    """Let `children` exit by themselves for `exit_within` s (they were told to stop some
    other way), SIGTERM the rest, SIGKILL what survives `term_grace` s more; reap and close
    all. One shared deadline per step, however many children."""
    deadline = time.monotonic() + exit_within
    for child in children:
        child.wait(max(0.0, deadline - time.monotonic()))
    running = [child for child in children if child.poll() is None]
    for child in running:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + term_grace
    for child in running:
        if child.wait(max(0.0, deadline - time.monotonic())) is None:
            child.signal(signal.SIGKILL)
    for child in children:
        child.popen.wait()
        child.close()


def _copy_lines(stream: IO[bytes], log: IO[bytes], on_line: Callable[[bytes], None]) -> None:
    try:
        for line in iter(stream.readline, b""):
            if not log.closed:
                try:
                    log.write(line)
                    log.flush()
                except OSError:
                    # Disk full: the log stops, the output is still drained so the child
                    # never blocks on a full pipe (the run's own writer reports the failure).
                    with contextlib.suppress(OSError):
                        log.close()
            on_line(line)
    finally:
        stream.close()
        with contextlib.suppress(OSError):
            log.close()


def spawn(
    argv: Sequence[str],
    *,
    name: str = "",
    output: Output = "inherit",
    log: Path | None = None,
    on_line: Callable[[bytes], None] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    new_session: bool = False,
    death_signal: int | None = signal.SIGKILL,
) -> Child:
    """Start `argv`; with `death_signal` (default SIGKILL) the kernel sends it to the child
    when this process dies, however it dies. `new_session` puts the child in its own
    session, so only we decide which signals reach it (not the terminal's Ctrl-C).

    Raises OSError (e.g. FileNotFoundError) if the command cannot start.
    """
    if output in ("log", "pump") and log is None:
        raise ValueError(f"output={output!r} needs a log path")
    child_env = dict(os.environ if env is None else env)
    child_env[PARENT_PID_ENV] = str(os.getpid())
    stdin: int | None = None if output == "inherit" else subprocess.DEVNULL
    stdout: int | IO[bytes] | None = None
    stderr: int | IO[bytes] | None = None
    log_file: IO[bytes] | None = None
    if log is not None and output in ("log", "ready"):
        log_file = log.open("ab")
    if output == "log":
        stdout, stderr = log_file, subprocess.STDOUT
    elif output == "pump":
        stdout, stderr = subprocess.PIPE, subprocess.STDOUT
    elif output == "ready":
        stdout, stderr = subprocess.PIPE, log_file or subprocess.DEVNULL
    elif output == "pipes":
        stdout, stderr = subprocess.PIPE, subprocess.PIPE
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=child_env,
            cwd=cwd,
            start_new_session=new_session,
            preexec_fn=death_signal_preexec(death_signal) if death_signal else None,
        )
    finally:
        if log_file is not None:
            log_file.close()  # the child has its own descriptor
    child = Child(name=name or Path(argv[0]).name, popen=popen, log_path=log)
    if output == "pump":
        assert log is not None and popen.stdout is not None
        child._pump = threading.Thread(
            target=_copy_lines,
            args=(popen.stdout, log.open("ab"), on_line or (lambda line: None)),
            name=f"qi-pump-{child.name}",
            daemon=True,
        )
        child._pump.start()
    return child
