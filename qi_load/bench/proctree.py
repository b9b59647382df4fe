"""A command in its own session: its output, its tree's RSS, CPU and ports, and a complete kill."""

from __future__ import annotations

import os
import resource
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Literal

import psutil

from qi_load.process.child import spawn

__all__ = ["OutputLine", "ProcessTree", "TreeSample", "interrupt_on_sigterm"]

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class OutputLine:
    """One line the command wrote, and when this process read it (``perf_counter`` seconds)."""

    t: float
    stream: Stream
    text: str


@dataclass(frozen=True)
class TreeSample:
    """The process tree at one instant: summed RSS and CPU time (own + reaped children)."""

    t: float
    rss_bytes: int
    cpu_s: float
    processes: int


class ProcessTree:
    """Runs ``argv`` as the leader of a new session and watches every process it starts.

    Use it as a context manager: leaving the block (normally, on an exception, on Ctrl-C)
    terminates the whole tree — descendants and anything else left in the session — and
    reaps the root. Output is read through pipes with ``select`` (no threads), and on Linux
    a pidfd wakes the reader the instant the root exits, so exit times are not rounded up to
    a polling interval.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        tail_lines: int = 20,
    ) -> None:
        if not argv:
            raise ValueError("ProcessTree needs a command")
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.t_start = 0.0
        """``perf_counter`` just before the spawn."""
        self.t_spawned = 0.0
        """``perf_counter`` when the spawn call returned."""
        self.t_first_output: float | None = None
        self.t_exit: float | None = None
        self.returncode: int | None = None
        self.exit_cpu_s: float | None = None
        """CPU time of the root and every descendant it reaped, known once the root exited."""
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self._popen: subprocess.Popen[bytes] | None = None
        self._root: psutil.Process | None = None
        self._pidfd: int | None = None
        self._streams: dict[int, Stream] = {}
        self._partial: dict[int, bytes] = {}
        # psutil.Process objects are kept between calls: building one reads /proc again.
        self._known: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError("ProcessTree not started")
        return self._popen.pid

    def __enter__(self) -> ProcessTree:
        if self._popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def start(self) -> None:
        """Spawn the command; raises ``OSError`` (e.g. ``FileNotFoundError``) if it cannot."""
        if self._popen is not None:
            raise RuntimeError("ProcessTree already started")
        self.t_start = time.perf_counter()
        # Its root dies with us too (the kill below reaches the rest of the tree).
        self._popen = spawn(
            self.argv, output="pipes", cwd=self.cwd, env=self.env, new_session=True
        ).popen
        self.t_spawned = time.perf_counter()
        assert self._popen.stdout is not None and self._popen.stderr is not None
        pipes: tuple[tuple[IO[bytes], Stream], ...] = (
            (self._popen.stdout, "stdout"),
            (self._popen.stderr, "stderr"),
        )
        for pipe, name in pipes:
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self._streams[fd] = name
            self._partial[fd] = b""
        # A zombie root is still a valid psutil.Process, so this cannot race with its exit.
        self._root = psutil.Process(self._popen.pid)
        if hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(self._popen.pid)
            except OSError:
                self._pidfd = None

    def poll(self) -> int | None:
        """The root's exit code once it has exited (and is reaped), else ``None``."""
        if self.returncode is not None or self._popen is None:
            return self.returncode
        try:
            # wait4 rather than Popen.poll: its rusage is this root's own CPU time. (Not its
            # ru_maxrss: Linux counts the parent's RSS it was forked from in there.)
            pid, status, usage = os.wait4(self._popen.pid, os.WNOHANG)
        except ChildProcessError:
            # Something else reaped it (gevent's SIGCHLD watcher does): no rusage then.
            code = self._popen.poll()
            if code is not None:
                self._exited(code, None)
            return code
        if pid == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        self._popen.returncode = code
        self._exited(code, usage)
        return code

    def _exited(self, code: int, usage: resource.struct_rusage | None) -> None:
        self.t_exit = time.perf_counter()
        self.returncode = code
        if usage is not None:
            self.exit_cpu_s = usage.ru_utime + usage.ru_stime
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    @property
    def output_open(self) -> bool:
        """True while stdout or stderr may still deliver output."""
        return bool(self._streams)

    def read_output(self, timeout: float) -> list[OutputLine]:
        """Wait up to ``timeout`` s for output or the root's exit; return complete new lines."""
        self.poll()
        fds = list(self._streams)
        if self._pidfd is not None:
            fds.append(self._pidfd)
        if not fds:
            # Output closed and no pidfd to wait on: a plain sleep paces the caller's loop.
            if self.returncode is None:
                time.sleep(timeout)
                self.poll()
            return []
        ready, _, _ = select.select(fds, [], [], timeout)
        now = time.perf_counter()
        lines: list[OutputLine] = []
        for fd in ready:
            if fd == self._pidfd:
                continue
            lines.extend(self._read_fd(fd, now))
        if self._pidfd is not None and self._pidfd in ready:
            self.poll()
        return lines

    def _read_fd(self, fd: int, now: float) -> list[OutputLine]:
        stream = self._streams[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            rest = self._partial.pop(fd, b"")
            del self._streams[fd]
            return [self._line(now, stream, rest)] if rest else []
        if self.t_first_output is None:
            self.t_first_output = now
        *complete, partial = (self._partial[fd] + data).split(b"\n")
        self._partial[fd] = partial
        return [self._line(now, stream, raw) for raw in complete]

    def _line(self, now: float, stream: Stream, raw: bytes) -> OutputLine:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.tail.append(text)
        return OutputLine(now, stream, text)

    def members(self, *, include_session: bool = False) -> list[psutil.Process]:
        """The live root and its descendants; with ``include_session``, also orphans left in
        the session (re-parented to init when their parent died), which a kill must reach."""
        found: dict[int, psutil.Process] = {}
        if self._root is not None and self._root.is_running():
            found[self._root.pid] = self._root
            for pid in _descendants(self._root):
                proc = self._known.get(pid)
                if proc is None:
                    try:
                        proc = psutil.Process(pid)
                    except psutil.Error:
                        continue
                found[pid] = proc
        self._known = found
        if include_session and self._popen is not None:
            sid = self._popen.pid
            for proc in psutil.process_iter():
                try:
                    if proc.pid not in found and os.getsid(proc.pid) == sid:
                        found[proc.pid] = proc
                except (OSError, psutil.Error):
                    continue
        return list(found.values())

    def sample(self) -> TreeSample:
        """RSS and CPU time summed over the tree's live processes, right now."""
        rss = 0
        cpu = 0.0
        count = 0
        for proc in self.members():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            cpu += times.user + times.system + times.children_user + times.children_system
            count += 1
        return TreeSample(time.perf_counter(), rss, cpu, count)

    def listening_ports(self) -> list[int]:
        """TCP ports any process of the tree listens on, in discovery order."""
        ports: list[int] = []
        for proc in self.members():
            try:
                connections = proc.net_connections(kind="tcp")
            except psutil.Error:
                continue
            for conn in connections:
                if (
                    conn.status == psutil.CONN_LISTEN
                    and conn.laddr
                    and conn.laddr.port not in ports
                ):
                    ports.append(conn.laddr.port)
        return ports

    def kill(self, grace_s: float = 2.0) -> None:
        """SIGTERM the whole tree, SIGKILL what survives ``grace_s``, reap the root. Idempotent."""
        popen = self._popen
        if popen is None:
            return
        self.poll()
        procs = [p for p in self.members(include_session=True) if p.pid != popen.pid]
        if self.returncode is None:
            self._signal_group(signal.SIGTERM)
        for proc in procs:
            try:
                proc.terminate()
            except psutil.Error:
                continue
        try:
            popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            popen.wait()
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(alive, timeout=grace_s)
        # Processes that escaped both the tree walk and the session (setsid daemons) may
        # still share the process group: one last SIGKILL to the group reaches them.
        self._signal_group(signal.SIGKILL)
        if self.returncode is None:
            self._exited(popen.wait(), None)
        for pipe in (popen.stdout, popen.stderr):
            if pipe is not None:
                pipe.close()
        self._streams.clear()

    def _signal_group(self, signum: int) -> None:
        assert self._popen is not None
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signum)


def _has_children_files() -> bool:
    tid = threading.get_native_id()
    return os.path.exists(f"/proc/self/task/{tid}/children")


_CHILDREN_FILES = _has_children_files()


def _children_from_proc(pid: int) -> list[int]:
    children: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                children.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return children


def _descendants(root: psutil.Process) -> list[int]:
    """PIDs below ``root``. Linux lists each task's children in /proc: reading those costs a
    few files per process of the tree, where psutil's ``children()`` reads every process on
    the host — which, polled every 10 ms, would steal CPU from the command being timed."""
    if not _CHILDREN_FILES:
        try:
            return [child.pid for child in root.children(recursive=True)]
        except psutil.Error:
            return []
    seen: list[int] = []
    queue = [root.pid]
    while queue:
        for child in _children_from_proc(queue.pop()):
            if child not in seen:
                seen.append(child)
                queue.append(child)
    return seen


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside the block, so ``finally`` clean-ups run on both."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
