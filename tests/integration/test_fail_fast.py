"""Bad configuration stops `qi-load run` and plain Locust at once: exit 2, one line, no
traceback, nothing started (Done-when: a bad --host or --queries in under 5 s).

"At once" is checked on the CPU time a refusal costs, which tests running beside this one
barely change (0.55-0.8 s with two CPU hogs beside it: the interpreter and the CLI's
imports, compiling them on a fresh checkout). The wall-clock promise is one exclusive test:
three shards on two cores stretch a 1 s refusal towards the 5 s limit."""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path

import pytest
from qi_cli import agent_locust_command, run_qi_load

pytestmark = pytest.mark.integration

TRACEBACK = "Traceback (most recent call last)"


def _one_line_exit_2(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert TRACEBACK not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr


CPU_LIMIT_S = 3.0
"""CPU seconds a refusal may take: about 4x what it takes; more means real work started."""


def _cpu_timed(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run qi-load; the user + system CPU seconds it used (this test's only child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run_qi_load(*args, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["smoke", "--host", "ftp://x"], "--host 'ftp://x': expected an http:// or https:// URL"),
        (["smoke", "--time-scale", "inf"], "--time-scale inf: expected a finite number"),
        (["smoke", "--time-scale", "1e308"], "--time-scale 1e+308"),
        (["smoke", "--run-id", "../x"], "--run-id '../x': must be a plain directory name"),
    ],
)
def test_bad_options_exit_2_at_once(tmp_path: Path, args: list[str], expected: str) -> None:
    done, cpu = _cpu_timed("run", *args, "--out", str(tmp_path / "out"))
    _one_line_exit_2(done, expected)
    assert cpu < CPU_LIMIT_S, cpu
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def _bad_queries(tmp_path: Path) -> list[str]:
    queries = tmp_path / "q.yaml"
    queries.write_text("queries:\n  simpel: ['hi']\n")
    return ["run", "smoke", "--out", str(tmp_path / "out"), "--", "--queries", str(queries)]


def test_a_bad_queries_file_exits_2_at_once(tmp_path: Path) -> None:
    done, cpu = _cpu_timed(*_bad_queries(tmp_path))
    _one_line_exit_2(done, "q.yaml:2: queries.simpel")
    assert cpu < CPU_LIMIT_S, cpu


@pytest.mark.exclusive
def test_a_bad_host_or_queries_file_exits_in_under_5_s(tmp_path: Path) -> None:
    bad_host = ["run", "smoke", "--host", "ftp://x", "--out", str(tmp_path / "out")]
    for args in (bad_host, _bad_queries(tmp_path)):
        started = time.monotonic()
        done = run_qi_load(*args, timeout=60)
        took = time.monotonic() - started
        assert done.returncode == 2, done.stderr
        assert took < 5.0, (args, took)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stages:\n  - {users: 100000000000, hold_s: 5}\n", "is more than limits.max_users"),
        ("stages:\n  - {users: 1e11, hold_s: 5}\n", "stages[0].users: expected a valid integer"),
        ("stages:\n  - {users: 2, hold_s: .inf}\n", "stages[0].hold_s: expected a finite number"),
    ],
)
def test_absurd_scenarios_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    done, cpu = _cpu_timed("run", _scenario(tmp_path, text), "--out", str(tmp_path / "out"))
    _one_line_exit_2(done, expected)
    assert cpu < CPU_LIMIT_S, cpu


def test_plain_locust_refuses_a_bad_host_and_queries_file(tmp_path: Path) -> None:
    queries = tmp_path / "q.yaml"
    queries.write_text("queries: [\n")
    for args, expected in (
        (["-H", "ftp://x"], "--host 'ftp://x'"),
        (["-H", "http://127.0.0.1:9", "--queries", str(queries)], "q.yaml:2:1: invalid YAML"),
    ):
        done = subprocess.run(
            agent_locust_command(*args, "--scenario", "smoke", "--no-preflight"),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert TRACEBACK not in output
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and expected in errors[0], output
        assert not (tmp_path / "reports").exists()
