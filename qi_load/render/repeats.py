"""A repeat set's report: its terminal table, summary.md, report.html and summary.json."""

from __future__ import annotations

import base64
import html
from collections.abc import Collection
from pathlib import Path
from typing import Final

from qi_load.analyze.repeat_set import STAGE_METRICS, SetSummary
from qi_load.analyze.repeats import Interval
from qi_load.analyze.summary import summary_json
from qi_load.record.rundir import REPORT_HTML
from qi_load.render.markdown import md_escape
from qi_load.render.outputs import FORMATS
from qi_load.render.repeat_plot import set_figure_png
from qi_load.render.text_table import format_table

__all__ = ["interval_text", "set_rows", "set_terminal", "write_set_report"]

_CSP: Final = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1280px;color:#222;
 padding:0 16px}h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.warn{background:#fff4ce;padding:8px 12px}
img{max-width:100%;border:1px solid #eee;margin:6px 0}
"""
_HEAD: Final = (
    "stage", "users", "runs", "E2E p50 ms", "E2E p95 ms", "req/s",
)  # fmt: skip


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def interval_text(iv: Interval, digits: int = 0) -> str:
    """``mean [low..high]``, the mean alone with fewer than two runs, ``-`` with none."""
    if iv["mean"] is None:
        return "-"
    mean = _number(iv["mean"], digits)
    if iv["low"] is None or iv["high"] is None:
        return mean
    return f"{mean} [{_number(iv['low'], digits)}..{_number(iv['high'], digits)}]"


def set_rows(s: SetSummary) -> list[list[str]]:
    """One row per stage (its metrics' intervals), then the capacity."""
    digits = {"e2e_p50_ms": 0, "e2e_p95_ms": 0, "throughput_rps": 2}
    rows = []
    for st in s["stages"]:
        runs = max(st[m.key]["n"] for m in STAGE_METRICS)
        rows.append(
            [st["stage"], str(st["users"]), str(runs)]
            + [interval_text(st[m.key], digits[m.key]) for m in STAGE_METRICS]
        )
    return rows


def _capacity_line(s: SetSummary) -> str:
    cap = s["capacity"]
    per_run = ", ".join("-" if v is None else f"{v:g}" for v in cap["per_run"]) or "none"
    return (
        f"capacity {interval_text(cap['users'], 1)} users ({s['level']:.0%} CI over "
        f"{cap['users']['n']} runs; per run: {per_run})"
    )


def _method_line(s: SetSummary) -> str:
    complete = sum(r["status"] == "complete" for r in s["runs"])
    return (
        f"repeat set {s['set_id']}: {complete} of {s['requested']} runs complete; "
        f"each value is the mean over the runs [low..high: {s['level']:.0%} CI, {s['method']}]"
    )


def set_terminal(s: SetSummary) -> str:
    lines = [f"warning: {w}" for w in s["warnings"]]
    lines += [_method_line(s), format_table(_HEAD, set_rows(s)), _capacity_line(s)]
    return "\n".join(lines)


def _markdown(s: SetSummary) -> str:
    lines = [f"# Repeat set {md_escape(s['set_id'])} ({md_escape(s['scenario'])})", ""]
    lines += [md_escape(_method_line(s)), ""]
    if s["warnings"]:
        lines += [*(f"- warning: {md_escape(w)}" for w in s["warnings"]), ""]
    lines += ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in set_rows(s)]
    lines += ["", f"**{md_escape(_capacity_line(s))}**", "", "## Runs", ""]
    lines += [
        f"- {md_escape(r['run_id'])}: {md_escape(r['status'])} "
        f"([report]({md_escape(r['path'])}/{REPORT_HTML}))"
        for r in s["runs"]
    ]
    return "\n".join(lines) + "\n"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _figure(s: SetSummary) -> str:
    png = set_figure_png(s)
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="latency and throughput per stage" src="data:image/png;base64,{data}">'


def _run_capacity(users: float | None) -> str:
    return "" if users is None else f", capacity {users:g} users"


def _html(s: SetSummary) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in _HEAD)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in set_rows(s)
    )
    warnings = "".join(f'<p class="warn">{_e(w)}</p>' for w in s["warnings"])
    runs = "".join(
        f'<li><a href="{_e(r["path"])}/{REPORT_HTML}">{_e(r["run_id"])}</a>: {_e(r["status"])}'
        f"{_run_capacity(r['capacity_users'])}</li>"
        for r in s["runs"]
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>repeat set {_e(s['set_id'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Repeat set {_e(s['set_id'])} ({_e(s['scenario'])})</h1>"
        f"<p>{_e(_method_line(s))}</p>{warnings}"
        f"<h2>Per stage, between runs</h2><table><tr>{head}</tr>{body}</table>{_figure(s)}"
        f"<p><b>{_e(_capacity_line(s))}</b></p><h2>Runs</h2><ul>{runs}</ul></body></html>\n"
    )


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_set_report(s: SetSummary, out: Path, formats: Collection[str] = FORMATS) -> list[Path]:
    """summary.json, summary.md and report.html of the set (beside its index by default)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "json" in formats:
        written.append(_write(out / "summary.json", summary_json(s)))
    if "md" in formats:
        written.append(_write(out / "summary.md", _markdown(s)))
    if "html" in formats:
        written.append(_write(out / REPORT_HTML, _html(s)))
    return written
