"""TTFC and retries reach every report format, per stage and per query type, as computed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import load_run
from qi_load.analyze.summary import Summary, analyze_run
from qi_load.render.html import render_html
from qi_load.render.markdown import render_markdown
from qi_load.render.outputs import write_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_synthetic_run(
        tmp_path_factory.mktemp("ttfc") / "run", SyntheticRun(seed=5, users=(1, 4), hold_s=30)
    )
    csv = root / "requests.csv"
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    ttft = pd.to_numeric(frame["ttft_ms"], errors="coerce")
    # Content 250 ms after the first token; every 10th request was resent once.
    frame["ttfc_ms"] = (ttft + 250.0).map(lambda v: "" if np.isnan(v) else f"{v:.4f}")
    frame["retries"] = ["1" if i % 10 == 0 else "0" for i in range(len(frame))]
    frame.to_csv(csv, index=False)
    return root


@pytest.fixture(scope="module")
def summary(run_dir: Path) -> Summary:
    return analyze_run(load_run(run_dir))


def test_summary_has_ttfc_and_retries_per_stage_and_type(summary: Summary) -> None:
    overall = summary["overall"]
    assert overall["ttfc_ms"]["n"] == overall["ttft_ms"]["n"] > 0
    assert overall["ttfc_ms"]["p50"] == pytest.approx(overall["ttft_ms"]["p50"] + 250.0)
    for q in [*summary["per_type"].values(), *(s["overall"] for s in summary["stages"])]:
        assert q["ttfc_ms"]["n"] == q["ttft_ms"]["n"]
        assert q["retries"] > 0 and q["retry_rate"] == pytest.approx(q["retries"] / q["n"])


def test_renderers_show_the_analysis_numbers(summary: Summary, tmp_path: Path) -> None:
    page, md = render_html(summary, {}), render_markdown(summary)
    assert "TTFC p95" in page and "TTFC p95 ms" in md
    for st in summary["stages"]:
        o = st["overall"]
        ttfc = f"{o['ttfc_ms']['p95']:.3g}" if o["ttfc_ms"]["p95"] < 1000 else ""
        retries = f"{o['retries']} ({o['retry_rate']:.1%})"
        assert retries in page and retries in md
        assert ttfc in page and ttfc in md
    for q in summary["per_type"].values():
        assert f"{q['retries']} ({q['retry_rate']:.1%})" in page
    run = load_run(summary["run"]["path"])
    # The JSON carries the numbers; plots are rendered and checked by test_render_outputs.
    write_report(summary, run, formats=("json",), out_dir=tmp_path)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["stages"][0]["overall"]["ttfc_ms"]["n"] > 0
    assert written["per_type"]["simple"]["retries"] == summary["per_type"]["simple"]["retries"]
