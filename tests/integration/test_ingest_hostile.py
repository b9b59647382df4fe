"""Hostile senders against a real master: the sample port and Locust's worker port.

One run with a real Locust worker and a real `qi-load monitor` sidecar, both holding the
ingest key, while the test process attacks: senders without the key, mistyped, deeply
nested, multi-frame and huge sample messages from a key holder, a flood of 100,000
distinct PIDs, and fabricated messages on a raw ZeroMQ DEALER (an unknown worker, the real
worker's id claimed, undecodable msgpack, a rogue that joins without the key).
Nothing may crash, no legitimate row or sample may be lost, nothing injected may be
written, the master's memory may grow by less than 50 MB and every drop is counted in
run.json.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import locust
import msgpack
import psutil
import pytest
import zmq
from locust.stats import RequestStats
from processes import free_port, wait_for
from qi_cli import qi_load_command
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.monitor.curve import secure_client
from qi_load.record.ingest_key import INGEST_KEY_ENV
from qi_load.record.recorder import serialize_records
from qi_load.record.schema import HostSample, RequestRecord

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = str(ROOT / "locustfiles" / "agent.py")
KEY = b"integration-test-ingest-key-0123"
TRACEBACK = "Traceback (most recent call last)"
MB = 1024 * 1024


def _csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def _sut_samples(path: Path, pid: int) -> int:
    return sum(1 for r in _csv(path) if r["role"] == "sut" and r["pid"] == str(pid))


def _sent(procs: Procs) -> int:
    """The samples the sidecar says it sent, from its last line."""
    return int(procs.log("sidecar.log").rsplit("stopped (", 1)[1].split(" samples sent")[0])


class Procs:
    """Processes this test started, each in its own session; killed at cleanup."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", INGEST_KEY_ENV: KEY.decode()}
        with (self.tmp / log).open("wb") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.tmp,
                env=env,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / name).read_text(errors="replace")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        for proc in p.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slowdown", "0.2", "--slots", "16"]) as running:
        yield running


def _sample(pid: int, host: str = "hostile") -> dict[str, Any]:
    return HostSample(
        ts=time.time(), host=host, role="sut", pid=pid, cpu_percent=1.0, rss_bytes=1
    ).to_wire()


def _batch(samples: list[Any]) -> bytes:
    return json.dumps({"v": 1, "samples": samples}).encode()


def _push(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, key: bytes | None) -> Any:
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.setsockopt(zmq.SNDTIMEO, 2000)
    if key is not None:
        secure_client(sock, key)
    sock.connect(endpoint)
    return sock


