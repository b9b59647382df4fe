"""No module of ``qi_load.generate`` keeps state in a global: after a real Locust run (local,
headless, scenario, progress lines) every global is a constant, unchanged by the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from module_state import fingerprints, state_globals
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration

PROBE = Path(__file__).resolve().parent / "locustfiles" / "globals_probe.py"


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slots", "16"]) as running:
        yield running


def test_the_check_finds_state_in_a_module() -> None:
    module = types.ModuleType("qi_load.generate.fake")
    module.__dict__.update(
        __annotations__={"TABLE": "Final[dict[str, int]]"},
        LIMIT=3,
        NAMES=("a", "b"),
        TABLE={"a": 1},
        _CACHE={},
        _IDS=iter(range(3)),
    )
    before = fingerprints([module])[module.__name__]
    assert state_globals(module, before) == [
        "qi_load.generate.fake._CACHE: holds a dict",
        "qi_load.generate.fake._IDS: holds a range_iterator",
    ]
    module.TABLE["b"] = 2  # a Final constant changed by the run is state too
    module.LIMIT = 4
    assert state_globals(module, before)[:2] == [
        "qi_load.generate.fake.LIMIT: changed while Locust ran",
        "qi_load.generate.fake.TABLE: changed while Locust ran",
    ]


def test_no_generate_module_holds_state_after_a_run(target: TargetProcess, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "globals", [{"name": "one", "users": 2, "hold_s": 3}])
    out = tmp_path / "globals.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(PROBE),
            "--headless",
            "-H",
            target.url,
            "--scenario",
            str(scenario),
            "--run-dir",
            str(tmp_path / "run"),
            "--qi-progress",
            "1",
        ],
        cwd=tmp_path,
        env={**os.environ, "QI_GLOBALS_OUT": str(out)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = (tmp_path / "run" / "requests.csv").read_text().splitlines()
    assert len(rows) > 1  # the users did run
    found = json.loads(out.read_text())
    assert found == [], "\n".join(found)
