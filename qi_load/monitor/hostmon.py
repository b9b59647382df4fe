"""psutil sampler of a process tree (children summed) and its host, cgroup-quota aware."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from qi_load.record.schema import HostSample
from qi_load.record.wall_clock import wall_now
from qi_load.vocabulary import Role

__all__ = [
    "HostProbe",
    "HostReading",
    "ProcessSampler",
    "cpu_quota_cores",
    "find_pids_by_name",
    "usable_cores",
]

_CGROUP_MOUNT = Path("sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class HostReading:
    """Host-wide figures shared by every process sampled in the same tick."""

    cpu_percent: float
    mem_available_bytes: int
    net_sent_bytes: int
    net_recv_bytes: int


class HostProbe:
    """Host CPU (from ``psutil.cpu_times`` deltas), available memory and network counters.

    psutil's own ``cpu_percent(None)`` keeps one baseline per OS thread, so several greenlets
    calling it would steal each other's interval; this probe keeps its own baseline instead.
    Network counters are those of this process's network namespace: the whole host on bare
    metal, the whole pod inside a container. psutil cannot attribute traffic to a process.
    """

    def __init__(self) -> None:
        self._last = _busy_total()  # the prime: the first read() covers a real interval

    def read(self) -> HostReading:
        busy, total = _busy_total()
        last_busy, last_total = self._last
        self._last = busy, total
        dt = total - last_total
        cpu = 0.0 if dt <= 0 else max(0.0, min(100.0, 100.0 * (busy - last_busy) / dt))
        net = psutil.net_io_counters()
        return HostReading(
            cpu_percent=cpu,
            mem_available_bytes=int(psutil.virtual_memory().available),
            net_sent_bytes=int(net.bytes_sent) if net else 0,
            net_recv_bytes=int(net.bytes_recv) if net else 0,
        )


def _busy_total() -> tuple[float, float]:
    times = psutil.cpu_times()
    total = float(sum(times))
    # guest time is already counted in user on Linux; idle and iowait are not busy.
    idle = times.idle + getattr(times, "iowait", 0.0)
    for name in ("guest", "guest_nice"):
        total -= getattr(times, name, 0.0)
    return total - idle, total


class ProcessSampler:
    """Samples one process with all its descendants summed, as ``HostSample`` rows.

    CPU is computed from ``cpu_times`` deltas per PID between two samples (children that
    appeared in between count from their start; reaped children through the parent's
    ``children_user/system``). The constructor takes the first reading — the prime — so
    the first ``sample()`` reports a real interval instead of psutil's initial 0.0.
    ``cpu_percent`` is 100 per busy core, divided by the cgroup quota in cores when the
    process runs under one (then 100 = the whole quota); the quota is recorded. Quota,
    affinity and core count are read once, when sampling starts.
    """

    def __init__(
        self,
        pid: int,
        role: Role,
        host: str | None = None,
        *,
        include_children: bool = True,
        probe: HostProbe | None = None,
        cgroup_root: Path = Path("/"),
        clock: Callable[[], float] = wall_now,
    ) -> None:
        """``clock``: the time line of the samples' ``ts`` (a worker's: the master's)."""
        self.pid = pid
        self.clock = clock
        self.role: Role = role
        self.host = host or socket.gethostname()
        self.include_children = include_children
        self.probe = probe or HostProbe()
        self.process = psutil.Process(pid)  # raises psutil.NoSuchProcess for a bad PID
        self.name = ""  # read at the first sample: a just-spawned child may not have exec'd yet
        self.cpu_quota_cores = cpu_quota_cores(pid, root=cgroup_root)
        self.host_cores = psutil.cpu_count() or 0
        self.usable_cores = usable_cores(self.process, self.cpu_quota_cores, self.host_cores)
        self._times: dict[int, float] = {}
        self._reaped = 0.0
        self._wall = self._mono = self._ts = 0.0
        self._collect_cpu()

    def sample(self, reading: HostReading | None = None) -> HostSample:
        """One sample now; raises ``psutil.NoSuchProcess`` once the root process is gone."""
        if reading is None:
            reading = self.probe.read()
        if not self.name:
            self.name = _safe_name(self.process)
        previous_wall, previous_times, previous_reaped = self._wall, self._times, self._reaped
        previous_mono = self._mono
        procs = self._collect_cpu()
        busy = sum(
            cpu - previous_times.get(pid, 0.0 if self._born_after(pid, previous_wall) else cpu)
            for pid, cpu in self._times.items()
        ) + max(0.0, self._reaped - previous_reaped)
        dt = self._mono - previous_mono  # monotonic: a wall-clock step must not skew CPU %
        cpu_percent = max(0.0, 100.0 * busy / dt) if dt > 0 else 0.0
        if self.cpu_quota_cores:
            cpu_percent /= self.cpu_quota_cores
        rss = threads = fds = read_b = write_b = ctx = 0
        user = system = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    threads += proc.num_threads()
                    fds += _safe_fds(proc)
                    io = _safe_io(proc)
                    read_b += io[0]
                    write_b += io[1]
                    switches = proc.num_ctx_switches()
                    ctx += switches.voluntary + switches.involuntary
                    times = proc.cpu_times()
                    user += times.user
                    system += times.system
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue  # a child that exited mid-sample: its time shows in the parent later
        user += self._reaped_user
        system += self._reaped - self._reaped_user
        return HostSample(
            ts=self._ts,
            host=self.host,
            role=self.role,
            pid=self.pid,
            cpu_percent=round(cpu_percent, 3),
            rss_bytes=rss,
            num_threads=threads,
            num_fds=fds,
            read_bytes=read_b,
            write_bytes=write_b,
            net_sent_bytes=reading.net_sent_bytes,
            net_recv_bytes=reading.net_recv_bytes,
            host_cpu_percent=round(reading.cpu_percent, 3),
            host_mem_available_bytes=reading.mem_available_bytes,
            cpu_user_s=round(user, 3),
            cpu_system_s=round(system, 3),
            ctx_switches=ctx,
            cpu_quota_cores=self.cpu_quota_cores,
            name=self.name,
            usable_cores=self.usable_cores,
            host_cores=self.host_cores,
        )

    def _collect_cpu(self) -> list[psutil.Process]:
        """Refresh per-PID CPU seconds of the tree; returns the live processes."""
        if self.process.status() == psutil.STATUS_ZOMBIE:
            raise psutil.ZombieProcess(self.pid)  # exited, not yet reaped: it is gone
        root_times = self.process.cpu_times()  # NoSuchProcess propagates: the root is gone
        # The clock right after the root's reading: every /proc read below may release the
        # GIL, and a sampler thread in a CPU-bound process can wait milliseconds for it.
        wall, mono = time.time(), time.monotonic()
        procs = [self.process]
        if self.include_children:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs += self.process.children(recursive=True)
        times: dict[int, float] = {self.pid: root_times.user + root_times.system}
        self._birth: dict[int, float] = {}
        live = [self.process]
        for child in procs[1:]:
            try:
                t = child.cpu_times()
                times[child.pid] = t.user + t.system
                self._birth[child.pid] = child.create_time()
                live.append(child)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        self._times = times
        self._reaped_user = root_times.children_user
        self._reaped = root_times.children_user + root_times.children_system
        self._wall, self._mono, self._ts = wall, mono, self.clock()
        return live

    def _born_after(self, pid: int, wall: float) -> bool:
        # create_time has ~10 ms resolution (clock ticks); a child born in the interval
        # counts from zero, one that existed already but was unseen is just primed now.
        return self._birth.get(pid, 0.0) >= wall - 0.01


