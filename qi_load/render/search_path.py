"""The capacity search in the report: the capacity with its interval, then the path it took."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from qi_load.generate.search import PathStep, SearchResult

__all__ = ["search_html", "search_line", "search_markdown"]

_FINISHED = {
    "converged": "converged",
    "at_high": "every load passed, up to the highest",
    "below_low": "even the lowest load failed",
    "budget": "the stage's time ran out before it converged",
    "running": "the run ended before the search did",
}


def _load(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def search_line(r: SearchResult) -> str:
    """One line: the capacity, its interval and how the search ended."""
    unit = r["unit"]
    low, high = r["interval_low"], r["interval_high"]
    interval = f"[{_load(low)}, {_load(high) if high is not None else '>' + _load(r['high'])}]"
    return (
        f"capacity {_load(r['capacity'])} {unit} (search {r['stage']}, {r['loop']} loop; "
        f"interval {interval} {unit}; {_FINISHED.get(r['finished'], r['finished'])}; "
        f"{len(r['path'])} steps)"
    )


def _row(p: PathStep, fmt: Callable[[str], str]) -> list[str]:
    v = p["verdict"]
    ci = f"[{_load(v['low'])}, {_load(v['high'])}]"
    notes = [n for n, on in (("uncertain", not p["certain"]), ("cut short", p["cut_short"]),
                             (f"repeat {p['repeat']}", p["repeat"] > 0)) if on]  # fmt: skip
    return [
        fmt(p["stage"]),
        _load(p["load"]),
        f"{p['end'] - p['start']:.0f} s",
        str(v["n"]),
        fmt(v["statistic"] or "-"),
        _load(v["value"]),
        ci,
        _load(v["limit"]),
        p["decision"] + (f" ({', '.join(notes)})" if notes else ""),
    ]


_HEAD = ["step", "load", "length", "n", "statistic", "value", "95 % interval", "limit", "decision"]


def search_markdown(r: SearchResult, fmt: Callable[[str], str]) -> list[str]:
    lines = ["## Capacity search", "", fmt(search_line(r)), "", "| " + " | ".join(_HEAD) + " |"]
    lines.append("|" + "---|" * len(_HEAD))
    lines += ["| " + " | ".join(_row(p, fmt)) + " |" for p in r["path"]]
    return [*lines, ""]


def search_html(r: SearchResult) -> str:
    rows = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in _row(p, escape)) + "</tr>" for p in r["path"]
    )
    head = "".join(f"<th>{escape(h)}</th>" for h in _HEAD)
    return (
        f"<h2>Capacity search</h2><p>{escape(search_line(r))}</p>"
        f"<table><tr>{head}</tr>{rows}</table>"
    )
