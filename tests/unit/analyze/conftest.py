"""Synthetic run directories with known capacity, leak and errors, shared by analysis tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import RunData, load_run
from qi_load.analyze.stages import StageStats, analyze_stages
from qi_load.analyze.summary import Summary, analyze_run


@pytest.fixture(scope="session")
def ladder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ladder 1..16 users, 4 slots of 0.5 s, 0.5 s think: capacity reached at 8 users."""
    return write_synthetic_run(tmp_path_factory.mktemp("ladder") / "run", SyntheticRun(seed=11))


@pytest.fixture(scope="session")
def ladder(ladder_dir: Path) -> RunData:
    return load_run(ladder_dir)


@pytest.fixture(scope="session")
def ladder_stages_once(ladder: RunData) -> list[StageStats]:
    return analyze_stages(ladder)


@pytest.fixture
def ladder_stages(ladder_stages_once: list[StageStats]) -> list[StageStats]:
    """``analyze_stages(ladder)``, analysed once a session: each test gets its own copy."""
    return copy.deepcopy(ladder_stages_once)


@pytest.fixture(scope="session")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> RunData:
    spec = SyntheticRun(seed=12, leak_mb_per_min=5.0)
    return load_run(write_synthetic_run(tmp_path_factory.mktemp("leaky") / "run", spec))


@pytest.fixture(scope="session")
def slow_ladder(tmp_path_factory: pytest.TempPathFactory) -> RunData:
    """The ladder's build 40 % slower (another seed): a regression, read only."""
    spec = SyntheticRun(seed=24, slowdown=1.4)
    return load_run(write_synthetic_run(tmp_path_factory.mktemp("slow") / "run", spec))


@pytest.fixture(scope="session")
def leaky_summary(leaky: RunData) -> Summary:
    """One summary of the leaky run for the tests that only read it (read only)."""
    return analyze_run(leaky)