def _safe_name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def _safe_fds(proc: psutil.Process) -> int:
    try:
        return proc.num_fds()
    except psutil.AccessDenied:
        return 0  # another user's process: /proc/<pid>/fd is not readable


def _safe_io(proc: psutil.Process) -> tuple[int, int]:
    try:
        io = proc.io_counters()
    except (psutil.AccessDenied, AttributeError):
        return 0, 0  # another user's process: io is root-only; keep sampling the rest
    return int(io.read_bytes), int(io.write_bytes)


def usable_cores(process: psutil.Process, quota: float | None, host_cores: int) -> float | None:
    """Cores ``process`` may run on: its CPU affinity (all cores where psutil cannot read
    it), capped by the cgroup quota; ``None`` when neither is known."""
    try:
        cores = float(len(process.cpu_affinity() or ())) or float(host_cores)
    except (psutil.Error, AttributeError):  # AttributeError: no affinity on macOS
        cores = float(host_cores)
    if quota is not None:
        cores = min(cores, quota) if cores else quota
    return cores or None


def cpu_quota_cores(pid: int | str = "self", *, root: Path = Path("/")) -> float | None:
    """The CPU quota in cores applying to ``pid`` (cgroup v2 ``cpu.max`` or v1 CFS quota).

    Walks from the process's cgroup up to the hierarchy's root and keeps the tightest
    limit; ``None`` when unlimited or unreadable. ``root`` lets tests use a fake tree.
    """
    try:
        lines = (root / "proc" / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            limits += _v2_limits(root / _CGROUP_MOUNT, path)
        elif "cpu" in controllers.split(","):
            for mount in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"):
                base = root / _CGROUP_MOUNT / mount
                if base.is_dir():
                    limits += _v1_limits(base, path)
                    break
    return min(limits) if limits else None


def _levels(base: Path, path: str) -> Iterable[Path]:
    """The process's cgroup directory and its ancestors; inside a cgroup namespace the
    path may name the host's hierarchy, in which case the mount root is the process's own.
    """
    parts = [p for p in path.strip("/").split("/") if p]
    if parts and not (base.joinpath(*parts)).is_dir():
        yield base
        return
    for i in range(len(parts), -1, -1):
        yield base.joinpath(*parts[:i])


def _v2_limits(base: Path, path: str) -> list[float]:
    limits = []
    for level in _levels(base, path):
        try:
            quota, _, period = (level / "cpu.max").read_text().strip().partition(" ")
        except OSError:
            continue
        if quota != "max" and period:
            limits.append(int(quota) / int(period))
    return limits


def _v1_limits(base: Path, path: str) -> list[float]:
    limits = []
    for level in _levels(base, path):
        try:
            quota = int((level / "cpu.cfs_quota_us").read_text())
            period = int((level / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota > 0 and period > 0:
            limits.append(quota / period)
    return limits


def find_pids_by_name(name: str) -> list[int]:
    """PIDs whose process name equals ``name`` or whose command line contains it.

    This process and its ancestors are skipped (their command line names the target);
    descendants of a match are dropped too, as they are summed into the match's samples.
    """
    me = psutil.Process()
    skip = {me.pid, *(p.pid for p in me.parents())}
    matches = set()
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        info = proc.info
        if info["pid"] in skip:
            continue
        if name == info["name"] or name in " ".join(info["cmdline"] or ()):
            matches.add(info["pid"])
    return sorted(pid for pid in matches if not matches.intersection(_ancestors(pid)))


def _ancestors(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).parents()]
    except psutil.Error:
        return []
