"""`qi-load monitor`: placeholder until its issue lands."""

from __future__ import annotations

import argparse

from qi_load.errors import EXIT_ERROR, QiLoadError

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "monitor (not implemented yet)"
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    raise QiLoadError("not implemented yet", exit_code=EXIT_ERROR)
