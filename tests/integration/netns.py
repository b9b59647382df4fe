"""Hosts for integration tests: one network namespace each, plugged into a test's own switch.

Each ``Network`` is a Linux bridge in a namespace of its own (the switch) and one namespace
per host, joined to the switch by a veth pair (``eth0`` in the host, a port in the switch).
Nothing is created in the caller's namespace, so networks of parallel tests never share an
interface or an address, and a host's ports are free by construction. Every name carries
this process's PID: a network left behind by a killed test run is removed by the next one.
Each host also gets its own hostname (a UTS namespace), as separate machines have.

Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and ``ip`` from iproute2; ``unavailable()``
says why not, for a skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil
from processes import start_logged

__all__ = ["Host", "Network", "network", "unavailable"]

_PREFIX: Final = "qin"
_SWITCH: Final = "br0"
_ids = itertools.count()


def _ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")


def _namespaces() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _sweep_stale() -> None:
    """Delete namespaces of earlier test processes that died before their cleanup ran."""
    for name in _namespaces():
        parts = name.split("-")
        if parts[0] != _PREFIX or len(parts) < 3 or not parts[1].isdigit():
            continue
        if not psutil.pid_exists(int(parts[1])):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def unavailable() -> str | None:
    """Why this process cannot build networks of namespaces, or None when it can."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) on PATH"
    if shutil.which("unshare") is None:
        return "no `unshare` command (util-linux) on PATH"
    probe = f"{_PREFIX}-{os.getpid()}-probe"
    try:
        _ip("netns", "add", probe)
    except OSError as exc:
        return f"cannot create a network namespace (needs root): {exc}"
    except subprocess.TimeoutExpired:
        return "`ip netns add` timed out"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30)
    return None


@dataclass(frozen=True)
class Host:
    """A machine of the test: its namespace, hostname and address on the switch."""

    name: str
    netns: str
    address: str
    port: str
    """The switch port its cable is plugged into (an interface in the switch namespace)."""


class Network:
    """A switch and the hosts on it; ``close()`` stops every process and removes it all."""

    def __init__(self, subnet: str) -> None:
        self.subnet = subnet
        self.tag = f"{_PREFIX}-{os.getpid()}-{next(_ids)}"
        self.switch = f"{self.tag}-switch"
        self.hosts: list[Host] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    def build_switch(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", _SWITCH, "type", "bridge")
        _ip("-n", self.switch, "link", "set", _SWITCH, "up")

    def add_host(self, name: str, *, online: bool = True) -> Host:
        """A new host named ``name`` at the subnet's next address (.1, .2, ...); its own
        interface stays down until ``online(host)`` when not ``online``."""
        index = len(self.hosts) + 1
        host = Host(
            name=name,
            netns=f"{self.tag}-{name}",
            address=f"{self.subnet}.{index}",
            port=f"p{index}",
        )
        _ip("netns", "add", host.netns)
        self.hosts.append(host)
        _ip("-n", host.netns, "link", "set", "lo", "up")
        _ip(
            *("link", "add", "eth0", "netns", host.netns, "type", "veth"),
            *("peer", "name", host.port, "netns", self.switch),
        )
        _ip("-n", self.switch, "link", "set", host.port, "master", _SWITCH)
        _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        self.plug(host)
        if online:
            self.online(host)
        return host

    def online(self, host: Host) -> None:
        """Bring the host's own interface up (while down, its connects fail at once)."""
        _ip("-n", host.netns, "link", "set", "eth0", "up")

    def cut(self, host: Host) -> None:
        """Pull the host's cable out of the switch: its packets go nowhere, nothing closes."""
        _ip("-n", self.switch, "link", "set", host.port, "down")

    def plug(self, host: Host) -> None:
        _ip("-n", self.switch, "link", "set", host.port, "up")

    def spawn(
        self,
        host: Host,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Run ``argv`` on ``host`` (its namespace and hostname), output to ``log``.

        ``ip netns exec``, ``unshare`` and ``sh`` each exec the next, so the PID returned is
        the program's own; it leads its own process group.
        """
        command = [
            *("ip", "netns", "exec", host.netns, "unshare", "--uts"),
            *("sh", "-c", 'hostname "$0" && exec "$@"', host.name, *argv),
        ]
        process = start_logged(command, log, env=env)
        self._processes.append(process)
        return process

    def close(self) -> None:
        """Kill what ``spawn`` started (its process groups), then delete every namespace."""
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for netns in [h.netns for h in self.hosts] + [self.switch]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


@contextlib.contextmanager
def network(subnet: str = "10.213.0") -> Iterator[Network]:
    """A fresh switch on ``subnet`` (the first three octets of a /24); removed on exit.

    Each network is isolated from every other, so tests may all use the same subnet.
    """
    _sweep_stale()
    net = Network(subnet)
    try:
        net.build_switch()
        yield net
    finally:
        net.close()
