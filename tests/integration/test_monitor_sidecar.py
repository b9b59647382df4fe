"""`qi-load monitor` against a real receiver: started early, master restarted, bounded buffer."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from processes import free_port
from qi_cli import qi_load_command

pytestmark = pytest.mark.integration

RECEIVER = Path(__file__).with_name("sample_receiver.py")
BUFFER = 8
INTERVAL = 0.5


class Procs:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: list[str], *, stdout: Path | None = None, stderr: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = stdout.open("wb") if stdout else None
        err = stderr.open("wb") if stderr else None
        try:
            proc = subprocess.Popen(args, stdout=out, stderr=err)
        finally:  # the child holds its own copies of the descriptors
            for f in (out, err):
                if f is not None:
                    f.close()
        self.started.append(proc)
        return proc


@pytest.fixture
def procs() -> Iterator[Procs]:
    p = Procs()
    try:
        yield p
    finally:
        for proc in p.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _wait_batches(path: Path, timeout: float) -> list[dict[str, Any]]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        batches = [b for b in _lines(path) if "recv" in b]
        if batches:
            return batches
        time.sleep(0.1)
    return []


def _receiver(procs: Procs, port: int, out: Path) -> subprocess.Popen[bytes]:
    return procs.start([sys.executable, str(RECEIVER), f"tcp://127.0.0.1:{port}", "60"], stdout=out)


def test_sidecar_before_master_and_master_restart(procs: Procs, tmp_path: Path) -> None:
    port = free_port()
    watched = procs.start([sys.executable, "-c", "import time; time.sleep(60)"])
    sidecar = procs.start(
        qi_load_command(
            "monitor",
            "--pid",
            str(watched.pid),
            "--connect",
            f"tcp://127.0.0.1:{port}",
            "--interval",
            str(INTERVAL),
            "--buffer",
            str(BUFFER),
            "--host",
            "sut-host",
        ),
        stderr=tmp_path / "sidecar.err",
    )
    time.sleep(10.0)  # the sidecar runs alone: ~20 samples, at most BUFFER kept
    assert sidecar.poll() is None
    rss_alone = psutil.Process(sidecar.pid).memory_info().rss

    first = tmp_path / "first.jsonl"
    t0 = time.time()
    master = _receiver(procs, port, first)
    batches = _wait_batches(first, 8.0)
    assert batches, "no samples within 8 s of the master starting"
    assert batches[0]["recv"] - t0 < 5.0
    time.sleep(3.0)
    batches = _lines(first)[1:]
    ts = [t for b in batches for t in b["ts"]]
    assert set(p for b in batches for p in b["pids"]) == {watched.pid}
    assert {r for b in batches for r in b["roles"]} == {"sut"}
    # Samples taken while nobody listened are bounded by the buffer; the oldest were dropped.
    early = [t for t in ts if t < t0]
    assert 1 <= len(early) <= BUFFER
    assert min(ts) > t0 - 10.0 + 2.0
    # Live samples keep the interval (+-20 %) on the wall clock: the ticks are fixed, so a
    # sample a busy machine made late is followed by an early one and none is lost. Single
    # gaps are not compared: beside two other shards one sample can be 0.1 s late.
    live = sorted(t for t in ts if t > t0 + 1.0)
    gaps = [b - a for a, b in itertools.pairwise(live)]
    assert len(gaps) >= 3 and all(g > 0 for g in gaps), gaps
    assert 0.8 * INTERVAL <= (live[-1] - live[0]) / len(gaps) <= 1.2 * INTERVAL, gaps

    master.kill()  # an abrupt master crash, then a restart on the same port
    master.wait()
    time.sleep(3.0)
    second = tmp_path / "second.jsonl"
    t1 = time.time()
    _receiver(procs, port, second)
    batches = _wait_batches(second, 8.0)
    assert batches, "no samples within 8 s of the master restarting"
    assert batches[0]["recv"] - t1 < 5.0
    assert psutil.Process(sidecar.pid).memory_info().rss < rss_alone + 5_000_000

    sidecar.send_signal(signal.SIGTERM)
    assert sidecar.wait(10) == 0
    err = (tmp_path / "sidecar.err").read_text()
    assert "unreachable" in err and "reachable again" in err and "stopped (" in err
    assert "Traceback" not in err
