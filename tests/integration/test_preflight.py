"""Preflight against real servers: `qi-load run` and plain Locust stop a misconfigured run in
seconds with one line (cause and fix), and `qi-load run --monitor-pid/--monitor-name`."""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from qi_cli import qi_load_command, run_qi_load

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LIMIT_S = 5.0
"""Done-when: a misconfigured target ends the run within 5 s of the command's start."""
PREFLIGHT_BUDGET_S = 2.5
"""What the check may add to Locust's own start-up (plain Locust cannot beat that)."""
LOCUST_STARTED = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] .*Starting Locust", re.M)


@pytest.fixture
def fake() -> Iterator[Callable[[str], str]]:
    """``fake(mode)``: a preflight_server.py child in that mode; its base URL."""
    started: list[subprocess.Popen[str]] = []

    def start(mode: str) -> str:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "preflight_server.py"), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), line
        return line.split()[1]

    try:
        yield start
    finally:
        for process in started:
            process.terminate()
            process.wait(5)


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slowdown", "0.3"]) as running:
        yield running


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _tiny_scenario(tmp_path: Path) -> Path:
    """A 3 s run (Locust's -t is not honoured under a shape without a scenario)."""
    path = tmp_path / "tiny.yaml"
    body = {
        "name": "tiny",
        "think_time": {"kind": "constant", "seconds": 0.2},
        "stages": [{"name": "one", "users": 1, "hold_s": 3}],
    }
    path.write_text(json.dumps(body))  # JSON is YAML
    return path


def _counts(url: str) -> dict[str, Any]:
    from urllib.request import urlopen

    with urlopen(f"{url}/_count", timeout=5) as response:
        counts: dict[str, Any] = json.load(response)
        return counts


def _posts(url: str) -> int:
    return int(_counts(url)["posts"])


