"""A cluster run over real network paths: master, agent and each worker on a host of its own
(network namespaces on one switch, ``netns.py``), in ONE run that covers four cases:

- a master + 3 workers ladder whose rows equal Locust's counts;
- a worker that joins late gets the plan and its share of users, its rows tagged right;
- a worker whose cable is pulled mid-run is recorded as lost (and exits 1 on its own), while
  the others' rows stay complete: the agent's own log of requests per client address agrees;
- the ``qi-load monitor`` sidecar on the agent's host reaches the master across the switch
  (``--monitor-bind-host``, the ingest key), its samples in ``host_samples.csv`` as ``sut``.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netns import Host, Network, network, unavailable
from processes import request_rows, run_manifest, wait_for
from qi_cli import AGENT_LOCUSTFILE
from scenario_file import write_scenario

from qi_load.record.ingest_key import INGEST_KEY_ENV

pytestmark = pytest.mark.integration

STAGES = [
    {"name": "s1", "users": 3, "hold_s": 4},
    {"name": "s2", "users": 6, "hold_s": 5},
    {"name": "s3", "users": 9, "hold_s": 5},
]
# Each host is its own machine with its own ports: fixed numbers cannot collide.
LOCUST_PORT, SAMPLE_PORT, AGENT_PORT = 5557, 5558, 8000
_ACCESS = re.compile(r"(\d+\.\d+\.\d+\.\d+):\d+ - \"POST /v1/chat/completions")


@pytest.fixture
def net() -> Iterator[Network]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable: {reason}")
    with network() as built:
        yield built


def _host_samples(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "host_samples.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _worker_of(rows: list[dict[str, str]], host: Host) -> set[str]:
    """Worker ids are Locust's ``<hostname>_<uuid>``: each host has its own hostname."""
    return {r["worker"] for r in rows if r["worker"].startswith(f"{host.name}_")}


