"""qi-load's options in Locust's parser (each also read from its ``LOCUST_<NAME>`` variable)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from qi_load.generate import monitoring
from qi_load.generate.quality import add_quality_arguments
from qi_load.generate.shape_wiring import QiShape
from qi_load.generate.shared_options import (
    add_chat_options,
    add_preflight_option,
    add_queries_option,
    add_run_id_option,
    add_time_scale_option,
)

__all__ = ["add_arguments", "with_env_vars"]


class _ScenarioAction(argparse.Action):
    """Stores ``--scenario`` and tells the shape, while Locust parses its options (from the
    command line, ``LOCUST_SCENARIO`` or a config file): Locust decides right after parsing,
    before any event, whether to warn that a shape overrides ``-u/-r/-t``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        QiShape.use_common_options = not values


def with_env_vars(add: Callable[[Any], None]) -> Callable[..., None]:
    """An ``init_command_line_parser`` listener: ``add(parser)`` adds options, and each gets
    its ``LOCUST_<NAME>`` variable (as Locust's own have; config files need nothing)."""

    def listener(parser: Any, **_kw: Any) -> None:
        first = len(parser._actions)
        add(parser)
        for action in parser._actions[first:]:
            if action.option_strings and getattr(action, "env_var", None) is None:
                action.env_var = "LOCUST_" + action.dest.upper()

    return listener


def add_arguments(parser: Any) -> None:
    """Add every qi-load option (run, monitoring, chat, quality) to Locust's parser."""
    monitoring.add_arguments(parser)
    group = parser.add_argument_group("qi-load")
    add_preflight_option(group)
    group.add_argument(
        "--scenario",
        default="",
        action=_ScenarioAction,
        help="qi-load scenario: a YAML file or a packaged name (e.g. quick-ladder); its "
        "shape then sets users and duration. Without it, Locust's -u/-r/-t drive the run "
        "with an even query-type mix.",
    )
    group.add_argument(
        "--qi-report",
        action="store_true",
        default=False,
        help="Render the report (qi-load report) when Locust quits",
    )
    group.add_argument(
        "--run-dir",
        default="",
        help="Run directory to write (default: reports/<run-id>/)",
    )
    add_run_id_option(group)
    add_time_scale_option(group)
    group.add_argument(
        "--qi-progress",
        type=float,
        default=0.0,
        help="Print a progress line every N seconds (0: off)",
    )
    add_queries_option(group)
    add_quality_arguments(group)
    add_chat_options(group)
