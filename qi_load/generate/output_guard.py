"""A failed write to the run directory (disk full, unwritable path) stops the run at once.

Without it the writer's error surfaced only at quit, with tracebacks, and ``run.json`` stayed
``running``. Now the first failed write prints one line naming the path, and the run stops
with exit code 1: ``run.json`` is finalized when the disk takes it, else its last good
version stays (never a lone temporary file).
"""

from __future__ import annotations

import sys
from typing import Any, Final

import gevent

from qi_load.errors import OutputError
from qi_load.record.rundir import OnOutputError

__all__ = ["OUTPUT_FAILURE_EXIT", "OUTPUT_FAILURE_PREFIX", "stop_run_on_output_error"]

OUTPUT_FAILURE_PREFIX: Final = "qi-load output error:"
"""Start of the one line a failed write leaves on stderr."""
OUTPUT_FAILURE_EXIT: Final = 1
"""The Locust process's exit code after it (a failure outside the user's input)."""


def stop_run_on_output_error(qi: Any) -> OnOutputError:
    """A run directory's ``on_error``: note the first failure on ``qi.output_error``, say it
    once, and quit the runner (in its own greenlet: the writer may be inside a listener)."""

    def on_error(error: OutputError) -> None:
        if qi.output_error is not None:
            return
        qi.output_error = error
        print(f"{OUTPUT_FAILURE_PREFIX} {error}; stopping the run", file=sys.stderr, flush=True)
        environment = qi.environment
        environment.process_exit_code = OUTPUT_FAILURE_EXIT
        if environment.runner is not None:
            gevent.spawn(environment.runner.quit)

    return on_error
