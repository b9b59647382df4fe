"""The agent's spans in the report: join rate, phase p50s per stage, what grew first, slow trees."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from qi_load.analyze.trace_phases import TraceSummary

__all__ = ["grown_first_line", "traces_html", "traces_markdown"]


def _component(name: str) -> str:
    kind, _, tool = name.partition(":")
    return f"tool {tool}" if kind == "tool" else name


def grown_first_line(t: TraceSummary) -> str:
    """One line: how many requests joined their trace and which span kind grew first."""
    joined = f"{t['joined']} of {t['requests']} requests ({t['join_rate']:.1%}) joined"
    grown = t["first_grown"]
    if grown is None:
        return f"agent spans: {joined}; no span kind grew as load rose"
    return (
        f"agent spans: {joined}; {_component(grown['component'])} grew first: "
        f"{grown['baseline_ms']:.1f} -> {grown['value_ms']:.1f} ms p50 at stage {grown['stage']}"
    )


def _columns(t: TraceSummary) -> list[str]:
    names: list[str] = []
    for stage in t["stages"]:
        names += [n for n in stage["p50_ms"] if n not in names]
    return sorted(names, key=lambda n: (n.startswith("tool:"), n))


def _rows(t: TraceSummary, fmt: Callable[[str], str]) -> tuple[list[str], list[list[str]]]:
    columns = _columns(t)
    head = ["stage", "requests", "joined", *(f"{_component(c)} p50 ms" for c in columns)]
    rows = [
        [
            fmt(s["stage"]),
            str(s["n"]),
            str(s["joined"]),
            *(f"{s['p50_ms'][c]:.1f}" if c in s["p50_ms"] else "-" for c in columns),
        ]
        for s in t["stages"]
    ]
    return head, rows


def traces_html(t: TraceSummary) -> str:
    head, rows = _rows(t, escape)
    table = (
        "<table><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        + "</table>"
    )
    slow = []
    for request in t["slowest"]:
        tree = "\n".join(
            f"{'  ' * line['depth']}{line['name']}  +{line['start_ms']:.1f} ms, "
            f"{line['duration_ms']:.1f} ms ({line['phase']})"
            for line in request["spans"]
        )
        slow.append(
            f"<details><summary>stage {escape(request['stage'])}: {request['e2e_ms']:.0f} ms "
            f"(trace <code>{escape(request['trace_id'])}</code>)</summary>"
            f"<pre>{escape(tree)}</pre></details>"
        )
    return (
        "<h2>Agent spans (OpenTelemetry)</h2>"
        f"<p>{escape(grown_first_line(t))}</p>"
        + table
        + ("<h3>Slowest requests per stage</h3>" + "".join(slow) if slow else "")
    )


def traces_markdown(t: TraceSummary, escape_text: Callable[[str], str]) -> list[str]:
    head, rows = _rows(t, escape_text)
    return [
        "## Agent spans (OpenTelemetry)",
        "",
        escape_text(grown_first_line(t)),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]
