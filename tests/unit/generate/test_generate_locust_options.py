"""qi-load's Locust options: LOCUST_* variables, and --scenario telling the shape about -u/-r/-t."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import configargparse
import pytest

from qi_load.generate.locust_options import add_arguments, with_env_vars
from qi_load.generate.shape_wiring import QiShape


@pytest.fixture
def parser() -> Iterator[configargparse.ArgumentParser]:
    saved = QiShape.use_common_options
    parser = configargparse.ArgumentParser()
    with_env_vars(add_arguments)(parser)
    yield parser
    QiShape.use_common_options = saved


def _parse(parser: configargparse.ArgumentParser, args: list[str], env: dict[str, str]) -> Any:
    return parser.parse_args(args, env_vars=env)


def test_every_option_reads_its_locust_variable(parser: configargparse.ArgumentParser) -> None:
    env = {"LOCUST_SCENARIO": "smoke", "LOCUST_RUN_DIR": "out/x", "LOCUST_QI_REPORT": "true"}
    options = _parse(parser, [], env)
    assert (options.scenario, options.run_dir, options.qi_report) == ("smoke", "out/x", True)
    assert _parse(parser, ["--run-dir", "cli"], env).run_dir == "cli"  # the command line wins


def test_a_scenario_makes_the_shape_override_users_and_run_time(
    parser: configargparse.ArgumentParser,
) -> None:
    _parse(parser, [], {})
    assert QiShape.use_common_options  # no scenario: the shape is dropped, no warning
    _parse(parser, [], {"LOCUST_SCENARIO": "smoke"})
    assert not QiShape.use_common_options  # Locust warns that -u/-r/-t are ignored
