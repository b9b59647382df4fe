"""qi-load's options: one model drives Locust's parser, qi-load run's and the hand-over."""

from __future__ import annotations

import argparse

import pytest

from qi_load.cli import build_parser
from qi_load.errors import QiLoadError
from qi_load.generate.options import (
    CHAT,
    GROUPS,
    MCP,
    MONITORING,
    LoadOptions,
    add_arguments,
    flag,
    run_options,
)


def _parser(groups: list[str] | tuple[str, ...] = (*GROUPS, MCP)) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser, groups)
    return parser


def test_every_field_is_an_option_with_its_default_and_help() -> None:
    parser = _parser()
    by_dest = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    assert set(by_dest) == set(LoadOptions.model_fields)
    for name, info in LoadOptions.model_fields.items():
        assert by_dest[name].option_strings == [flag(name)]
        assert by_dest[name].help and info.description
    assert LoadOptions.from_namespace(parser.parse_args([])) == LoadOptions()


def test_values_parse_into_the_model() -> None:
    args = "--monitor-pid 7 --monitor-pid 8 --quality off --no-stream --request-timeout 30"
    parsed = _parser().parse_args([*args.split(), "--mcp-session-calls", "3"])
    options = LoadOptions.from_namespace(parsed)
    assert options.monitor_pid == [7, 8] and options.quality == "off" and options.no_stream
    assert (options.request_timeout, options.mcp_session_calls) == (30.0, 3)
    with pytest.raises(SystemExit):
        _parser().parse_args(["--quality", "strict"])


def test_a_value_of_the_wrong_type_is_one_line_naming_the_option() -> None:
    with pytest.raises(QiLoadError, match=r"^--monitor-port 'x': Input should be a valid int"):
        LoadOptions.from_namespace(argparse.Namespace(monitor_port="x"))


def test_only_changed_options_are_handed_on() -> None:
    options = LoadOptions(monitor_pid=[7], metrics_port=9100, no_preflight=True, quality="record")
    assert options.to_args(run_options()) == [
        "--monitor-pid",
        "7",
        "--metrics-port",
        "9100",
        "--no-preflight",
    ]
    assert LoadOptions().to_args(run_options()) == []


def test_qi_load_run_takes_the_run_options_under_the_same_names() -> None:
    args = build_parser().parse_args(
        ["run", "smoke", "--monitor-interval", "0.5", "--time-scale", "2", "--run-id", "r"]
    )
    options = LoadOptions.from_namespace(args)
    assert (options.monitor_interval, options.time_scale, options.run_id) == (0.5, 2.0, "r")
    # Handed on as given: the Locust master parses the same flags into the same model.
    handed = _parser().parse_args(options.to_args(run_options()))
    assert LoadOptions.from_namespace(handed).to_args(run_options()) == options.to_args(
        run_options()
    )


def test_qi_load_run_takes_the_model_and_max_tokens_a_real_server_needs() -> None:
    # The preflight's unknown-model line says "set --model": qi-load run must take it.
    args = build_parser().parse_args(
        ["run", "smoke", "--host", "http://h:1", "--model", "llama-b", "--max-tokens", "64"]
    )
    options = LoadOptions.from_namespace(args)
    assert (options.model, options.max_tokens) == ("llama-b", 64)
    assert options.to_args(run_options()) == ["--model", "llama-b", "--max-tokens", "64"]


def test_groups_select_the_options() -> None:
    chat_only = {a.dest for a in _parser([CHAT])._actions if a.option_strings} - {"help"}
    assert chat_only == {
        "model",
        "max_tokens",
        "connect_timeout",
        "first_byte_timeout",
        "request_timeout",
        "no_stream",
        "no_trace_context",
    }
    assert "monitor_interval" in {a.dest for a in _parser([MONITORING])._actions}