def test_cluster_over_namespaces(net: Network, tmp_path: Path) -> None:
    master_host, agent_host = net.add_host("master"), net.add_host("agent")
    workers = [net.add_host(f"worker-{i}", online=False) for i in (1, 2, 3)]
    late_host = net.add_host("worker-late", online=False)
    cut_host = workers[2]
    env = {INGEST_KEY_ENV: secrets.token_hex(16)}
    log = {h.name: tmp_path / f"{h.name}.log" for h in net.hosts}
    log["sidecar"] = tmp_path / "sidecar.log"
    logs = list(log.values())

    agent = net.spawn(
        agent_host,
        [
            *(sys.executable, "-m", "qi_load", "target", "--host", agent_host.address),
            *("--port", str(AGENT_PORT), "--slots", "64", "--access-log"),
        ],
        log=log["agent"],
    )
    sidecar = net.spawn(
        agent_host,
        [
            *(sys.executable, "-m", "qi_load", "monitor", "--pid", str(agent.pid)),
            *("--connect", f"tcp://{master_host.address}:{SAMPLE_PORT}", "--interval", "0.5"),
        ],
        log=log["sidecar"],
        env=env,
    )
    scenario = write_scenario(tmp_path, "netns", STAGES)
    run_dir, final = tmp_path / "run", tmp_path / "final"
    locust = [sys.executable, "-m", "locust", "-f", str(AGENT_LOCUSTFILE)]
    locust += ["-H", f"http://{agent_host.address}:{AGENT_PORT}"]
    locust += ["--scenario", str(scenario), "--no-preflight"]
    to_master = [*locust, "--worker", "--master-host", master_host.address]
    to_master += ["--master-port", str(LOCUST_PORT)]
    started = [net.spawn(h, to_master, log=log[h.name], env=env) for h in workers]
    late = net.spawn(late_host, to_master, log=log[late_host.name], env=env)
    master = net.spawn(
        master_host,
        [
            *(*locust, "--headless", "--master", "--expect-workers", "3", "--only-summary"),
            *("--master-bind-host", master_host.address, "--master-bind-port", str(LOCUST_PORT)),
            *("--monitor-bind-host", master_host.address, "--monitor-port", str(SAMPLE_PORT)),
            *("--run-dir", str(run_dir), "--json-file", str(final)),
        ],
        log=log["master"],
        env=env,
    )

    # Every process starts at once; the workers' networks come up once the agent serves, so
    # the ladder starts then (the master waits for 3 workers).
    wait_for("the agent", lambda: "QI_READY" in log["agent"].read_text(), 60, logs)
    for host in workers:
        net.online(host)

    # The ladder starts on 3 workers; a 4th, started with them but its network down, joins
    # once the test runs, as a pod scheduled mid-run would.
    def running(hosts: list[Host]) -> Callable[[], bool]:
        return lambda: all(_worker_of(request_rows(run_dir), h) for h in hosts)

    wait_for("the test start", lambda: bool(run_manifest(run_dir).get("test_start")), 60, logs)
    s2_start = run_manifest(run_dir)["test_start"] + STAGES[0]["hold_s"]
    wait_for("rows from the 3 workers", running(workers), 30, logs)
    net.online(late_host)
    # Early in s2, one worker's cable is pulled: no close, no signal, just silence.
    time.sleep(max(0.0, s2_start + 0.5 - time.time()))
    cut_at = time.time()
    net.cut(cut_host)
    wait_for("rows from the late worker", running([late_host]), 15, logs)
    # The cut worker hears no master for 10 s: it stops its users and exits 1 by itself.
    assert started[2].wait(timeout=25) == 1, log[cut_host.name].read_text()[-2000:]
    assert master.wait(timeout=60) == 0, log["master"].read_text()[-3000:]
    for process in [*started[:2], late]:
        assert process.wait(timeout=15) == 0
    sidecar.send_signal(signal.SIGTERM)
    assert sidecar.wait(timeout=15) == 0, log["sidecar"].read_text()[-2000:]
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=15) == 0

    rows = request_rows(run_dir)
    manifest = run_manifest(run_dir)
    assert manifest["status"] == "complete"
    by_host = {h.name: _worker_of(rows, h) for h in [*workers, late_host]}
    assert all(len(ids) == 1 for ids in by_host.values()), by_host
    worker_id = {name: next(iter(ids)) for name, ids in by_host.items()}

    # The ladder: Locust's count plus the cancelled rows is every row; every row carries the
    # stage its start time falls in (the late worker's too; none if after the plan's end) and
    # the stage's users, but where a lost worker's users were short; s1 ran on the 3
    # workers, s3 on the 3 still there.
    final_stats = json.loads(Path(f"{final}.json").read_text())
    kinds = Counter(r["error_kind"] for r in rows)
    assert sum(int(e["num_requests"]) for e in final_stats) + kinds["cancelled"] == len(rows)
    assert manifest["counts"]["requests"] == len(rows)
    marks = {m["name"]: m for m in manifest["stages"]}
    assert list(marks) == [s["name"] for s in STAGES]
    for row in rows:
        mark = marks.get(row["stage"])
        if mark is None:  # begun after the plan's end, before the stop reached its worker
            assert float(row["ts_start"]) >= manifest["stages"][-1]["end"], row
            continue
        assert mark["start"] <= float(row["ts_start"]) < mark["end"], row
        assert int(row["users"]) == mark["users"] or float(row["ts_start"]) > cut_at, row
    ran = {name: {r["worker"] for r in rows if r["stage"] == name} for name in marks}
    assert ran["s1"] >= {worker_id[h.name] for h in workers}
    assert ran["s3"] == {worker_id[h.name] for h in [*workers[:2], late_host]}

    # The late worker: joined after the test started, took the plan and its share of users.
    joined = {w["id"]: w for w in manifest["workers"]}
    late_rows = [r for r in rows if r["worker"] == worker_id[late_host.name]]
    assert joined[worker_id[late_host.name]]["joined"] > manifest["start"]
    assert min(float(r["ts_start"]) for r in late_rows) >= joined[late_rows[0]["worker"]]["joined"]
    assert any(r["stage"] == "s3" for r in late_rows)
    assert "Unknown message type" not in log[late_host.name].read_text()

    # The cut worker is lost (no heartbeat, noticed within Locust's ~5 s); nothing of it
    # after the cut. The others' rows are complete: the agent served each of their
    # addresses exactly the requests in requests.csv (cancelled ones maybe unanswered).
    cut_id = worker_id[cut_host.name]
    assert [(w["id"], w["reason"]) for w in manifest["lost_workers"]] == [(cut_id, "heartbeat")]
    assert cut_at < manifest["lost_workers"][0]["at"] < cut_at + 10
    assert not [r for r in rows if r["worker"] == cut_id and float(r["ts_start"]) > cut_at]
    served = Counter(_ACCESS.findall(log["agent"].read_text()))
    for host in [*workers, late_host]:
        mine = [r for r in rows if r["worker"] == worker_id[host.name]]
        answered = len([r for r in mine if r["error_kind"] != "cancelled"])
        if host is cut_host:
            assert served[host.address] >= answered
        else:
            assert answered <= served[host.address] <= len(mine), (host.name, served)

    # The sidecar on the agent's host reached the master across the switch all run long;
    # every host's samples carry its own hostname.
    samples = _host_samples(run_dir)
    sut = [float(s["ts"]) for s in samples if s["role"] == "sut"]
    assert {(s["host"], s["pid"]) for s in samples if s["role"] == "sut"} == {
        (agent_host.name, str(agent.pid))
    }
    assert min(sut) < manifest["start"] + 2 and max(sut) > manifest["end"] - 2, sut
    hosts = {s["role"]: set() for s in samples}
    for s in samples:
        hosts[s["role"]].add(s["host"])
    assert hosts["master"] == {master_host.name}
    assert hosts["worker"] == {h.name for h in [*workers, late_host]}
    for path in logs:
        assert "Traceback" not in path.read_text(), path.name
