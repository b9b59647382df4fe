"""No orphans: a killed parent takes its children along; a worker without master exits 1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from processes import free_port
from qi_cli import agent_locust_command, gone, qi_load_command
from scenario_file import write_scenario

from qi_load.generate.master_watch import MASTER_SILENCE_S

pytestmark = pytest.mark.integration


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; whatever they left behind is killed by PID at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    seen: list[int] = []
    try:
        yield processes
    finally:
        for process in processes:
            with contextlib.suppress(psutil.Error):
                seen += [child.pid for child in psutil.Process(process.pid).children(True)]
            process.kill()
            process.wait(10)
        _kill_all(seen)


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _with_arg(processes: list[psutil.Process], arg: str) -> list[psutil.Process]:
    found = []
    for proc in processes:
        try:
            if arg in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_kill_9_of_qi_load_run_leaves_no_process_behind(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    scenario = write_scenario(tmp_path, "orphans", [{"name": "hold", "users": 2, "hold_s": 120}])
    run = subprocess.Popen(
        qi_load_command("run", str(scenario), "--out", str(tmp_path / "runs"), "--workers", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started.append(run)
    # The embedded agent, the master and its worker, all serving the run.
    _wait_for(lambda: len(_with_arg(_descendants(run.pid), "--worker")) == 1, 90)
    _wait_for(lambda: len(_with_arg(_descendants(run.pid), "--master")) == 1, 30)
    _wait_for(lambda: len(_with_arg(_descendants(run.pid), "target")) == 1, 30)
    family = _descendants(run.pid)
    assert len(family) >= 3
    os.kill(run.pid, signal.SIGKILL)
    run.wait(10)
    killed = time.monotonic()
    _wait_for(lambda: all(gone(proc.pid) for proc in family), 5.0)
    assert time.monotonic() - killed < 5.0


def test_a_child_whose_parent_dies_leaves_by_its_own_watch(
    started: list[subprocess.Popen[bytes]],
) -> None:
    # No parent-death signal here: the agent's parent-pid watch alone must notice.
    code = (
        "import sys\n"
        "from qi_load.process.child import spawn\n"
        "child = spawn([sys.executable, '-m', 'qi_load', 'target', '--port', '0'],"
        " output='ready', death_signal=None)\n"
        "print(child.wait_ready('QI_READY ', 60), child.pid, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    started.append(parent)  # type: ignore[arg-type]
    assert parent.stdout is not None
    url, pid = parent.stdout.readline().decode().split()
    agent = psutil.Process(int(pid))
    parent.kill()
    parent.wait(10)
    killed = time.monotonic()
    _wait_for(lambda: gone(agent.pid), 5.0)
    assert time.monotonic() - killed < 5.0, url


def test_a_locust_process_whose_parent_dies_leaves_by_its_own_watch(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    from qi_load.agent.launch import start_target

    scenario = write_scenario(tmp_path, "watch", [{"name": "hold", "users": 1, "hold_s": 120}])
    with start_target(["--timing", "all=20,2,8"]) as agent:
        command = agent_locust_command(
            "-H", agent.url, "--scenario", str(scenario), "--run-dir", str(tmp_path / "run")
        )
        code = (
            "import sys\n"
            "from pathlib import Path\n"
            "from qi_load.process.child import spawn\n"
            f"child = spawn({command!r}, death_signal=None, output='log', log=Path(sys.argv[1]))\n"
            "print(child.pid, flush=True)\n"
            "import time; time.sleep(600)\n"
        )
        parent = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "locust.log")], stdout=subprocess.PIPE
        )
        started.append(parent)
        assert parent.stdout is not None
        locust = psutil.Process(int(parent.stdout.readline()))
        _wait_for(lambda: (tmp_path / "run" / "requests.csv").exists(), 90)
        parent.kill()
        parent.wait(10)
        killed = time.monotonic()
        _wait_for(lambda: gone(locust.pid), 5.0)
        assert time.monotonic() - killed < 5.0
    assert "Locust: the process that started it is gone" in (tmp_path / "locust.log").read_text()


def test_a_worker_that_loses_its_master_stops_and_exits_1(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    from qi_load.agent.launch import start_target

    scenario = write_scenario(tmp_path, "lost", [{"name": "hold", "users": 2, "hold_s": 120}])
    with start_target(["--timing", "all=20,2,8"]) as agent:
        port = str(free_port())
        master = subprocess.Popen(
            agent_locust_command(
                "-H",
                agent.url,
                "--scenario",
                str(scenario),
                "--run-dir",
                str(tmp_path / "run"),
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                port,
                "--expect-workers",
                "1",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(master)
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                agent_locust_command(
                    "-H",
                    agent.url,
                    "--scenario",
                    str(scenario),
                    "--worker",
                    "--master-host",
                    "127.0.0.1",
                    "--master-port",
                    port,
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(worker)
        _wait_for(lambda: (tmp_path / "run" / "requests.csv").exists(), 90)
        time.sleep(3)  # users at work
        master.kill()
        master.wait(10)
        killed = time.monotonic()
        code = worker.wait(MASTER_SILENCE_S + 30)
        took = time.monotonic() - killed
    text = log.read_text(errors="replace")
    assert code == 1, text[-2000:]
    assert took < MASTER_SILENCE_S + 10, took
    assert "no heartbeat from the master" in text
