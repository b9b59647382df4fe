"""qi-load's options in Locust's parser (each also read from its ``LOCUST_<NAME>`` variable)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from qi_load.generate import options
from qi_load.generate.shape_wiring import QiShape

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
    """Add every qi-load option of an agent locustfile (``options.GROUPS``) to Locust's."""
    options.add_arguments(parser, options.GROUPS, actions={"scenario": _ScenarioAction})
