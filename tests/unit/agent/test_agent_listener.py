"""The listening socket's limits: connections left by the descriptor limit, one-line notices."""

from __future__ import annotations

import pytest

from qi_load.agent.listener import FD_RESERVE, bind, connection_capacity
from qi_load.agent.notice import Notice
from qi_load.errors import QiLoadError


def test_connections_are_bounded_by_the_descriptors_left() -> None:
    assert connection_capacity(10_000, 1_048_576) == 10_000
    assert connection_capacity(10_000, 1024) == 1024 - FD_RESERVE
    assert connection_capacity(10_000, 10) == 1


def test_a_taken_port_is_one_line() -> None:
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(QiLoadError, match=f"cannot bind 127.0.0.1:{port}"):
            bind("127.0.0.1", port)


def test_a_notice_prints_once_per_interval_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    notice = Notice(interval_s=3600)
    assert notice.say("out of descriptors")
    assert not notice.say("out of descriptors")
    assert not notice.say("out of descriptors")
    assert capsys.readouterr().err == "qi-load target: out of descriptors\n"
    notice.interval_s = 0
    assert notice.say("out of descriptors")
    assert "(and 2 more times in the last" in capsys.readouterr().err
