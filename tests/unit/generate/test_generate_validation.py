"""Start-up checks of run options: one ConfigError line each, before any process starts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from qi_load.errors import ConfigError
from qi_load.generate.validation import (
    check_host,
    check_locust_args,
    check_options,
    check_run_id,
)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "got scheme 'ftp'"),
        ("127.0.0.1:8000", "got no scheme"),
        ("localhost", "got no scheme"),
        ("http://", "no host name"),
        ("http://h:99999", "port is not a number"),
    ],
)
def test_bad_hosts_are_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        check_host(url)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"--host {url!r}")


def test_good_hosts_pass() -> None:
    for url in ("http://127.0.0.1:8000", "https://agent.example/v1", "http://[::1]:80"):
        check_host(url)


@pytest.mark.parametrize("run_id", ["../x", "a/b", "..", ".", "a\\b"])
def test_run_id_cannot_leave_out(run_id: str) -> None:
    with pytest.raises(ConfigError, match="plain directory name inside --out"):
        check_run_id(run_id)


def test_plain_run_ids_pass() -> None:
    for run_id in ("", "run-1", "2026.12.07_a"):
        check_run_id(run_id)


@pytest.mark.parametrize(
    ("dest", "value", "message"),
    [
        ("time_scale", float("inf"), "--time-scale inf: expected a finite number"),
        ("time_scale", float("nan"), "--time-scale nan"),
        ("time_scale", 1e308, "<= 1e\\+06"),
        ("time_scale", -1.0, ">= 0"),
        ("request_timeout", 0.0, "--request-timeout 0: expected a finite number > 0"),
        ("metrics_port", 70000, "--metrics-port 70000"),
    ],
)
def test_numbers_are_finite_and_bounded(dest: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_options(argparse.Namespace(**{dest: value}))


def test_a_bad_queries_file_is_found_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "q.yaml"
    bad.write_text("queries:\n  simpel: ['x']\n")
    with pytest.raises(ConfigError, match=r"q.yaml:2: queries.simpel"):
        check_locust_args(["--queries", str(bad), "--loglevel", "INFO"])
    with pytest.raises(ConfigError, match="query catalogue file not found"):
        check_locust_args(["--queries", str(tmp_path / "none.yaml")])


def test_locust_args_that_do_not_parse_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"after --: .*--request-timeout"):
        check_locust_args(["--request-timeout", "soon"])
    with pytest.raises(ConfigError, match="--mcp-url 'ws://x'"):
        check_locust_args(["--mcp-url", "ws://x"])
