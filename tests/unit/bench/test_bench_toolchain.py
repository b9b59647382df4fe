"""Placeholders, argv building, the toolchain document and table, and both plots."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from qi_load.bench.plots import plot_startup, plot_toolchain
from qi_load.bench.startup import StartupRun
from qi_load.bench.startup_report import startup_document
from qi_load.bench.toolchain import ComparisonResult, Measurement, argv_for, substitute
from qi_load.bench.toolchain_config import Comparison
from qi_load.bench.toolchain_report import toolchain_document, toolchain_table

PNG = b"\x89PNG\r\n\x1a\n"
VALUES = {"python": "/venv/bin/python", "workdir": "/tmp/w"}


def test_substitute_leaves_other_braces_alone() -> None:
    text = "find {workdir} -name x -exec rm -rf {} + && {python} -c '{\"a\": 1}'"
    assert substitute(text, VALUES) == (
        "find /tmp/w -name x -exec rm -rf {} + && /venv/bin/python -c '{\"a\": 1}'"
    )


def test_strings_run_through_the_shell_and_lists_as_argv() -> None:
    assert argv_for("{python} -V | cat", VALUES) == ["/bin/sh", "-c", "/venv/bin/python -V | cat"]
    assert argv_for(["{python}", "-m", "x y"], VALUES) == ["/venv/bin/python", "-m", "x y"]


def _result(base: list[float], cand: list[float], grade: str | None = None) -> ComparisonResult:
    comparison = Comparison.model_validate(
        {"name": "lint", "a": "slow", "b": "fast", "grade": grade}
    )
    result = ComparisonResult(comparison, {"baseline": "slow", "candidate": "fast"})
    result.iterations["baseline"] = [Measurement(w, w * 0.9, 30 * 2**20) for w in base]
    result.iterations["candidate"] = [Measurement(w, None, 10 * 2**20) for w in cand]
    result.warmup["baseline"] = [Measurement(9.0, 1.0, 1)]
    return result


def test_document_speedup_and_statistics() -> None:
    doc = toolchain_document(
        config_path="t.yaml",
        results=[_result([2.0, 2.2, 1.8], [0.5, 0.55, 0.45], grade="build")],
        settings={"iterations": 3, "warmup": 1, "confidence": 0.9},
        environment={},
    )
    comparison = doc["comparisons"][0]
    assert comparison["speedup"]["factor"] == pytest.approx(4.0)
    assert comparison["speedup"]["confidence"] == 0.9
    assert comparison["speedup"]["low"] <= 4.0 <= comparison["speedup"]["high"]
    assert comparison["baseline"]["wall_s"]["mean"] == pytest.approx(2.0)
    assert comparison["baseline"]["cpu_s"]["mean"] == pytest.approx(1.8)
    assert comparison["candidate"]["cpu_s"] is None
    # Warm-ups are kept for the record but never enter the statistics.
    assert comparison["baseline"]["wall_s"]["max"] == pytest.approx(2.2)
    assert len(comparison["baseline"]["warmup"]) == 1
    assert comparison["candidate"]["grade"]["grade"] == "stretch"
    table = toolchain_table(doc)
    assert "lint: candidate is 4.00x as fast as baseline, 90% interval [" in table
    assert "lint/baseline: build time stretch" in table


def _stub_savefig(fig: Figure, path: Path, **_: object) -> None:
    """A PNG signature and the axes' titles: the figures are built, not rasterised.

    Rasterising is most of a plot's time; the integration tests (test_toolchain_example.py,
    test_startup_exit.py) rasterise both figures."""
    titles = " | ".join(ax.get_title() for ax in fig.axes)
    Path(path).write_bytes(PNG + titles.encode())


def test_plots_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Figure, "savefig", _stub_savefig)
    toolchain = toolchain_document(
        config_path="t.yaml",
        results=[_result([2.0, 2.2], [0.5, 0.6])],
        settings={"iterations": 2, "warmup": 0, "confidence": 0.95},
        environment={},
    )
    startup = startup_document(
        command=["x"],
        ready={"kind": "log", "value": "R", "description": "R"},
        runs=[
            StartupRun(1, 1.0, 250.0, 60 * 2**20, 40.0, phases={"a": 100.0, "b": 120.0}),
            StartupRun(2, 1.0, 260.0, 61 * 2**20, 41.0, phases={"a": 110.0, "b": 120.0}),
        ],
        settings={},
        environment={},
    )
    toolchain_png = plot_toolchain(toolchain, tmp_path / "t.png").read_bytes()
    startup_png = plot_startup(startup, tmp_path / "s.png").read_bytes()
    assert toolchain_png.startswith(PNG) and b"lint" in toolchain_png
    assert startup_png.startswith(PNG) and b"Startup: time to ready" in startup_png
