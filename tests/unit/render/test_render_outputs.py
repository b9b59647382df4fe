"""Rendered reports: self-contained, escaped, with every plot, in every format."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from qi_load.analyze.load import load_run
from qi_load.analyze.summary import analyze_run
from qi_load.render import plots
from qi_load.render.html import render_html
from qi_load.render.markdown import md_escape, render_markdown
from qi_load.render.outputs import write_report
from qi_load.render.plots import PLOTS, render_plots

PNG = b"\x89PNG\r\n\x1a\n"


def _stub_png(fig: Figure) -> bytes:
    """A PNG signature and the figure's title: the figures are built, not rasterised.

    Rasterising (matplotlib's text layout and Agg drawing) is most of a report's time; the
    integration tests (tests/integration/test_report_robust.py) rasterise every figure of
    every run-directory shape, the empty one included."""
    return PNG + fig.get_suptitle().encode()


@pytest.fixture(scope="module")
def written(evil_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("out")
    run = load_run(evil_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "_png", _stub_png)
        write_report(analyze_run(run), run, out_dir=out)
    yield out


def test_all_files_written(written: Path) -> None:
    assert {p.name for p in written.iterdir()} == {
        "report.html",
        "summary.md",
        "summary.json",
        "plots",
    }
    assert {p.stem for p in (written / "plots").iterdir()} == set(PLOTS)
    assert all(p.read_bytes().startswith(PNG) for p in (written / "plots").iterdir())


def test_html_escapes_target_strings_and_runs_no_script(written: Path) -> None:
    page = (written / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 4  # query type, stage, target URL, failure text
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_html_is_self_contained(written: Path) -> None:
    page = (written / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(PLOTS)
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not re.search(r'(href|src|action)="(https?:)?//', page)
    assert "@import" not in page and "url(" not in page


def test_markdown_escapes(written: Path) -> None:
    md = (written / "summary.md").read_text()
    assert "<script>" not in md and "\\<script\\>" in md
    assert md_escape("a|b <i>") == "a\\|b \\<i\\>"


def test_json_round_trips(written: Path, evil_text: str) -> None:
    data = json.loads((written / "summary.json").read_text())
    assert evil_text in data["per_type"]
    assert any(f["status"] == "leak" for f in data["leaks"])


def test_partial_run_warning_is_visible(evil_dir: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(evil_dir, tmp_path / "r"))
    (root / "host_samples.csv").unlink()
    run = load_run(root)
    summary = analyze_run(run)
    page = render_html(summary, {})
    assert "class='warn'" in page and "host_samples.csv is missing" in page
    assert "host_samples.csv is missing" in render_markdown(summary)


def test_a_verdict_not_judged_is_named_apart_from_a_failure(evil_dir: Path) -> None:
    summary = analyze_run(load_run(evil_dir))
    summary["check"] = {"verdict": "not_judged", "passed": False, "failures": ["too few"]}
    assert "<h2>Verdict: <span class='not_judged'>NOT JUDGED</span></h2>" in render_html(
        summary, {}
    )
    markdown = render_markdown(summary)
    assert "verdict **NOT JUDGED**." in markdown and "- NOT JUDGED: too few" in markdown


def test_plots_of_an_empty_run(
    tmp_path: Path, evil_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "_png", _stub_png)
    (tmp_path / "requests.csv").write_text(
        (evil_dir / "requests.csv").read_text().splitlines()[0] + "\n"
    )
    run = load_run(tmp_path)
    summary = analyze_run(run)
    images = render_plots(summary, run, tmp_path / "plots")
    assert set(images) == set(PLOTS)
    assert all(png.startswith(PNG) for png in images.values())
