"""Write a report's files into the run directory: plots, report.html, summary.md, summary.json."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Final

from qi_load.analyze.load import RunData
from qi_load.analyze.summary import Summary, summary_json
from qi_load.record.rundir import REPORT_HTML
from qi_load.render.html import render_html
from qi_load.render.markdown import render_markdown
from qi_load.render.plots import render_plots

__all__ = ["FORMATS", "write_report"]

FORMATS: Final = ("html", "md", "json")


def _write(path: Path, text: str) -> Path:
    """Replace atomically, so a reader never sees half a report."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_report(
    summary: Summary, run: RunData, formats: Collection[str] = FORMATS, out_dir: Path | None = None
) -> list[Path]:
    """The requested formats (plots come with ``html``); returns the files written."""
    out = out_dir or run.path
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "json" in formats:
        written.append(_write(out / "summary.json", summary_json(summary)))
    if "md" in formats:
        written.append(_write(out / "summary.md", render_markdown(summary)))
    if "html" in formats:
        images = render_plots(summary, run, out / "plots")
        written += sorted((out / "plots").glob("*.png"))
        written.append(_write(out / REPORT_HTML, render_html(summary, images)))
    return written