def _plain_locust(
    url: str,
    cwd: Path,
    *extra: str,
    locustfile: str = "agent.py",
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """The finished Locust process, its seconds from start to exit and its time limit."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "locustfiles" / locustfile),
        "--headless",
        "-H",
        url,
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "30s",
        "--run-dir",
        str(cwd / "run"),
        *extra,
    ]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd, env=env)
    return done, time.time() - started, _plain_limit(done.stderr, started)


def _plain_limit(stderr: str, started: float) -> float:
    """Plain Locust's limit: 5 s, or, on a machine so loaded that Locust alone took more than
    2.5 s to start in this very run (its "Starting Locust" line), the check's budget on top."""
    match = LOCUST_STARTED.search(stderr)
    assert match, stderr
    locust_started = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return max(LIMIT_S, locust_started - started + PREFLIGHT_BUDGET_S)


def _qi_run(
    url: str, out: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        qi_load_command("run", "smoke", "--host", url, "--out", str(out), *extra),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    return done, time.monotonic() - started


CASES = {
    "closed port": (
        "",
        "connection refused at {url}/v1/chat/completions — is the agent running? check --host",
    ),
    "wrong path": (
        "notfound",
        "HTTP 404 for POST {url}/v1/chat/completions — check the base URL (--host should be "
        "the server root, e.g. {url})",
    ),
    "no key": ("auth", "HTTP 401 from POST {url}/v1/chat/completions — set QI_LOAD_API_KEY"),
    "not sse": (
        "html",
        "not an event stream (content-type text/html) from POST {url}/v1/chat/completions",
    ),
    "unknown model": ("model", "model 'qi-agent' not found — the server lists: llama-a, llama-b"),
}


def _env_without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("QI_LOAD_API_KEY", "OPENAI_API_KEY")}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("entry", ["qi-load run", "plain locust"])
def test_a_misconfigured_target_stops_the_run_in_seconds(
    case: str, entry: str, fake: Callable[[str], str], tmp_path: Path
) -> None:
    mode, expected = CASES[case]
    url = fake(mode) if mode else _closed_port_url()
    env = _env_without_keys()
    if entry == "qi-load run":
        done, elapsed = _qi_run(url, tmp_path / "out", env=env)
        limit = LIMIT_S  # qi-load run checks before it starts Locust
        line = f"qi-load run: error: {expected.format(url=url)}"
        # Nothing ran: the run directory opened for the Locust logs is gone again.
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    else:
        done, elapsed, limit = _plain_locust(url, tmp_path, env=env)
        line = f"qi-load preflight: {expected.format(url=url)}"
        assert not (tmp_path / "run").exists() and not (tmp_path / "reports").exists()
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert elapsed < limit, (elapsed, limit, output)
    assert any(err.startswith(line) for err in done.stderr.splitlines()), output
    assert "Traceback" not in output
    if mode:
        assert _posts(url) == 1  # the one preflight request: no ladder ran


def test_qi_load_run_takes_the_model_and_max_tokens_a_server_needs(
    fake: Callable[[str], str], tmp_path: Path
) -> None:
    # The fix the unknown-model line names (set --model) works on qi-load run itself, and
    # the preflight sends what the users send.
    url = fake("model")
    done, _ = _qi_run(
        url, tmp_path / "out", "--model", "llama-b", "--max-tokens", "7",
        "--time-scale", "0.25", "--no-report",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"[qi-load] preflight ok: chat {url}/v1/chat/completions" in done.stdout
    assert _counts(url)["seen"] == [["llama-b", 7]]
    assert _posts(url) > 1  # the run's requests, not only the preflight's


def test_server_errors_are_tried_again_before_they_count(
    fake: Callable[[str], str], tmp_path: Path
) -> None:
    failing = fake("error")
    done, elapsed = _qi_run(failing, tmp_path / "a")
    assert done.returncode == 2 and elapsed < LIMIT_S, done.stderr
    assert (
        f"qi-load run: error: HTTP 500 from POST {failing}/v1/chat/completions: "
        '{"error": {"message": "engine crashed"}} — the agent fails requests; check its logs'
    ) in done.stderr
    assert _posts(failing) == 3
    flaky = fake("flaky")
    done, _ = _qi_run(flaky, tmp_path / "b", "--time-scale", "0.25", "--no-report")
    assert f"[qi-load] preflight ok: chat {flaky}/v1/chat/completions" in done.stdout, done.stderr


def test_a_refused_key_is_named_never_printed(fake: Callable[[str], str], tmp_path: Path) -> None:
    url = fake("auth")
    env = {**_env_without_keys(), "QI_LOAD_API_KEY": "wrong-secret-4711"}
    done, _ = _qi_run(url, tmp_path / "out", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "the API key in QI_LOAD_API_KEY was refused; check it" in done.stderr
    assert "wrong-secret-4711" not in output
    # The right key passes the check; then the run itself starts.
    env["QI_LOAD_API_KEY"] = "good-key"
    done, _, _ = _plain_locust(url, tmp_path, "--scenario", str(_tiny_scenario(tmp_path)), env=env)
    assert "[qi-load] preflight ok: chat " in done.stdout, done.stdout + done.stderr
    assert "good-key" not in done.stdout + done.stderr
    assert (tmp_path / "run" / "requests.csv").exists()


def test_an_mcp_run_checks_the_mcp_endpoint(fake: Callable[[str], str], tmp_path: Path) -> None:
    url = fake("notfound")
    done, elapsed, limit = _plain_locust(url, tmp_path, locustfile="mcp.py")
    assert done.returncode == 2, done.stderr
    assert elapsed < limit, (elapsed, limit)
    expected = f"qi-load preflight: HTTP 404 for MCP initialize at {url}/mcp — check --mcp-url"
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert _posts(url) == 1


def test_qi_load_run_leaves_an_unknown_locustfile_to_the_master(
    fake: Callable[[str], str], tmp_path: Path
) -> None:
    # Only the master knows which protocols a locustfile's users speak: it checks, and
    # qi-load run passes its one line on and removes the run directory it had opened.
    url = fake("notfound")
    out = tmp_path / "out"
    done, _ = _qi_run(
        url, out, "--locustfile", str(ROOT / "locustfiles" / "mcp.py"), "--workers", "1"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    expected = f"qi-load run: error: HTTP 404 for MCP initialize at {url}/mcp — check --mcp-url"
    assert expected in done.stderr and "Traceback" not in output
    assert not any(out.iterdir())
    assert _posts(url) == 1


def test_no_preflight_skips_the_check(fake: Callable[[str], str], tmp_path: Path) -> None:
    url = fake("notfound")
    done, _, _ = _plain_locust(
        url, tmp_path, "--scenario", str(_tiny_scenario(tmp_path)), "--no-preflight"
    )
    assert "qi-load preflight" not in done.stderr
    assert (tmp_path / "run" / "run.json").exists()
    assert _posts(url) > 1  # the run's own (failing) requests


def test_the_reference_agent_passes(target: TargetProcess, tmp_path: Path) -> None:
    done, _, _ = _plain_locust(target.url, tmp_path, "--scenario", str(_tiny_scenario(tmp_path)))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        f"[qi-load] preflight ok: chat {target.url}/v1/chat/completions: HTTP 200 text/event-stream"
        in done.stdout
    )
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "complete"


def test_monitor_targets_that_do_not_exist_exit_2(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    done = run_qi_load(
        "run", "smoke", "--monitor-pid", str(gone.pid), "--out", str(tmp_path), timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"qi-load run: error: --monitor-pid {gone.pid}: no such process"
    done = run_qi_load(
        "run",
        "smoke",
        "--monitor-name",
        "no-such-process-qi-7f3a",
        "--out",
        str(tmp_path),
        timeout=30,
    )
    assert done.returncode == 2
    assert "--monitor-name 'no-such-process-qi-7f3a': no running process" in done.stderr
    assert not any(tmp_path.iterdir())


def test_monitor_pid_and_name_sample_the_agent_as_sut(
    target: TargetProcess, tmp_path: Path
) -> None:
    marker = f"qi-preflight-sut-{os.getpid()}"
    sleeper = "import time; time.sleep(120)"
    by_pid = subprocess.Popen([sys.executable, "-c", sleeper])
    by_name = subprocess.Popen([sys.executable, "-c", sleeper, marker])
    scenario = _tiny_scenario(tmp_path)
    try:
        done = run_qi_load(
            "run",
            str(scenario),
            "--host",
            target.url,
            "--out",
            str(tmp_path / "out"),
            "--no-report",
            "--monitor-pid",
            str(by_pid.pid),
            "--monitor-name",
            marker,
            timeout=120,
        )
    finally:
        for process in (by_pid, by_name):
            process.kill()
            process.wait()
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next((tmp_path / "out").iterdir())
    with (run_dir / "host_samples.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    sut = {int(r["pid"]) for r in rows if r["role"] == "sut"}
    assert sut == {by_pid.pid, by_name.pid}, sut
    assert sum(1 for r in rows if r["role"] == "sut") >= 4
