"""The child's side: which parent adopted us, and whether it is still there."""

from __future__ import annotations

import os

import pytest

from qi_load.process.parent_watch import PARENT_PID_ENV, adopted_parent, parent_gone


def test_the_parent_pid_is_read_once_and_not_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT_PID_ENV, str(os.getppid()))
    assert adopted_parent() == os.getppid()
    assert PARENT_PID_ENV not in os.environ
    assert adopted_parent() is None


@pytest.mark.parametrize("value", ["", "x", "1", "0", "-5"])
def test_no_usable_parent_pid_means_no_watch(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PARENT_PID_ENV, value)
    assert adopted_parent() is None


def test_parent_gone_compares_with_the_current_parent() -> None:
    assert not parent_gone(os.getppid())
    assert parent_gone(os.getppid() + 1)