def _attack_sample_port(port: int, master: psutil.Process, peak: list[int]) -> tuple[float, float]:
    """Every hostile message; returns the flood's (start, end) wall times."""
    endpoint = f"tcp://127.0.0.1:{port}"
    mistyped = _batch([{**_sample(2), "pid": "2", "cpu_percent": [1]}])
    with zmq.Context() as ctx:
        # Without the key (or with another) nothing gets past the CURVE handshake.
        for key in (None, b"another-key-0123456789"):
            with _push(ctx, endpoint, key) as stranger:
                stranger.setsockopt(zmq.IMMEDIATE, 1)
                stranger.setsockopt(zmq.LINGER, 0)
                with contextlib.suppress(zmq.Again):
                    stranger.send(mistyped)
                time.sleep(1)
        # A key holder's bad messages: each dropped alone.
        with _push(ctx, endpoint, KEY) as insider:
            insider.send(mistyped)
            insider.send(b'{"v": 1, "samples": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
            insider.send_multipart([_batch([_sample(3)]), b"second frame"])
        with _push(ctx, endpoint, KEY) as huge:  # ZMQ_MAXMSGSIZE costs it the connection
            huge.setsockopt(zmq.LINGER, 5000)
            huge.send(b"x" * (64 * MB))
        peak.append(master.memory_info().rss)
        # A flood from a key holder: 100 distinct PIDs per message, 100,000 in all.
        with _push(ctx, endpoint, KEY) as flood:
            flood.setsockopt(zmq.LINGER, 0)
            flood.setsockopt(zmq.SNDTIMEO, 100)
            start = time.time()
            pid = 10_000_000
            while pid < 10_100_000 and time.time() - start < 10:
                try:
                    flood.send(_batch([_sample(pid + i) for i in range(100)]))
                    pid += 100
                except zmq.Again:
                    pass  # the master pushes back: it reads at its own pace
                if pid % 5000 == 0:
                    peak.append(master.memory_info().rss)
            return start, time.time()


def _locust_message(kind: str, data: Any, node_id: str) -> bytes:
    return bytes(msgpack.dumps((kind, data, node_id)))


def _rogue_worker(port: int, real_worker: str) -> None:
    """Fabricated messages on Locust's worker port, in Locust's own wire format."""
    fake = RequestRecord(
        ts_sched=time.time(), ts_start=time.time(), worker="rogue", user_id=1,
        query_type="simple", name="INJECTED", e2e_ms=1.0,
    )  # fmt: skip
    total = RequestStats().total.serialize()

    def stats(node_id: str, payload: Any) -> bytes:
        data = {"stats": [], "stats_total": total, "errors": {}, "user_classes_count": {}}
        return _locust_message("stats", {**data, "qi_records": payload}, node_id)

    with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as dealer:
        dealer.setsockopt(zmq.IDENTITY, b"rogue-1")
        dealer.setsockopt(zmq.LINGER, 2000)
        dealer.connect(f"tcp://127.0.0.1:{port}")
        # Not a worker of this master (it never said client_ready): nothing it sends counts.
        signed_elsewhere = serialize_records("rogue", [fake] * 1001, b"another-key-0123456789")
        dealer.send_multipart([stats("rogue-1", signed_elsewhere)])
        # Claiming the real worker's id from another connection.
        dealer.send_multipart([stats(real_worker, serialize_records("x", [fake] * 1001))])
        samples = {"samples": [_sample(99)]}
        dealer.send_multipart([_locust_message("qi_host_samples", samples, "rogue-1")])
        # Ending the run early or inventing lost workers is not a rogue's to do either.
        dealer.send_multipart([_locust_message("qi_sequence_done", {"stage": "one"}, "rogue-1")])
        dealer.send_multipart([_locust_message("qi_worker_left", {"reason": "x"}, "rogue-1")])
        # Locust's listener dies of these two unless guarded.
        dealer.send_multipart([b"\x91" * 100_000 + b"\xc0"])  # msgpack nested 100,000 deep
        dealer.send_multipart([_locust_message("heartbeat", {}, real_worker)])
        time.sleep(1)
    with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as dealer:
        # A rogue that joins as a worker with Locust's protocol: only the key stops it.
        dealer.setsockopt(zmq.IDENTITY, b"rogue-2")
        dealer.setsockopt(zmq.LINGER, 2000)
        dealer.connect(f"tcp://127.0.0.1:{port}")
        dealer.send_multipart([_locust_message("client_ready", locust.__version__, "rogue-2")])
        dealer.poll(5000)
        dealer.send_multipart([stats("rogue-2", serialize_records("rogue-2", [fake] * 1001))])
        dealer.send_multipart([_locust_message("quit", None, "rogue-2")])
        time.sleep(1)


def test_hostile_senders_change_nothing_but_the_drop_counts(
    procs: Procs, target: TargetProcess, tmp_path: Path
) -> None:
    run_dir, final = tmp_path / "run", tmp_path / "final"
    scenario = write_scenario(tmp_path, "hostile", [{"name": "one", "users": 4, "hold_s": 300}])
    locust_port, sample_port, metrics_port = free_port(), free_port(), free_port()
    common = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "-H", target.url]
    common += ["--scenario", str(scenario)]
    master = procs.start(
        [
            *common,
            *("--headless", "--master", "--master-bind-host", "127.0.0.1", "--only-summary"),
            *("--master-bind-port", str(locust_port), "--expect-workers", "1"),
            *("--monitor-port", str(sample_port), "--monitor-interval", "0.5"),
            *("--metrics-port", str(metrics_port)),
            *("--run-dir", str(run_dir), "--json-file", str(final)),
        ],
        "master.log",
    )
    procs.start(
        [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(locust_port)],
        "worker.log",
    )
    # Samples that arrive before the run starts belong to no run: start the sidecar after.
    wait_for("run.json", lambda: (run_dir / "run.json").exists(), 90)
    sidecar = procs.start(
        [
            *qi_load_command(),
            *("monitor", "--pid", str(target.pid), "--interval", "0.5"),
            *("--connect", f"tcp://127.0.0.1:{sample_port}"),
        ],
        "sidecar.log",
    )
    samples_csv = run_dir / "host_samples.csv"
    wait_for("a sut sample", lambda: any(r["role"] == "sut" for r in _csv(samples_csv)), 90)
    time.sleep(3)  # a baseline of requests
    rows = _csv(run_dir / "requests.csv")
    real_worker = rows[0]["worker"]
    # The sample and metrics ports listen on loopback unless told otherwise.
    for port in (sample_port, metrics_port):
        listening = [c for c in psutil.net_connections("tcp") if c.laddr.port == port]
        assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}, port

    process = psutil.Process(master.pid)
    before = process.memory_info().rss
    peak: list[int] = []
    flood_start, flood_end = _attack_sample_port(sample_port, process, peak)
    _rogue_worker(locust_port, real_worker)
    time.sleep(2)
    peak.append(process.memory_info().rss)
    assert master.poll() is None, procs.log("master.log")[-3000:]

    sidecar.send_signal(signal.SIGTERM)
    assert sidecar.wait(15) == 0
    # Its last samples reach the master (and its CSV): polled, since a master that two other
    # shards hold back takes longer than a fixed 2 s; the count is judged below.
    deadline = time.monotonic() + 30
    while _sut_samples(samples_csv, target.pid) < _sent(procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    master.send_signal(signal.SIGTERM)
    assert master.wait(30) == 0, procs.log("master.log")[-3000:]

    manifest = json.loads((run_dir / "run.json").read_text())
    ingest = manifest["ingest"]
    assert ingest["samples"]["unauthenticated"] >= 2, ingest  # connection attempts
    assert ingest["samples"]["invalid"] == 2, ingest  # mistyped, nested
    assert ingest["samples"]["malformed"] == 1, ingest  # two frames
    assert ingest["samples"]["series_cap"] > 10_000, ingest
    records = {"unknown_sender": 6, "undecodable": 1, "bad_signature": 1}
    assert ingest["records"] == records, ingest
    assert manifest["status"] == "interrupted"
    assert "rogue-1" not in {w["id"] for w in manifest["lost_workers"]}
    assert real_worker not in {w["id"] for w in manifest["lost_workers"]}

    rows = _csv(run_dir / "requests.csv")
    assert not [r for r in rows if r["name"] == "INJECTED" or r["worker"] == "rogue"]
    kinds = Counter(r["error_kind"] for r in rows)
    locust_count = sum(
        int(e["num_requests"]) for e in json.loads(Path(f"{final}.json").read_text())
    )
    assert locust_count + kinds["cancelled"] == len(rows) == manifest["counts"]["requests"]
    # The flood did not starve the master's request handling.
    started = sorted(float(r["ts_start"]) for r in rows)
    baseline = [t for t in started if t < flood_start]
    during = [t for t in started if flood_start <= t < flood_end]
    base_rate = len(baseline) / (flood_start - started[0])
    assert len(during) / (flood_end - flood_start) > 0.3 * base_rate, (len(during), base_rate)

    samples = _csv(samples_csv)
    hostile = {r["pid"] for r in samples if r["host"] == "hostile"}
    assert 0 < len(hostile) <= 256
    assert _sent(procs) == _sut_samples(samples_csv, target.pid)
    growth = max(peak) - before
    assert growth < 50 * MB, f"master grew {growth / MB:.0f} MB"
    for log in ("master.log", "worker.log", "sidecar.log"):
        assert TRACEBACK not in procs.log(log), log
