"""The capacity search's report section: the capacity line and one row per step."""

from __future__ import annotations

from html import escape

from qi_load.generate.search import PathStep, SearchResult, Verdict
from qi_load.render.search_path import search_html, search_line, search_markdown


def _result() -> SearchResult:
    verdict = Verdict(decision="fail", statistic="simple ttft_p95_ms", value=900.0, low=850.0,
                      high=None, limit=300.0, n=25)  # fmt: skip
    step = PathStep(stage="search-2", load=16.0, start=10.0, end=14.0, verdict=verdict,
                    decision="fail", certain=True, repeat=0, cut_short=True)  # fmt: skip
    return SearchResult(stage="search", loop="closed", unit="users", capacity=8.0,
                        interval_low=8.0, interval_high=16.0, low=1.0, high=64.0,
                        finished="converged", path=[step])  # fmt: skip


def test_line_and_rows() -> None:
    r = _result()
    assert search_line(r).startswith(
        "capacity 8 users (search search, closed loop; interval [8, 16]"
    )
    md = "\n".join(search_markdown(r, str))
    assert (
        "| search-2 | 16 | 4 s | 25 | simple ttft_p95_ms | 900 | [850, -] | 300 "
        "| fail (cut short) |" in md
    )
    assert "<td>fail (cut short)</td>" in search_html(r)
    assert escape(search_line(r)) in search_html(r)


def test_open_interval_without_a_certain_failure() -> None:
    r = _result()
    r["interval_high"] = None
    assert "interval [8, >64] users" in search_line(r)
