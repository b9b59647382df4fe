"""`qi-load toolchain`: the shipped example end to end; a failing step stops with a clear error."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from qi_cli import run_qi_load

pytestmark = pytest.mark.integration


def _toolchain(*args: str) -> subprocess.CompletedProcess[str]:
    return run_qi_load("toolchain", *args, timeout=120)


def test_shipped_example_reports_speedups_with_intervals(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = _toolchain("--example", "-n", "2", "--warmup", "0", "--out", str(tmp_path))
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60.0
    doc = json.loads((tmp_path / "toolchain.json").read_text())
    assert doc["settings"] == {"iterations": 2, "warmup": 0, "confidence": 0.95}
    assert [c["name"] for c in doc["comparisons"]] == ["build", "syntax-check", "tests"]
    for comparison in doc["comparisons"]:
        ratio = comparison["speedup"]
        assert 0 < ratio["low"] <= ratio["high"]
        means = [comparison[side]["wall_s"]["mean"] for side in ("baseline", "candidate")]
        assert ratio["factor"] == pytest.approx(means[0] / means[1])
        for side in ("baseline", "candidate"):
            runs = comparison[side]["iterations"]
            assert len(runs) == 2 and comparison[side]["warmup"] == []
            assert all(r["wall_s"] > 0 and r["cpu_s"] > 0 for r in runs)
            assert all(r["peak_rss_bytes"] > 1_000_000 for r in runs)
        assert f"{comparison['name']}: candidate is" in proc.stdout
    # unittest starts one interpreter where pytest loads its plugins: a large, certain gap.
    tests = doc["comparisons"][2]
    assert tests["speedup"]["low"] > 2.0
    assert (tmp_path / "toolchain.png").read_bytes()[:4] == b"\x89PNG"


def test_reset_runs_between_iterations_and_order_alternates(tmp_path: Path) -> None:
    log = tmp_path / "steps.log"
    config = tmp_path / "order.yaml"
    config.write_text(
        f"""
iterations: 2
warmup: 1
comparisons:
  - name: order
    cwd: "{{config_dir}}"
    prepare: echo prepare >> {log}
    a: echo a >> {log}
    b: ["/bin/sh", "-c", "echo b >> {log}"]
    reset: echo reset >> {log}
"""
    )
    proc = _toolchain(str(config), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    steps = log.read_text().split()
    commands = [s for s in steps if s in ("a", "b")]
    assert commands == ["a", "b", "b", "a", "a", "b"]
    assert steps == [x for c in commands for x in ("prepare", c, "reset")]
    doc = json.loads((tmp_path / "out" / "toolchain.json").read_text())
    assert len(doc["comparisons"][0]["baseline"]["warmup"]) == 1


def test_failing_command_names_comparison_and_side(tmp_path: Path) -> None:
    config = tmp_path / "fail.yaml"
    config.write_text(
        "comparisons:\n  - name: broken\n    a: 'true'\n    b: echo oops >&2; exit 3\n"
    )
    proc = _toolchain(str(config), "-n", "1", "--warmup", "0", "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "broken/candidate: `/bin/sh -c 'echo oops >&2; exit 3'` exited with code 3" in (
        proc.stderr
    )
    assert "oops" in proc.stderr
    assert not (tmp_path / "o" / "toolchain.json").exists()
