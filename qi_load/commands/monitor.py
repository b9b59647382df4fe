"""`qi-load monitor`: a sidecar that samples the system under test and pushes to the master."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from qi_load.errors import QiLoadError

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "sample a process (and its children) and publish to a Locust master"
DESCRIPTION = """\
Sidecar for a system under test on another host: samples CPU, memory, threads, fds, disk
and network of the watched processes every --interval seconds and pushes them over ZeroMQ
to the master's --monitor-port, where they land in host_samples.csv with the other roles.
Starts before or after the master, reconnects when it restarts, keeps at most --buffer
samples while disconnected, and stops cleanly on SIGTERM / Ctrl-C. With QI_LOAD_INGEST_KEY
set (the master's key, at least 16 characters) the connection is authenticated and encrypted
(ZeroMQ CURVE).

examples:
  qi-load monitor --pid 4242 --connect tcp://master:5558
  qi-load monitor --name uvicorn --connect tcp://master:5558 --interval 0.5
  qi-load monitor --connect tcp://master:5558 -- python -m my_agent --port 8000
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pid", type=int, action="append", default=[], help="PID to watch (repeatable)"
    )
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        help="watch processes whose name equals, or whose command line contains, NAME "
        "(repeatable; looked up again while none is running)",
    )
    parser.add_argument(
        "--connect",
        required=True,
        metavar="tcp://HOST:PORT",
        help="the master's sample port (its --monitor-port)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between samples (default 1)"
    )
    parser.add_argument(
        "--role",
        choices=("sut", "target"),
        default="sut",
        help="role column of the samples (default sut)",
    )
    parser.add_argument("--host", default=None, help="host column (default: this hostname)")
    parser.add_argument(
        "--buffer",
        type=int,
        default=None,
        help="samples kept while the master is unreachable, oldest dropped first (default 3600)",
    )
    parser.add_argument(
        "command",
        nargs="*",
        metavar="-- CMD",
        help="start CMD and watch it; the sidecar exits with its exit code",
    )


def run(args: argparse.Namespace) -> int:
    import psutil

    from qi_load.monitor.hostmon import find_pids_by_name
    from qi_load.monitor.sidecar import DEFAULT_BUFFER, run_sidecar
    from qi_load.process.child import Child, spawn
    from qi_load.record.ingest_key import ingest_key

    _validate(args)
    key = ingest_key()
    logging.basicConfig(level=logging.INFO, format="qi-load monitor: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    child: Child | None = None
    exit_code = 0
    if args.command:
        try:
            # SIGTERM if we die: the command may clean up, as when we stop it ourselves.
            child = spawn(args.command, death_signal=signal.SIGTERM)
        except OSError as exc:
            raise QiLoadError(f"-- {args.command[0]}: cannot start: {exc}") from None
        pids = [child.pid]
    else:
        pids = list(args.pid)
        for pid in pids:
            if not psutil.pid_exists(pid):
                raise QiLoadError(f"--pid {pid}: no such process")

    def resolve() -> list[int]:
        found = list(pids)
        for name in args.name:
            found += find_pids_by_name(name)
        return sorted(set(found))

    if not resolve():
        print(f"qi-load monitor: waiting for a process named {args.name}", file=sys.stderr)
    print(
        f"qi-load monitor: watching {resolve() or args.name} as {args.role}, "
        f"every {args.interval:g} s, to {args.connect}"
        f"{' (CURVE)' if key else ''}",
        file=sys.stderr,
        flush=True,
    )
    try:
        publisher = run_sidecar(
            connect=args.connect,
            interval=args.interval,
            role=args.role,
            resolve=resolve,
            stop=stop,
            host=args.host,
            buffer=args.buffer or DEFAULT_BUFFER,
            keep_resolving=bool(args.name),
            key=key,
        )
    finally:
        if child is not None:
            exit_code = max(0, child.stop(10.0))
    print(
        f"qi-load monitor: stopped ({publisher.delivered} samples sent, "
        f"{publisher.buffered} undelivered, {publisher.dropped} dropped)",
        file=sys.stderr,
    )
    return exit_code


def _validate(args: argparse.Namespace) -> None:
    if args.command and (args.pid or args.name):
        raise QiLoadError("give either --pid/--name or -- CMD, not both")
    if not (args.command or args.pid or args.name):
        raise QiLoadError("nothing to watch: give --pid PID, --name NAME or -- CMD")
    host, _, port = args.connect.removeprefix("tcp://").rpartition(":")
    if (
        not args.connect.startswith("tcp://")
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        raise QiLoadError(f"--connect {args.connect!r}: expected tcp://HOST:PORT")
    if not args.interval > 0:
        raise QiLoadError(f"--interval {args.interval:g}: must be > 0")
    if args.buffer is not None and args.buffer < 1:
        raise QiLoadError(f"--buffer {args.buffer}: must be >= 1")
