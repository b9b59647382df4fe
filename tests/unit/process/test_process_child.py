"""The child-process helper with real (tiny) processes: output, readiness, stop."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from qi_load.process.child import spawn, stop_all
from qi_load.process.parent_watch import PARENT_PID_ENV


def test_log_output_and_the_parent_pid_reach_the_child(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = spawn(
        ["sh", "-c", f"echo out; echo err >&2; echo ${PARENT_PID_ENV}"], output="log", log=log
    )
    assert child.wait(10) == 0
    child.close()
    assert log.read_text().split() == ["out", "err", str(os.getpid())]


def test_pump_hands_each_line_over_and_logs_it(tmp_path: Path) -> None:
    seen: list[bytes] = []
    child = spawn(
        ["sh", "-c", "echo one; echo two >&2"],
        output="pump",
        log=tmp_path / "p.log",
        on_line=seen.append,
    )
    assert child.wait(10) == 0
    child.close()  # joins the pump
    assert sorted(seen) == [b"one\n", b"two\n"]
    assert sorted((tmp_path / "p.log").read_text().split()) == ["one", "two"]


def test_wait_ready_returns_the_rest_of_the_ready_line(tmp_path: Path) -> None:
    script = "echo starting; echo READY http://x:1; sleep 30"
    child = spawn(["sh", "-c", script], output="ready", log=tmp_path / "r.log")
    try:
        assert child.wait_ready("READY ", 10) == "http://x:1"
    finally:
        assert child.stop(5) == -signal.SIGTERM


def test_wait_ready_times_out_or_sees_the_exit(tmp_path: Path) -> None:
    silent = spawn(["sleep", "30"], output="ready")
    with pytest.raises(TimeoutError):
        silent.wait_ready("READY ", 0.02)  # it never prints: any timeout proves it fires
    silent.stop(5)
    gone = spawn(["true"], output="ready")
    with pytest.raises(EOFError):
        gone.wait_ready("READY ", 10)
    gone.stop(5)


def test_stop_kills_what_ignores_sigterm() -> None:
    stubborn = spawn(["sh", "-c", "trap '' TERM; echo ok; sleep 30"], output="ready")
    stubborn.wait_ready("ok", 10)
    started = time.monotonic()
    # The trap is set before "ok": the grace can be short, SIGTERM is ignored however long.
    assert stubborn.stop(0.02) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_stop_all_lets_children_finish_first() -> None:
    quick = spawn(["sh", "-c", "exit 3"])
    slow = spawn(["sleep", "30"])
    # `sh -c "exit 3"` is gone within ~1 ms even on this 2-core host: 0.15 s is a wide
    # margin, and `slow` makes every run wait all of it.
    stop_all([quick, slow], exit_within=0.15, term_grace=1.0)
    assert quick.returncode == 3
    assert slow.returncode == -signal.SIGTERM
