"""A repeat set's report files: intervals as text, every format written, run strings escaped."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import IO, Any, cast

import pytest
from matplotlib.figure import Figure

from qi_load.analyze.repeat_set import summarize_set
from qi_load.analyze.repeats import mean_interval
from qi_load.analyze.summary import Summary
from qi_load.record.repeat_index import RepeatIndex, RepeatRun
from qi_load.render.repeats import interval_text, set_terminal, write_set_report


def _summary(p95: float) -> Summary:
    stage: dict[str, Any] = {
        "name": "<b>heavy</b>",
        "users": 20,
        "invalid": None,
        "overall": {"throughput_rps": 4.5, "e2e_ms": {"p50": 1000.0, "p95": p95}},
    }
    return cast(Summary, {"stages": [stage], "capacity": {"users": 10, "status": "found"}})


def test_interval_text() -> None:
    assert interval_text(mean_interval([10.0, 12.0, 11.0])) == "11 [9..13]"
    assert interval_text(mean_interval([2.0]), 2) == "2.00"
    assert interval_text(mean_interval([])) == "-"


PNG = b"\x89PNG\r\n\x1a\n"


def _stub_savefig(fig: Figure, fname: IO[bytes], **_: object) -> None:
    """A PNG signature and the figure's title: the figure is built, not rasterised
    (matplotlib's drawing is most of this test's time; tests/integration/test_repeat_sets.py
    renders a real set's report, its figure rasterised)."""
    fname.write(PNG + fig.get_suptitle().encode())


def test_every_format_is_written_and_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Figure, "savefig", _stub_savefig)
    runs = [RepeatRun(f"s-r{i}", f"s-r{i}", "complete") for i in (1, 2)]
    summary = summarize_set(
        RepeatIndex("s", "ladder", 2, 0.0, runs),
        tmp_path,
        {"s-r1": _summary(3000.0), "s-r2": _summary(3200.0)},
    )
    written = write_set_report(summary, tmp_path)
    assert sorted(p.name for p in written) == ["report.html", "summary.json", "summary.md"]
    page = (tmp_path / "report.html").read_text()
    assert "&lt;b&gt;heavy&lt;/b&gt;" in page and "<b>heavy</b>" not in page
    assert 'href="s-r1/report.html"' in page
    (figure,) = re.findall(r'src="data:image/png;base64,([^"]*)"', page)
    assert base64.b64decode(figure) == PNG + b"means over the runs with their 95% intervals " + (
        f"({summary['method']})".encode()
    )
    assert "\\<b\\>heavy\\</b\\>" in (tmp_path / "summary.md").read_text()
    text = set_terminal(summary)
    assert "3,100 [1,829..4,371]" in text
    assert "capacity 10.0 [10.0..10.0] users (95% CI over 2 runs; per run: 10, 10)" in text
    assert write_set_report(summary, tmp_path / "only", ["json"])[0].name == "summary.json"
