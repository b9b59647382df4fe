"""The ``qi-load`` command line: parse arguments and hand over to one library entry point."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Protocol, cast

from qi_load import __version__
from qi_load.errors import QiLoadError, RunFailed

__all__ = [
    "COMMANDS",
    "EXIT_CHECK_FAILED",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "exit_code_for",
    "exit_code_for_status",
    "main",
]

EXIT_OK = 0
EXIT_ERROR = 1
"""A run or command failed for a reason outside the user's input (``RunFailed``)."""
EXIT_USAGE = 2
"""Bad input: a scenario, option or file the user gave is wrong (``QiLoadError``)."""
EXIT_CHECK_FAILED = 3
"""``--check`` / ``compare``: an SLO, target, alert or regression gate failed, or ``--check``
found a verdict NOT JUDGED (no stage had enough requests)."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C or SIGTERM (the shell's 128 + SIGINT)."""


def exit_code_for(exc: QiLoadError) -> int:
    """The exit code of an error kind (the one place the mapping lives)."""
    return EXIT_ERROR if isinstance(exc, RunFailed) else EXIT_USAGE


def exit_code_for_status(status: str) -> int:
    """The exit code of a run that ended with ``status`` (run.json's)."""
    return {"complete": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(status, EXIT_ERROR)


# Subcommand name -> module in qi_load.commands. Each module is light to import and
# defines HELP, add_arguments(parser) and run(args) -> int; heavy imports happen in run().
COMMANDS: dict[str, str] = {
    "run": "qi_load.commands.run",
    "target": "qi_load.commands.target",
    "report": "qi_load.commands.report",
    "compare": "qi_load.commands.compare",
    "monitor": "qi_load.commands.monitor",
    "startup": "qi_load.commands.startup",
    "toolchain": "qi_load.commands.toolchain",
}


class CommandModule(Protocol):
    HELP: str
    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> CommandModule:
    return cast(CommandModule, importlib.import_module(COMMANDS[name]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qi-load",
        description="Load and performance benchmarks for AI agent services, on Locust.",
    )
    parser.add_argument("--version", action="version", version=f"qi-load {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        command_parser = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command_parser)
        command_parser.set_defaults(_command=name)
    return parser


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """``run … -- ARGS``: argparse cannot place positionals after options and ``--`` once a
    positional was seen, so a command that passes arguments on takes them off first."""
    if len(argv) >= 1 and argv[0] in COMMANDS and "--" in argv:
        module = _load(argv[0])
        if getattr(module, "PASSTHROUGH", False):
            cut = argv.index("--")
            return argv[:cut], argv[cut + 1 :]
    return argv, []


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    own, passthrough = _split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(own)
    args.passthrough = passthrough
    if getattr(args, "_command", None) is None:
        parser.print_help()
        return EXIT_USAGE
    # SIGTERM (timeout, CI, Kubernetes) takes Ctrl-C's path; commands that handle signals
    # themselves (run, target, monitor, startup, toolchain) install their own handlers.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _load(args._command).run(args)
    except QiLoadError as exc:
        print(f"qi-load {args._command}: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print(f"qi-load {args._command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
