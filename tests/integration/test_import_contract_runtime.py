"""The import contract in a fresh interpreter: what the live parts load, third-party included.

The static rules (cycles, the agent's closure, qi_load's own imports) are checked on the
source by tests/unit/test_import_contract.py; only a real interpreter sees what third-party
libraries pull in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Locust processes import these parts; the report's libraries would slow every worker's start.
LIVE = ("generate", "record", "monitor")
# The report and compare commands load their libraries inside run(), not at import.
LAZY_COMMANDS = ("qi_load.commands.report", "qi_load.commands.compare")


def _live_modules() -> list[str]:
    names = []
    for part in LIVE:
        for path in sorted((REPO / "qi_load" / part).glob("*.py")):
            stem = "" if path.stem == "__init__" else f".{path.stem}"
            names.append(f"qi_load.{part}{stem}")
    return names


def test_live_parts_load_no_heavy_library_in_a_fresh_interpreter() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {LAZY_COMMANDS!r}: importlib.import_module(m)\n"
        "lazy = sorted(m for m in ('pandas', 'matplotlib', 'numpy') if m in sys.modules)\n"
        f"for m in {_live_modules()!r}: importlib.import_module(m)\n"
        "live = sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules)\n"
        "print(lazy, live)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "[]"]
