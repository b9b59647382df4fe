"""A synthetic run whose target-controlled strings carry markup, for escaping tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="session")
def evil_text() -> str:
    return EVIL


@pytest.fixture(scope="session")
def evil_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SyntheticRun(
        seed=41,
        users=(1, 4, 16),
        hold_s=30,
        leak_mb_per_min=5.0,
        query_types=("simple", EVIL),
        slos={EVIL: {"e2e_p95_ms": 100.0}},
        failure_text=f"HTTPError 500: {EVIL}",
    )
    root = write_synthetic_run(tmp_path_factory.mktemp("evil") / "run", spec)
    manifest = json.loads((root / "run.json").read_text())
    manifest["target_url"] = f"http://127.0.0.1:1/{EVIL}"
    manifest["stages"][0]["name"] = f"stage{EVIL}"
    (root / "run.json").write_text(json.dumps(manifest))
    return root
